"""Deterministic synthetic documents for the benchmarks: prose, PDFs, Markdown, small files.

Words come from a vocabulary of a few thousand English words drawn with a Zipf-like
(1/rank) distribution, so term statistics look like real prose: a few words are in every
chunk, most are rare. The vocabulary is the whole-word part of the bundled embedder's
WordPiece ``vocab.txt``, which BERT orders roughly by corpus frequency, so its order is a
plausible frequency rank (syllable pseudo-words stand in when that file is missing). Sentences
fill templates ("Revenue for the {w} {w} rose 4.2% to $18.6 million in Q3 2021.") with such
words, numbers, dates and amounts; pages add headings, bullet lists and now and then a small
table. Everything is seeded: the same arguments write the same bytes.

``write_corpus`` writes the PDFs (fpdf2, core fonts, latin-1) and Markdown/text files the
ingest benchmark uses; ``write_small_files`` the folder of many tiny files for the re-ingest
check; ``synthetic_chunks`` and ``queries`` feed the retrieval benchmark. Left out: layouts
that stress a parser (columns, scanned pages, odd encodings): the devset PDFs cover those.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

VOCAB_SIZE = 4000
_BLOCKED = frozenset("hitler nazi nazis sex fuck shit".split())
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_REGIONS = ("North", "South", "East", "West", "Central", "Northern", "Coastal", "Metro")
_UNITS = ("million", "thousand", "billion")
_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """``VOCAB_SIZE`` words, most frequent first."""
    words: list[str] = []
    try:
        from appliance.embedding import default_model_dir

        lines = (default_model_dir() / "vocab.txt").read_text("utf-8").splitlines()
        seen: set[str] = set()
        for word in lines[1996:]:  # before this: special tokens and single characters
            if re.fullmatch(r"[a-z]{2,14}", word) and word not in _BLOCKED and word not in seen:
                seen.add(word)
                words.append(word)
            if len(words) == VOCAB_SIZE:
                break
    except Exception:  # no bundled model: pronounceable pseudo-words, still Zipf-ranked
        words = []
    if len(words) < VOCAB_SIZE:
        rng = random.Random(7)
        onsets, vowels, codas = "b c d f g h k l m n p r s t v w".split(), "aeiou", "nrstl"
        while len(words) < VOCAB_SIZE:
            word = "".join(
                rng.choice(onsets) + rng.choice(vowels) + rng.choice(["", *codas])
                for _ in range(rng.randint(1, 3))
            )
            if word not in words:
                words.append(word)
    return tuple(words)


@lru_cache(maxsize=1)
def _zipf_cum() -> np.ndarray:
    ranks = np.arange(1, VOCAB_SIZE + 1, dtype=np.float64)
    weights = 1.0 / ranks**1.05
    return np.cumsum(weights / weights.sum())


class Prose:
    """Seeded text generator: words, sentences, paragraphs, pages."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary()
        self.cum = list(_zipf_cum())

    # -- pieces ------------------------------------------------------------------------------
    def content(self) -> str:
        """A mid-frequency word (rank 60 to 2500, log-uniform), the kind a question is about."""
        while len(word := self.words[int(60 * (2500 / 60) ** self.rng.random())]) < 4:
            pass
        return word

    def number(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"{self.rng.uniform(0.5, 99):.1f}%"
        if r < 0.6:
            return f"${self.rng.uniform(1, 950):,.1f} {self.rng.choice(_UNITS)}"
        if r < 0.8:
            return f"{self.rng.randint(2, 98_000):,}"
        return str(self.rng.randint(2, 400))

    def date(self) -> str:
        year = self.rng.randint(2015, 2026)
        r = self.rng.random()
        if r < 0.4:
            return f"{self.rng.randint(1, 28)} {self.rng.choice(_MONTHS)} {year}"
        if r < 0.7:
            return f"Q{self.rng.randint(1, 4)} {year}"
        return f"{self.rng.choice(_MONTHS)} {year}"

    def words_run(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=n))

    def sentence(self) -> str:
        w, c, r = self.words_run, self.content, self.rng
        templates = (
            lambda: f"The {c()} of the {c()} {w(r.randint(3, 9))} in {self.date()}.",
            lambda: (
                f"{c().capitalize()} for the {r.choice(_REGIONS)} {c()} rose "
                f"{self.number()} to {self.number()} in {self.date()}."
            ),
            lambda: (
                f"Under the {c()} {c()}, {w(r.randint(4, 10))} {c()} within "
                f"{r.randint(2, 90)} days."
            ),
            lambda: f"{w(r.randint(6, 16)).capitalize()}, {w(r.randint(3, 8))} {c()}.",
            lambda: (
                f"As of {self.date()}, {w(r.randint(3, 8))} {self.number()} {c()} "
                f"{w(r.randint(2, 6))}."
            ),
            lambda: f"{c().capitalize()} {c()} and {c()} {w(r.randint(5, 12))}.",
            lambda: f"Each {c()} must {c()} the {c()} {w(r.randint(2, 7))} by {self.date()}.",
        )
        return r.choice(templates)()

    def paragraph(self, words: int) -> str:
        out: list[str] = []
        count = 0
        while count < words:
            s = self.sentence()
            out.append(s)
            count += s.count(" ") + 1
        return " ".join(out)

    def heading(self) -> str:
        return " ".join(self.content().capitalize() for _ in range(self.rng.randint(2, 4)))

    def table(self) -> list[list[str]]:
        cols = self.rng.randint(3, 4)
        head = [self.content().capitalize() for _ in range(cols)]
        rows = [
            [self.content().capitalize()]
            + [f"{self.rng.uniform(1, 9999):,.1f}" for _ in range(cols - 1)]
            for _ in range(self.rng.randint(3, 5))
        ]
        return [head, *rows]

    def page_blocks(self, words: int) -> list[tuple[str, object]]:
        """A page as ``(kind, content)`` blocks: heading, paragraph, bullets, table."""
        blocks: list[tuple[str, object]] = [("heading", self.heading())]
        count = 0
        while count < words:
            r = self.rng.random()
            if r < 0.08 and count > 80:
                blocks.append(("table", self.table()))
                count += 20
            elif r < 0.18:
                items = [self.sentence() for _ in range(self.rng.randint(2, 4))]
                blocks.append(("bullets", items))
                count += sum(i.count(" ") + 1 for i in items)
            elif r < 0.25 and count > 100:
                blocks.append(("heading", self.heading()))
            else:
                n = self.rng.randint(50, 110)
                blocks.append(("paragraph", self.paragraph(n)))
                count += n
        return blocks


# -- files ----------------------------------------------------------------------------------
@dataclass
class Corpus:
    """What ``write_corpus`` wrote."""

    root: Path
    pdfs: list[Path] = field(default_factory=list)
    texts: list[Path] = field(default_factory=list)
    pdf_pages: int = 0
    words: int = 0

    @property
    def files(self) -> int:
        return len(self.pdfs) + len(self.texts)


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def write_pdf(path: Path, prose: Prose, pages: int, words: int) -> int:
    """A PDF of ``pages`` pages of about ``words`` words each; returns the words written.

    Lines are wrapped by character count and placed with ``text()``: fpdf2's own line
    breaking measures every glyph and would make writing the corpus take longer than
    parsing it.
    """
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(_EPOCH)  # else the bytes change with the clock
    pdf.set_auto_page_break(False)
    total = 0
    for number in range(1, pages + 1):
        pdf.add_page()
        y = 20.0
        for kind, content in prose.page_blocks(words):
            if y > 272:
                break  # the page is full: drop the rest rather than spill onto another
            if kind == "heading":
                pdf.set_font("Helvetica", "B", 12)
                y += 3
                pdf.text(18, y, _latin1(str(content)))
                y += 7
            elif kind in ("paragraph", "bullets"):
                pdf.set_font("Times", "", 9.5)
                items = [str(content)] if kind == "paragraph" else [f"- {i}" for i in content]  # type: ignore[attr-defined]
                for item in items:
                    for line in textwrap.wrap(_latin1(item), 112):
                        pdf.text(18, y, line)
                        y += 4.2
                y += 2
            else:
                pdf.set_font("Helvetica", "", 8)
                rows: list[list[str]] = content  # type: ignore[assignment]
                width = 174 / len(rows[0])
                for row in rows:
                    for col, cell in enumerate(row):
                        pdf.text(18 + col * width, y, _latin1(cell))
                    y += 4.5
                y += 2
            total += str(content).count(" ") + 1
        pdf.set_font("Helvetica", "I", 7)
        pdf.text(95, 288, f"Page {number} of {pages}")
    pdf.output(str(path))
    return total


def write_markdown(path: Path, prose: Prose, words: int) -> int:
    lines = [f"# {prose.heading()}", ""]
    total = 0
    for kind, content in prose.page_blocks(words):
        if kind == "heading":
            lines += [f"## {content}", ""]
        elif kind == "paragraph":
            lines += [str(content), ""]
        elif kind == "bullets":
            lines += [f"- {item}" for item in content] + [""]  # type: ignore[attr-defined]
        else:
            rows: list[list[str]] = content  # type: ignore[assignment]
            lines.append("| " + " | ".join(rows[0]) + " |")
            lines.append("|" + "---|" * len(rows[0]))
            lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
            lines.append("")
        total += str(content).count(" ") + 1
    path.write_text("\n".join(lines), encoding="utf-8")
    return total


def write_corpus(
    root: Path,
    *,
    pdfs: int = 40,
    pages: int = 10,
    texts: int = 60,
    words_per_page: int = 360,
    seed: int = 0,
) -> Corpus:
    """``pdfs`` PDFs of ``pages`` pages and ``texts`` Markdown/text files under ``root``.

    Text files get one or two pages' worth of words; every third is ``.txt``.
    """
    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)
    for i in range(pdfs):
        prose = Prose(seed * 100_003 + i)
        path = root / "reports" / f"report_{i:03d}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        corpus.words += write_pdf(path, prose, pages, words_per_page)
        corpus.pdfs.append(path)
        corpus.pdf_pages += pages
    for i in range(texts):
        prose = Prose(seed * 100_003 + 50_000 + i)
        suffix = ".txt" if i % 3 == 2 else ".md"
        path = root / "notes" / f"note_{i:03d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = words_per_page * prose.rng.randint(1, 2)
        corpus.words += write_markdown(path, prose, n)
        corpus.texts.append(path)
    return corpus


def write_small_files(root: Path, count: int = 1000, *, seed: int = 1) -> list[Path]:
    """``count`` small text files (one or two short paragraphs each) in 10 subfolders."""
    prose = Prose(seed)
    out: list[Path] = []
    for i in range(count):
        path = root / f"dir_{i % 10:02d}" / f"memo_{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        paras = [prose.paragraph(prose.rng.randint(25, 60)) for _ in range(prose.rng.randint(1, 2))]
        path.write_text(f"Memo {i}: {prose.heading()}\n\n" + "\n\n".join(paras) + "\n")
        out.append(path)
    return out


# -- retrieval material -------------------------------------------------------------------------
def synthetic_chunks(count: int, words: int = 150, *, seed: int = 2) -> Iterator[str]:
    """``count`` chunk texts of ``words`` Zipf-drawn words, sentence-broken; fast (numpy)."""
    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(), dtype=object)
    ended = np.array([w + "." for w in vocabulary()], dtype=object)
    cum = _zipf_cum()
    step = 1000
    for lo in range(0, count, step):
        n = min(step, count - lo)
        idx = np.minimum(np.searchsorted(cum, rng.random(n * words)), VOCAB_SIZE - 1)
        stop = rng.random(n * words) < 1 / 14
        tokens = np.where(stop, ended[idx], vocab[idx])
        for i in range(n):
            piece = tokens[i * words : (i + 1) * words]
            yield " ".join(piece).capitalize()


_QUESTIONS = (
    "What is the {a} {b} for the {c}?",
    "How did the {a} of {b} change in {year}?",
    "When does the {a} {b} end?",
    "Which {a} is responsible for {b} {c}?",
    "What was the total {a} {b} reported in Q{q} {year}?",
    "How much {a} does the {b} require?",
    "Who approves {a} {b} requests?",
    "What are the rules for {a} and {b}?",
    "Why was the {a} {b} delayed?",
    "Where is the {a} {b} kept?",
    "Summarise the {a} {b} policy",
    "{a} {b} {c}",
)


def queries(count: int = 100, *, seed: int = 3) -> list[str]:
    """Natural-language questions about mid-frequency words, in varied shapes."""
    prose = Prose(seed)
    r = prose.rng
    return [
        r.choice(_QUESTIONS).format(
            a=prose.content(),
            b=prose.content(),
            c=prose.content(),
            year=r.randint(2015, 2026),
            q=r.randint(1, 4),
        )
        for _ in range(count)
    ]
