"""Numbers that identify a person's money or state records, each checked by python-stdnum.

Covers ``card`` (12-19 digits, Luhn-valid, with spaces, dashes or dots between digit groups: a
major network's prefix and length alone, in one run, grouped like a card (4-4-4-4, 4-6-5) or in
groups of four or more; Maestro, Visa Electron, RuPay and other many-length issuers when grouped
like a card; a 12-digit number or any other Luhn-valid run only after a card word such as
"card", "visa", "debit", "cc" or "PAN"), ``iban`` (any case, spaces or dashes;
country format and mod-97 check), ``us_ssn`` (``123-45-6789`` or ``123 45 6789`` alone,
``123456789`` and other layouts after "SSN", "social", "SS#", "tax id", "TIN" or "taxpayer id"),
``it_codice_fiscale`` (its shape and check letter are distinctive enough alone) and, only after
their own context word because a bare number is too ambiguous: ``gb_nhs``, ``gb_nino``,
``ca_sin``, ``nl_bsn``, ``in_aadhaar``, ``es_dni``, ``fr_nir``.

Non-ASCII spaces, dashes and digits are folded before these run (``normalize``). Leaves out a
bare ungrouped Luhn-valid run of no known network ("ref 100000000000009": 1 in 10 random
numbers pass Luhn), dot-separated runs not grouped like a card ("1.234.567.890.123"), obfuscated
digits ("four one one one ..."), other countries' ids, and any number that is only a phone
number (``contact``) or a medical record number (``records``).
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

from appliance.privacy.base import GAP, Finder, Span
from appliance.privacy.textscan import lower, near

# ---------------------------------------------------------------------------- cards
# Digits with single spaces, dashes or dots between them (NBSP, thin and zero-width spaces are
# plain after ``normalize``); not the digits of a decimal fraction ("8.031683612216888") nor
# part of a longer run or word.
# (Patterns here start with a character class and check what precedes it by a lookbehind after
# it: the regex engine then skips ahead to the next digit instead of trying every position.)
_DIGIT_RUN = re.compile(
    r"[0-9](?<![\w-][0-9])(?<![0-9][.,][0-9])(?:[ .-]?[0-9]){11,}(?![\w-]|[ .-][0-9]|[.,][0-9])"
)
_GROUP = re.compile(r"\d+")
# Words that make a number a card number; looked for just before it.
_CARD_CONTEXT = re.compile(
    r"(?i)(?<![a-z])(?:cards?|visa|master\s?card|amex|american\s+express|discover|jcb|diners|"
    r"maestro|union\s?pay|mir|rupay|troy|elo|cc|ccn|cc#|credit|debit|pan|cardholder|"
    r"kreditkarte|karte|carte|tarjeta|cartão|carta)(?![a-z])"
)

STRONG, WEAK, UNKNOWN = 2, 1, 0


def _card_network(number: str) -> int:
    """How surely ``number`` (12-19 digits) is a card by its issuer prefix and length.

    ``STRONG``: a major network's prefix with a length it issues (accepted alone, with Luhn);
    ``WEAK``: a network that issues many lengths (Maestro 12-19, Visa 14-18, RuPay...), needs a
    card-like grouping or a card word; ``UNKNOWN``: needs a card word.

    >>> [_card_network(n) for n in ("4111111111111111", "675964982643", "1234567890123")]
    [2, 1, 0]
    """
    n, p2, p3, p4 = len(number), int(number[:2]), int(number[:3]), int(number[:4])
    if number[0] == "4":  # Visa (Electron, V Pay...)
        return STRONG if n in (13, 16, 19) else WEAK
    if 2200 <= p4 <= 2204:  # Mir
        return STRONG if n >= 16 else UNKNOWN
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard, 5- and 2-series
        return STRONG if n == 16 else UNKNOWN
    if p2 in (34, 37):  # American Express
        return STRONG if n == 15 else UNKNOWN
    if p2 in (36, 38, 39) or 300 <= p3 <= 305 or p4 == 3095:  # Diners Club
        return STRONG if n in (14, 16) else WEAK if n >= 14 else UNKNOWN
    if 3528 <= p4 <= 3589:  # JCB
        return STRONG if n >= 16 else UNKNOWN
    if p4 == 9792:  # Troy
        return STRONG if n == 16 else UNKNOWN
    if number[0] == "6" or p2 in (50, 56, 57, 58):
        # Discover, UnionPay, RuPay, Maestro and the other 6x/50/56-58 issuers
        return STRONG if n in (16, 19) else WEAK
    if p2 in (81, 82) or p3 == 508:  # RuPay
        return WEAK if n == 16 else UNKNOWN
    if number[0] == "1" and n == 15:  # UATP
        return WEAK
    return UNKNOWN


def _card_grouping(lengths: list[int]) -> bool:
    """Whether digit groups are laid out like a card's: 4-4-4-4(-3), 4-4-4, 4-6-5, 4-6-4."""
    if len(lengths) < 3 or lengths[0] != 4:
        return False
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(g == 4 for g in lengths[1:-1]) and 1 <= lengths[-1] <= 4


def _is_card(number: str, lengths: list[int], context: bool) -> bool:
    """Whether ``number`` (its digits, written in groups of ``lengths``) is a card number.

    Without a card word: a major network's number written in one run, in a card's grouping or
    in groups of four or more ("4539 4761 06184462"); a many-length network's in a card's
    grouping. Never a 12-digit number (three groups of four are as often a row of a table).
    """
    if not 12 <= len(number) <= 19 or len(set(number)) < 2 or not luhn.is_valid(number):
        return False
    if context:
        return True
    if len(number) == 12:
        return False
    tier, grouped = _card_network(number), _card_grouping(lengths)
    if tier == STRONG:
        return len(lengths) == 1 or grouped or min(lengths) >= 4
    return tier == WEAK and grouped


def cards(text: str) -> Iterator[Span]:
    """Luhn-valid card numbers of every network, 12-19 digits, grouped or not.

    >>> find = lambda text: [text[s:e] for s, e in cards(text)]
    >>> find("6762 7309 8349 0"), find("ref 6762730983490"), find("debit 6762730983490")
    (['6762 7309 8349 0'], [], ['6762730983490'])
    """
    for m in _DIGIT_RUN.finditer(text):
        run = m.group()
        dotted = "." in run
        context: bool | None = None
        # A run may hold a card and its neighbours ("4111 1111 1111 1111 12/27"): try windows of
        # whole digit groups, longest first, from each group on.
        groups = list(_GROUP.finditer(run))
        i = 0
        while i < len(groups):
            for j in range(len(groups) - 1, i - 1, -1):
                digits = "".join(g.group() for g in groups[i : j + 1])
                if len(digits) > 19:
                    continue
                if len(digits) < 12:
                    break
                lengths = [len(g.group()) for g in groups[i : j + 1]]
                if dotted and not _card_grouping(lengths):
                    continue  # "1.234.567.890.123" is an amount, not a card
                if context is None:
                    at = m.start() + groups[i].start()
                    context = _CARD_CONTEXT.search(text, max(0, at - 40), at) is not None
                if _is_card(digits, lengths, context):
                    yield m.start() + groups[i].start(), m.start() + groups[j].end()
                    i = j
                    break
            i += 1


# ---------------------------------------------------------------------------- IBAN
# Any case ("gb29nwbk..."), spaces or dashes between characters; validated by mod-97 and the
# country's format, shortened until valid when the greedy match took a following word.
# Matched from its check digits on (two letters must precede them): digits are rarer than letters.
_IBAN = re.compile(
    r"[0-9](?<=[A-Za-z][A-Za-z][0-9])(?<![A-Za-z0-9][A-Za-z][A-Za-z][0-9])[0-9]"
    r"(?:[ -]?[A-Za-z0-9]){11,32}(?![A-Za-z0-9])"
)
# The IBAN registry's countries (python-stdnum's iban.dat): a cheap test before the checksum.
_IBAN_COUNTRIES = frozenset(
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI "
    "GL GR GT HN HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI "
    "NL NO OM PK PL PS PT QA RO RS RU SA SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE".split()
)


def ibans(text: str) -> Iterator[Span]:
    """IBANs in any case and with spaces or dashes.

    >>> text = "pay gb29-nwbk-6016-1331-9268-19 or Gb29 Nwbk 6016 1331 9268 19 today"
    >>> [text[s:e] for s, e in ibans(text)]
    ['gb29-nwbk-6016-1331-9268-19', 'Gb29 Nwbk 6016 1331 9268 19']
    """
    pos = 0
    while (m := _IBAN.search(text, pos)) is not None:
        start, pos = m.start() - 2, m.start() + 1
        value = text[start : m.end()]
        if value[:2].upper() not in _IBAN_COUNTRIES:
            continue
        # The greedy match may have taken what follows (a word, the next IBAN): shorten it.
        for end in range(len(value), 14, -1):
            if value[end - 1] not in " -" and std_iban.is_valid(value[:end]):
                yield start, start + end
                pos = start + end
                break


# ---------------------------------------------------------------------------- national ids
# "536-90-4399" or "536 90 4399" alone: the 3-2-4 grouping is distinctive; not inside a longer
# run of digit groups ("123 536 90 4399 12") nor a date or a phone number.
_SSN_GROUPED = re.compile(
    r"[0-9](?<![\w.,/-][0-9])(?<![0-9][ -][0-9])[0-9]{2}([ -])[0-9]{2}\1[0-9]{4}"
    r"(?![\w/-]|[ .,-][0-9])"
)


def ssns_dashed(text: str) -> Iterator[Span]:
    """US SSNs written 3-2-4 with dashes or spaces, validated by python-stdnum.

    >>> text = "ssn 536-90-4399, 536 90 4399; not 000 12 3456 nor 536 90 4399 12"
    >>> [text[s:e] for s, e in ssns_dashed(text)]
    ['536-90-4399', '536 90 4399']
    """
    for m in _SSN_GROUPED.finditer(text):
        if us_ssn.is_valid(m.group().replace(" ", "")):
            yield m.span()


_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")
_NINO_UNUSED_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def _nino_valid(value: str) -> bool:
    """UK National Insurance number: no checksum, so only its letters are checked."""
    v = value.upper()
    return _NINO.fullmatch(v) is not None and v[:2] not in _NINO_UNUSED_PREFIXES


def _dni_valid(value: str) -> bool:
    return es_dni.is_valid(value) or es_nie.is_valid(value)


_SEPARATORS = re.compile(r"[\s.\-]")


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
        """Spans of valid values after the context word; separators are ignored by ``valid``.

        The pattern runs only around its triggers (a context word starts at most 12 characters
        before its trigger, as "sécurité " before "sociale"; the whole match is shorter than
        100 characters).
        """
        rx = re.compile(rf"(?:{self.context}){GAP}(?P<v>{self.value})(?![\w-])")
        triggers, valid = self.triggers, self.valid

        def find(text: str) -> Iterator[Span]:
            for m in near(text, lower(text), triggers, 0, rx, 100, back=12):
                if valid(_SEPARATORS.sub("", m.group("v"))):
                    yield m.span("v")

        return find


CONTEXT_IDS = [
    ContextId(
        "us_ssn",
        r"(?i:\bssn\b|\bss\s?#|\bss\s+no\b|\bsocial(?:\s+security)?\b|\btax\s*id\b|\btin\b|"
        r"\btaxpayer\s+id(?:entification)?\b)",
        r"\d{3}[ .-]?\d{2}[ .-]?\d{4}|\d{3} \d{3} \d{3}|\d{3}-\d{3}-\d{3}|\d{3}\.\d{3}\.\d{3}",
        us_ssn.is_valid,
        ("ssn", "ss#", "ss #", "ss no", "social", "tax", "tin"),
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
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]{5}[0-9]{2}[A-EHLMPR-T][0-9]{2}[A-Z][0-9]{3}[A-Z](?![A-Za-z0-9])"
)


def codici_fiscali(text: str) -> Iterator[Span]:
    for m in _CODICE_FISCALE.finditer(text):
        if it_cf.is_valid(m.group()):
            yield m.span()
