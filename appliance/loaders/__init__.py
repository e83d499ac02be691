"""Loaders: pick one by suffix, check the file and its content, then stream its sections.

``load_file(path, notes)`` is the one entry point. It checks everything cheap up front, each
failure a ``LoadError`` with a one-line reason (missing, broken symlink, symlink loop, not a
regular file, unreadable, empty, too large, content that does not match the suffix) and then
returns ``(kind, sections)``; the sections are a lazy iterator, so nothing is parsed until the
caller iterates, and parse failures surface then. ``is_supported`` tells the folder scanner
which files to pick up; files with other suffixes are skipped, not reported.

Formats: PDF (``pdf``, scanned pages read by OCR), plain text (``text``), Markdown
(``markdown``), HTML (``html``), DOCX (``docx``), images (``image``: PNG, JPEG, TIFF, read by
OCR; see ``appliance.ocr``). Adding one is a module with a class following ``base.Loader``
and a line below.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from appliance.loaders.base import Loader, LoadError, Section
from appliance.loaders.docx import DocxLoader
from appliance.loaders.html import HtmlLoader
from appliance.loaders.image import ImageLoader, image_format
from appliance.loaders.pdf import PdfLoader
from appliance.loaders.text import TextLoader, known_format

__all__ = [
    "LOADERS",
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "Loader",
    "Section",
    "is_supported",
    "load_file",
    "loader_for",
]

DEFAULT_MAX_BYTES = 512 << 20
HEAD_BYTES = 8 << 10

LOADERS: tuple[Loader, ...] = (
    PdfLoader(),
    TextLoader("text", (".txt", ".text")),
    TextLoader("markdown", (".md", ".markdown")),
    HtmlLoader(),
    DocxLoader(),
    ImageLoader(),
)
_BY_SUFFIX: dict[str, Loader] = {s: loader for loader in LOADERS for s in loader.suffixes}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_BY_SUFFIX)
_TEXT_KINDS = frozenset({"text", "markdown", "html"})
_NAMES = {"pdf": "a PDF", "docx": "a DOCX document", "image": "a PNG, JPEG or TIFF image"}


def is_supported(path: Path) -> bool:
    """True when the file's suffix (any case) belongs to a loader."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def loader_for(path: Path) -> Loader:
    """The loader claiming ``path``'s suffix; LoadError when there is none."""
    loader = _BY_SUFFIX.get(path.suffix.lower())
    if loader is None:
        raise LoadError(f"unsupported file type ({path.suffix or 'no suffix'})")
    return loader


def _size(n: int) -> str:
    """Human size: 700 → "700 bytes", 3 << 19 → "1.5 MB"."""
    for unit, shift in (("MB", 20), ("KB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _stat(path: Path) -> os.stat_result:
    """``os.stat`` with the failures spelled out for the user."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise LoadError("broken symlink" if os.path.islink(path) else "file not found") from None
    except PermissionError:
        raise LoadError("cannot read: permission denied") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LoadError("symlink loop") from None
        raise LoadError(f"cannot read: {e.strerror or e}") from None


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except PermissionError:
        raise LoadError("cannot read: permission denied") from None
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror or e}") from None


def _mismatch(loader: Loader, suffix: str, head: bytes) -> str:
    """Why content does not fit its suffix, naming what it looks like when we can tell."""
    seen = known_format(head) or (f"a {image_format(head)} image" if image_format(head) else None)
    if loader.kind in _TEXT_KINDS:
        if seen:
            return f"looks like {seen}, not text (content does not match {suffix} suffix)"
        return "binary content in a text file"
    name = _NAMES.get(loader.kind, loader.kind)
    if seen:
        return f"not {name} (content looks like {seen}; does not match {suffix} suffix)"
    return f"not {name} (content does not match {suffix} suffix)"


def load_file(
    path: Path, notes: list[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[str, Iterator[Section]]:
    """Check ``path`` and return ``(kind, sections)``; remarks are appended to ``notes``.

    Raises LoadError with a short reason for anything that stops the file being read; the
    sections may raise it too while being iterated (a damaged page, say).
    """
    loader = loader_for(path)
    info = _stat(path)
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a special file"
        raise LoadError(f"not a regular file ({kind})")
    head = _read_head(path)
    if info.st_size == 0 or not head:
        raise LoadError("empty file")
    if info.st_size > max_bytes:
        raise LoadError(f"too large ({_size(info.st_size)} > {_size(max_bytes)} limit)")
    if not loader.sniff(head):
        raise LoadError(_mismatch(loader, path.suffix.lower(), head))
    return loader.kind, loader.load(path, notes)
