"""Cheap ways to run a costly pattern only where it can match: helpers for the finder modules.

Python's regex engine skips ahead quickly only when a pattern starts with a literal character;
a pattern that starts with a lookbehind, a character class or an alternation is tried at every
position of the text. The finders therefore look for a literal (a context word, a key prefix, a
separator) with ``str.find`` first, and run the full pattern only around what they found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache


def lower(text: str) -> str:
    """``text`` lower-cased, keeping every character at its index.

    ``str.lower`` may lengthen a string ("İ" becomes two characters), which would shift the
    positions found in it; such characters are then kept as they are.

    >>> lower("AWS Key"), len(lower("İstanbul KEY")) == len("İstanbul KEY")
    ('aws key', True)
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def positions(low: str, words: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """Every ``(index, word)`` where one of ``words`` occurs in ``low`` (in no set order)."""
    for word in words:
        at = low.find(word)
        while at != -1:
            yield at, word
            at = low.find(word, at + 1)


def near(
    text: str,
    low: str,
    words: tuple[str, ...],
    reach: int,
    rx: re.Pattern[str],
    longest: int,
    back: int = 0,
) -> Iterator[re.Match[str]]:
    """Matches of ``rx`` that start between ``back`` characters before one of ``words`` (found
    in ``low``, the lower-cased ``text``) and ``reach`` characters after its end.

    ``longest`` is the longest match ``rx`` can make: a window is searched that far past its end,
    and a match cut off by the end of a window is dropped (so ``rx`` should match a bounded
    length, a token's head, say, then be extended by its caller).

    >>> rx = re.compile(r"[0-9]{4}")
    >>> [m.group() for m in near("pin 1234, id 5678, PIN 9999", "pin 1234, id 5678, pin 9999",
    ...                             ("pin",), 4, rx, 4)]
    ['1234', '9999']
    """
    windows = sorted([at - back, at + len(word) + reach] for at, word in positions(low, words))
    merged: list[list[int]] = []
    for window in windows:
        if merged and window[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], window[1])
        else:
            merged.append(window)
    for start, stop in merged:
        endpos = min(len(text), stop + longest + 1)
        for m in rx.finditer(text, max(0, start), endpos):
            if m.start() > stop:
                break
            if m.end() < endpos or endpos == len(text):
                yield m


def long_words(text: str, shortest: int) -> list[tuple[int, int]]:
    """Spans of the whitespace-separated words of ``text`` that have ``shortest`` (15 or more)
    characters or more: keys and tokens are such words, and most prose has none.

    >>> long_words("a key: sk-proj-0123456789abcdef, ok", 15)
    [(7, 32)]
    """
    return [(s, e) for s, e in _words_of_15(text) if e - s >= shortest]


@lru_cache(maxsize=4)
def _words_of_15(text: str) -> tuple[tuple[int, int], ...]:
    # Cached: the finders of one scan ask about the same text in turn.
    words = text.split()
    if max(map(len, words), default=0) < 15:
        return ()
    spans: list[tuple[int, int]] = []
    at = 0
    for word in words:
        if len(word) >= 15:
            at = text.find(word, at)
            spans.append((at, at + len(word)))
            at += len(word)
    return tuple(spans)
