"""Verdicts (sensitive or not, and why) and placeholder redaction.

A ``Verdict`` says whether a text, a file or a whole query is sensitive and counts the reasons
by name (``{"email": 2, "rule:hr/**": 1}``); names and counts only, so it is safe to log and to
show. ``combine`` merges the verdicts of a question and its retrieved passages: one sensitive
part makes the whole sensitive.

``redact`` swaps each finding for a placeholder (``[EMAIL_1]``) and returns the mapping back;
``restore`` undoes it in a model's answer, also when the model echoes a placeholder loosely
(``[email_1]``, ``[EMAIL 1]``, ``EMAIL_1``, ``\\[EMAIL\\_1\\]``; a bare ``email 1`` is
left alone, as prose may say that). Deciding when redaction is allowed is the
router's business, not this module's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from appliance.privacy.detectors import Detector, Finding
from appliance.privacy.rules import PathRules


@dataclass(frozen=True)
class Verdict:
    """Whether something is sensitive; ``reasons`` maps detector or rule names to counts."""

    sensitive: bool
    reasons: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_findings(cls, findings: Iterable[Finding]) -> Verdict:
        reasons = dict(Counter(f.detector for f in findings))
        return cls(bool(reasons), reasons)


def judge(text: str, detector: Detector) -> Verdict:
    """The verdict on one text.

    >>> judge("write to ana@corp.io or bo@corp.io", Detector()).reasons
    {'email': 2}
    """
    return Verdict.from_findings(detector.scan(text))


def judge_path(relpath: str, rules: PathRules) -> Verdict:
    """The verdict of the folder rules on one file: ``{"rule:hr/**": 1}`` when one matches."""
    rule = rules.match(relpath)
    return Verdict(True, {f"rule:{rule}": 1}) if rule is not None else Verdict(False)


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """One verdict for many parts: sensitive if any part is; reason counts add up."""
    sensitive, reasons = False, Counter[str]()
    for v in verdicts:
        sensitive = sensitive or v.sensitive
        reasons.update(v.reasons)
    return Verdict(sensitive, dict(reasons))


def _label(detector: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", detector.upper()).strip("_") or "VALUE"


def _echo_pattern(labels: Iterable[str]) -> re.Pattern[str]:
    """Placeholders with these labels as a model may echo them: any case, the brackets
    optional or escaped, the underscores as spaces, dashes or ``\\_``."""
    words = {r"[\s_\\-]*".join(re.escape(w) for w in label.split("_")) for label in labels}
    return re.compile(
        r"(?i)(?:\\?\[\s*)?(?<![A-Za-z0-9_])(?P<label>"
        + "|".join(sorted(words, key=len, reverse=True))
        + r")[\s_\\-]*(?P<n>\d+)(?!\d)(?:\s*\\?\])?"
    )


def _echoes(rx: re.Pattern[str], text: str) -> Iterator[tuple[re.Match[str], tuple[str, str]]]:
    """Each echo in ``text`` with its canonical ``(LABEL, number)``; a bare "email 1" is prose."""
    for m in rx.finditer(text):
        if "[" in m.group() or "_" in m.group():
            label = re.sub(r"[\s_\\-]+", "_", m.group("label")).upper()
            yield m, (label, m.group("n"))


def redact(text: str, findings: Iterable[Finding]) -> tuple[str, dict[str, str]]:
    """Replace each finding with a placeholder; return the new text and placeholder → value.

    Overlapping findings become one placeholder (named after the longest); the same value
    found twice gets the same placeholder. A placeholder the text already holds, in any form
    ``restore`` accepts, is never used, so ``restore`` cannot mistake the author's own text
    for one.

    >>> redact("mail ana@corp.io", [Finding("email", 5, 16)])
    ('mail [EMAIL_1]', {'[EMAIL_1]': 'ana@corp.io'})
    """
    spans: list[tuple[int, int, str]] = []
    for f in sorted(findings, key=lambda f: (f.start, -(f.end - f.start))):
        if f.end <= f.start:
            continue
        if spans and f.start < spans[-1][1]:
            start, end, name = spans[-1]
            longest = name if end - start >= f.end - f.start else f.detector
            spans[-1] = (start, max(end, f.end), longest)
        else:
            spans.append((f.start, f.end, f.detector))
    if not spans:
        return text, {}

    taken = {key for _, key in _echoes(_echo_pattern({_label(n) for *_, n in spans}), text)}
    counters: Counter[str] = Counter()
    by_value: dict[tuple[str, str], str] = {}
    mapping: dict[str, str] = {}
    out: list[str] = []
    pos = 0
    for start, end, name in spans:
        label, value = _label(name), text[start:end]
        placeholder = by_value.get((label, value))
        if placeholder is None:
            counters[label] += 1
            while (label, str(counters[label])) in taken:
                counters[label] += 1
            placeholder = f"[{label}_{counters[label]}]"
            by_value[(label, value)] = placeholder
            mapping[placeholder] = value
        out += [text[pos:start], placeholder]
        pos = end
    out.append(text[pos:])
    return "".join(out), mapping


_PLACEHOLDER = re.compile(r"\[([A-Z0-9_]+?)_(\d+)\]")


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the original values back where a model echoed the placeholders.

    >>> restore("Reply to \\\\[email\\\\_1\\\\] or EMAIL_1.", {"[EMAIL_1]": "ana@corp.io"})
    'Reply to ana@corp.io or ana@corp.io.'
    """
    canonical: dict[tuple[str, str], str] = {}
    for placeholder, value in mapping.items():
        m = _PLACEHOLDER.fullmatch(placeholder)
        if m is not None:
            canonical[(m.group(1), m.group(2))] = value
    if not canonical:
        return text
    out: list[str] = []
    pos = 0
    for m, key in _echoes(_echo_pattern({label for label, _ in canonical}), text):
        if key in canonical:
            out += [text[pos : m.start()], canonical[key]]
            pos = m.end()
    out.append(text[pos:])
    return "".join(out)
