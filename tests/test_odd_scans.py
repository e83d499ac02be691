"""Odd scans at ingest: CCITT fax (G3 1-D and 2-D, G4, stored as its negative, as a 1-bit
mask) and JBIG2 (arithmetic- and MMR-coded) inside PDFs, 1-bit and fax-compressed images;
damaged fax and JBIG2 data, sizes that lie. Each is read and cited, or reported with a one-line
reason while the rest of the ingest goes on.

Every input is made here. Text is drawn with Pillow (``tests.test_ocr.scan``) and encoded by
libtiff (through Pillow) as CCITT G3/G4; the fax strip is lifted out of the TIFF and wrapped in
a hand-written PDF image XObject. JBIG2 streams come from ``tests.jbig2``, an encoder written
from the standard for these tests (generic regions only: symbol dictionaries and text regions,
which jbig2enc also writes, are not covered)."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import ImageOps

from appliance.config import Settings
from appliance.loaders import LoadError, load_file
from appliance.retrieve import Retriever
from appliance.store import Store

from .conftest import FakeEmbedder
from .jbig2 import fax_strip, jbig2, page_info, tiff_tags
from .test_ocr import INVOICE, LETTER, chunks, pdf_file, run, scan


def image_pdf(image: bytes, data: bytes, size: tuple[int, int]) -> bytes:
    """A one-page PDF showing one image XObject (``image``: its dictionary entries) at 100 dpi."""
    w, h = (round(n * 72 / 100) for n in size)
    content = b"q %d 0 0 %d 0 0 cm /Im0 Do Q" % (w, h)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
        b"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>" % (w, h),
        b"<< /Type /XObject /Subtype /Image %s /Length %d >>\nstream\n%s\nendstream"
        % (image, len(data), data),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    return pdf_file(objects)


PAGE = scan(INVOICE).convert("1")
W, H = PAGE.size


def fax_pdf(k: int = -1, black_is_1: bool = True, mask: bool = False, data: bytes = b"") -> bytes:
    """The invoice as a CCITT fax image (``k``: -1 G4, 0 G3 1-D, > 0 G3 2-D) in a PDF."""
    coded = data or fax_strip(PAGE, "group4" if k < 0 else "group3", two_d=k > 0)
    kind = b"/ImageMask true" if mask else b"/ColorSpace /DeviceGray /BitsPerComponent 1"
    params = b"<< /K %d /Columns %d /Rows %d /BlackIs1 %s >>" % (
        k,
        W,
        H,
        b"true" if black_is_1 else b"false",
    )
    image = b"/Width %d /Height %d %s /Filter /CCITTFaxDecode /DecodeParms %s" % (
        W,
        H,
        kind,
        params,
    )
    return image_pdf(image, coded, PAGE.size)


def jbig2_pdf(data: bytes = b"", mmr: bool = False) -> bytes:
    image = b"/Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter "
    image += b"/JBIG2Decode"
    return image_pdf(image % (W, H), data or jbig2(PAGE, mmr), PAGE.size)


ODD_PDFS = {
    "g4.pdf": lambda: fax_pdf(-1),
    "g3.pdf": lambda: fax_pdf(0),
    "g3-2d.pdf": lambda: fax_pdf(4),
    # /BlackIs1 false on this data: white text on a black page, as faxes stored inverted are
    "negative.pdf": lambda: fax_pdf(-1, black_is_1=False),
    # a stencil mask: 0 samples (the text) painted in the fill colour, black
    "mask.pdf": lambda: fax_pdf(-1, mask=True),
    "jbig2.pdf": jbig2_pdf,  # arithmetic-coded generic region
    "jbig2-mmr.pdf": lambda: jbig2_pdf(mmr=True),
}


@pytest.mark.parametrize("mmr", [False, True])
def test_jbig2_streams_decode_to_the_page(mmr: bool) -> None:
    """pdfium decodes the test encoder's JBIG2 to exactly the page it was given."""
    import numpy as np
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(jbig2_pdf(mmr=mmr))
    try:
        (obj,) = list(doc[0].get_objects())
        decoded = np.asarray(obj.get_bitmap(render=False).to_pil().convert("L"))
    finally:
        doc.close()
    assert (decoded == np.asarray(PAGE.convert("L"))).all()


def squeeze(text: str) -> str:
    return "".join(text.split())  # the model may drop or add a space: compare without any


@pytest.mark.parametrize("name", list(ODD_PDFS))
def test_odd_pdf_scan_is_read(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(ODD_PDFS[name]())
    notes: list[str] = []
    kind, sections = load_file(path, notes)
    (section,) = list(sections)
    assert kind == "pdf" and section.page == 1
    assert section.ocr is not None and section.ocr > 0.8
    assert squeeze(section.text).startswith(squeeze(" ".join(INVOICE)))
    assert notes[0].startswith("OCR: 1 page read")


def test_broken_fax_and_jbig2_are_reported_and_the_rest_ingested(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "jbig2.pdf").write_bytes(jbig2_pdf())
    garbage = bytes((i * 73 + 41) % 256 for i in range(4000))
    (docs / "garbage-jbig2.pdf").write_bytes(jbig2_pdf(garbage))
    (docs / "cut-jbig2.pdf").write_bytes(jbig2_pdf(jbig2(PAGE, mmr=True)[:200]))
    (docs / "garbage-fax.pdf").write_bytes(fax_pdf(data=garbage))
    (docs / "cut-fax.pdf").write_bytes(fax_pdf(data=fax_strip(PAGE)[:60]))
    t0 = time.monotonic()
    report = run(settings, docs)
    assert time.monotonic() - t0 < 120  # no hang (pages are a second or two each here)
    # nothing logged over the progress display (pypdfium2 warns when a bitmap is closed early)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []

    assert report.added == 1
    reasons = {f.path: f.reason for f in report.failed}
    assert reasons == {
        "garbage-jbig2.pdf": "no text found: page 1: embedded JBIG2Decode image cannot be decoded",
        # pdfium decodes what it can of a damaged fax or cut JBIG2 stream: a blank or partial
        # page, on which OCR finds nothing to index
        "cut-jbig2.pdf": "no text found: page 1: OCR found no text",
        "garbage-fax.pdf": "no text found: page 1: OCR found no text",
        "cut-fax.pdf": "no text found: page 1: OCR found no text",
    }
    with Store.open(settings.index_dir) as store:
        assert [Path(p).name for p in store.files()] == ["jbig2.pdf"]  # no half-added file
        assert store.count_ok_chunks() == len(chunks(settings))
    assert {r[0] for r in chunks(settings)} == {"jbig2.pdf"}

    # The JBIG2 page is cited like any page: file, page, span into its OCR'd text.
    retriever = Retriever(settings, embedder=FakeEmbedder())
    try:
        (hit,) = retriever.search("invoice total due Acme", k=1)
    finally:
        retriever.close()
    assert (hit.file, hit.page) == ("jbig2.pdf", 1) and hit.record.ocr is not None
    _, sections = load_file(docs / "jbig2.pdf", [])
    (section,) = list(sections)
    assert section.text[hit.start : hit.end] == hit.text and "1,250.00" in hit.text


def test_one_bit_and_fax_images(settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    scan(LETTER).convert("1").save(docs / "bw.png")  # a 1-bit PNG
    ImageOps.invert(scan(LETTER)).convert("1").save(docs / "negative.png")  # white on black
    pages = [PAGE, scan(LETTER).convert("1").rotate(90, expand=True)]  # page 2 lies sideways
    pages[0].save(docs / "g4.tiff", save_all=True, append_images=pages[1:], compression="group4")
    pages[0].save(docs / "g3.tiff", save_all=True, append_images=pages[1:], compression="group3")
    pages[0].save(  # T4Options (292) bit 0: 2-D coding
        docs / "g3-2d.tiff",
        save_all=True,
        append_images=pages[1:],
        compression="group3",
        tiffinfo={292: 1},
    )

    report = run(settings, docs)
    assert report.failed == [] and report.added == 5
    text = {(r[0], r[1]): squeeze(r[4]) for r in chunks(settings)}
    letter, invoice = squeeze(" ".join(LETTER)), squeeze(" ".join(INVOICE))
    assert text[("bw.png", 1)] == letter and text[("negative.png", 1)] == letter
    for name in ("g4.tiff", "g3.tiff", "g3-2d.tiff"):
        assert text[(name, 1)] == invoice and text[(name, 2)] == letter


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        # invalid codes: libtiff gives up on the strip and the page comes out blank
        (lambda n: b"\xff" * 40, "OCR found no text"),
        # a run of zero bits is an error in the T.6 code: libtiff reports it
        (lambda n: b"\x00" * (n - 200), "damaged image: decoder error -2"),
    ],
)
def test_fax_tiff_that_cannot_be_decoded(tmp_path: Path, damage: Any, reason: str) -> None:
    good = io.BytesIO()
    PAGE.save(good, "TIFF", compression="group4")
    data = bytearray(good.getvalue())
    offset = tiff_tags(bytes(data))[273]
    offset = offset[0] if isinstance(offset, tuple) else offset
    bad = damage(len(data) - offset)
    data[offset : offset + len(bad)] = bad
    (tmp_path / "bad.tiff").write_bytes(bytes(data))
    with pytest.raises(LoadError) as info:
        _, sections = load_file(tmp_path / "bad.tiff", [])
        list(sections)
    assert info.value.reason == reason


def test_sizes_inside_the_stream_that_lie(tmp_path: Path) -> None:
    """Fax parameters and a JBIG2 page claiming 100,000 × 100,000 pixels (1.25 GB at 1 bit)
    while the image dictionary says 720 × 172: no such bitmap is ever made."""
    import resource

    image = b"/Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 1 " % (W, H)
    huge_fax = b"/Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns 100000 /Rows 100000 >>"
    (tmp_path / "fax.pdf").write_bytes(image_pdf(image + huge_fax, fax_strip(PAGE), PAGE.size))
    real = jbig2(PAGE, mmr=True)
    stream = page_info(100_000, 100_000) + real[len(page_info(W, H)) :]  # the real region
    (tmp_path / "jbig2.pdf").write_bytes(jbig2_pdf(stream))

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(LoadError) as info:
        _, sections = load_file(tmp_path / "fax.pdf", [])
        list(sections)
    assert info.value.reason == (
        "no text found: page 1: embedded CCITTFaxDecode image cannot be decoded"
    )
    _, sections = load_file(tmp_path / "jbig2.pdf", [])
    (section,) = list(sections)  # pdfium clips the page to the image: read as usual
    assert squeeze(section.text).startswith(squeeze(INVOICE[0]))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 600
