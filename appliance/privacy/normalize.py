"""Text as the detectors see it: Unicode folded to plain forms, with a map back to the original.

A careless document or an attacker can write a card number with non-breaking or thin spaces,
full-width digits (``４１１１``), zero-width characters between the digits, an e-mail with a
full-width ``＠``, or an address whose ``а`` is Cyrillic. ``normalize`` folds all of that before
any detector runs:

- format characters (zero-width space and joiners, soft hyphen, word joiner, bidi controls,
  BOM: Unicode category ``Cf``) are removed;
- every Unicode space (``Zs``) becomes ``" "``, line and paragraph separators ``"\\n"``;
- every dash (``Pd``) and the minus sign become ``"-"``;
- decimal digits of any script become ASCII digits;
- Cyrillic and Greek letters that look like Latin ones become those Latin letters;
- everything else goes through NFKC (full-width forms, ligatures, circled digits...).

``Normalized.original(start, end)`` maps a span of the folded text back to the original, so
redaction replaces the characters the user wrote. ASCII text is returned as it is, at no cost.
Left out: look-alikes from other scripts (Cherokee, mathematical alphanumerics are covered by
NFKC), and spelled-out digits ("four one one one").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Letters that render like Latin ones (the common Cyrillic and Greek confusables).
_LOOKALIKES = dict(
    zip(
        "аеорсухіјѕԁһԛԝАВЕКМНОРСТУХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧοκνρτυ",
        "aeopcyxijsdhqwABEKMHOPCTYXIJSABEZHIKMNOPTYXokvpty",
        strict=True,
    )
)


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    """The plain form of one non-ASCII character (possibly empty or several characters).

    >>> [_fold(c) for c in "\\u00a0\\u200b\\u2013４＠а"]
    [' ', '', '-', '4', '@', 'a']
    """
    category = unicodedata.category(char)
    if category == "Cf":
        return ""
    if category == "Zs":
        return " "
    if category in ("Zl", "Zp"):
        return "\n"
    if category == "Pd" or char == "\u2212":
        return "-"
    if category == "Nd":
        return str(unicodedata.decimal(char))
    if char in _LOOKALIKES:
        return _LOOKALIKES[char]
    folded = unicodedata.normalize("NFKC", char)
    # NFKC may itself produce characters that need folding ("\u2002" is Zs already; "①" -> "1").
    return "".join(_fold(c) if not c.isascii() and c != char else c for c in folded)


@dataclass(frozen=True)
class Normalized:
    """Folded text and, for each of its characters, the index of the original character."""

    text: str
    source_length: int
    origins: tuple[int, ...] | None = None
    """None when every character kept its offset (plain ASCII, or one-for-one folding)."""

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` came from.

        >>> n = normalize("card 4111\\u200b1111")
        >>> n.text, n.original(5, 13)
        ('card 41111111', (5, 14))
        """
        if self.origins is None:
            return start, end
        if end <= start:
            at = self.origins[start] if start < len(self.origins) else self.source_length
            return at, at
        first = self.origins[start] if start < len(self.origins) else self.source_length
        last = self.origins[end - 1] + 1 if end - 1 < len(self.origins) else self.source_length
        return first, last


def normalize(text: str) -> Normalized:
    """Fold ``text`` for detection; see the module docstring.

    >>> normalize("ＩＢＡＮ：ｇｂ８２\\u00a0west").text
    'IBAN:gb82 west'
    """
    if text.isascii():
        return Normalized(text, len(text))
    # Fast path: fold only the non-ASCII runs; while every character folds to exactly one,
    # offsets are unchanged and no map is needed (curly quotes, dashes, NBSP, accents).
    pieces: list[str] = []
    pos = 0
    one_to_one = True
    for m in _NON_ASCII.finditer(text):
        folded = [_fold(c) for c in m.group()]
        one_to_one = one_to_one and all(len(f) == 1 for f in folded)
        pieces += [text[pos : m.start()], *folded]
        pos = m.end()
    pieces.append(text[pos:])
    if one_to_one:
        return Normalized("".join(pieces), len(text))
    pieces, origins = [], []
    for i, char in enumerate(text):
        folded_char = char if char.isascii() else _fold(char)
        pieces.append(folded_char)
        origins.extend([i] * len(folded_char))
    return Normalized("".join(pieces), len(text), tuple(origins))
