"""Claim check: is each sentence of a generated answer backed by the passage it cites?

The answer is split into sentences (``appliance.textmatch.sentences``); ``[n]`` markers give a
sentence's citations (a marker after the full stop belongs to the sentence before). Each
sentence is checked against the passages it cites, or against all passages when it cites none
(or cites only numbers that were never given). It is **supported** when one *window* of a
checked passage (one to three consecutive sentences) contains

- every number in it, compared by value and kind (``"$51.2 billion"`` = ``"51.2 billion
  dollars"`` = ``"$51,200 million"``; ``"1,000"`` = ``"1000"``; ``"12%"`` = ``"12 per
  cent"``; ``£`` is not ``$``; a table's bare ``"51.2"`` backs ``"$51.2 billion"``),
- every name (capitalised word, code such as ``INC-2024-031``) and month in it,
- at least ``THRESHOLD`` (60%) of its content words (stopwords and answer framing such as
  "according to the passage" removed, crudely stemmed), and
- a negation if the sentence has one ("not", "no", "never", "without").

Facts and words must come from the same window, so a true amount from one sentence cannot
back a claim about another. Sentences that are not claims at all are never supported:
questions, model babble ("Corrected sentence: …", "Question: …"), and sentences with no
content words, numbers or names.

Left out: word order and roles ("A pays B" vs "B pays A"), numbers written as words,
arithmetic (a total the model computed), synonyms beyond shared stems. These make the check
conservative on paraphrase and blind to swapped roles; see ``tests/test_claims.py`` for the
measured precision on a hand-labelled set.
Nothing here is sent anywhere: the check runs locally on the finished answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from appliance.prompting import cited_numbers
from appliance.textmatch import (
    MONTHS,
    NEGATIONS,
    Number,
    content_stems,
    date_in,
    dates,
    months,
    names,
    number_ends,
    number_in,
    numbers,
    sentences,
    stem,
    words,
)

THRESHOLD = 0.6
"""Share of a sentence's content words that must occur in one window of a cited passage."""

FRAMING = frozenset(
    """answer answers question questions passage passages document documents text context
    according state states stated say says said mention mentions mentioned provide provides
    provided based source sources information cite cites cited indicate indicates indicated
    note noted specify specifies specified show shows shown given""".split()
)
_CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_FIELD = re.compile(r"[A-Z][\w '()/-]{0,40}:\s")
_RATE = re.compile(r"\s*(?:per|a|an|each|every)\s+([^\W\d_]+)", re.I)
_PRONOUN = re.compile(r"(it|its|he|his|she|her|they|their|this|these|there)\b", re.I)
_NAMED_CITE = re.compile(r"\b(?:passage|source|document|excerpt)\s*#?\[?(\d+)\]?", re.I)
_MARKUP = re.compile(r"\*\*|__|`|^#+\s*", re.MULTILINE)
_BABBLE = re.compile(
    r"\b(corrected|revised|rewritten|improved|updated|original|final) (sentence|version|answer|"
    r"text|response)\b|^\s*(question|passage|passages|context|instruction|user|assistant|"
    r"system)\s*:|\bas an ai\b|\blanguage model\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    """One sentence of the answer: ``answer[start:end] == text``."""

    text: str
    supported: bool
    citations: list[int]
    """Passages it cites; when it cites none, the passage that backs it (if any)."""
    start: int
    end: int
    reason: str = ""
    """Why it is not supported (empty when it is)."""

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "supported": self.supported, "citations": self.citations}


@dataclass
class _Window:
    stems: set[str]
    name_stems: set[str]
    numbers: list[Number]
    dates: set[tuple[int | None, str, int | None]]
    months: set[str]
    lower: str
    negated: bool
    direction: set[str]


@dataclass
class _Facts:
    content: set[str]
    key: set[str]
    numbers: list[Number]
    dates: set[tuple[int | None, str, int | None]]
    names: set[str]
    months: set[str]
    negated: bool
    direction: set[str]


@lru_cache(maxsize=64)
def _windows(passage: str) -> tuple[_Window, ...]:
    """One window per sentence of ``passage``. A short heading just above it (``"3. Rent"``,
    a table's header row) or the field above it in a record (``"Reference: INC-2024-031"``
    above ``"Location: changing area B"``) lends its words and names, never its numbers; the
    sentence before one that opens with a pronoun (``"It rises in the Andes"``) lends its
    names only."""
    spans = sentences(passage)
    texts = [passage[a:b] for a, b in spans]
    lowered = [[w.lower() for w in words(t)] for t in texts]
    stems = [{stem(w) for w in ws} for ws in lowered]
    amounts = [numbers(t) for t in texts]
    out = []
    for i, text in enumerate(texts):
        ws, own = lowered[i], stems[i]
        lent: set[str] = set()
        context = ""
        if i > 0:
            heading = len(lowered[i - 1]) <= 8 and not amounts[i - 1]
            if heading or (_FIELD.match(texts[i - 1]) and _FIELD.match(text)):
                lent = stems[i - 1]
                context = texts[i - 1]
            elif _PRONOUN.match(text):
                context = texts[i - 1]
        out.append(
            _Window(
                stems=own | lent,
                name_stems=own | stems[i - 1] if context else own,
                numbers=amounts[i],
                dates=dates(text),
                months={w[:3] for w in ws if w in MONTHS},
                lower=" ".join(f"{context} {text}".lower().split()),
                negated=_negated(ws),
                direction=_direction(ws),
            )
        )
    return tuple(out)


def _negated(ws: list[str]) -> bool:
    return any(w in NEGATIONS or w.endswith("n't") for w in ws)


def _direction(ws: list[str]) -> set[str]:
    return {d for w in ws for d, vocabulary in _DIRECTIONS.items() if w in vocabulary}


_DIRECTIONS = {
    "up": frozenset(
        "increase increased increases increasing rose rise rises risen grew grow grows growth "
        "up gain gained gains higher more raised".split()
    ),
    "down": frozenset(
        "decrease decreased decreases decreasing fell fall falls fallen declined decline "
        "declines dropped drop drops down loss lost lower less cut reduced".split()
    ),
}
# Words that change what a sentence claims when swapped for a neighbour the passage uses:
# a superlative, a comparison, a frequency. They must occur in the passage sentence.
KEY_WORDS = frozenset(
    """largest longest highest lowest biggest smallest fastest slowest earliest latest oldest
    newest youngest best worst most least first last only larger longer higher lower bigger
    smaller faster slower earlier later older newer fewer greater maximum minimum daily
    weekly monthly quarterly yearly annually hourly part""".split()
)


def _facts(text: str) -> _Facts:
    ws = [w.lower() for w in words(text)]
    key = {stem(w) for w in ws if w in KEY_WORDS}
    # what a rate is per ("45 pence per kilometre") must be the same; plain counts ("7 days")
    # are bound to their unit in ``number_in``
    for end in number_ends(text):
        rate = _RATE.match(text, end)
        if rate:
            key.add(stem(rate.group(1)))
    return _Facts(
        content=content_stems(text, FRAMING),
        key=key,
        numbers=numbers(text),
        dates=dates(text),
        names=names(text),
        months=months(text),
        negated=_negated(ws),
        direction=_direction(ws),
    )


def _has_name(name: str, window: _Window) -> bool:
    if any(ch.isdigit() for ch in name) or "-" in name:  # a code: as written
        return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", window.lower) is not None
    return name in window.name_stems


_PERIODS = {"yearly": "year", "annually": "year", "monthly": "month", "weekly": "week",
            "daily": "day", "hourly": "hour", "quarterly": "quarter"}  # fmt: skip


def _has_key(key: str, window: _Window) -> bool:
    """A key word, or for a frequency its other spellings ("yearly" = "per year")."""
    if key in window.stems:
        return True
    period = _PERIODS.get(key)
    if period is None:
        return False
    if period == "year" and "annual" in window.stems:
        return True
    return re.search(rf"\b(per|a|an|each|every) {period}\b", window.lower) is not None


def _check(facts: _Facts, window: _Window, lent: set[str]) -> tuple[bool, float, list[str]]:
    """(supported, content containment, what is missing) of one sentence against one window."""
    missing = [n.text for n in facts.numbers if not number_in(n, window.numbers)]
    missing += [_show_date(d) for d in facts.dates if not date_in(d, window.dates)]
    missing += sorted(x for x in facts.names if not _has_name(x, window))
    missing += sorted(m for m in facts.months if m not in window.months)
    missing += sorted(k for k in facts.key if not _has_key(k, window))
    if facts.negated != window.negated:
        missing.append("not" if facts.negated else "a negation")
    if facts.direction and window.direction and not facts.direction & window.direction:
        missing.append("/".join(sorted(facts.direction)))
    content = facts.content
    found = content & (window.stems | lent) if lent else content & window.stems
    containment = len(found) / len(content) if content else 1.0
    return not missing and containment >= THRESHOLD, containment, missing


def _show_date(d: tuple[int | None, str, int | None]) -> str:
    return " ".join(str(x).capitalize() for x in d if x is not None)


def check_claims(
    answer: str, passages: Sequence[str], question: str = "", sources: Sequence[str] = ()
) -> list[Claim]:
    """Every sentence of ``answer``, checked against ``passages`` (numbered from 1).

    Names and numbers that the ``question`` itself gives ("in Q3 2024") may come from the
    passage's title line rather than the sentence: the question set the scope. ``sources``
    (each passage's file name) lend their words to every sentence of the passage, so "the
    deposit under the lease agreement" is read against ``contracts/lease_agreement.pdf``.

    >>> passages = ["NIKE, Inc. Revenues were $51.2 billion in fiscal 2023, up 10%."]
    >>> [(c.supported, c.citations) for c in check_claims(
    ...     "Nike's revenues were 51.2 billion dollars in fiscal 2023 [1]. "
    ...     "Revenues were $52.1 billion in fiscal 2023 [1].", passages)]
    [(True, [1]), (False, [1])]
    """
    if not passages or not answer.strip():
        return []
    claims: list[Claim] = []
    scope = _facts(question) if question else None
    lent = [{stem(w) for w in words(src)} for src in sources]
    spans = sentences(answer)
    for a, b in spans:
        raw = answer[a:b]
        named = _NAMED_CITE.sub(lambda m: f"[{m.group(1)}]", raw)
        cites = cited_numbers(named, len(passages))
        clean = _MARKUP.sub("", _CITE.sub(" ", _NAMED_CITE.sub(" ", raw))).strip()
        claims.append(_judge(raw, clean, a, b, cites, passages, scope, lent))
    return claims


def _judge(
    raw: str,
    clean: str,
    a: int,
    b: int,
    cites: list[int],
    passages: Sequence[str],
    scope: _Facts | None,
    lent: list[set[str]],
) -> Claim:
    def claim(supported: bool, citations: list[int], reason: str = "") -> Claim:
        return Claim(raw, supported, citations, a, b, "" if supported else reason)

    if _BABBLE.search(clean):
        return claim(False, cites, "not an answer (the model talking to itself)")
    if clean.rstrip().endswith("?"):
        return claim(False, cites, "a question, not a claim")
    facts = _facts(clean)
    if not facts.content and not facts.numbers and not facts.names:
        return claim(False, cites, "nothing in it to check")
    checked = cites or list(range(1, len(passages) + 1))
    best: tuple[float, list[str]] = (-1.0, [])
    for n in checked:
        scoped = _scoped(facts, scope, passages[n - 1])
        for window in _windows(passages[n - 1]):
            ok, containment, missing = _check(scoped, window, lent[n - 1] if lent else set())
            if ok:
                return claim(True, cites or [n])
            if (containment, -len(missing)) > (best[0], -len(best[1])):
                best = (containment, missing)
    where = "in " + ", ".join(f"[{n}]" for n in cites) if cites else "in any passage"
    if best[1]:
        return claim(False, cites, f"{', '.join(best[1][:3])} not found {where}")
    if facts.negated:
        return claim(False, cites, f"no matching statement {where} (negated)")
    return claim(False, cites, f"its wording is not found {where}")


def _scoped(facts: _Facts, scope: _Facts | None, passage: str) -> _Facts:
    """``facts`` less the names and numbers the question gave that the passage's title line
    (its first sentence, when short) also states."""
    title = _title(passage) if scope is not None else None
    if scope is None or title is None:
        return facts
    title_names, title_numbers = title
    given = {x for x in facts.names if x in scope.names and x in title_names}
    kept = [
        x
        for x in facts.numbers
        if not (number_in(x, scope.numbers) and number_in(x, title_numbers))
    ]
    if not given and len(kept) == len(facts.numbers):
        return facts
    return replace(facts, names=facts.names - given, numbers=kept)


@lru_cache(maxsize=64)
def _title(passage: str) -> tuple[set[str], list[Number]] | None:
    spans = sentences(passage[:300])
    if not spans:
        return None
    title = passage[spans[0][0] : spans[0][1]]
    if len(words(title)) > 12:
        return None
    return names(title), numbers(title)


def contains_answer(gold: str, text: str) -> bool:
    """Whether ``text`` states ``gold``, numbers compared by value on both sides.

    >>> contains_answer("$51.2 billion", "Revenue was 51.2 billion dollars.")
    True
    >>> contains_answer("£29,250", "The deposit is 29250 pounds.")
    True
    >>> contains_answer("27 days", "27 weeks")
    False
    """
    if _flat(gold) in _flat(text):
        return True
    gold_numbers = numbers(gold)
    if not gold_numbers:
        return False
    pool = numbers(text)
    if not all(number_in(n, pool) for n in gold_numbers):
        return False
    rest = content_stems(gold) - {"dollar", "pound", "euro", "percent", "cent"}
    return rest <= {stem(w) for w in words(text)}


def _flat(text: str) -> str:
    text = text.lower().replace("$", "").replace("€", "").replace("£", "")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"(\d)\.0+\b", r"\1", text)
    return re.sub(r"\s+", " ", text).strip().rstrip(".")


__all__ = ["THRESHOLD", "Claim", "check_claims", "contains_answer"]
