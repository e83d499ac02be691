"""Numbers that identify a person's money or state records, each checked by python-stdnum.

Covers ``card`` (13-19 digits, spaces or dashes, Luhn-valid, with a card network's prefix and
length), ``iban`` (country format and mod-97 check), ``us_ssn`` (``123-45-6789`` alone, other
layouts after "SSN"), ``it_codice_fiscale`` (its shape and check letter are distinctive enough
alone) and, only after their own context word because a bare number is too ambiguous:
``gb_nhs``, ``gb_nino``, ``ca_sin``, ``nl_bsn``, ``in_aadhaar``, ``es_dni``, ``fr_nir``.

Leaves out lower-case IBANs, obfuscated digits ("four one one one ..."), other countries' ids,
and any number that is only a phone number (``contact``) or a medical record number
(``records``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.ca import sin as ca_sin
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.fr import nir as fr_nir
from stdnum.gb import nhs as gb_nhs
from stdnum.in_ import aadhaar as in_aadhaar
from stdnum.it import codicefiscale as it_cf
from stdnum.nl import bsn as nl_bsn
from stdnum.us import ssn as us_ssn

from appliance.privacy.base import GAP, Finder, Span, context_finder

# ---------------------------------------------------------------------------- cards
# Not the digits of a decimal fraction ("8.031683612216888") nor part of a longer run.
_DIGIT_RUN = re.compile(r"(?<![\w-])(?<!\d[.,])\d(?:[ -]?\d){12,}(?![\w-]|[ -]\d|[.,]\d)")


def _card_network(number: str) -> bool:
    """Whether ``number`` (digits only) has the prefix and length of a real card network."""
    n, p2, p3, p4 = len(number), int(number[:2]), int(number[:3]), int(number[:4])
    if number[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p2 in (36, 38, 39) or 300 <= p3 <= 305:  # Diners Club
        return n in (14, 16)
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    # Discover, UnionPay, Maestro and the other 6x/50/56-58 issuers
    return (number[0] == "6" or p2 in (50, 56, 57, 58)) and n in (16, 19)


def _is_card(number: str) -> bool:
    return (
        13 <= len(number) <= 19
        and len(set(number)) > 1
        and _card_network(number)
        and luhn.is_valid(number)
    )


def cards(text: str) -> Iterator[Span]:
    for m in _DIGIT_RUN.finditer(text):
        run = m.group()
        # A run may hold a card and its neighbours ("4111 1111 1111 1111 12/27"): try windows of
        # whole digit groups, longest first, from each group on.
        groups = list(re.finditer(r"\d+", run))
        i = 0
        while i < len(groups):
            for j in range(len(groups) - 1, i - 1, -1):
                digits = "".join(g.group() for g in groups[i : j + 1])
                if len(digits) > 19:
                    continue
                if _is_card(digits):
                    yield m.start() + groups[i].start(), m.start() + groups[j].end()
                    i = j
                    break
                if len(digits) < 13:
                    break
            i += 1


# ---------------------------------------------------------------------------- IBAN
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}(?![a-z0-9])")


def ibans(text: str) -> Iterator[Span]:
    for m in _IBAN.finditer(text):
        # The greedy match may have swallowed a following capitalised word: shorten until valid.
        value = m.group()
        for end in range(len(value), 14, -1):
            if value[end - 1] == " ":
                continue
            if std_iban.is_valid(value[:end]):
                yield m.start(), m.start() + end
                break


# ---------------------------------------------------------------------------- national ids
_SSN_DASHED = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")


def ssns_dashed(text: str) -> Iterator[Span]:
    for m in _SSN_DASHED.finditer(text):
        if us_ssn.is_valid(m.group()):
            yield m.span()


_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")
_NINO_UNUSED_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def _nino_valid(value: str) -> bool:
    """UK National Insurance number: no checksum, so only its letters are checked."""
    v = value.upper()
    return _NINO.fullmatch(v) is not None and v[:2] not in _NINO_UNUSED_PREFIXES


def _dni_valid(value: str) -> bool:
    return es_dni.is_valid(value) or es_nie.is_valid(value)


@dataclass(frozen=True)
class ContextId:
    """An id that counts only after a context word: ``<context> <gap> <value>``, validated."""

    name: str
    context: str
    value: str
    valid: Callable[[str], bool]
    triggers: tuple[str, ...]
    """Lower-case substrings, one of which the context needs: a cheap test before the regex."""

    def finder(self) -> Finder:
        """Spans of valid values after the context word; separators are ignored by ``valid``."""
        rx = re.compile(rf"(?:{self.context}){GAP}(?P<v>{self.value})(?![\w-])")
        return context_finder(rx, lambda v: self.valid(re.sub(r"[\s.\-]", "", v)))


CONTEXT_IDS = [
    ContextId(
        "us_ssn",
        r"(?i:\bssn\b|\bss#|\bsocial\s+security\b)",
        r"\d{3}[ -]?\d{2}[ -]?\d{4}",
        us_ssn.is_valid,
        ("ssn", "ss#", "social security"),
    ),
    ContextId("gb_nhs", r"\bNHS\b", r"\d{3}[ -]?\d{3}[ -]?\d{4}", gb_nhs.is_valid, ("nhs",)),
    ContextId(
        "gb_nino",
        r"\bNINO\b|\bNI\s+(?i:number|no\b)|(?i:\bnational\s+insurance\b)",
        r"[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]",
        _nino_valid,
        ("nino", "ni ", "national insurance"),
    ),
    ContextId(
        "ca_sin",
        r"\bSIN\b|(?i:\bsocial\s+insurance\b)",
        r"\d{3}[ -]?\d{3}[ -]?\d{3}",
        ca_sin.is_valid,
        ("sin", "social insurance"),
    ),
    ContextId(
        "nl_bsn",
        r"\bBSN\b|(?i:\bburgerservicenummer\b)",
        r"\d{4}\.?\d{2}\.?\d{3}|\d{3}\.\d{3}\.\d{3}",
        nl_bsn.is_valid,
        ("bsn", "burgerservicenummer"),
    ),
    ContextId(
        "in_aadhaar",
        r"(?i:\baadh?aar\b)|\bUIDAI\b",
        r"\d{4}[ -]?\d{4}[ -]?\d{4}",
        in_aadhaar.is_valid,
        ("aadhaar", "aadhar", "uidai"),
    ),
    ContextId(
        "es_dni",
        r"\b(?:DNI|NIE|NIF)\b|(?i:\bdocumento\s+nacional\b)",
        r"[XYZxyz]?-?\d{7,8}-?[A-Za-z]",
        _dni_valid,
        ("dni", "nie", "nif", "documento nacional"),
    ),
    ContextId(
        "fr_nir",
        r"\bNIR\b|\bINSEE\b|(?i:\bs[ée]curit[ée]\s+sociale\b)",
        r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[ABab]) ?\d{3} ?\d{3} ?\d{2}",
        fr_nir.is_valid,
        ("nir", "insee", "sociale"),
    ),
]

_CODICE_FISCALE = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z](?![A-Za-z0-9])"
)


def codici_fiscali(text: str) -> Iterator[Span]:
    for m in _CODICE_FISCALE.finditer(text):
        if it_cf.is_valid(m.group()):
            yield m.span()
