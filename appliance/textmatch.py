"""Comparing an answer with its sources, word by word: sentences with their offsets, content
words, numbers and names, normalised the same way on both sides.

Used by ``appliance.evidence`` (which sentences answer the question), ``appliance.claims``
(is each answer sentence backed by a passage) and ``appliance.evaluate`` (does a text contain
the gold answer). Numbers are compared by value: ``"$51.2 billion"``, ``"51.2 billion
dollars"`` and ``"$51,200 million"`` are one amount in dollars; ``"1,000"`` is ``"1000"``;
``"12%"``, ``"12 percent"`` and ``"12 per cent"`` are one percentage.

Left out: numbers written as words ("twenty-seven"), unit conversion (days to weeks),
European number formats (``1.000,50``), word order (who did what to whom).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just may me might more most must my myself no nor not now of off on
    once only or other our ours ourselves out over own per same shall she should so some such
    than that the their theirs them themselves then there these they this those through thus to
    too under until up upon us very via was we were what whatever when where whether which while
    who whom whose why will with within would yes yet you your yours""".split()
)
QUESTION_WORDS = frozenset(
    """answer answers question questions tell give list explain describe name state find show
    please much many long often""".split()
)
MONTHS = frozenset(
    """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
NEGATIONS = frozenset("not no never none nothing neither nor cannot without".split())

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+", re.UNICODE)
_CODE = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[^\W\d_])\w+(?:-\w+)*\b|\b\d+(?:-\d+)+\b", re.UNICODE)
_AMOUNT_WORD = re.compile(r"\d+(?:\.\d+)?(?:[a-z]{1,2}|bn|mn)", re.IGNORECASE)
_CAPITAL = re.compile(r"(?<![\w'’])[A-Z][\w&'’.-]*")

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*\s+")
_ABBREVIATIONS = frozenset(
    "inc ltd co corp plc llc no nos p pp vs etc e.g i.e mr mrs ms dr st approx fig u.s "
    "dept est jr sr vol".split()
)
_FIELD = re.compile(r"[A-Z][\w '()/-]{0,40}:\s")
_BULLET = re.compile(r"\s*(?:[-*•·–|>#]+|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+")


def stem(word: str) -> str:
    """A crude suffix stripper; only consistency matters (both sides go through it).

    >>> [stem(w) for w in ("Leases", "leased", "employees", "Nike's", "companies", "days")]
    ['leas', 'leas', 'employe', 'nik', 'company', 'day']
    """
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = w.rstrip("'")
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def words(text: str) -> list[str]:
    """Words and digit runs, in order: ``words("Full-time staff, 27 days")`` →
    ``['Full', 'time', 'staff', '27', 'days']``."""
    return _WORD.findall(text)


def content_stems(text: str, extra_stop: frozenset[str] = frozenset()) -> set[str]:
    """Stems of the words that carry meaning (no stopwords, no digit runs)."""
    out = set()
    for w in words(text):
        lw = w.lower()
        if lw.isdigit() or lw in STOPWORDS or lw in extra_stop or len(lw) < 2:
            continue
        out.add(stem(lw))
    return out


# -- numbers ---------------------------------------------------------------------------------
_NUMBER = re.compile(
    r"(?P<cur>US\$|[$£€¥]|\b(?:USD|GBP|EUR)\b)?\s?"
    r"(?<![\w.,:/])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?:st|nd|rd|th)?"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion)\b|(?P<abbr>bn|mn|m|k)\b)?"
    r"(?:\s?(?P<unit>%|percent\b|per\s?cent\b|dollars?\b|pounds?\b|euros?\b|pence\b|p\b"
    r"|USD\b|GBP\b|EUR\b))?"
    r"(?![\w])",
    re.IGNORECASE,
)
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "m": 1e6, "billion": 1e9,
           "bn": 1e9, "trillion": 1e12}  # fmt: skip
_CURRENCIES = {"$": "usd", "us$": "usd", "usd": "usd", "dollar": "usd", "dollars": "usd",
               "£": "gbp", "gbp": "gbp", "pound": "gbp", "pounds": "gbp", "€": "eur",
               "eur": "eur", "euro": "eur", "euros": "eur", "¥": "jpy", "p": "pence",
               "pence": "pence"}  # fmt: skip


@dataclass(frozen=True)
class Number:
    """One amount: ``value`` after scale words, ``mantissa`` as written, and its ``kind``
    (``plain``, ``percent`` or a currency such as ``usd``)."""

    value: float
    mantissa: float
    kind: str
    text: str
    precise: bool
    """Written with decimals or at least three digits: specific enough to match on its own."""
    counts: tuple[str, ...] = ()
    """For a plain number, stems of the next three content words: what it counts."""


def numbers(text: str) -> list[Number]:
    """Every amount in ``text``.

    >>> [(n.value, n.kind) for n in numbers("$51.2 billion, 51.2 billion dollars, 12 per cent")]
    [(51200000000.0, 'usd'), (51200000000.0, 'usd'), (12.0, 'percent')]
    """
    out = []
    for m in _NUMBER.finditer(text):
        if _in_code(text, m.start("num"), m.end()):
            continue  # "INC-2024-031", "2024-11-07": compared whole, as a code
        digits = m.group("num").replace(",", "")
        mantissa = float(digits)
        scale_word = (m.group("scale") or m.group("abbr") or "").lower()
        value = mantissa * _SCALES.get(scale_word, 1.0)
        unit = (m.group("unit") or "").lower().replace(" ", "")
        cur = (m.group("cur") or "").strip().lower()
        if unit in ("%", "percent"):  # "per cent" too, once its space is gone
            kind = "percent"
        elif cur or unit:
            kind = _CURRENCIES.get(cur or unit, "money")
        else:
            kind = "plain"
        precise = "." in digits or len(digits.lstrip("0")) >= 3
        counts: tuple[str, ...] = ()
        if kind == "plain":
            after = (w.strip(".,;:()[]'\"’").lower() for w in text[m.end() : m.end() + 60].split())
            counts = tuple(stem(w) for w in after if w.isalpha() and w not in STOPWORDS)[:3]
        out.append(Number(value, mantissa, kind, m.group(0).strip(), precise, counts))
    return out


def number_ends(text: str) -> list[int]:
    """Where each amount of ``text`` ends (the word after it names what it counts)."""
    return [m.end() for m in _NUMBER.finditer(text) if not _in_code(text, m.start("num"), m.end())]


def _in_code(text: str, start: int, end: int) -> bool:
    """Digits joined by a dash to more letters or digits: ``INC-2024-031``, ``2024-11-07``."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return (len(before) == 2 and before[1] == "-" and before[0].isalnum()) or (
        len(after) == 2 and after[0] == "-" and after[1].isalnum()
    )


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def number_in(n: Number, pool: list[Number]) -> bool:
    """Whether ``n`` is stated in ``pool``: same value (or, for a specific figure, the same
    figure written without its scale word, as tables do) and a compatible kind."""
    for p in pool:
        if n.kind != p.kind and "plain" not in (n.kind, p.kind):
            continue
        if _close(n.value, p.value):
            if _same_unit(n, p):
                return True
            continue
        # "$51.2 billion" against a table's bare "51.2", or a bare "51.2" against it
        bare = (p.kind == "plain" and p.value == p.mantissa) or (
            n.kind == "plain" and n.value == n.mantissa
        )
        if n.precise and bare and _close(n.mantissa, p.mantissa):
            return True
    return False


def _same_unit(n: Number, p: Number) -> bool:
    """A plain count names the same thing: "7 years" is not backed by "35 days ... 7 years"'s
    neighbour "7 days". Years (2023) and counts the claim leaves bare are not compared."""
    if n.kind != "plain" or not n.counts or 1900 <= n.value <= 2100:
        return True
    if n.counts[0] in MONTHS or n.counts[0][:3] in {m[:3] for m in MONTHS}:
        return True  # a date: compared as a date
    return n.counts[0] in p.counts


# -- dates ----------------------------------------------------------------------------------
_DATE_DMY = re.compile(
    r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>[A-Z][a-z]{2,8})\.?(?:,?\s+(?P<y>\d{4}))?\b"
)
_DATE_MDY = re.compile(
    r"\b(?P<m>[A-Z][a-z]{2,8})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{4}))?\b"
)
_DATE_MY = re.compile(r"\b(?P<m>[A-Z][a-z]{2,8})\.?\s+(?P<y>\d{4})\b")


def dates(text: str) -> set[tuple[int | None, str, int | None]]:
    """Dates as (day, month, year), any part possibly None, whatever the order written.

    >>> sorted(dates("from 1 March 2024 to February 28, 2034, reviewed in May 2029"), key=str)
    [(1, 'mar', 2024), (28, 'feb', 2034), (None, 'may', 2029)]
    """
    out: set[tuple[int | None, str, int | None]] = set()
    taken: list[tuple[int, int]] = []
    for pattern in (_DATE_DMY, _DATE_MDY, _DATE_MY):
        for m in pattern.finditer(text):
            month = m.group("m").lower()
            if month not in MONTHS or any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            day = m.groupdict().get("d")
            year = m.group("y")
            out.add((int(day) if day else None, month[:3], int(year) if year else None))
    return out


def date_in(
    date: tuple[int | None, str, int | None], pool: set[tuple[int | None, str, int | None]]
) -> bool:
    """``date`` is in ``pool``: every part it gives agrees with one date there."""
    return any(m == date[1] and date[0] in (None, d) and date[2] in (None, y) for d, m, y in pool)


# -- names ------------------------------------------------------------------------------------
_NOT_NAMES = frozenset(
    """i i'm i've the a an this that these those it its in on at for to of by from with as and
    or but if yes no not so however also according based note answer question sure here there
    then thus therefore overall finally first second third firstly secondly additionally
    furthermore moreover in summary""".split()
)


def names(text: str) -> set[str]:
    """Stems of capitalised words (any position, skipping common sentence openers) and codes
    mixing letters and digits (``Q3``, ``INC-2024-031``, ``FY2023``), lower-cased."""
    out: set[str] = set()
    for m in _CAPITAL.finditer(text):
        token = m.group(0).rstrip(".'’-")
        for part in re.split(r"[-.&]", token):
            lw = part.lower()
            if len(lw) < 2 or lw in _NOT_NAMES or lw in STOPWORDS or lw in MONTHS:
                continue
            if not part[:1].isupper() or part.isdigit():
                continue
            out.add(stem(lw))
    for m in _CODE.finditer(text):
        if not _AMOUNT_WORD.fullmatch(m.group(0)):  # "45p", "5m", "1st" are numbers
            out.add(m.group(0).lower())
    return out


def months(text: str) -> set[str]:
    """Month names mentioned, as three-letter keys (``"Sept."`` → ``"sep"``)."""
    return {w.lower()[:3] for w in words(text) if w.lower() in MONTHS and w[:1].isupper()}


# -- sentences --------------------------------------------------------------------------------
def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of ``text``, trimmed of spaces and list bullets.

    A single line break ends a sentence only where the line looks finished (punctuation, a
    short heading line, or a list item next); PDF text breaks lines mid-sentence.

    >>> t = "Rent is due monthly. Notice is\\nthree months.\\nDeposit\\n- Paid: £5"
    >>> [t[a:b] for a, b in sentences(t)]
    ['Rent is due monthly.', 'Notice is\\nthree months.', 'Deposit', 'Paid: £5']
    """
    cuts = [0]
    for m in _SENTENCE_END.finditer(text):
        before = text[max(0, m.start() - 12) : m.start()]
        last = re.findall(r"[\w.]+\.?$", before)
        if last and last[0].rstrip(".").lower() in _ABBREVIATIONS and "\n" not in m.group(0):
            continue
        line = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
        if re.fullmatch(r"\s*\(?\d{1,2}[.)]", line):
            continue  # a list number such as "1." opening a line, not a sentence end
        cuts.append(m.end())
    spans: list[tuple[int, int]] = []
    cuts.append(len(text))
    for a, b in itertools.pairwise(cuts):
        spans.extend(_split_lines(text, a, b))
    return [s for s in (_tidy(text, a, b) for a, b in spans) if s is not None]


def _split_lines(text: str, a: int, b: int) -> list[tuple[int, int]]:
    out = []
    start = a
    pos = text.find("\n", a, b)
    while pos != -1:
        line = text[start:pos].rstrip()
        whole = text[text.rfind("\n", 0, pos) + 1 : pos].strip()  # the line, not a fragment
        nxt = text[pos + 1 : b]
        blank = not nxt.strip() or nxt.lstrip(" \t").startswith("\n")
        next_line = nxt.split("\n", 1)[0].strip()
        heading = (
            (len(whole) <= 40 or (len(next_line) <= 30 and next_line[-1:] not in ".,;"))
            and next_line[:1].isupper()
            and line[-1:] not in ",-"
        )
        finished = (
            not line.strip()
            or line[-1] in ".!?:;|"
            or " | " in whole  # a table row
            or bool(_FIELD.match(next_line))  # "Location: changing area B"
            or heading
            or blank
            or bool(_BULLET.match(nxt))
        )
        if finished:
            out.append((start, pos))
            start = pos + 1
        pos = text.find("\n", pos + 1, b)
    out.append((start, b))
    return out


def _tidy(text: str, a: int, b: int) -> tuple[int, int] | None:
    while a < b and text[a].isspace():
        a += 1
    m = _BULLET.match(text, a, b)
    if m and m.end() < b:
        a = m.end()
    while b > a and text[b - 1].isspace():
        b -= 1
    if not any(ch.isalnum() for ch in text[a:b]):
        return None
    return a, b
