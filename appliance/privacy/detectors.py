"""Find personal and secret data in text: where it is and what kind, never what it says.

Covers, each under a detector name that becomes a verdict reason and a placeholder label:

- ``email``; ``phone`` (phonenumbers, leniency STRICT_GROUPING, i.e. VALID and grouped the way
  that country writes its numbers, which rejects "(2012) 755-767" or "9 192 631 770":
  international ``+``/``00`` numbers and national numbers of the configured regions, default
  US; a bare digit run needs a word such as "phone" or "call" before it);
- ``card`` (13-19 digits, spaces or dashes, Luhn-valid, with a card network's prefix and
  length);
  ``iban`` (python-stdnum: country format and mod-97 check);
- national ids validated by python-stdnum: ``us_ssn`` (``123-45-6789`` alone, other layouts
  after "SSN"), and only after their own context word because a bare number is too ambiguous:
  ``gb_nhs``, ``gb_nino``, ``ca_sin``, ``nl_bsn``, ``in_aadhaar``, ``es_dni``, ``fr_nir``;
  ``it_codice_fiscale`` (its shape and check letter are distinctive enough alone);
- secrets: ``api_key`` (known token shapes: ``sk-``, ``sk-ant-``, ``AKIA``, ``ghp_``, ``xox?-``,
  ``AIza``, ``hf_``, Stripe, Slack webhooks...), ``private_key`` (PEM/OpenSSH/PGP blocks, also a
  chunk holding only the end of one), ``jwt``, ``credential`` (``password=``, ``"secret": ...``,
  ``Bearer ...``, ``scheme://user:pass@host``, "the password is ..."; placeholders such as
  ``${DB_PASSWORD}`` or ``os.environ[...]`` are not secrets);
- ``dob`` (a date after "DOB", "date of birth", "born"...), ``mrn`` (an id after "MRN",
  "medical record number", "patient ID"...);
- ``term`` and ``pattern``: the user's words and regular expressions from ``PrivacySettings``.

Where findings overlap, the most specific name wins (an IBAN is not also a card, a key in
``API_KEY=...`` is an ``api_key``, not a ``credential``).

Left out on purpose: names, street addresses and free-text health facts (no reliable detector
without a model), obfuscated values ("four one one one ..."), lower-case IBANs, national-format
phone numbers of regions not configured ("020 7946 0958" needs ``phone_regions=("US", "GB")``),
a private key body cut off from both its BEGIN and END lines, and other countries' ids.
Findings carry offsets only; the matched value is read from the text by whoever needs it
(``redact``), so nothing that is logged can leak it. A ``Detector`` holds no state between
calls: one can serve several threads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
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

from appliance.config import PrivacySettings
from appliance.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected value: ``text[start:end]`` is it; the value itself is never stored."""

    detector: str
    start: int
    end: int


Span = tuple[int, int]
Finder = Callable[[str], Iterator[Span]]

# Between a context word and its value: punctuation and a few filler words
# ("SSN: 123...", "date of birth is 1 May 1980", "MRN no. 123").
_GAP = r"(?i:[\s:#=.\-–()]{0,6}(?:(?:is|was|on|of|number|num|nr|no)\b[\s:#=.\-–()]{0,6}){0,2})"

# ---------------------------------------------------------------------------- e-mail
# "icon@2x.png" is an image name, not an address.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?!\d+x\.)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

_URL_USERINFO = re.compile(r"://[^\s/@]*:$")


def _emails(text: str) -> Iterator[Span]:
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


def _cards(text: str) -> Iterator[Span]:
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


def _ibans(text: str) -> Iterator[Span]:
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


def _ssns_dashed(text: str) -> Iterator[Span]:
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
class _ContextId:
    """An id that counts only after a context word: ``<context> <gap> <value>``, validated."""

    name: str
    context: str
    value: str
    valid: Callable[[str], bool]
    triggers: tuple[str, ...]
    """Lower-case substrings, one of which the context needs: a cheap test before the regex."""


_CONTEXT_IDS = [
    _ContextId(
        "us_ssn",
        r"(?i:\bssn\b|\bss#|\bsocial\s+security\b)",
        r"\d{3}[ -]?\d{2}[ -]?\d{4}",
        us_ssn.is_valid,
        ("ssn", "ss#", "social security"),
    ),
    _ContextId("gb_nhs", r"\bNHS\b", r"\d{3}[ -]?\d{3}[ -]?\d{4}", gb_nhs.is_valid, ("nhs",)),
    _ContextId(
        "gb_nino",
        r"\bNINO\b|\bNI\s+(?i:number|no\b)|(?i:\bnational\s+insurance\b)",
        r"[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]",
        _nino_valid,
        ("nino", "ni ", "national insurance"),
    ),
    _ContextId(
        "ca_sin",
        r"\bSIN\b|(?i:\bsocial\s+insurance\b)",
        r"\d{3}[ -]?\d{3}[ -]?\d{3}",
        ca_sin.is_valid,
        ("sin", "social insurance"),
    ),
    _ContextId(
        "nl_bsn",
        r"\bBSN\b|(?i:\bburgerservicenummer\b)",
        r"\d{4}\.?\d{2}\.?\d{3}|\d{3}\.\d{3}\.\d{3}",
        nl_bsn.is_valid,
        ("bsn", "burgerservicenummer"),
    ),
    _ContextId(
        "in_aadhaar",
        r"(?i:\baadh?aar\b)|\bUIDAI\b",
        r"\d{4}[ -]?\d{4}[ -]?\d{4}",
        in_aadhaar.is_valid,
        ("aadhaar", "aadhar", "uidai"),
    ),
    _ContextId(
        "es_dni",
        r"\b(?:DNI|NIE|NIF)\b|(?i:\bdocumento\s+nacional\b)",
        r"[XYZxyz]?-?\d{7,8}-?[A-Za-z]",
        _dni_valid,
        ("dni", "nie", "nif", "documento nacional"),
    ),
    _ContextId(
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


def _codici_fiscali(text: str) -> Iterator[Span]:
    for m in _CODICE_FISCALE.finditer(text):
        if it_cf.is_valid(m.group()):
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


class _PhoneFinder:
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


# ---------------------------------------------------------------------------- secrets
_API_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{20,}"
    r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abposre]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}"
    r"|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}"
    r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"
    r"|https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"
    r")(?![\w-])"
)


_API_KEY_TRIGGERS = (
    "sk-", "sk_", "rk_", "akia", "asia", "agpa", "aida", "aroa", "anpa", "ghp_", "gho_", "ghu_",
    "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "aiza", "whsec_", "hf_", "npm_", "sg.",
    "hooks.slack",
)  # fmt: skip


def _api_keys(text: str) -> Iterator[Span]:
    for m in _API_KEY.finditer(text):
        value = m.group()
        # Real keys are random: letters and digits. "sk-this-is-not-a-key-at-all" is prose.
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            yield m.span()


_PEM_LABEL = r"(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
_PEM_BEGIN = re.compile(rf"-----BEGIN {_PEM_LABEL}")
_PEM_END = re.compile(rf"-----END {_PEM_LABEL}")
# The end of a key whose BEGIN line is in the previous chunk: its base64 lines, then END.
_PEM_TAIL = re.compile(rf"(?m)(?:^[ \t]*[A-Za-z0-9+/=]{{16,}}\r?\n)*[ \t]*-----END {_PEM_LABEL}")


def _private_keys(text: str) -> Iterator[Span]:
    if "PRIVATE KEY" not in text:
        return
    pos = 0
    for begin in _PEM_BEGIN.finditer(text):
        if begin.start() < pos:
            continue
        # The body may run past the end of a chunk: then it runs to the end of the text.
        end = _PEM_END.search(text, begin.end())
        pos = end.end() if end else len(text)
        yield begin.start(), pos
    first_begin = _PEM_BEGIN.search(text)
    tail = _PEM_TAIL.search(text)
    if tail and (first_begin is None or tail.start() < first_begin.start()):
        yield tail.span()


_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")


def _jwts(text: str) -> Iterator[Span]:
    return (m.span() for m in _JWT.finditer(text))


_CREDENTIAL_KEY = (
    r"(?:password|passwd|passphrase|pwd|(?<=[_.\-])pass|pass(?=[ \t]*=|:)|secret|secret[_\-]?key|"
    r"client[_\-]?secret|"
    r"api[_\-]?key|apikey|access[_\-]?key|secret[_\-]?access[_\-]?key|access[_\-]?token|"
    r"auth[_\-]?token|refresh[_\-]?token|private[_\-]?key|account[_\-]?key)"
)
_CREDENTIAL_TRIGGERS = ("pass", "pwd", "secret", "key", "token", "bearer", "://")
# The key may carry a prefix ("DB_PASSWORD", "spring.datasource.password") but not be the end
# of another word ("mypassword") or the start of one ("password_hash").
_CREDENTIAL = re.compile(
    rf"(?i)(?<![a-z0-9]){_CREDENTIAL_KEY}(?![\w-])[\"'*]*[ \t]*"
    # "password for the guest wifi is ...": a short phrase may sit between the key and "is"
    r"(?P<sep>:=|=>|=|:|(?:[ \t]+(?:for|of|on|to)[ \t]+[\w\- ]{1,30}?)?[ \t]+is[ \t]+)[*]*[ \t]*"
    r"(?:\"(?P<dq>[^\"\n]{1,200})\"|'(?P<sq>[^'\n]{1,200})'|(?P<bare>[^\s\"',;]{1,200}))"
)
_CODE_AFTER = re.compile(r"[ \t]*[,)\]=|]")
_BEARER = re.compile(r"\bBearer[ \t]+(?P<bare>[A-Za-z0-9\-._~+/]{20,}=*)")
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:(?P<bare>[^\s@/]+)@[\w.\-]+")

# Punctuation that ends a bare value rather than belongs to it: in prose ("the password is
# hunter2.") and in code ("f(password=hunter2)"), where "!" or "." may be part of a password.
_PROSE_TRAILING = ".,;:!?)]}"
_CODE_TRAILING = ")]}"
_NOT_A_SECRET = {
    "none", "null", "nil", "true", "false", "undefined", "required", "optional", "string",
    "str", "secret", "password", "your_password", "yourpassword", "your_password_here",
    "your-api-key", "your_api_key", "changeit", "redacted", "hidden", "example", "empty",
}  # fmt: skip
# Not a value but a pointer to one: "${X}", "%(x)s", "<set me>", "{{ var }}",
# os.environ[...], settings.X...
_REFERENCE = re.compile(
    r"^(?:[$%<{\[(]|.*\{\{|.*(?:os\.environ|getenv|process\.env|env\(|secrets\.|"
    r"settings\.|config\.|vault:|keyring))"
)


def _looks_secret(value: str, quoted: bool, strict: bool = False) -> bool:
    """Whether an assigned value is a real secret rather than a placeholder or code.

    ``strict`` is for ``key: value`` and "the password is ...", which prose uses too: an
    unquoted value then needs a letter and a digit or symbol.

    >>> _looks_secret("hunter2", quoted=False), _looks_secret("${DB_PASS}", quoted=False)
    (True, False)
    """
    if len(value) < 5 or value.lower() in _NOT_A_SECRET or _REFERENCE.match(value):
        return False
    if set(value) <= set("*xX•.-_#?"):
        return False  # masked: "********", "xxxx-xxxx"
    if quoted:
        return True
    if re.fullmatch(r"![A-Za-z]+", value):
        return False  # a YAML tag such as "!vault" or "!Ref"
    # "password = request.form", "api_key = API_KEY", "token = get_token()" are code.
    if re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:[(\[].*)?", value) and (
        any(c in value for c in ".([") or not any(c.isdigit() for c in value)
    ):
        return False
    return not strict or (any(c.isalpha() for c in value) and any(not c.isalpha() for c in value))


def _credentials(text: str) -> Iterator[Span]:
    for m in _CREDENTIAL.finditer(text):
        group = next(g for g in ("dq", "sq", "bare") if m.group(g) is not None)
        quoted = group != "bare"
        colon = m.group("sep").strip() == ":"
        strict = colon or m.group("sep").rstrip().lower().endswith("is")
        value = m.group(group)
        if not quoted:
            if colon and _CODE_AFTER.match(text, m.end(group)):
                continue  # "private_key: PKCS7PrivateKeyTypes," is a type annotation
            value = value.rstrip(_PROSE_TRAILING if strict else _CODE_TRAILING)
        if _looks_secret(value, quoted=quoted, strict=strict):
            yield m.start(group), m.start(group) + len(value)
    for rx in (_BEARER, _URL_PASSWORD):
        for m in rx.finditer(text):
            if _looks_secret(m.group("bare"), quoted=True):
                yield m.span("bare")


# ---------------------------------------------------------------------------- DOB, MRN
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})(?!\d)|\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}(?!\d)"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?[\s\-/]+(?:of\s+)?{_MONTH}\.?,?[\s\-/]+\d{{4}}"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"
)
_DOB = re.compile(
    r"(?i:\bD\.?O\.?B\b\.?|\bdate\s+of\s+birth\b|\bbirth\s*date\b|\bborn\b|\bgeb(?:oren|\.))"
    rf"{_GAP}(?P<v>(?i:{_DATE}))"
)
_DOB_TRIGGERS = ("dob", "d.o.b", "birth", "born", "geb")
_MRN_TRIGGERS = ("mrn", "medical record", "patient", "chart", "hospital")
_MRN = re.compile(
    r"(?i:\bMRN\b|\bmedical\s+record(?:\s+(?:number|no\b\.?|num\b|#))?|"
    r"\bpatient\s+(?:id|identifier|number|no\b\.?|#)|\bchart\s+(?:number|no\b\.?|#)|"
    r"\bhospital\s+(?:number|no\b\.?))"
    rf"{_GAP}(?P<v>(?:[A-Z]{{1,3}}-?)?\d{{5,12}})(?![\w-])"
)


def _context_finder(rx: re.Pattern[str], valid: Callable[[str], bool] | None = None) -> Finder:
    def find(text: str) -> Iterator[Span]:
        for m in rx.finditer(text):
            if valid is None or valid(m.group("v")):
                yield m.span("v")

    return find


# ---------------------------------------------------------------------------- the detector
_DIGIT = re.compile(r"\d")


def _finder(rx: re.Pattern[str]) -> Finder:
    return lambda t: (m.span() for m in rx.finditer(t) if m.end() > m.start())


# Most specific first: where findings overlap, the later name gives way.
_PRECEDENCE = (
    "private_key", "jwt", "api_key", "iban", "it_codice_fiscale",
    *(c.name for c in _CONTEXT_IDS), "card", "email", "dob", "mrn", "credential", "phone",
)  # fmt: skip
_RANK = {name: i for i, name in enumerate(_PRECEDENCE)}


@dataclass(frozen=True)
class _Check:
    """One detector: its name, its finder, and when it is worth running at all."""

    name: str
    find: Finder
    triggers: tuple[str, ...] = ()
    """Run only if the lower-cased text holds one of these (empty: always)."""
    digits: bool = False
    """Run only if the text holds a digit."""


class Detector:
    """All detectors, compiled once; ``scan(text)`` lists what it finds, in text order.

    >>> d = Detector.from_settings(PrivacySettings(terms=["Project Falcon"]))
    >>> [f.detector for f in d.scan("mail ana@corp.io about project falcon")]
    ['email', 'term']
    """

    def __init__(
        self,
        terms: list[str] | None = None,
        patterns: list[str] | None = None,
        phone_regions: tuple[str, ...] = ("US",),
    ) -> None:
        unknown = [r for r in phone_regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ConfigError(f"unknown phone region(s): {', '.join(unknown)}")
        self._phones = _PhoneFinder(tuple(phone_regions))
        self._checks: list[_Check] = [
            _Check("card", _cards, digits=True),
            _Check("iban", _ibans, digits=True),
            _Check("us_ssn", _ssns_dashed, digits=True),
            *(_Check(c.name, self._context_id(c), c.triggers, True) for c in _CONTEXT_IDS),
            _Check("it_codice_fiscale", _codici_fiscali, digits=True),
            _Check("dob", _context_finder(_DOB), _DOB_TRIGGERS, True),
            _Check("mrn", _context_finder(_MRN), _MRN_TRIGGERS, True),
            _Check("email", _emails, ("@",)),
            _Check("api_key", _api_keys, _API_KEY_TRIGGERS),
            _Check("private_key", _private_keys, ("private key",)),
            _Check("jwt", _jwts, ("eyj",)),
            _Check("credential", _credentials, _CREDENTIAL_TRIGGERS),
        ]
        words = sorted({t.strip() for t in terms or [] if t.strip()}, key=len, reverse=True)
        if words:
            alternation = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
            self._checks.append(
                _Check("term", _finder(re.compile(rf"(?i)(?<!\w)(?:{alternation})(?!\w)")))
            )
        for i, pattern in enumerate(patterns or []):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"privacy.patterns[{i}] is not a valid regular expression: {exc}",
                    hint="patterns use Python's re syntax; escape literal dots and brackets",
                ) from None
            self._checks.append(_Check("pattern", _finder(compiled)))

    @property
    def names(self) -> list[str]:
        """Every name ``scan`` may report (``term`` and ``pattern`` only when configured)."""
        return list(dict.fromkeys([c.name for c in self._checks] + ["phone"]))

    @classmethod
    def from_settings(
        cls, settings: PrivacySettings, phone_regions: tuple[str, ...] | None = None
    ) -> Detector:
        regions = phone_regions or tuple(r.upper() for r in settings.phone_regions)
        return cls(settings.terms, settings.patterns, regions)

    @staticmethod
    def _context_id(spec: _ContextId) -> Finder:
        rx = re.compile(rf"(?:{spec.context}){_GAP}(?P<v>{spec.value})(?![\w-])")
        return _context_finder(rx, lambda v: spec.valid(re.sub(r"[\s.\-]", "", v)))

    def scan(self, text: str) -> list[Finding]:
        found: set[Finding] = set()
        digits = _DIGIT.search(text) is not None
        lowered = text.lower()
        for check in self._checks:
            if (check.digits and not digits) or (
                check.triggers and not any(t in lowered for t in check.triggers)
            ):
                continue
            found.update(Finding(check.name, s, e) for s, e in check.find(text))
        if digits:  # last, to skip the numbers other detectors have claimed
            taken = [(f.start, f.end) for f in found if f.detector not in ("term", "pattern")]
            found.update(Finding("phone", s, e) for s, e in self._phones(text, taken))
        # One value may match several detectors (a card-like run inside an IBAN, a key in a
        # "password=" line): keep the most specific name. User terms and patterns always stay.
        kept: list[Finding] = []
        for f in sorted(found, key=lambda f: _RANK.get(f.detector, -1)):
            if f.detector in _RANK and any(
                g.detector in _RANK
                and g.detector != f.detector
                and f.start < g.end
                and g.start < f.end
                for g in kept
            ):
                continue
            kept.append(f)
        return sorted(kept, key=lambda f: (f.start, f.end, f.detector))
