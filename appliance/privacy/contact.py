"""Ways to reach a person: ``email`` and ``phone``.

``phone`` uses phonenumbers with leniency STRICT_GROUPING, i.e. VALID and grouped the way that
country writes its numbers, which rejects "(2012) 755-767" or "9 192 631 770": international
``+``/``00`` numbers and national numbers of the configured regions; a bare digit run needs a
word such as "phone" or "call" before it.

Leaves out names and street addresses (no reliable detector without a model), SSH remotes
("git@github.com:org/repo"), the ``user:pass@`` part of URLs (``credentials``), and national-format
numbers of regions not configured ("020 7946 0958" needs ``phone_regions=("US", "GB")``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from appliance.privacy.base import Span

# ---------------------------------------------------------------------------- e-mail
# "icon@2x.png" is an image name, not an address.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?!\d+x\.)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

_URL_USERINFO = re.compile(r"://[^\s/@]*:$")


def emails(text: str) -> Iterator[Span]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        # "git@github.com:org/repo" is an SSH remote, not a person; in "https://user:pw@host"
        # the part before "@" is a password (the credential detector's).
        if text.startswith("git@", m.start()) and text.startswith(":", m.end()):
            continue
        if _URL_USERINFO.search(text, max(0, m.start() - 200), m.start()):
            continue
        yield m.span()


# ---------------------------------------------------------------------------- phones
# Digits with the separators phone numbers use, optionally led by "+" (or "00" as an
# international prefix). Only these candidate windows go to phonenumbers, which is slow on
# whole texts (about 3 ms per KB).
_PHONE_CANDIDATE = re.compile(r"(?<![A-Za-z0-9_])\+?\(?\d[\d \t().\-/]{5,}\d\)?")
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:tel|telephone|phone|ph|mobile|mob|cell|cellphone|fax|call|text|sms|whatsapp|"
    r"landline|contact)\b[^\n]{0,20}$"
)


_DATE_LIKE = re.compile(r"\(?(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\)?")
# "00" then a country code then a separator: "0044 20 7946 0958", not "00400012957".
_IDD_00 = re.compile(r"00[1-9]\d{0,2}[ \-.(/]")
_NOT_PHONE_PART = re.compile(rf"{_DATE_LIKE.pattern}|[-+]?\d+[.,]\d+,?")


def _phone_pieces(text: str, taken: list[Span]) -> Iterator[Span]:
    """Candidate spans: digit runs, split where a date, a decimal number or something already
    found (a card, an IBAN...) sits among them.

    "paid 1,234.50 on 2024-01-02 (415) 555-2671" gives only "(415) 555-2671"; in
    "2.293 712 278 3963" the 3-digit groups after "2.293" belong to it, not to a phone number.
    """
    for m in _PHONE_CANDIDATE.finditer(text):
        piece: Span | None = None
        grouping = False
        for token in re.finditer(r"\S+", m.group()):
            value = token.group()
            grouping = grouping and len(value) == 3 and value.isdigit()
            s, e = m.start() + token.start(), m.start() + token.end()
            if (
                grouping
                or _NOT_PHONE_PART.fullmatch(value)
                or any(a < e and s < b for a, b in taken)
            ):
                if piece:
                    yield piece
                piece = None
                grouping = grouping or "." in value or "," in value
                continue
            piece = (piece[0], e) if piece else (s, e)
        if piece:
            yield piece


def _shortest_national_number(region: str) -> int:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    desc = meta.general_desc if meta is not None else None
    lengths = desc.possible_length if desc is not None else None
    return min(lengths) if lengths else 7


class PhoneFinder:
    """Phone numbers valid for ``regions`` (national format) or for any country (``+``/``00``)."""

    def __init__(self, regions: tuple[str, ...]) -> None:
        self.regions = regions
        # Fewer digits than the shortest national number of every region cannot be a phone
        # number without a country code: skip phonenumbers for it.
        self.min_digits = min(_shortest_national_number(r) for r in regions)

    def __call__(self, text: str, taken: list[Span] | None = None) -> Iterator[Span]:
        """Phone numbers in ``text``, except in the ``taken`` spans (found by other detectors:
        phonenumbers is the slow part, and a card number is not also a phone number)."""
        for start, end in _phone_pieces(text, taken or []):
            raw = text[start:end]
            international = raw.startswith("+") or _IDD_00.match(raw) is not None
            need = 7 if international else self.min_digits
            if len(raw.split()) > (8 if international else 5):
                continue  # a row of a table of numbers, not a phone number
            if raw.strip("()").isdigit() and not _PHONE_CONTEXT.search(
                text, max(0, start - 40), start
            ):
                continue  # a bare digit run is as likely an order number: needs "phone", "call"
            # phonenumbers misses a number followed by another ("(415) 555-2671 20 units"):
            # when the whole piece gives nothing, drop its last group and try again.
            for stop in reversed([start + t.end() for t in re.finditer(r"\S+", raw)]):
                if sum(c.isdigit() for c in text[start:stop]) < need:
                    break
                spans = self._match(text, start, stop)
                if spans:
                    yield from spans
                    break

    def _match(self, text: str, start: int, end: int) -> list[Span]:
        raw = text[start:end]
        # One character of context either side lets phonenumbers reject "ABC4155552671".
        lo, hi = max(0, start - 1), min(len(text), end + 1)
        windows = [text[lo:hi]]
        if _IDD_00.match(raw):
            # "0044 20 7946 0958": the European international prefix, as long as " +".
            at = start - lo
            windows.append(windows[0][:at] + " +" + windows[0][at + 2 :])
        found: list[Span] = []
        for window in windows:
            for region in self.regions[:1] if raw.startswith("+") else self.regions:
                for pm in PhoneNumberMatcher(window, region, leniency=Leniency.STRICT_GROUPING):
                    span = (lo + pm.start, lo + pm.end)
                    if span[0] == start + 1 and window is not windows[0]:
                        span = (start, span[1])  # include the first "0" of "00"
                    if span in found or (
                        pm.raw_string.strip("()").isdigit()
                        and not _PHONE_CONTEXT.search(text, max(0, span[0] - 40), span[0])
                    ):
                        continue
                    found.append(span)
        return found
