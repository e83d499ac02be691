"""Evaluation on your own documents: retrieval hit@1, hit@5 and MRR per method, and how
often generated answers contain the gold answer.

With answers: ``answer_contains`` (the gold answer occurs in the answer), ``evidence_contains``
(it occurs in the evidence quoted with the answer), ``answer_or_evidence_contains`` (either:
what the user is shown), and ``supported_rate`` (the share of answer sentences the claim check
marks supported). Both sides are compared by ``appliance.claims.contains_answer``: numbers by
value ("$51.2 billion" = "51.2 billion dollars", "£29,250" = "29250").

Input is JSON lines ``{"question", "file", "page"?, "answer"?}``; ``file`` is relative to an
ingested folder (or absolute) and ``page`` is 1-based. A hit is a retrieved passage from the
gold file and, when a page is given, from that page. MRR looks at the top 10.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from appliance.claims import contains_answer
from appliance.evalsets import read_items
from appliance.retrieve import Hit, Method, Retriever

METHODS: tuple[Method, ...] = ("dense", "lexical", "hybrid")
DEPTH = 10
EXAMPLE = '{"question": "When is rent due?", "file": "lease.pdf", "page": 2, "answer": "the 1st"}'


@dataclass(frozen=True)
class Item:
    question: str
    file: str
    page: int | None
    answer: str | None


def load_items(path: Path) -> list[Item]:
    """The questions of an eval file; a bad line is a ``ConfigError`` naming it."""
    return read_items(path, _item, what="eval file", example=EXAMPLE)


def _item(obj: dict[str, Any]) -> Item:
    question, file, page = obj["question"], obj["file"], obj.get("page")
    if not isinstance(question, str) or not isinstance(file, str):
        raise TypeError("question and file must be strings")
    if page is not None and (not isinstance(page, int) or page < 1):
        raise TypeError("page must be a 1-based integer")
    answer = obj.get("answer")
    return Item(question, file, page, str(answer) if answer is not None else None)


def is_hit(hit: Hit, item: Item) -> bool:
    gold = item.file
    same_file = (
        hit.file == gold
        or hit.path == gold
        or hit.path.endswith("/" + gold.lstrip("/"))
        or Path(hit.file).name == gold
    )
    return same_file and (item.page is None or hit.page == item.page)


def normalise(text: str) -> str:
    """Lower case, no currency signs, thousands separators or trailing zero decimals.

    >>> normalise("$1,577.00 Million")
    '1577 million'
    """
    text = text.lower().replace("$", "").replace("€", "").replace("£", "")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"(\d)\.0+\b", r"\1", text)
    return re.sub(r"\s+", " ", text).strip().rstrip(".")


@dataclass(frozen=True)
class MethodScore:
    """Page (or file) hit@1, hit@5 and MRR over the top ``DEPTH`` for one retrieval method."""

    hit1: float
    hit5: float
    mrr: float

    def to_json(self) -> dict[str, float]:
        return {"hit@1": self.hit1, "hit@5": self.hit5, "mrr": self.mrr}


@dataclass(frozen=True)
class QuestionResult:
    """One question: the gold passage's rank per method (None: not in the top ``DEPTH``) and,
    when it was answered, whether the answer and the evidence hold the gold answer and which
    answer sentences the claim check marked supported."""

    question: str
    ranks: dict[str, int | None]
    answer_contains: bool | None = None
    evidence_contains: bool | None = None
    supported: tuple[bool, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"question": self.question, "ranks": dict(self.ranks)}
        if self.answer_contains is not None:
            row["answer_contains"] = self.answer_contains
        if self.evidence_contains is not None:
            row["evidence_contains"] = self.evidence_contains
        if self.supported is not None:
            row["supported"] = list(self.supported)
        return row


@dataclass(frozen=True)
class EvalScore:
    """What ``evaluate`` measured. The answer shares are None when nothing was answered; the
    evidence and claim figures exist only when answers came with them (``checked``)."""

    questions: int
    methods: dict[Method, MethodScore]
    answer_contains: float | None = None
    evidence_contains: float | None = None
    answer_or_evidence_contains: float | None = None
    supported_rate: float | None = None
    checked: bool = False
    per_question: tuple[QuestionResult, ...] = ()

    def to_json(self, *, per_question: bool = True) -> dict[str, Any]:
        """The JSON ``appliance eval --json`` prints (without ``per_question`` there)."""
        result: dict[str, Any] = {"questions": self.questions}
        for method, score in self.methods.items():
            result[method] = score.to_json()
        result["answer_contains"] = self.answer_contains
        if self.checked:
            result["evidence_contains"] = self.evidence_contains
            result["answer_or_evidence_contains"] = self.answer_or_evidence_contains
            result["supported_rate"] = self.supported_rate
        if per_question:
            result["per_question"] = [row.to_json() for row in self.per_question]
        return result


def evaluate(
    path: Path,
    retriever: Retriever,
    *,
    answer_fn: Callable[[str], Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalScore:
    """Search every question of the eval file at ``path`` with each method and, given
    ``answer_fn`` (a question -> an ``Answer`` or a string), check the answers too."""
    items = load_items(path)
    totals = {m: {"hit@1": 0.0, "hit@5": 0.0, "mrr": 0.0} for m in METHODS}
    answered = contained = in_evidence = in_either = 0
    sentences = supported = 0
    checked = False
    per_question: list[QuestionResult] = []
    for i, item in enumerate(items, 1):
        ranks: dict[str, int | None] = {}
        for method in METHODS:
            hits = retriever.search(item.question, DEPTH, method=method)
            rank = next((r for r, h in enumerate(hits, 1) if is_hit(h, item)), None)
            ranks[method] = rank
            if rank is not None:
                totals[method]["hit@1"] += rank == 1
                totals[method]["hit@5"] += rank <= 5
                totals[method]["mrr"] += 1.0 / rank
        row = QuestionResult(item.question, ranks)
        if answer_fn is not None and item.answer:
            got = answer_fn(item.question)
            text = got if isinstance(got, str) else got.read()
            ok = contains_answer(item.answer, text)
            answered += 1
            contained += ok
            row = replace(row, answer_contains=ok)
            if not isinstance(got, str):  # an Answer: its evidence and claim check too
                checked = True
                quoted = contains_answer(item.answer, " ".join(e.text for e in got.evidence))
                claims = got.claims
                in_evidence += quoted
                in_either += ok or quoted
                sentences += len(claims)
                supported += sum(c.supported for c in claims)
                row = replace(
                    row, evidence_contains=quoted, supported=tuple(c.supported for c in claims)
                )
        per_question.append(row)
        if progress:
            progress(i, len(items))
    n = len(items)
    methods = {
        m: MethodScore(*(round(totals[m][k] / n, 4) for k in ("hit@1", "hit@5", "mrr")))
        for m in METHODS
    }
    return EvalScore(
        questions=n,
        methods=methods,
        answer_contains=round(contained / answered, 4) if answered else None,
        evidence_contains=round(in_evidence / answered, 4) if checked else None,
        answer_or_evidence_contains=round(in_either / answered, 4) if checked else None,
        supported_rate=round(supported / sentences, 4) if checked and sentences else None,
        checked=checked,
        per_question=tuple(per_question),
    )
