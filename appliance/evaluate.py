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
from dataclasses import dataclass
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


def evaluate(
    path: Path,
    retriever: Retriever,
    *,
    answer_fn: Callable[[str], Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    items = load_items(path)
    totals = {m: {"hit@1": 0.0, "hit@5": 0.0, "mrr": 0.0} for m in METHODS}
    answered = contained = in_evidence = in_either = 0
    sentences = supported = 0
    checked = False
    per_question = []
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
        row: dict[str, Any] = {"question": item.question, "ranks": ranks}
        if answer_fn is not None and item.answer:
            got = answer_fn(item.question)
            text = got if isinstance(got, str) else got.read()
            ok = contains_answer(item.answer, text)
            answered += 1
            contained += ok
            row["answer_contains"] = ok
            if not isinstance(got, str):  # an Answer: its evidence and claim check too
                checked = True
                quoted = contains_answer(item.answer, " ".join(e.text for e in got.evidence))
                claims = got.claims
                in_evidence += quoted
                in_either += ok or quoted
                sentences += len(claims)
                supported += sum(c.supported for c in claims)
                row["evidence_contains"] = quoted
                row["supported"] = [c.supported for c in claims]
        per_question.append(row)
        if progress:
            progress(i, len(items))
    n = len(items)
    result: dict[str, Any] = {"questions": n}
    for method in METHODS:
        result[method] = {k: round(v / n, 4) for k, v in totals[method].items()}
    result["answer_contains"] = round(contained / answered, 4) if answered else None
    if checked:
        result["evidence_contains"] = round(in_evidence / answered, 4)
        result["answer_or_evidence_contains"] = round(in_either / answered, 4)
        result["supported_rate"] = round(supported / sentences, 4) if sentences else None
    result["per_question"] = per_question
    return result
