"""Evidence: the few sentences of the retrieved passages that best answer the question, each
with its passage number, file, page and exact character span into the stored text.

Every passage is split into sentences (``appliance.textmatch.sentences``) and each sentence
is scored against the question:

- word overlap: the question's content words (stopwords and question framing removed,
  stemmed) found in the sentence, each weighted by how rare it is among the candidate
  sentences (idf), as a share of the question's total weight;
- numbers and names in common with the question (``"Q3 2024"``, ``"Calder Wharf"``);
- the kind of answer asked for: "how much/many/long", a fee, rate or price want an amount;
  "when" a date or time; "who"/"where" a name. A sentence that offers one the question does
  not already contain scores higher;
- a small prior for the passage's retrieval rank, and a penalty for fragments (headings).

Page footers ("… - page 2 of 4") are never quoted.
Sentences repeated by overlapping chunks are kept once, and so are only sentences scoring at
least half as well as the best one. Spans are exact: ``start``/``end``
index the stored page text, so ``hit.text[start - hit.start : end - hit.start] == text``.

Left out: the embedder's similarity. all-MiniLM-L6-v2 costs about 100 ms to encode the 30-60
sentences of five passages on 2 cores, twice this module's whole budget, and lexical scoring
already finds the answer sentence when retrieval found the passage.
Nothing here is sent anywhere: evidence is shown locally only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.retrieve import Hit
from appliance.textmatch import (
    MONTHS,
    QUESTION_WORDS,
    Number,
    content_stems,
    months,
    names,
    numbers,
    sentences,
    stem,
    words,
)

LIMIT = 3
"""Evidence sentences shown per answer."""
MIN_SCORE = 0.2
"""Below this a sentence shares too little with the question to be worth quoting."""
RELATIVE = 0.5
"""Nor is one scoring under this share of the best: a weak runner-up only adds noise."""

_WANTS_AMOUNT = re.compile(
    r"\bhow (much|many|long|often|far|old|big|large)\b|\b(rate|fee|fees|cost|costs|price|"
    r"amount|number|percentage|percent|total|revenue|budget|salary|rent|deposit|minimum|"
    r"maximum|size|area|margin|profit|headcount)\b",
    re.IGNORECASE,
)
_WANTS_DATE = re.compile(
    r"\bwhen\b|\bwhat (date|day|year|time|month)\b|\bwhich (date|day|year|month)\b|\bhours\b",
    re.IGNORECASE,
)
_WANTS_NAME = re.compile(
    r"\b(who|whom|whose|where)\b|\bwhich (company|firm|person|place|city|country)\b", re.I
)
_COUNT_WORD = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|hundred|thousand|dozen)\s+[a-z]+",
    re.IGNORECASE,
)
"""An amount written in words ("nine days", "six months")."""
_FOOTER = re.compile(r"\bpage \d+ of \d+\b|^\s*(page )?\d+\s*$", re.IGNORECASE)
"""Running headers and footers ("Lease Agreement - page 2 of 4"): never an answer."""
_PLACE = re.compile(
    r"\b(location|located|address|site|room|area|building|floor|venue|premises|office)\b", re.I
)
_YEAR = re.compile(r"(?<![\w-])(19|20)\d\d(?![\w-])|\bQ[1-4]\b|\b\d{1,2}:\d{2}\b")


@dataclass(frozen=True)
class Evidence:
    """One quoted sentence: ``text`` is ``stored_page_text[start:end]``."""

    n: int
    """The passage it comes from, numbered as in the prompt (``[n]``)."""
    file: str
    page: int | None
    start: int
    end: int
    text: str
    score: float

    @property
    def where(self) -> str:
        return f"{self.file} p.{self.page}" if self.page is not None else self.file

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "file": self.file,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }


@dataclass
class _Candidate:
    n: int
    hit: Hit
    start: int
    end: int
    text: str
    stems: set[str]


def select_evidence(question: str, passages: Sequence[Hit], limit: int = LIMIT) -> list[Evidence]:
    """The ``limit`` sentences of ``passages`` that best answer ``question``, best first.

    >>> from appliance.store import ChunkRecord
    >>> text = "3. Rent\\nThe annual rent is £58,500. The first payment is due in March."
    >>> hit = Hit(ChunkRecord(1, "lease.pdf", "/d/lease.pdf", 2, 100, 160, text), 0.5)
    >>> [(e.text, e.start, e.end) for e in select_evidence("What is the annual rent?", [hit])]
    [('The annual rent is £58,500.', 108, 135)]
    """
    q_stems = content_stems(question, QUESTION_WORDS)
    q_numbers = numbers(question)
    q_values = {x.value for x in q_numbers}
    q_names = names(question)
    if not q_stems and not q_names:
        return []
    candidates = [
        _Candidate(n, hit, a, b, hit.text[a:b], {stem(w) for w in words(hit.text[a:b])})
        for n, hit in enumerate(passages, 1)
        for a, b in sentences(hit.text)
        if not _FOOTER.search(hit.text[a:b])
    ]
    df: dict[str, int] = {}
    for c in candidates:
        for s in q_stems & c.stems:
            df[s] = df.get(s, 0) + 1
    total = len(candidates) or 1
    weight = {s: math.log(1 + total / (1 + df.get(s, 0))) for s in q_stems}
    q_weight = sum(weight.values()) or 1.0
    wants_amount = bool(_WANTS_AMOUNT.search(question))
    wants_date = bool(_WANTS_DATE.search(question))
    wants_where = bool(_WANTS_NAME.search(question))

    def match(c: _Candidate) -> tuple[float, float]:
        """(word overlap, numbers and names in common) of one sentence with the question."""
        overlap = sum(weight[s] for s in q_stems & c.stems) / q_weight
        common = 0.0
        if q_names:
            found = {x for x in q_names if x in c.stems or x in c.text.lower()}
            common += len(found) / len(q_names)
        if q_values:
            common += len(q_values & {x.value for x in numbers(c.text)}) / len(q_values)
        return overlap, min(common, 1.0)

    matches = [match(c) for c in candidates]
    scored: list[tuple[float, _Candidate]] = []
    for i, c in enumerate(candidates):
        overlap, common = matches[i]
        # the two sentences before, in the same passage: a heading, a table's header row,
        # "Reference: INC-2024-031" above "Location: changing area B"
        context = max(
            (sum(matches[j]) for j in (i - 1, i - 2) if j >= 0 and candidates[j].hit is c.hit),
            default=0.0,
        )
        offers = _offers(c.text, q_values, q_names, wants_amount, wants_date, wants_where)
        if overlap == 0 and common == 0 and not (context and offers):
            continue
        score = overlap + 0.15 * common + 0.25 * min(context, 1.0) + 0.05 / c.n
        if (wants_amount or wants_date or wants_where) and not offers:
            score *= 0.5  # it cannot be the answer: no amount for "how much", no date ...
        score += 0.3 * offers
        if len(words(c.text)) < 4:
            score *= 0.5
        scored.append((score, c))
    scored.sort(key=lambda sc: (-sc[0], sc[1].n, sc[1].start))

    out: list[Evidence] = []
    seen: set[tuple[str, int | None, int]] = set()
    texts: set[str] = set()
    top = scored[0][0] if scored else 0.0
    for score, c in scored:
        if score < max(MIN_SCORE, RELATIVE * top) or len(out) >= limit:
            break
        start, end = c.hit.start + c.start, c.hit.start + c.end
        key = (c.hit.path, c.hit.page, start)
        flat = " ".join(c.text.split()).lower()
        if key in seen or flat in texts:
            continue
        seen.add(key)
        texts.add(flat)
        out.append(Evidence(c.n, c.hit.file, c.hit.page, start, end, c.text, round(score, 4)))
    return out


def _offers(text: str, q_values: set[float], q_names: set[str], wants_amount: bool,
            wants_date: bool, wants_where: bool) -> float:  # fmt: skip
    """How well ``text`` offers the kind of answer asked for (0 to 1)."""
    if wants_amount and (
        any(x.value not in q_values and _amount(x) for x in numbers(text))
        or _COUNT_WORD.search(text)
    ):
        return 1.0
    if wants_date and (months(text) or _YEAR.search(text)):
        return 1.0
    if wants_where and (names(text) - q_names or _PLACE.search(text)):
        return 0.6
    return 0.0


def _amount(x: Number) -> bool:
    """An amount or a count, not a year, a day of a date or an identifier."""
    if x.kind != "plain":
        return True
    if 1900 <= x.value <= 2100 or x.value >= 1e6 or x.value != x.mantissa:
        return x.value != x.mantissa  # "5 million" is an amount; "2024", "11873402" are not
    return not (x.counts and x.counts[0][:3] in _MONTH_KEYS)


_MONTH_KEYS = frozenset(m[:3] for m in MONTHS)

__all__ = ["LIMIT", "Evidence", "select_evidence"]
