"""DOCX (Word 2007+): body paragraphs and tables in document order, via python-docx.

Paragraphs are separated by blank lines; a table is one block whose rows are lines and whose
cells are joined with " | " (a merged cell is written once). The text is yielded in sections
of about 1 MiB, offsets counted in the whole document's extracted text.

Left out: headers, footers, footnotes, comments, text boxes, tables nested inside cells (their
text still appears in the outer cell), tracked-change history, and old binary ``.doc`` files
(refused by the sniff: they are not ZIP archives).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.loaders.base import LoadError, Section
from appliance.loaders.text import split_text


def _table_text(table: Any) -> str:
    """Rows as lines, cells joined with " | ": ``[["Item", "Fee"], ["Mop", "£5"]]`` →
    ``"Item | Fee\\nMop | £5"``."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _blocks(path: Path) -> Iterator[str]:
    """Non-empty paragraph and table texts, in body order."""
    import docx
    from docx.table import Table

    try:
        with zipfile.ZipFile(path) as archive:
            if "word/document.xml" not in archive.namelist():
                raise LoadError("corrupt DOCX: no word/document.xml in the archive")
        document = docx.Document(str(path))
        blocks = list(document.iter_inner_content())
    except LoadError:
        raise
    except zipfile.BadZipFile as e:
        raise LoadError(f"corrupt DOCX: {e}") from e
    except Exception as e:  # python-docx and lxml raise many types on damaged parts
        detail = " ".join(str(e).split())[:120] or type(e).__name__
        raise LoadError(f"corrupt DOCX: {detail}") from e
    for block in blocks:
        text = _table_text(block) if isinstance(block, Table) else block.text.strip()
        if text:
            yield text


class DocxLoader:
    """Word documents; kind ``docx``, no pages."""

    kind = "docx"
    suffixes: tuple[str, ...] = (".docx",)

    def sniff(self, head: bytes) -> bool:
        # word/document.xml is often past the first bytes; load() checks the archive itself.
        return head.startswith(b"PK\x03\x04")

    def load(self, path: Path, notes: list[str]) -> Iterator[Section]:
        def pieces() -> Iterator[str]:
            for i, text in enumerate(_blocks(path)):
                yield ("\n\n" + text) if i else text

        empty = True
        for section in split_text(pieces()):
            empty = False
            yield section
        if empty:
            raise LoadError("no text in DOCX")
