"""OCR at ingest: scanned PDFs, images, mixed documents, weak pages, hostile scans (fake embedder,
the real bundled OCR model). Every scan is made here: text drawn with Pillow, saved as an
image-only PDF, PNG, JPEG or TIFF."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from appliance import ocr
from appliance.config import Settings
from appliance.ingest import IngestReport, Progress, ingest
from appliance.loaders import LoadError, load_file
from appliance.loaders.pdf import usable
from appliance.retrieve import Retriever
from appliance.store import Store

from .conftest import FakeEmbedder

INVOICE = ["Invoice 4471 for Acme Corp", "Total due: 1,250.00 EUR", "Payment within 30 days"]
LETTER = ["Dear Margaret,", "the orchard survey starts in April.", "Kind regards, Tobias"]


def scan(lines: list[str], width: int = 720) -> Image.Image:
    """A greyscale 'scan' of a few lines of text."""
    im = Image.new("L", (width, 40 + 44 * len(lines)), 255)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=26)
    for i, line in enumerate(lines):
        draw.text((20, 20 + 44 * i), line, fill=0, font=font)
    return im


def scribbles(seed: int = 1) -> Image.Image:
    """Strokes laid out like text lines: OCR finds 'text' in them, with low confidence."""
    rnd = random.Random(seed)
    im = Image.new("L", (640, 200), 255)
    draw = ImageDraw.Draw(im)
    for row in range(4):
        x, y = 16, 20 + 45 * row
        while x < 600:
            points = [(x + rnd.randint(0, 14), y + rnd.randint(0, 24)) for _ in range(5)]
            draw.line(points, fill=0, width=2)
            x += rnd.randint(14, 22)
    return im


def image_pdf(path: Path, pages: list[Image.Image]) -> Path:
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:], resolution=100)
    return path


def run(settings: Settings, *paths: Path, events: list[Progress] | None = None) -> IngestReport:
    return ingest(
        list(paths),
        settings,
        embedder=FakeEmbedder(),
        progress=events.append if events is not None else None,
    )


def chunks(settings: Settings) -> list[tuple[str, int | None, int, int, str, float | None]]:
    with Store.open(settings.index_dir) as store:
        ids = [r[0] for r in store.conn.execute("SELECT id FROM chunks ORDER BY id")]
        recs = store.chunk_records(ids)
    return [(r.file, r.page, r.start, r.end, r.text, r.ocr) for r in recs.values()]


def test_usable_text_layer() -> None:
    assert usable("Revenue rose 4% in 2023")
    assert not usable("")
    assert not usable("  \n ")
    assert not usable("\ufffd\ufffd\ufffd\ufffd a")  # unmapped glyphs
    assert not usable("\ue001\ue002\ue003 x")  # private-use codes from a font without a map
    assert not usable("... --- ...")


def test_scanned_pdf_is_read_searchable_and_cited(settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    # Page 1 is 1-bit, which Pillow stores CCITT G4-compressed (a fax); page 2 greyscale JPEG.
    image_pdf(docs / "scan.pdf", [scan(LETTER).convert("1"), scan(INVOICE)])
    events: list[Progress] = []
    report = run(settings, docs, events=events)
    assert report.failed == [] and report.added == 1 and report.pages == 2
    assert ("scan.pdf", "OCR: 2 pages read (mean confidence") in [
        (p, n[:34]) for p, n in report.notes
    ]
    assert [e.path for e in events if e.kind == "ocr"] == ["scan.pdf", "scan.pdf"]

    rows = chunks(settings)
    assert {r[1] for r in rows} == {1, 2}
    assert all(r[5] is not None and r[5] > 0.8 for r in rows)  # recorded as OCR, confident

    retriever = Retriever(settings, embedder=FakeEmbedder())
    try:
        hits = retriever.search("Acme invoice total due", k=1)
    finally:
        retriever.close()
    assert hits and hits[0].file == "scan.pdf" and hits[0].page == 2
    assert "Invoice 4471" in hits[0].text and "1,250.00" in hits[0].text
    # The span points into the OCR'd text of that page, as for any other page.
    section = next(s for s in load_file(docs / "scan.pdf", [])[1] if s.page == 2)
    assert section.text[hits[0].start : hits[0].end] == hits[0].text


def test_mixed_pdf_reads_only_its_textless_page(settings: Settings, tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 6, "The board approved the orchard budget for next year.")
    pdf.add_page()
    pdf.image(scan(INVOICE), x=10, y=10, w=180)
    path = tmp_path / "mixed.pdf"
    pdf.output(str(path))

    before = ocr.stats.pages
    report = run(settings, path)
    assert report.failed == [] and report.pages == 2
    assert ocr.stats.pages - before == 1
    rows = {r[1]: r for r in chunks(settings)}
    assert rows[1][5] is None and "orchard budget" in rows[1][4]
    assert rows[2][5] is not None and "Acme Corp" in rows[2][4]


def test_images_are_documents(settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    scan(INVOICE).save(docs / "invoice.png")
    scan(LETTER).convert("RGB").save(docs / "letter.jpeg", quality=90)
    bw = [scan(LETTER).point(lambda v: 255 if v > 128 else 0, "1"), scan(INVOICE).convert("1")]
    bw[0].save(docs / "fax.tiff", save_all=True, append_images=bw[1:], compression="group4")
    scan(INVOICE).save(docs / "named-wrong.jpg", format="PNG")  # told by content, not suffix

    report = run(settings, docs)
    assert report.failed == [] and report.added == 4
    rows = chunks(settings)
    by_file = {(r[0], r[1]): r[4] for r in rows}
    assert "Acme Corp" in by_file[("invoice.png", 1)]
    assert "orchard survey" in by_file[("letter.jpeg", 1)]
    assert "Margaret" in by_file[("fax.tiff", 1)] and "Invoice 4471" in by_file[("fax.tiff", 2)]
    assert "Acme Corp" in by_file[("named-wrong.jpg", 1)]


@pytest.mark.parametrize("turn", [90, 180])
def test_turned_scan_is_read_upright(tmp_path: Path, turn: int) -> None:
    scan(INVOICE).rotate(turn, expand=True).save(tmp_path / "turned.png")
    _, sections = load_file(tmp_path / "turned.png", [])
    (section,) = list(sections)
    squeeze = str.maketrans("", "", " ")  # the model may drop a space: compare without any
    assert [line.translate(squeeze) for line in section.text.splitlines()[:2]] == [
        line.translate(squeeze) for line in INVOICE[:2]
    ]


def test_weak_pages_are_reported_not_indexed(settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    pages = [scan(INVOICE).convert("1"), scribbles().convert("1")]
    pages[0].save(docs / "mixed.tiff", save_all=True, append_images=pages[1:])
    scribbles(2).save(docs / "noise.png")

    report = run(settings, docs)
    notes = [n for p, n in report.notes if p == "mixed.tiff"]
    assert any(
        n.startswith("page 2: OCR confidence 0.") and n.endswith(", not indexed") for n in notes
    )
    assert {r[1] for r in chunks(settings) if r[0] == "mixed.tiff"} == {1}
    (failure,) = report.failed
    assert failure.path == "noise.png"
    assert failure.reason.startswith(("OCR confidence 0.", "OCR found no text"))


def test_reingest_of_unchanged_scans_does_no_ocr(settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    image_pdf(docs / "scan.pdf", [scan(INVOICE)])
    scan(LETTER).save(docs / "letter.png")
    assert run(settings, docs).added == 2

    before = ocr.stats.pages
    again = run(settings, docs)
    assert again.unchanged == 2 and ocr.stats.pages == before
    for path in docs.iterdir():  # touched: same bytes, new mtime: hashed, still not read
        path.touch()
    again = run(settings, docs)
    assert again.unchanged == 2 and again.updated == 0 and ocr.stats.pages == before


def test_ocr_text_is_labelled_like_any_text(settings: Settings, tmp_path: Path) -> None:
    scan(["Contact: jane.doe@example.com", "about the orchard lease"]).save(tmp_path / "c.png")
    assert run(settings, tmp_path / "c.png").failed == []
    with Store.open(settings.index_dir) as store:
        (sensitive,) = store.conn.execute("SELECT sensitive FROM chunks").fetchone()
    assert sensitive == 1


def _png(width: int, height: int, data: bytes = b"", mode: int = 0) -> bytes:
    """A PNG whose header says width × height (greyscale) with ``data`` as its pixel stream."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _fails(path: Path) -> str:
    with pytest.raises(LoadError) as info:
        _, sections = load_file(path, [])
        list(sections)
    reason = info.value.reason
    assert "\n" not in reason and len(reason) < 200
    return reason


def test_hostile_scans_give_one_line_reasons(tmp_path: Path) -> None:
    # A decompression bomb: a header claiming 100k × 100k pixels is refused before decoding.
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png(100_000, 100_000, zlib.compress(b"\x00" * 4096)))
    assert "too large" in _fails(bomb)
    big = tmp_path / "big.png"
    big.write_bytes(_png(9_000, 9_000, zlib.compress(b"\x00" * 4096)))
    assert _fails(big) == "image too large (9000×9000 pixels > 64 MP limit)"

    whole = tmp_path / "whole.png"
    scan(INVOICE).save(whole)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert _fails(truncated).startswith("damaged image: ")

    (tmp_path / "text.png").write_text("not an image at all, just words\n")
    assert _fails(tmp_path / "text.png") == (
        "not a PNG, JPEG or TIFF image (content does not match .png suffix)"
    )
    header_only = tmp_path / "header.tiff"
    header_only.write_bytes(b"II*\x00" + b"\xff" * 60)
    assert _fails(header_only).startswith("damaged image: ")

    blank = tmp_path / "blank.png"
    Image.new("1", (300, 200), 1).save(blank)
    assert _fails(blank) == "OCR found no text"


def test_many_page_tiff_is_capped(settings: Settings, tmp_path: Path) -> None:
    first = scan(INVOICE).convert("1")
    rest = [Image.new("1", (16, 16), 1)] * 999
    first.save(tmp_path / "long.tiff", save_all=True, append_images=rest)
    capped = settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"max_pages": 3})})
    report = run(capped, tmp_path / "long.tiff")
    assert report.failed == [] and report.added == 1
    notes = [n for _, n in report.notes]
    assert "pages 4-1000 not OCR'd (over ocr.max_pages = 3)" in notes
    assert "page 2: OCR found no text" in notes


def test_ocr_off(settings: Settings, tmp_path: Path) -> None:
    scan(INVOICE).save(tmp_path / "a.png")
    image_pdf(tmp_path / "b.pdf", [scan(INVOICE)])
    off = settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"enabled": False})})
    before = ocr.stats.pages
    report = run(off, tmp_path / "a.png", tmp_path / "b.pdf")
    reasons = {f.path: f.reason for f in report.failed}
    assert reasons == {
        "a.png": "image needs OCR, which is off (ocr.enabled = false)",
        "b.pdf": "no extractable text; scanned? (turn on ocr.enabled)",
    }
    assert ocr.stats.pages == before


def test_index_without_ocr_table_is_read_and_upgraded(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Plain words about the orchard.\n")
    run(settings, tmp_path / "a.txt")
    with Store.open(settings.index_dir, create=True) as store:  # as an index from before OCR
        store.conn.execute("DROP TRIGGER chunk_ocr_ad")
        store.conn.execute("DROP TABLE chunk_ocr")
    with Store.open(settings.index_dir) as store:
        assert not store.has_ocr
        (rec,) = store.chunk_records([1]).values()
        assert rec.ocr is None
    scan(INVOICE).save(tmp_path / "b.png")
    assert run(settings, tmp_path / "b.png").failed == []
    assert {r[0]: r[5] is not None for r in chunks(settings)} == {"a.txt": False, "b.png": True}


def _pdf_with_image(width: int, height: int) -> bytes:
    """A one-page PDF drawing a 1-bit image whose dictionary claims width × height pixels."""
    data = zlib.compress(b"\x00" * 64)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 1 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
        % (width, height, len(data), data),
        b"<< /Length 35 >>\nstream\nq 612 0 0 792 0 0 cm /Im0 Do Q\nendstream",
    ]
    return pdf_file(objects)


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of the numbered object bodies (1: the catalog), with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_pdf_bomb_and_rotated_page(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(_pdf_with_image(100_000, 100_000))
    assert _fails(bomb) == (
        "no text found: page 1: embedded image too large to decode (10000 MP > 64 MP limit)"
    )

    from pypdf import PdfReader, PdfWriter

    image_pdf(tmp_path / "upright.pdf", [scan(INVOICE)])
    writer = PdfWriter(clone_from=PdfReader(tmp_path / "upright.pdf"))
    writer.pages[0].rotate(90)  # shown turned: the page renders sideways
    writer.write(tmp_path / "rotated.pdf")
    notes: list[str] = []
    _, sections = load_file(tmp_path / "rotated.pdf", notes)
    (section,) = list(sections)
    assert "Invoice 4471" in section.text and section.ocr is not None


def test_stopped_mid_scan_leaves_nothing_then_resumes(settings: Settings, tmp_path: Path) -> None:
    import threading

    image_pdf(tmp_path / "scan.pdf", [scan(INVOICE), scan(LETTER), scan(INVOICE)])
    stop = threading.Event()

    def progress(event: Progress) -> None:
        if event.kind == "ocr":
            stop.set()  # stop after the first page read: the file must not be half in

    report = ingest(
        [tmp_path / "scan.pdf"], settings, embedder=FakeEmbedder(), progress=progress, cancel=stop
    )
    assert report.added == 0
    with Store.open(settings.index_dir) as store:
        assert store.files() == {} and store.count_ok_chunks() == 0
    again = run(settings, tmp_path / "scan.pdf")
    assert again.added == 1 and again.pages == 3


def test_scan_with_a_stamped_page_number_is_read(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=9)
    pdf.add_page()
    pdf.image(scan(INVOICE), x=0, y=0, w=210, h=120)  # a scan covering most of the page...
    pdf.image(scan(LETTER), x=0, y=125, w=210, h=120)
    pdf.text(95, 290, "Page 3")  # ...with a few words of real text stamped on it
    pdf.output(str(tmp_path / "stamped.pdf"))
    _, sections = load_file(tmp_path / "stamped.pdf", [])
    (section,) = list(sections)
    assert section.ocr is not None
    assert "Acme Corp" in section.text and "Margaret" in section.text and "Page 3" in section.text
