"""Token-aware chunking on paragraph and sentence boundaries, with overlap.

Input is a loader ``Section`` (text of one page, or a piece of a pageless file, with its
offset); output is ``Chunk``s of at most ``max_tokens`` embedder tokens that keep the page and
the exact character span into that page's extracted text. Units are paragraphs, split into
sentences when a paragraph is too long, and into token windows when a sentence is too long.
Neighbouring chunks share up to ``overlap`` tokens of whole units. Chunks never cross a page
(a citation names one page). Token counts come from the embedder's own fast tokenizer
(``tokenizers``), loaded without torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from appliance.loaders.base import Section

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+(?=\S)|\n")


@dataclass
class Chunk:
    page: int | None
    start: int
    end: int
    text: str
    tokens: int
    sensitive: bool = False
    detectors: dict[str, int] = field(default_factory=dict)
    context: str = ""
    """Document title and headings, embedded and indexed with the text but not part of it
    (see ``appliance.context``)."""
    ocr: float | None = None
    """Mean OCR confidence of the page the text was read from by OCR; None for a text layer."""


class TokenCounter(Protocol):
    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every token of ``text`` (no special tokens)."""
        ...


class HFTokenCounter:
    """The embedder's tokenizer from its ``tokenizer.json`` (no truncation, no padding)."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self._tok.encode(text, add_special_tokens=False).offsets)


class WordCounter:
    """A whitespace 'tokenizer' for tests and as a fallback: one token per word."""

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\S+", text)]


def _spans(text: str, pattern: re.Pattern[str], lo: int, hi: int) -> list[tuple[int, int]]:
    """Split text[lo:hi] at ``pattern`` into non-blank (start, end) spans, separators dropped."""
    out: list[tuple[int, int]] = []
    pos = lo
    for m in pattern.finditer(text, lo, hi):
        if text[pos : m.start()].strip():
            out.append((pos, m.start()))
        pos = m.end()
    if text[pos:hi].strip():
        out.append((pos, hi))
    return [_trim(text, a, b) for a, b in out]


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


_SPACE = re.compile(r"\s")


def _word_boundary(text: str, lo: int, end: int) -> int:
    """``end``, moved back to the last whitespace after the middle of ``text[lo:end]`` when it
    falls inside a word; unchanged when there is no such space (a very long token run).

    >>> _word_boundary("alpha beta gamma", 0, 13)
    10
    """
    if end >= len(text) or text[end].isspace() or text[end - 1].isspace():
        return end
    floor = lo + (end - lo) // 2
    for at in range(end - 1, floor, -1):
        if _SPACE.match(text[at]):
            return at
    return end


class Chunker:
    """Packs units into chunks of at most ``max_tokens`` tokens with ``overlap``."""

    def __init__(self, counter: TokenCounter, max_tokens: int = 200, overlap: int = 40) -> None:
        if overlap >= max_tokens:
            raise ValueError("overlap must be smaller than the chunk size")
        self.counter = counter
        self.max_tokens = max_tokens
        self.overlap = overlap

    def _units(self, text: str, tok_ends: list[int]) -> list[tuple[int, int, int]]:
        """(start, end, tokens) units: paragraphs, or sentences/windows of long ones."""
        import bisect

        def ntok(a: int, b: int) -> int:
            return bisect.bisect_right(tok_ends, b) - bisect.bisect_right(tok_ends, a)

        units: list[tuple[int, int, int]] = []
        for pa, pb in _spans(text, _PARAGRAPH, 0, len(text)):
            n = ntok(pa, pb)
            if n <= self.max_tokens:
                units.append((pa, pb, n))
                continue
            for sa, sb in _spans(text, _SENTENCE, pa, pb):
                n = ntok(sa, sb)
                if n <= self.max_tokens:
                    units.append((sa, sb, n))
                    continue
                # A run-on sentence (tables, lists without punctuation): cut into token
                # windows, each ending at a space when one is within reach (never inside a
                # word, so a card number or an IBAN is not split between two chunks).
                hi = bisect.bisect_right(tok_ends, sb)
                pos = sa
                while pos < sb:
                    i = bisect.bisect_right(tok_ends, pos)
                    if i + self.max_tokens >= hi:
                        end = sb
                    else:
                        end = _word_boundary(text, pos, tok_ends[i + self.max_tokens - 1])
                    a, b = _trim(text, pos, end)
                    if a < b:
                        units.append((a, b, ntok(a, b)))
                    pos = end
        return units

    def chunk(self, section: Section) -> Iterator[Chunk]:
        text = section.text
        if not text.strip():
            return
        tok_ends = [e for _, e in self.counter.offsets(text)]
        units = self._units(text, tok_ends)
        i = 0
        while i < len(units):
            j, total = i, 0
            while j < len(units) and (j == i or total + units[j][2] <= self.max_tokens):
                total += units[j][2]
                j += 1
            a, b = units[i][0], units[j - 1][1]
            yield Chunk(
                section.page,
                section.start + a,
                section.start + b,
                text[a:b],
                total,
                ocr=section.ocr,
            )
            if j >= len(units):
                break
            # Step back over whole trailing units that fit in the overlap budget.
            k, back = j, 0
            while k - 1 > i and back + units[k - 1][2] <= self.overlap:
                back += units[k - 1][2]
                k -= 1
            i = k
