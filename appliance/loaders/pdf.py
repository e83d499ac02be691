"""PDF: one section per page with text, via pypdfium2 (fast) or pypdf (reference).

pypdfium2 is tried first: it is about twenty times faster on long filings. When it cannot
open a file (or is not installed) pypdf takes over, and if pdfium fails on a page, pypdf
carries on from that page. Both open files encrypted with an empty password (common in SEC
filings; pypdf needs ``cryptography`` for AES); any other password fails with "encrypted
(password required)". Page text is normalised the same way for both: ``\\r\\n`` → ``\\n``, control
characters other than tab and newline dropped, ligatures (ﬁ, ﬂ, ...) spelled out, and pdfium's
U+FFFE marker turned back into the hyphen it stands for ("COVID\\ufffe19" → "COVID-19").

Left out: OCR of scanned pages (a document without any text layer is refused, saying so),
layout analysis (columns and tables come out in the parser's reading order), passwords.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from appliance.loaders.base import LoadError, Section

Engine = Literal["auto", "pdfium", "pypdf"]

# pypdf logs the damage it works around ("EOF marker not found") as warnings on stderr, which
# would break into the progress display; a file it cannot read still fails with a LoadError.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# Ligatures spelled out; U+FFFE is how pdfium returns a hyphen it took for a soft one.
_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb06": "st",
        "\ufffe": "-",
    }
)
# C0/C1 controls except tab and newline, and the non-character U+FFFF.
_JUNK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\uffff]")


def normalise(text: str) -> str:
    """Clean one page's text: ``"e\\ufb03cient\\r\\nend\\x00"`` → ``"efficient\\nend"``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _JUNK.sub("", text).translate(_LIGATURES)


def _short(e: BaseException) -> str:
    """A one-line detail for a parser error, at most 120 characters."""
    detail = " ".join(str(e).split()) or type(e).__name__
    return detail if len(detail) <= 120 else detail[:117] + "..."


def _pdfium_pages(path: Path) -> Iterator[str] | None:
    """Page texts from pypdfium2, or None when pdfium is missing or cannot open the file.

    A file that needs a password raises LoadError at once (pdfium tries the empty one).
    """
    try:
        import pypdfium2 as pdfium
    except ImportError:
        return None
    try:
        doc = pdfium.PdfDocument(path, password="")
    except Exception as e:  # any other failure to open: let pypdf try, it may recover
        if getattr(e, "err_code", None) == 4:  # FPDF_ERR_PASSWORD: pypdf could not do better
            raise LoadError("encrypted (password required)") from None
        return None

    def pages() -> Iterator[str]:
        try:
            for i in range(len(doc)):
                page = doc[i]
                try:
                    textpage = page.get_textpage()
                    try:
                        yield textpage.get_text_range()
                    finally:
                        textpage.close()
                finally:
                    page.close()
        finally:
            doc.close()

    return pages()


def _pypdf_pages(path: Path, first: int = 0) -> Iterator[str]:
    """Page texts from pypdf starting at page index ``first``; LoadError on any failure."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted (password required)")
        count = len(reader.pages)
    except LoadError:
        raise
    except (DependencyError, FileNotDecryptedError) as e:
        if "cryptography" in str(e):
            raise LoadError("encrypted with AES; install pypdf[crypto] to open it") from e
        raise LoadError("encrypted (password required)") from e
    except Exception as e:  # pypdf raises many types on damaged files; none may escape
        raise LoadError(f"corrupt PDF: {_short(e)}") from e
    for i in range(first, count):
        try:
            text = reader.pages[i].extract_text()
        except Exception as e:
            raise LoadError(f"corrupt PDF: page {i + 1}: {_short(e)}") from e
        yield text


class PdfLoader:
    """PDF pages as sections (``page`` is 1-based, ``start`` 0): pdfium first, pypdf after."""

    kind = "pdf"
    suffixes: tuple[str, ...] = (".pdf",)

    def __init__(self, engine: Engine = "auto") -> None:
        self.engine = engine

    def sniff(self, head: bytes) -> bool:
        # The spec allows junk before the header; readers look in the first kilobyte.
        return b"%PDF-" in head[:1024]

    def _pages(self, path: Path) -> Iterator[str]:
        fast = _pdfium_pages(path) if self.engine != "pypdf" else None
        if fast is None:
            if self.engine == "pdfium":
                raise LoadError("corrupt PDF: pdfium cannot open it")
            yield from _pypdf_pages(path)
            return
        done = 0
        try:
            for text in fast:
                yield text
                done += 1
        except Exception:
            if self.engine == "pdfium":
                raise LoadError(f"corrupt PDF: page {done + 1}: pdfium failed") from None
            yield from _pypdf_pages(path, first=done)

    def load(self, path: Path, notes: list[str]) -> Iterator[Section]:
        total = empty = 0
        for number, raw in enumerate(self._pages(path), start=1):
            total = number
            text = normalise(raw)
            if text.strip():
                yield Section(number, 0, text)
            else:
                empty += 1
        if total == 0:
            raise LoadError("corrupt PDF: no pages")
        if empty == total:
            raise LoadError("no extractable text; scanned?")
        if empty:
            notes.append(f"{empty} of {total} pages have no text (scanned?)")
