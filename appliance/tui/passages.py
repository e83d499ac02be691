"""A cited passage in its surrounding text, read back from the index (no UI here).

The index stores every chunk of a file with its page and character span, and neighbouring
chunks overlap, so the text around a citation can be rebuilt by laying the chunks of the same
file and page that touch a window around the span onto their offsets. Gaps between chunks
(whitespace the chunker dropped) become one space or a newline.

Left out: reading the original file (it may have moved or changed; the index is what the
answer was built from). When the file has been re-ingested since, and the span is gone, the
citation's own text is shown alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.answers import Citation
from appliance.errors import ApplianceError
from appliance.store import Store

WINDOW = 700
"""Characters of context wanted on each side of the cited span."""


@dataclass(frozen=True)
class Passage:
    """``text`` with the cited span at ``text[span_start:span_end]``."""

    citation: Citation
    text: str
    span_start: int
    span_end: int
    complete: bool
    """False when only the cited text itself could be shown (file changed or index gone)."""
    more_before: bool = False
    """The page (or file) goes on before ``text``."""
    more_after: bool = False
    """The page (or file) goes on after ``text``."""

    @property
    def before(self) -> str:
        return self.text[: self.span_start]

    @property
    def cited(self) -> str:
        return self.text[self.span_start : self.span_end]

    @property
    def after(self) -> str:
        return self.text[self.span_end :]


@dataclass
class Stitched:
    """Chunks laid end to end; ``segments`` map source offsets to positions in ``text``."""

    text: str
    segments: list[tuple[int, int, int]]
    """(source start, source end, start in ``text``) of each piece."""

    def locate(self, offset: int) -> int | None:
        """Where source ``offset`` is in ``text`` (an end offset counts as inside)."""
        for start, end, at in self.segments:
            if start <= offset <= end:
                return at + offset - start
        return None


def stitch(chunks: list[tuple[str, int, int]]) -> Stitched:
    """Lay (text, start, end) chunks, sorted by start, onto one string. Overlaps are taken
    once; a gap (whitespace the chunker dropped) becomes a space, or a paragraph break.

    >>> s = stitch([("The rent is", 0, 11), ("is due monthly.", 9, 24), ("Notice", 27, 33)])
    >>> s.text, s.locate(27)
    ('The rent is due monthly.\\n\\nNotice', 26)
    """
    out: list[str] = []
    segments: list[tuple[int, int, int]] = []
    length = 0
    pos: int | None = None
    for text, start, end in chunks:
        if pos is not None and end <= pos:
            continue
        if pos is not None and start > pos:
            gap = " " if start - pos == 1 else "\n\n"
            out.append(gap)
            length += len(gap)
        skip = 0 if pos is None or start >= pos else pos - start
        out.append(text[skip:])
        segments.append((start + skip, end, length))
        length += len(text) - skip
        pos = end
    return Stitched("".join(out), segments)


def surrounding(index_dir: Path, citation: Citation, window: int = WINDOW) -> Passage:
    """The cited span of ``citation`` with up to ``window`` characters on each side."""
    lo, hi = citation.start - window, citation.end + window
    try:
        with Store.open(index_dir) as store:
            chunks, page_end = store.page_chunks(citation.path, citation.page, lo, hi)
    except ApplianceError:
        chunks, page_end = [], None
    stitched = stitch(chunks)
    text = stitched.text
    begin, end = stitched.locate(citation.start), stitched.locate(citation.end)
    if begin is None or end is None or text[begin:end] != citation.text:
        return Passage(citation, citation.text, 0, len(citation.text), complete=False)
    first, last = stitched.segments[0][0], stitched.segments[-1][1]
    # trim to the window, at whitespace so words are not cut
    cut_lo = max(0, begin - window)
    if cut_lo > 0:
        space = text.find(" ", cut_lo, begin)
        cut_lo = space + 1 if space != -1 else cut_lo
    cut_hi = min(len(text), end + window)
    if cut_hi < len(text):
        space = text.rfind(" ", end, cut_hi)
        cut_hi = space if space != -1 else cut_hi
    return Passage(
        citation,
        text[cut_lo:cut_hi],
        begin - cut_lo,
        end - cut_lo,
        complete=True,
        more_before=first > 0 or cut_lo > 0,
        more_after=cut_hi < len(text) or (page_end is not None and last < page_end),
    )
