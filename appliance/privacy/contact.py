"""Ways to reach a person: ``email`` and ``phone``.

``email`` is an address as written (a full-width ``＠`` is folded to ``@`` before this runs) or
obfuscated: "name at domain dot com", "name [at] domain [dot] com", "name(at)domain(dot)org",
"name @ domain . com", "jane.doe at gmail.com". An obfuscated address needs a known top-level
domain; where "at" is a plain word, a name that is an everyday word ("look at", "met at",
"works at") is prose, and a real dot after a plain "at" needs a mailbox-like name (with ``.``,
``_``, ``+`` or a digit) or a mail provider's domain ("work at google.com" is a workplace).

``phone`` uses phonenumbers with leniency STRICT_GROUPING, i.e. VALID and grouped the way that
country writes its numbers, which rejects "(2012) 755-767" or "9 192 631 770": international
``+``/``00`` numbers and national numbers of the configured regions; a bare digit run needs a
word such as "phone" or "call" before it. A number written with its country code but no ``+``
("44 20 7946 0958", "(44) 20-7946-0958") counts after a phone word, or alone when it has three
or more groups laid out exactly as that country writes them (EXACT_GROUPING) and 10+ digits,
and no word such as "order", "invoice", "ref" or "ISBN" before it.

Leaves out names and street addresses (no reliable detector without a model), SSH remotes
("git@github.com:org/repo"), the ``user:pass@`` part of URLs (``credentials``), obfuscations in
other languages ("[ät]", "punkt"), spelled-out digits, and national-format numbers of regions
not configured ("020 7946 0958" needs ``phone_regions=("US", "GB")``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from appliance.privacy.base import Span
from appliance.privacy.textscan import lower

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


# ---------------------------------------------------------------------------- obfuscated e-mail
# "name at domain dot com", "name [at] domain [dot] com", "name(at)domain(dot)org",
# "name @ domain . com": found from the "at" outwards, since " at " is common in prose.
_AT_BRACKETED = re.compile(r"[\[({<][ \t]*(?i:at|@)[ \t]*[\])}>]")
_DOT = r"(?:[ \t]*[\[({<][ \t]*(?:dot|\.)[ \t]*[\])}>][ \t]*|[ \t]+dot[ \t]+|\.|[ \t]+\.[ \t]+)"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_OBF_DOMAIN = re.compile(rf"(?i)(?:{_LABEL}{_DOT}){{1,4}}(?P<tld>[a-z]{{2,12}})(?![\w@-])")
_OBF_LOCAL = re.compile(
    rf"(?i)(?<![\w.%+-])[a-z0-9][a-z0-9_%+-]{{0,63}}(?:{_DOT}[a-z0-9][a-z0-9_%+-]{{0,63}}){{0,3}}$"
)
_TLDS = frozenset(
    "com net org edu gov mil int io co ai app dev info biz me tv us uk de fr es it nl be ch at "
    "se no dk fi pl pt ie cz gr ru ua jp cn kr in au nz ca br mx ar cl za sg hk tw il tr ro hu "
    "sk bg hr si rs lt lv ee lu is li mt cy email mail online site tech cloud xyz eu".split()
)
# Where both "at" and "dot" are plain words, the domain must not end in an English word.
_WORD_TLDS = frozenset(
    "in it is to me us at be no my so do go am as by he hi if of on or we".split()
)
# "look at google.com", "arrived at example.org": a word before "at", not a mailbox
_NOT_LOCAL = frozenset(
    """look looking looked arrive arrived arriving meet met stay stayed staying work works
    worked working live lives lived be is are was were been am me us you him her them it this
    that here there good bad best better great aim aimed point pointed stare stared glance
    glanced laugh laughed smile smiled sit sat stand stood start started end ended stop
    stopped only even just and or but not all both up out off down in on back home later once
    available located based held hosted published posted listed found seen shown sold bought
    priced valued rated estimated set fixed capped paid due signed filed made done open opened
    closed received delivered shipped we they i he she one people staff everyone someone who
    which what where when how why left right online site page visit visiting us online""".split()
)
_MAIL_PROVIDERS = frozenset(
    "gmail googlemail yahoo ymail hotmail outlook live msn icloud me mac proton protonmail pm "
    "gmx web aol mail zoho yandex fastmail tutanota hey posteo orange free laposte t-online".split()
)


def _at_separators(text: str) -> list[Span]:
    """Spans of " at ", " @ " and "[at]"-like separators, with the blanks around them.

    Found with ``str.find``: a regex that may start with a blank is tried at every position.
    """
    low = lower(text)
    hits: list[Span] = []
    for literal in (" at ", "@"):
        at = low.find(literal)
        while at != -1:
            hits.append((at, at + len(literal)))
            at = low.find(literal, at + 1)
    if any(b in low for b in ("at]", "at)", "at}", "at>", "@]", "@)", "@}", "@>")):
        hits.extend(m.span() for m in _AT_BRACKETED.finditer(text))
    spans: list[Span] = []
    for start, end in sorted(set(hits)):
        core = end - start
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        while end < len(text) and text[end] in " \t":
            end += 1
        if core == 1 and text[start:end] == "@":
            continue  # a plain "a@b.com" is the ``emails`` finder's
        spans.append((start, end))
    return spans


def obfuscated_emails(text: str) -> Iterator[Span]:
    """E-mail addresses written to dodge scrapers.

    >>> text = "jane.doe at gmail dot com, ops [at] acme [dot] io, a(at)b(dot)org, bo @ x . de"
    >>> [text[s:e] for s, e in obfuscated_emails(text)]
    ['jane.doe at gmail dot com', 'ops [at] acme [dot] io', 'a(at)b(dot)org', 'bo @ x . de']
    >>> list(obfuscated_emails("we met at acme.com and looked at this dot in the photo"))
    []
    """
    for at_start, at_end in _at_separators(text):
        domain = _OBF_DOMAIN.match(text, at_end)
        if domain is None or domain.group("tld").lower() not in _TLDS:
            continue
        local = _OBF_LOCAL.search(text, max(0, at_start - 100), at_start)
        if local is None:
            continue
        name, separator = local.group(), text[at_start:at_end].strip().lower()
        if separator == "at":
            if name.lower() in _NOT_LOCAL:
                continue
            plain_dots = "." in domain.group() and "dot" not in domain.group().lower()
            first_label = re.split(r"[\s.\[({<]", domain.group(), maxsplit=1)[0].lower()
            if plain_dots and not (
                re.search(r"[._%+\-\d]", name) or first_label in _MAIL_PROVIDERS
            ):
                continue  # "work at acme.com": needs a mailbox-like name or a mail provider
            if not plain_dots and domain.group("tld").lower() in _WORD_TLDS:
                continue
        yield local.start(), domain.end()


# ---------------------------------------------------------------------------- phones
# Digits with the separators phone numbers use, optionally led by "+" (or "00" as an
# international prefix). Only these candidate windows go to phonenumbers, which is slow on
# whole texts (about 3 ms per KB).
# Not glued to a word by a dash: "terminal-8555799050", "INV-4155552671" are names.
_PHONE_CANDIDATE = re.compile(r"(?<![A-Za-z0-9_])(?<![A-Za-z_]-)\+?\(?\d[\d \t().\-/]{5,}\d\)?")
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


# Words before a number that make it something other than a phone number.
_NOT_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:order|invoice|inv|ref|reference|tracking|track|isbn|issn|ean|upc|sku|part|serial|"
    r"s/n|sn|account|acct|po|case|ticket|claim|policy|model|batch|lot|patent|id|no|nr|#)\b"
    r"[^\n]{0,12}$"
)
_GROUPS = re.compile(r"\d+")


def _implied_international(text: str, start: int, end: int) -> Span | None:
    """A number written with its country code but no ``+``: "44 20 7946 0958",
    "(44) 20-7946-0958", or after "tel" "49 30 1234567".

    After a phone word any valid number counts; without one, it needs three or more groups laid
    out exactly as that country writes them (phonenumbers' EXACT_GROUPING) and 10+ digits, and
    no word such as "order", "invoice", "ISBN" or "ref" before it.
    """
    raw = text[start:end]
    groups = _GROUPS.findall(raw)
    digits = sum(len(g) for g in groups)
    if not 8 <= digits <= 15 or raw.lstrip("(").startswith("0"):
        return None
    if len(groups[0]) > 3 and len(groups) > 1:
        return None  # a country code has one to three digits
    before = text[max(0, start - 40) : start]
    context = _PHONE_CONTEXT.search(before) is not None
    if not context and (
        len(groups) < 3 or digits < 10 or _NOT_PHONE_CONTEXT.search(before) is not None
    ):
        return None
    if raw.startswith("(") and ")" in raw[: len(groups[0]) + 2]:
        close = raw.index(")")
        candidate, shift = "+" + raw[1:close] + " " + raw[close + 1 :], 0  # "(44) 20..."
    else:
        candidate, shift = "+" + raw, -1
    leniency = Leniency.VALID if context else Leniency.EXACT_GROUPING
    for pm in PhoneNumberMatcher(candidate, "US", leniency=leniency):
        if pm.start == 0 and pm.end >= len(candidate) - 1:
            return start, start + pm.end + shift
    return None


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
            if len(raw.split()) > 8:
                continue  # a row of a table of numbers, not a phone number
            national = international or len(raw.split()) <= 5
            if raw.strip("()").isdigit() and not _PHONE_CONTEXT.search(
                text, max(0, start - 40), start
            ):
                continue  # a bare digit run is as likely an order number: needs "phone", "call"
            # phonenumbers misses a number followed by another ("(415) 555-2671 20 units"):
            # when the whole piece gives nothing, drop its last group and try again.
            found = False
            stops = list(reversed([start + t.end() for t in re.finditer(r"\S+", raw)]))
            for stop in stops if national else ():
                if sum(c.isdigit() for c in text[start:stop]) < need:
                    break
                spans = self._match(text, start, stop)
                if spans:
                    yield from spans
                    found = True
                    break
            if not found and not international:
                for stop in stops:
                    span = _implied_international(text, start, stop)
                    if span is not None:
                        yield span
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
