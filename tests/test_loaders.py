"""Loaders: one contract test over every loader, then the ways a file can be bad.

Fixtures are built in tmp_path (PDFs with fpdf2, DOCX with python-docx), so only
``test_every_sample_loads`` depends on the files in samples/.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

import appliance.loaders as loaders
from appliance.loaders import SUPPORTED_SUFFIXES, LoadError, Section, is_supported, load_file
from appliance.loaders import docx as docx_module
from appliance.loaders import pdf as pdf_module
from appliance.loaders.base import Loader
from appliance.loaders.docx import DocxLoader
from appliance.loaders.html import HtmlLoader, html_to_text
from appliance.loaders.pdf import PdfLoader, normalise
from appliance.loaders.text import TextLoader, split_text

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
JUNK = bytes(range(256)) * 16


def make_pdf(path: Path, pages: list[str]) -> Path:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Supplier terms", level=1)
    document.add_paragraph("Invoices are paid within 30 days.")
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, (("Item", "Fee"), ("Window cleaning", "£180")), strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("Either party may end the agreement with 30 days' notice.")
    document.save(str(path))
    return path


def pdfium_reference(path: Path) -> dict[int | None, str]:
    pages = pdf_module._pdfium_pages(path)
    assert pages is not None
    texts = {i: normalise(t) for i, t in enumerate(pages, start=1)}
    return {i: t for i, t in texts.items() if t.strip()}


def pypdf_reference(path: Path) -> dict[int | None, str]:
    texts = {i: normalise(p.extract_text()) for i, p in enumerate(PdfReader(path).pages, 1)}
    return {i: t for i, t in texts.items() if t.strip()}


def whole(convert: Callable[[Path], str]) -> Callable[[Path], dict[int | None, str]]:
    return lambda path: {None: convert(path)}


# A loader, a fixture builder returning (path, phrases expected in this order), and an
# independent extraction of each page's text that the sections' offsets must point into.
Reference = Callable[[Path], dict[int | None, str]]
Case = tuple[Loader, Callable[[Path], tuple[Path, list[str]]], Reference]
PDF_PAGES = ["First page: the lease starts on 1 March 2024.", "", "Third page: rent is £58,500."]
TEXT = "Opening hours\n\nMonday to Friday: 07:30 to 20:00.\nCafé crème on Saturdays.\n" * 40
HTML = "<html><body><h1>Hours</h1><p>Open <b>daily</b>.</p><script>x()</script></body>"


def pdf_case(engine: pdf_module.Engine, reference: Reference) -> Case:
    phrases = ["1 March 2024", "£58,500"]
    return (PdfLoader(engine), lambda d: (make_pdf(d / "a.pdf", PDF_PAGES), phrases), reference)


CASES: dict[str, Case] = {
    "pdf-auto": pdf_case("auto", pdfium_reference),
    "pdf-pdfium": pdf_case("pdfium", pdfium_reference),
    "pdf-pypdf": pdf_case("pypdf", pypdf_reference),
    "text": (
        TextLoader("text", (".txt",)),
        lambda d: (write(d / "a.txt", TEXT), ["Café crème"]),
        whole(lambda p: p.read_bytes().decode()),
    ),
    "text-small-blocks": (
        TextLoader("text", (".txt",), block_bytes=100),
        lambda d: (write(d / "a.txt", TEXT), ["Opening hours", "Café crème"]),
        whole(lambda p: p.read_bytes().decode()),
    ),
    "markdown": (
        TextLoader("markdown", (".md",)),
        lambda d: (
            write(d / "a.md", "# Prices\r\n\r\n| A | £85 |\r\n"),
            ["# Prices", "| A | £85 |"],
        ),
        whole(lambda p: p.read_bytes().decode()),
    ),
    "html": (
        HtmlLoader(),
        lambda d: (write(d / "a.html", HTML), ["Hours\n\nOpen daily."]),
        whole(lambda p: html_to_text(p.read_text(encoding="utf-8"))),
    ),
    "docx": (
        DocxLoader(),
        lambda d: (
            make_docx(d / "a.docx"),
            ["Supplier terms", "Item | Fee\nWindow cleaning | £180", "30 days' notice"],
        ),
        whole(lambda p: "\n\n".join(docx_module._blocks(p))),
    ),
}


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def page_texts(sections: list[Section]) -> dict[int | None, str]:
    """Rebuild each page's extracted text, asserting the sections tile it without gaps."""
    pages: dict[int | None, str] = {}
    for s in sections:
        so_far = pages.get(s.page, "")
        assert s.start == len(so_far), f"section at {s.start} leaves a gap or overlap"
        pages[s.page] = so_far + s.text
    return pages


@pytest.mark.parametrize("case", sorted(CASES))
def test_loader_contract(case: str, tmp_path: Path) -> None:
    loader, build, reference = CASES[case]
    path, phrases = build(tmp_path)
    assert loader.kind and all(s.startswith(".") and s == s.lower() for s in loader.suffixes)
    assert loader.sniff(path.read_bytes()[:8192])
    assert not loader.sniff(JUNK)
    loader.load(tmp_path / "missing" / path.name, [])  # lazy: nothing is opened yet

    sections = list(loader.load(path, []))
    expected = reference(path)
    for s in sections:
        assert s.text and (s.page is None) == (loader.kind != "pdf")
        assert expected[s.page][s.start : s.start + len(s.text)] == s.text
    assert page_texts(sections) == expected  # every page's text is covered, in order
    text = "\n".join(expected.values())
    positions = [text.find(p) for p in phrases]
    assert -1 not in positions and positions == sorted(positions), (phrases, text[:500])
    if case == "text-small-blocks":
        assert len(sections) > 20


def test_pdf_pages_are_numbered_and_blank_pages_skipped(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", PDF_PAGES)
    notes: list[str] = []
    kind, sections = load_file(path, notes)
    assert kind == "pdf"
    assert [s.page for s in sections] == [1, 3]
    assert notes == ["1 of 3 pages have no text (scanned?)"]


def test_both_pdf_parsers_agree_on_words(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", PDF_PAGES)
    fast = [s.text.split() for s in PdfLoader("pdfium").load(path, [])]
    slow = [s.text.split() for s in PdfLoader("pypdf").load(path, [])]
    assert fast == slow


def test_pdf_falls_back_to_pypdf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["one", "two", "three"])

    def failing_after_one(_: Path) -> Iterator[str]:
        yield "one from pdfium"
        raise RuntimeError("pdfium broke")

    monkeypatch.setattr(pdf_module, "_pdfium_pages", failing_after_one)
    texts = [(s.page, s.text.strip()) for s in PdfLoader().load(path, [])]
    assert texts == [(1, "one from pdfium"), (2, "two"), (3, "three")]
    monkeypatch.setattr(pdf_module, "_pdfium_pages", lambda _: None)  # pdfium missing
    assert [s.text.strip() for s in PdfLoader().load(path, [])] == ["one", "two", "three"]


def test_normalise_pdf_text() -> None:
    assert (
        normalise("e\ufb03cient\r\nCOVID\ufffe19\x00\x0c\tend\rx") == "efficient\nCOVID-19\tend\nx"
    )


def encrypt(src: Path, dst: Path, password: str) -> Path:
    writer = PdfWriter(clone_from=src)
    writer.encrypt(user_password=password, owner_password="owner-pw", algorithm="AES-256")
    writer.write(dst)
    return dst


@pytest.mark.parametrize("engine", ["auto", "pypdf"])
def test_encrypted_pdf(tmp_path: Path, engine: pdf_module.Engine) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", ["Confidential minutes."])
    locked = encrypt(plain, tmp_path / "locked.pdf", "s3cret")
    with pytest.raises(LoadError, match=r"^encrypted \(password required\)$"):
        list(PdfLoader(engine).load(locked, []))
    opened = encrypt(plain, tmp_path / "open.pdf", "")
    assert [s.text.strip() for s in PdfLoader(engine).load(opened, [])] == ["Confidential minutes."]


def check(path: Path, reason: str, **kwargs: int) -> None:
    """load_file (and iterating its sections) fails with exactly ``reason``."""
    with pytest.raises(LoadError) as info:
        _, sections = load_file(path, [], **kwargs)
        list(sections)
    assert info.value.reason == reason


def test_bad_pdfs(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", ["Some text.", "More text."]).read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(good[: len(good) // 2])
    _, sections = load_file(truncated, [])  # checks pass: the damage shows when parsing
    with pytest.raises(LoadError, match=r"^corrupt PDF: \S"):
        list(sections)

    shape = FPDF()
    shape.add_page()
    shape.rect(20, 20, 80, 40, style="F")
    shape.output(str(tmp_path / "scan.pdf"))
    check(tmp_path / "scan.pdf", "no extractable text; scanned?")

    (tmp_path / "junk.pdf").write_bytes(JUNK)
    check(tmp_path / "junk.pdf", "not a PDF (content does not match .pdf suffix)")
    (tmp_path / "zip.pdf").write_bytes(b"PK\x03\x04" + JUNK)
    reason = "not a PDF (content looks like a ZIP archive (DOCX, XLSX, ...); does not match"
    check(tmp_path / "zip.pdf", reason + " .pdf suffix)")


def test_wrong_content_for_text(tmp_path: Path) -> None:
    (tmp_path / "junk.txt").write_bytes(JUNK)
    check(tmp_path / "junk.txt", "binary content in a text file")
    make_pdf(tmp_path / "report.txt", ["A PDF in disguise."])
    check(
        tmp_path / "report.txt", "looks like a PDF, not text (content does not match .txt suffix)"
    )
    (tmp_path / "nul.md").write_bytes(b"# Title\n\x00\x00 and some text")
    check(tmp_path / "nul.md", "binary content in a text file")


def test_file_system_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check(tmp_path / "missing.txt", "file not found")
    (tmp_path / "empty.txt").touch()
    check(tmp_path / "empty.txt", "empty file")
    (tmp_path / "broken.pdf").symlink_to(tmp_path / "nowhere.pdf")
    check(tmp_path / "broken.pdf", "broken symlink")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    check(tmp_path / "loop.txt", "symlink loop")
    (tmp_path / "folder.md").mkdir()
    check(tmp_path / "folder.md", "not a regular file (a directory)")
    big = write(tmp_path / "big.txt", "x" * 3000)
    check(big, "too large (2.9 KB > 1 KB limit)", max_bytes=1024)
    check(tmp_path / "notes.odt", "unsupported file type (.odt)")

    secret = write(tmp_path / "secret.txt", "top secret")
    secret.chmod(0)
    if os.geteuid() == 0:  # root reads anything: simulate the refusal instead

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(loaders, "open", refuse, raising=False)
    check(secret, "cannot read: permission denied")


def test_suffixes() -> None:
    documents = {".pdf", ".txt", ".text", ".md", ".markdown", ".html", ".htm", ".docx"}
    images = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}  # read by OCR
    assert documents | images == set(SUPPORTED_SUFFIXES)
    assert is_supported(Path("a/B.PDF")) and is_supported(Path("notes.Markdown"))
    assert not is_supported(Path("photo.gif")) and not is_supported(Path("Makefile"))


def test_non_utf8_text(tmp_path: Path) -> None:
    text = "Le café crème est très apprécié à Zürich; naïve façade.\n" * 5
    notes: list[str] = []
    kind, sections = load_file(write(tmp_path / "menu.txt", text, "cp1252"), notes)
    assert kind == "text" and "".join(s.text for s in sections) == text
    assert notes == ["not UTF-8; decoded as cp1252"]


def test_bom_and_utf16(tmp_path: Path) -> None:
    for encoding in ("utf-8-sig", "utf-16"):
        _, sections = load_file(write(tmp_path / "a.txt", "Zoë's notes\n", encoding), [])
        assert [s.text for s in sections] == ["Zoë's notes\n"]


def test_invalid_utf8_late_in_file(tmp_path: Path) -> None:
    path = tmp_path / "late.txt"
    path.write_bytes(b"fine text\n" * 20_000 + b"bad \xff byte\n")
    notes: list[str] = []
    text = "".join(s.text for s in TextLoader("text", (".txt",)).load(path, notes))
    assert text.endswith("bad \ufffd byte\n") and len(text) == 200_011
    assert notes == ["invalid utf-8 at byte 200004; bad bytes replaced"]


def test_split_text_cuts_at_blank_lines() -> None:
    pieces = ["alpha beta\n\ngamma delta\nepsilon ", "zeta eta theta iota kappa"]
    sections = list(split_text(pieces, max_chars=20))
    assert [s.text for s in sections][:2] == ["alpha beta\n\n", "gamma delta\n"]
    assert "".join(s.text for s in sections) == "".join(pieces)
    assert all(len(s.text) <= 20 for s in sections)


def test_large_text_streams(tmp_path: Path) -> None:
    paragraph = "Ligne de texte avec é, € et 漢字 pour couper les caractères.\n" * 7 + "\n"
    block = paragraph * (1_000_000 // len(paragraph.encode()))
    path = tmp_path / "big.txt"
    with path.open("w", encoding="utf-8") as f:
        for _ in range(30):
            f.write(block)
    size = path.stat().st_size
    digest, count, offset = hashlib.sha256(), 0, 0
    tracemalloc.start()
    try:
        _, sections = load_file(path, [])
        for s in sections:
            assert s.start == offset and s.text.endswith("\n\n")
            offset += len(s.text)
            digest.update(s.text.encode())
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert count >= 20
    # Bounded by a few blocks (about 10 MB at 1 MiB blocks), whatever the file's size.
    assert peak < min(size / 2, 16 << 20), f"peak {peak} bytes for a {size}-byte file"


def test_corrupt_docx(tmp_path: Path) -> None:
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04" + b"not really a zip" * 50)
    check(tmp_path / "bad.docx", "corrupt DOCX: File is not a zip file")
    with zipfile.ZipFile(tmp_path / "other.docx", "w") as z:
        z.writestr("hello.txt", "hi")
    check(tmp_path / "other.docx", "corrupt DOCX: no word/document.xml in the archive")
    with zipfile.ZipFile(tmp_path / "xml.docx", "w") as z:
        z.writestr("[Content_Types].xml", "<Types")
        z.writestr("word/document.xml", "<w:document")
    with pytest.raises(LoadError, match=r"^corrupt DOCX: "):
        list(load_file(tmp_path / "xml.docx", [])[1])
    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + JUNK)
    check(
        tmp_path / "old.docx",
        "not a DOCX document (content looks like an old Office document (.doc/.xls);"
        " does not match .docx suffix)",
    )


def test_html_drops_scripts_and_keeps_structure(tmp_path: Path) -> None:
    page = (
        '<html><head><meta charset="windows-1252"><title>T</title><style>p{}</style></head>'
        "<body><script>var secret = 1;</script><h1>Caf\xe9 hours</h1>"
        "<p>Open   <i>daily</i>\n from 8.</p><ul><li>One</li><li>Two</li></ul>"
        "<table><tr><th>Day</th><th>Hours</th></tr><tr><td>Sat</td><td>8-2</td></tr></table>"
        "<!-- a comment --><noscript>Enable JS</noscript><pre>  a  b\n  c</pre></body></html>"
    )
    notes: list[str] = []
    kind, sections = load_file(write(tmp_path / "a.htm", page, "cp1252"), notes)
    text = "".join(s.text for s in sections)
    assert kind == "html" and notes == []
    assert text == (
        "Café hours\n\nOpen daily from 8.\n\nOne\nTwo\n\nDay | Hours\nSat | 8-2\n\n  a  b\n  c"
    )
    assert html_to_text("<p>a <b>b</b></p><p>c</p>") == "a b\n\nc"
    assert html_to_text("<table><tr><td>a</td> <!--c--> <td>b</td></tr></table>") == "a | b"


def test_every_sample_loads() -> None:
    files = [p for p in sorted(SAMPLES.rglob("*")) if p.is_file() and is_supported(p)]
    kinds = set()
    for path in files:
        notes: list[str] = []
        kind, sections = load_file(path, notes)
        texts = [s.text for s in sections]
        assert texts and sum(map(len, texts)) > 200, path
        assert notes == [], (path, notes)
        kinds.add(kind)
    assert kinds == {"pdf", "text", "markdown", "html", "docx"}
