"""Plain text and Markdown: decoding, streaming, and telling text from binary.

Covers ``.txt``/``.text`` (kind ``text``) and ``.md``/``.markdown`` (kind ``markdown``). The
decoded text is kept exactly as it is in the file (Markdown source included: it is what a
citation quotes), so offsets point into the file's own characters. UTF-8 is assumed; a BOM
(UTF-8/16/32) wins; otherwise charset-normalizer guesses from a sample and a note says so.
Large files are read in 1 MiB blocks and yielded as sections of at most 256K characters, each
cut at a blank line or else a newline or space, so memory stays at a few blocks (about 10 MB)
whatever the file's size.

Also home to the byte sniffing the other loaders reuse (``known_format``, ``looks_like_text``)
and the ``split_text`` helper. Left out: Markdown rendering or front-matter handling, and
encodings that charset-normalizer cannot name (decoded as UTF-8 with replacement characters).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from appliance.loaders.base import LoadError, Section

BLOCK_BYTES = 1 << 20
"""Bytes read at a time."""
SECTION_CHARS = 1 << 18
"""Longest section yielded, in characters."""

_SAMPLE_BYTES = 64 << 10
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (DOCX, XLSX, ...)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.doc/.xls)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
# Control bytes that do not occur in text (tab, newline, CR, form feed, VT and ESC do).
_CONTROL = frozenset(range(32)) - {9, 10, 11, 12, 13, 27}


def known_format(head: bytes) -> str | None:
    """Name a recognised non-text format from its first bytes, e.g. ``b"%PDF-1.7"`` → "a PDF"."""
    if b"%PDF-" in head[:1024]:
        return "a PDF"
    if head.startswith(b"PK\x03\x04") and b"word/" in head:
        return "a Word document (DOCX)"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def looks_like_text(head: bytes) -> bool:
    """True unless the bytes hold NULs or more than 5% control bytes (a BOM always passes)."""
    if any(head.startswith(bom) for bom, _ in _BOMS):
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for b in head if b in _CONTROL)
    return controls <= len(head) * 0.05


def detect_encoding(sample: bytes, notes: list[str]) -> tuple[str, str]:
    """Pick ``(codec, errors)`` for a file starting with ``sample``; note anything but UTF-8.

    ``b"caf\\xe9 cr\\xe8me"`` → ``("cp1252", "replace")`` and the note "not UTF-8; decoded as
    cp1252" (or another single-byte codec that reads it the same).
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name, "strict"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8", "strict"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # imported late: only non-UTF-8 files need it

    matches = from_bytes(sample)
    best = matches.best()
    if best is None or best.encoding in ("utf_8", "ascii"):
        notes.append("not UTF-8; undecodable bytes replaced")
        return "utf-8", "replace"
    # Short Western text ties between cp1250/cp1252/cp1257...: take the far commoner cp1252.
    for m in matches:
        if m.encoding == "cp1252" and (m.chaos, m.coherence) == (best.chaos, best.coherence):
            best = m
    name = codecs.lookup(best.encoding).name
    notes.append(f"not UTF-8; decoded as {name}")
    return name, "replace"


def decode_blocks(path: Path, notes: list[str], block_bytes: int = BLOCK_BYTES) -> Iterator[str]:
    """Yield the decoded text of ``path`` block by block.

    Bytes that break the chosen codec further into the file (past the sample) are replaced
    with U+FFFD and noted once, rather than failing a file that was mostly fine.
    """
    try:
        with open(path, "rb") as f:
            block = f.read(block_bytes)
            encoding, errors = detect_encoding(block[:_SAMPLE_BYTES], notes)
            decoder = codecs.getincrementaldecoder(encoding)(errors)
            offset = 0
            while True:
                final = not block
                state = decoder.getstate()
                try:
                    text = decoder.decode(block, final=final)
                except UnicodeDecodeError as e:
                    notes.append(
                        f"invalid {encoding} at byte {offset + e.start}; bad bytes replaced"
                    )
                    decoder = codecs.getincrementaldecoder(encoding)("replace")
                    decoder.setstate(state)
                    text = decoder.decode(block, final=final)
                if text:
                    yield text
                if final:
                    return
                offset += len(block)
                block = f.read(block_bytes)
    except PermissionError as e:
        raise LoadError("cannot read: permission denied") from e
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror or e}") from e


def _cut(text: str, begin: int, end: int) -> int:
    """Where to end the section ``text[begin:end]``: after its last blank line, else its last
    newline, else its last space, looking only in its second half; else at ``end``.
    ``_cut("ab cd\\n\\nef gh", 0, 10)`` → 7 (just after the blank line)."""
    low = begin + (end - begin) // 2
    blank = max(text.rfind("\n\n", low, end), text.rfind("\n\r\n", low, end))
    if blank >= 0:
        return text.index("\n", blank + 1, end + 1) + 1
    for sep in ("\n", " "):
        at = text.rfind(sep, low, end)
        if at >= 0:
            return at + 1
    return end


def split_text(
    pieces: Iterator[str] | list[str], page: int | None = None, max_chars: int = SECTION_CHARS
) -> Iterator[Section]:
    """Regroup text pieces into sections of at most ``max_chars``, cut at natural breaks.

    Offsets are exact: joining the sections' texts gives back the joined pieces.
    """
    parts: list[str] = []
    size = start = 0
    for piece in pieces:
        parts.append(piece)
        size += len(piece)
        if size <= max_chars:
            continue
        buf, pos = "".join(parts), 0  # joined only when a cut is due: no quadratic copying
        while len(buf) - pos > max_chars:
            cut = _cut(buf, pos, pos + max_chars)
            yield Section(page, start, buf[pos:cut])
            start += cut - pos
            pos = cut
        parts, size = [buf[pos:]], len(buf) - pos
    if size:
        yield Section(page, start, "".join(parts))


class TextLoader:
    """Plain text or Markdown, streamed in sections of about ``block_bytes`` characters."""

    def __init__(self, kind: str, suffixes: tuple[str, ...], block_bytes: int = BLOCK_BYTES):
        self.kind = kind
        self.suffixes = suffixes
        self.block_bytes = block_bytes

    def sniff(self, head: bytes) -> bool:
        return known_format(head) is None and looks_like_text(head)

    def load(self, path: Path, notes: list[str]) -> Iterator[Section]:
        blocks = decode_blocks(path, notes, self.block_bytes)
        yield from split_text(blocks, None, min(self.block_bytes, SECTION_CHARS))
