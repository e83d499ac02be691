"""Identity document numbers found by their label: ``drivers_license`` and ``passport``.

``drivers_license`` is a number after "driver's license", "driving licence", "driver license",
"DL#", "DL no", "DLN", "licence no", "license number", "lic. #"...; ``passport`` one after
"passport" (also "passport no/number/#", "passeport", "pasaporte", "Reisepass"). The number is
one token of letters and digits (``D1234567``, ``MORGA753116SM9IJ``, ``L898902C3``), possibly in
groups joined by spaces or dashes (``S530-4126-7890``, ``123 456 789``), 5-20 characters with
at least three digits. Neither has a checksum that python-stdnum knows for every issuer, so the
label is what makes it count.

Leaves out numbers with no such label before them, dates and years after the label ("passport
expires 2031-05-01", "licence renewed in 2024"), a bare "license" (software licences, "License:
Apache-2.0"), and other identity documents (national id cards have their own detectors in
``numbers`` where a checksum exists).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from appliance.privacy.base import GAP, Span
from appliance.privacy.textscan import lower, near

# Letters and digits, in up to five groups; later groups must hold a digit, so a following word
# ("D1234567 expires") is not taken.
_VALUE = r"(?P<v>[A-Za-z0-9]{1,16}(?:[ -](?=[A-Za-z]{0,3}\d)[A-Za-z0-9]{1,8}){0,4})(?![\w-])"
_DATE = re.compile(r"\d{1,4}[-/. ]\d{1,2}[-/. ]\d{1,4}")

_LICENSE = re.compile(
    r"(?i:\bdriv(?:er['’]?s?|ing)[\s-]+licen[cs]e\b|\bDL\s?#|\bDL\s+(?:no\b|number\b|num\b|nr\b)"
    r"|\bDLN\b|\blicen[cs]e\s+(?:no\b|number\b|num\b|nr\b|#)|\blic\.?\s*(?:no\b|#))"
    rf"{GAP}{_VALUE}"
)
LICENSE_TRIGGERS = ("licen", "lic.", "lic ", "lic#", "dl#", "dl ", "dln")

_PASSPORT = re.compile(
    r"(?i:\bpass(?:port|eport)\b|\bpasaporte\b|\breisepass(?:nummer)?\b)"
    rf"(?:\s*\([A-Za-z]{{2,3}}\))?{GAP}{_VALUE}"
)
PASSPORT_TRIGGERS = ("passport", "passeport", "pasaporte", "reisepass")


def _document_number(value: str) -> bool:
    """Whether a labelled value looks like a document number rather than a date or a word."""
    compact = re.sub(r"[ -]", "", value)
    return (
        5 <= len(compact) <= 20
        and sum(c.isdigit() for c in compact) >= 3
        and _DATE.fullmatch(value) is None
    )


def drivers_licenses(text: str) -> Iterator[Span]:
    """Driver's licence numbers after their label.

    >>> text = "Driver's License #: D1234567 (CA); DL no. S530-4126-7890; licence expires 2027"
    >>> [text[s:e] for s, e in drivers_licenses(text)]
    ['D1234567', 'S530-4126-7890']
    """
    for m in near(text, lower(text), LICENSE_TRIGGERS, 0, _LICENSE, 100, back=12):
        if _document_number(m.group("v")):
            yield m.span("v")


def passports(text: str) -> Iterator[Span]:
    """Passport numbers after their label.

    >>> text = "Passport No: L898902C3; passport (GBR) 925076473; passport valid until 2031"
    >>> [text[s:e] for s, e in passports(text)]
    ['L898902C3', '925076473']
    """
    for m in near(text, lower(text), PASSPORT_TRIGGERS, 0, _PASSPORT, 100):
        if _document_number(m.group("v")):
            yield m.span("v")
