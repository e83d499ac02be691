"""Document context for chunks: what is embedded and indexed beside a chunk's text.

A chunk alone ("Purchases of property, plant and equipment (1,577) (1,373)") does not say
which document, company, year or statement it comes from, and with many documents in one index
that matters. Its context is two lines, e.g.::

    3M 2018 10K · 10-K - 02/07/2019 - 3M Company · fiscal year 2018
    Consolidated Statement of Cash Flows › Cash Flows from Investing Activities

the document (its path as words, the title from the file's metadata when it has a useful one,
the company and fiscal year when the first page states them) and the headings the chunk sits
under (the page's leading heading lines, without running headers that repeat page after page,
and the nearest heading line above the chunk; a page without headings of its own continues
under the last heading seen), and for a table row below its header the header's year columns
("(Millions) 2018 2017 2016"). The context's vector is added to the chunk's (``ContextVectors``)
and bm25 indexes it in a column of its own; it is never part of the stored chunk text, so
citations keep exact spans. It does not reach any prompt; the ingest labeller still judges it
like text (a title can hold a secret).

Left out: real layout analysis (font sizes, bold, columns): headings are guessed from the
shape of a line, which is right often enough on reports and harmless when wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from appliance.chunking import Chunk
from appliance.loaders.base import Section

if TYPE_CHECKING:
    from appliance.embedding import TextEmbedder

MAX_DOC = 140
"""Characters of the document line (about 35 tokens at most)."""
MAX_HEADINGS = 160
"""Characters of the headings line."""
CONTEXT_WEIGHT = 0.25
"""How much a chunk's context vector adds to its text vector (see ``ContextVectors``).
Measured on annual reports: 0.25 beat 0 (text alone), 0.5 and 1.0 (``bench.devset_bench``)."""

_LINE = re.compile(r"[^\n]+")
_FISCAL = re.compile(
    r"fiscal\s+year\s+ended\s*:?\s*(?:[A-Z][a-z]+\.?\s+\d{1,2},?\s+|\d{1,2}\s+[A-Z][a-z]+\s+)?"
    r"((?:19|20)\d\d)",
    re.IGNORECASE,
)
# Annual reports filed with the SEC name the company on their cover page this way.
_REGISTRANT = re.compile(
    r"([^\n]{2,100})\n[^\n]{0,40}\(?\s*exact name of (?:the )?registrant", re.IGNORECASE
)
# Their cover page lists the stock's trading symbol beside the exchange that lists it.
_TRADING_SYMBOL = re.compile(
    r"trading\s+symbols?|securities\s+registered\s+pursuant\s+to\s+section\s+12\(b\)",
    re.IGNORECASE,
)
_SYMBOL_ON_EXCHANGE = re.compile(
    r"(?<![\w/.$])([A-Z]{2,5})\s+(?:The\s+)?(?:New\s+York|NYSE|Nasdaq|NASDAQ|Chicago|Boston|"
    r"Cboe|CBOE|Pacific|London|Toronto)\b"
)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_GENERIC_TITLE = re.compile(r"^(untitled|document\d*|microsoft word|page \d+|none)$", re.I)
_WORD_PREFIX = re.compile(r"^microsoft (word|powerpoint|excel) - ", re.I)


def doc_line(context: str) -> str:
    """The document part of a chunk's context (its first line)."""
    return context.split("\n", 1)[0]


def path_words(relpath: str) -> str:
    """``"reports/3M_2018_10K.pdf"`` → ``"reports › 3M 2018 10K"``."""
    parts = Path(relpath).with_suffix("").parts
    words = [" ".join(re.split(r"[_\-.\s]+", p)).strip() for p in parts]
    return " › ".join(w for w in words if w)


def useful_title(title: str | None, relpath: str) -> str:
    """A metadata title worth adding, or ``""`` (empty, generic, or just the file name)."""
    title = " ".join((title or "").split())
    title = _WORD_PREFIX.sub("", title)
    if not title or not re.search(r"[^\W\d_]{2}", title) or _GENERIC_TITLE.match(title):
        return ""
    stem = Path(relpath).stem.lower()
    if title.lower() in (stem, Path(relpath).name.lower()):
        return ""
    return title[:100]


def document_title(path: Path, kind: str) -> str:
    """The title a file's metadata gives (PDF info dictionary, HTML ``<title>``), or ``""``.

    Never fails: a file that cannot be read for its title is still ingested without one.
    """
    try:
        if kind == "pdf":
            return _pdf_title(path)
        if kind == "html":
            with open(path, "rb") as fh:
                head = fh.read(65536).decode("utf-8", "replace")
            m = re.search(r"<title[^>]*>(.*?)</title>", head, re.I | re.S)
            return re.sub(r"<[^>]+>", "", m.group(1)) if m else ""
    except Exception:
        return ""
    return ""


def _pdf_title(path: Path) -> str:
    try:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(path, password="")
        try:
            return str(doc.get_metadata_dict().get("Title") or "")
        finally:
            doc.close()
    except ImportError:
        from pypdf import PdfReader

        reader = PdfReader(path)
        if reader.is_encrypted:
            reader.decrypt("")
        meta = reader.metadata
        return str(meta.get("/Title") or "") if meta is not None else ""


def is_heading(line: str) -> bool:
    """Whether a line looks like a heading: short, capitalised words, few digits, no sentence end.

    >>> is_heading("Consolidated Statement of Cash Flows"), is_heading("Inventories (509) (387) 57")
    (True, False)
    """
    text = line.strip()
    if not 3 <= len(text) <= 80 or text[-1] in ".,;":
        return False
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 3 or not letters[0].isupper():
        return False
    if sum(c.isdigit() for c in text) > 0.2 * len(text):
        return False
    words = [w for w in re.findall(r"[^\W\d_][\w'’&-]*", text) if len(w) > 3]
    if len(text.split()) > 10 or not words:
        return False
    return sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def is_column_header(line: str) -> bool:
    """Whether a line heads a table's year columns: two years or more, no amounts.

    >>> is_column_header("(Millions) 2018 2017 2016"), is_column_header("Sales 1,577 2018 2017")
    (True, False)
    """
    text = line.strip()
    if len(text) > 80 or len(_YEAR.findall(text)) < 2:
        return False
    return not re.search(r"\d{3,}|\d,\d", _YEAR.sub(" ", text))


def cover_ticker(text: str) -> str:
    """The trading symbol an SEC cover page states (``"JNJ"``), or ``""``.

    Read from the first symbol written just before an exchange's name after a "Trading
    Symbol(s)" heading or the "Securities registered pursuant to Section 12(b)" line above the
    table (some covers print the headings under the row); two to five capitals, so "A" or a
    note's "JNJ24C" are not taken.

    >>> cover_ticker("Title of each class Trading Symbol(s) Name of each exchange\\n"
    ...              "Common Stock, Par Value $1.00 JNJ New York Stock Exchange")
    'JNJ'
    """
    m = _TRADING_SYMBOL.search(text)
    if m is None:
        return ""
    found = _SYMBOL_ON_EXCHANGE.search(text, m.end(), m.end() + 1500)
    return found.group(1) if found else ""


class DocumentContext:
    """Builds the context of each chunk of one file, section by section, in reading order."""

    def __init__(self, relpath: str, title: str | None = None) -> None:
        parts = [path_words(relpath), useful_title(title, relpath)]
        self._doc_parts = [p for p in parts if p]
        self._doc: str | None = None
        self._seen: Counter[str] = Counter()  # pages each heading line was on
        self._last_heading = ""

    def doc(self, first: Section | None = None) -> str:
        """The document line, completed from the first section seen (its fiscal year)."""
        if self._doc is None:
            parts = list(self._doc_parts)
            head = first.text[:20000] if first is not None else ""
            m = _REGISTRANT.search(head)
            name = re.split(r"_{3,}|\s{3,}", m.group(1))[-1].strip(" ,:") if m else ""
            if name and name.lower() not in " ".join(parts).lower():
                parts.append(name[:60])
            m = _FISCAL.search(head)
            if m and m.group(1) not in " ".join(parts):
                parts.append(f"fiscal year {m.group(1)}")
            self._doc = _cap(" · ".join(parts), MAX_DOC)
        return self._doc

    def apply(self, section: Section, chunks: list[Chunk]) -> None:
        """Set ``context`` on the chunks of ``section`` (chunk spans are in page coordinates)."""
        doc = self.doc(section)
        lines = [(m.start(), m.group().strip()) for m in _LINE.finditer(section.text)]
        lines = [(at, t) for at, t in lines if t]
        # A heading line already seen on two pages is a running header ("Table of Contents").
        found = {t for _, t in lines if is_heading(t)}
        running = {t for t in found if self._seen[t] >= 2}
        self._seen.update(found)
        top = _page_heading(lines[:6], running)
        headings = [(at, t) for at, t in lines if t in found - running and t not in top]
        columns = next(((at, t) for at, t in lines if is_column_header(t)), None)
        for chunk in chunks:
            start = chunk.start - section.start
            above = [t for at, t in headings if at < start]
            near = above[-1] if above else ("" if top else self._last_heading)
            parts = [*top, near] if near and near not in top else list(top)
            if columns is not None and columns[0] < start:  # a table row far below its header
                parts.append(columns[1])
            chunk.context = doc + "\n" + _cap(" › ".join(parts), MAX_HEADINGS) if parts else doc
        if headings:
            self._last_heading = headings[-1][1]
        elif top:
            self._last_heading = top[-1]


def _page_heading(first_lines: list[tuple[int, str]], running: set[str]) -> list[str]:
    """Up to three heading lines at the top of a page, running headers left out."""
    out: list[str] = []
    for _, text in first_lines:
        if not is_heading(text):
            if out:
                break
            continue
        if text not in running and text not in out:
            out.append(text)
        if len(out) == 3:
            break
    return out


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class ContextVectors:
    """Adds each chunk's context to its text vector: ``normalise(text + weight × context)``.

    The text is embedded alone (what the model reads is the passage, whole, within its 256
    tokens) and each distinct context once per file (a few hundred per report, short), so
    context costs a few percent of ingest time instead of the longer inputs a joint embedding
    ("context\\ntext") would. The inner product with a question is then the passage's
    similarity plus ``weight`` times its document's and headings' similarity, up to a common
    scale.
    """

    def __init__(self, embedder: TextEmbedder, weight: float = CONTEXT_WEIGHT) -> None:
        self.embedder = embedder
        self.weight = weight
        self._cache: dict[str, np.ndarray] = {}

    def mix(self, vectors: np.ndarray, contexts: list[str], batch_size: int = 32) -> np.ndarray:
        if self.weight == 0 or not any(contexts):
            return vectors
        new = [c for c in dict.fromkeys(contexts) if c and c not in self._cache]
        if new:
            if len(self._cache) + len(new) > 4096:
                self._cache.clear()
            for c, v in zip(new, self.embedder.encode(new, batch_size=batch_size), strict=True):
                self._cache[c] = v
        out = vectors.astype(np.float32, copy=True)
        for i, c in enumerate(contexts):
            if c:
                out[i] += self.weight * self._cache[c]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out / np.maximum(norms, 1e-12), dtype=np.float32)
