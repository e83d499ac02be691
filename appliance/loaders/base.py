"""The loader contract: what every format's loader yields.

A loader turns one file into ``Section``s of extracted text. A section carries the page it
comes from (1-based; ``None`` for formats without pages) and the character offset of its text
within the extracted text of that page (or of the whole file for formats without pages), so a
chunk's span can be cited exactly. Loaders stream: a large file is yielded in pieces and never
held whole in memory. A file that cannot be ingested raises ``LoadError`` with a one-line reason
(possibly after some sections were yielded: the caller then discards the file). Non-fatal
remarks (``"not UTF-8; decoded as cp1252"``) are appended to ``notes``. Text read by OCR (a
scanned page, an image) carries its mean confidence in ``ocr``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from appliance.errors import LoadError

__all__ = ["LoadError", "Loader", "Section"]


@dataclass(frozen=True)
class Section:
    page: int | None
    """1-based page number; None for formats without pages."""
    start: int
    """Offset of ``text`` in the extracted text of its page (or of the file)."""
    text: str
    ocr: float | None = None
    """Mean OCR confidence when ``text`` was read from an image of the page; None otherwise."""


class Loader(Protocol):
    kind: str
    """Short format name stored with each file: pdf, text, markdown, html, docx."""
    suffixes: tuple[str, ...]
    """Lower-case suffixes this loader claims, with the dot."""

    def sniff(self, head: bytes) -> bool:
        """True when the first bytes of a file look like this format."""
        ...

    def load(self, path: Path, notes: list[str]) -> Iterator[Section]:
        """Yield the file's text; raise LoadError with a one-line reason on failure."""
        ...
