"""What every finder module shares: the span and finder types, and label-then-value matching.

A finder takes a text and yields ``(start, end)`` spans; naming, overlap resolution and
``Finding`` records are the ``detectors`` module's job, not this one's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

Span = tuple[int, int]
Finder = Callable[[str], Iterator[Span]]

# Between a context word and its value: punctuation and a few filler words
# ("SSN: 123...", "date of birth is 1 May 1980", "MRN no. 123").
GAP = r"(?i:[\s:#=.\-–()]{0,6}(?:(?:is|was|on|of|number|num|nr|no)\b[\s:#=.\-–()]{0,6}){0,2})"


def context_finder(rx: re.Pattern[str], valid: Callable[[str], bool] | None = None) -> Finder:
    """A finder yielding the span of ``rx``'s group ``v`` wherever ``valid`` accepts its text."""

    def find(text: str) -> Iterator[Span]:
        for m in rx.finditer(text):
            if valid is None or valid(m.group("v")):
                yield m.span("v")

    return find
