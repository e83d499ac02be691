"""PDF: one section per page with text, via pypdfium2 (fast) or pypdf (reference).

pypdfium2 is tried first: it is about twenty times faster on long filings. When it cannot
open a file (or is not installed) pypdf takes over, and if pdfium fails on a page, pypdf
carries on from that page. Both open files encrypted with an empty password (common in SEC
filings; pypdf needs ``cryptography`` for AES); any other password fails with "encrypted
(password required)". Page text is normalised the same way for both: ``\\r\\n`` → ``\\n``, control
characters other than tab and newline dropped, ligatures (ﬁ, ﬂ, ...) spelled out, and pdfium's
U+FFFE marker turned back into the hyphen it stands for ("COVID\\ufffe19" → "COVID-19").

Pages without a usable text layer (none, or mostly unmapped glyphs: U+FFFD, private-use or
control characters) are rendered by pdfium at ``ocr.dpi`` and read by OCR (``appliance.ocr``);
only those pages, so a mixed document keeps its text layer elsewhere. Rendering is bounded: the
page bitmap is capped in pixels, a page whose embedded images are larger than
``ocr.max_megapixels`` is reported instead of decoded, and at most ``ocr.max_pages`` pages of a
file are OCR'd. Scans compressed as CCITT fax (G3, G4), JBIG2 or 1-bit masks are decoded by
pdfium like any image; a page that reads no text because an image's data cannot be decoded
(garbage or truncated JBIG2 or fax data) is reported as such. With OCR off (or pypdf reading
the file) textless pages are counted in a note.

Left out: layout analysis (columns and tables come out in the parser's reading order), passwords.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

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
# What a glyph without a Unicode mapping comes out as: replacement, private use, controls.
_UNMAPPED = re.compile(r"[\ufffd\ue000-\uf8ff\x00-\x08\x0b-\x1f\x7f-\x9f]")
RENDER_MAX_PIXELS = 12_000_000
"""Largest page bitmap rendered for OCR (a 200 dpi A3 page is about 9 MP)."""


def usable(text: str) -> bool:
    """Whether a page's raw text layer is worth indexing as it is.

    ``"Revenue rose 4%"`` → True; ``""`` → False; ``"\ufffd\ufffd\ufffd a"`` → False
    (mostly unmapped glyphs: a scan with a broken or fake text layer).
    """
    stripped = "".join(text.split())
    if not stripped or not any(ch.isalnum() for ch in stripped):
        return False
    bad = len(_UNMAPPED.findall(stripped))
    return bad * 4 < len(stripped)


def normalise(text: str) -> str:
    """Clean one page's text: ``"e\\ufb03cient\\r\\nend\\x00"`` → ``"efficient\\nend"``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _JUNK.sub("", text).translate(_LIGATURES)


def _short(e: BaseException) -> str:
    """A one-line detail for a parser error, at most 120 characters."""
    detail = " ".join(str(e).split()) or type(e).__name__
    return detail if len(detail) <= 120 else detail[:117] + "..."


class PageText(str):
    """A page's raw text that also carries its open pdfium page (for rendering), or None."""

    page: Any = None


def _pdfium_pages(path: Path) -> Iterator[str] | None:
    """Page texts from pypdfium2, or None when pdfium is missing or cannot open the file.

    Each text is a ``PageText`` whose ``page`` stays open until the next page is asked for
    (so that a page without text can be rendered for OCR). A file that needs a password
    raises LoadError at once (pdfium tries the empty one).
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
                        text = PageText(textpage.get_text_range())
                    finally:
                        textpage.close()
                    text.page = page
                    yield text
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


def _largest_image(page: Any) -> int:
    """Pixels of the largest image drawn on a pdfium page (0 when none or unknown)."""
    import pypdfium2.raw as pdfium_c

    largest = 0
    try:
        for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
            w, h = obj.get_px_size()
            largest = max(largest, int(w) * int(h))
    except Exception:  # metadata we cannot read: let the render decide
        return largest
    return largest


def _undecodable(page: Any) -> str | None:
    """The filter of the first image on a page that pdfium cannot decode, e.g. ``"JBIG2Decode"``
    (garbage or truncated data: the page renders blank), or None when every image decodes."""
    import pypdfium2.raw as pdfium_c

    try:
        for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
            try:
                obj.get_bitmap(render=False)  # freed when dropped (close() warns)
            except Exception:
                filters = obj.get_filters()
                return "/".join(filters) if filters else "unfiltered"
    except Exception:
        return None
    return None


def _scan_with_label(text: str, page: Any) -> bool:
    """A few words of text over images covering most of the page: a scan with a stamp or a page
    number on it."""
    if sum(ch.isalnum() for ch in text) >= 40:
        return False
    import pypdfium2.raw as pdfium_c

    try:
        w_pt, h_pt = page.get_size()
        covered = 0.0
        for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
            bounds = getattr(obj, "get_bounds", None) or obj.get_pos  # pypdfium2 5 / 4
            left, bottom, right, top = bounds()
            covered += max(0.0, right - left) * max(0.0, top - bottom)
            if covered > 0.5 * w_pt * h_pt:  # images over half the page (one or in strips)
                return True
    except Exception:
        return False
    return False


def _may_hold_text(page: Any) -> bool:
    """Whether a page without a text layer could show text: an image, or many vector paths
    (text converted to outlines). A blank page or a lone drawing is not worth OCR."""
    import pypdfium2.raw as pdfium_c

    paths = 0
    try:
        for obj in page.get_objects(max_depth=3):
            if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                return True
            paths += obj.type == pdfium_c.FPDF_PAGEOBJ_PATH
            if paths >= 50:
                return True
    except Exception:
        return True
    return False


def _render(page: Any, dpi: int, max_megapixels: int) -> tuple[Any, str | None]:
    """The page as a greyscale Pillow image, or (None, reason) when it is unsafe to render."""
    biggest = _largest_image(page)
    if biggest > max_megapixels * 1_000_000:
        return None, (
            f"embedded image too large to decode ({biggest / 1e6:.0f} MP > "
            f"{max_megapixels} MP limit)"
        )
    w_pt, h_pt = page.get_size()
    if w_pt <= 0 or h_pt <= 0:
        return None, "page has no size"
    scale = min(dpi / 72, (RENDER_MAX_PIXELS / (w_pt * h_pt)) ** 0.5)
    try:
        bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
        return bitmap.to_pil(), None
    except Exception as e:
        return None, f"cannot render: {_short(e)}"


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
        from appliance import ocr

        cfg = ocr.settings()
        log = ocr.PageNotes()
        total = empty = ocr_done = indexed = 0
        try:
            for number, raw in enumerate(self._pages(path), start=1):
                total = number
                page = getattr(raw, "page", None)
                text = normalise(raw)
                scan = cfg.enabled and page is not None and _scan_with_label(text, page)
                if usable(text) and not scan:
                    indexed += 1
                    yield Section(number, 0, text)
                    continue
                if not cfg.enabled or page is None or not _may_hold_text(page):
                    empty += 1
                    continue
                if ocr_done >= cfg.max_pages:
                    log.over_cap.append(number)
                    continue
                ocr_done += 1
                image, reason = _render(page, cfg.dpi, cfg.max_megapixels)
                section = None
                if image is not None:
                    section, reason = ocr.page_section(image, number)
                    del image
                    broken = _undecodable(page) if section is None else None
                    if broken:
                        reason = f"page {number}: embedded {broken} image cannot be decoded"
                elif reason:
                    reason = f"page {number}: {reason}"
                if section is None and usable(text):  # keep the few words we have
                    section, reason = Section(number, 0, text), None
                log.add(section, reason)
                if section is not None:
                    indexed += 1
                    yield section
        except ocr.OcrUnavailable as e:
            raise LoadError(f"scanned pages need OCR: {e}") from None
        if total == 0:
            raise LoadError("corrupt PDF: no pages")
        if indexed == 0:
            if empty == total:
                hint = "" if cfg.enabled else " (turn on ocr.enabled)"
                raise LoadError(f"no extractable text; scanned?{hint}")
            why = log.skipped[0] if len(log.skipped) == 1 else f"{len(log.skipped)} pages unread"
            raise LoadError(f"no text found: {why}" if log.skipped else "no text found")
        log.write(notes)
        if empty:
            notes.append(f"{empty} of {total} pages have no text (scanned?)")
