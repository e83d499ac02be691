"""HTML: the readable text of a page, with block elements on their own lines.

Decoding follows the BOM, then the ``<meta charset>`` (or ``http-equiv`` content type) in the
first bytes, then strict UTF-8, then charset-normalizer's guess (noted). BeautifulSoup with
lxml parses the whole document; script, style, noscript, template, svg and the ``<head>`` are
dropped; headings, paragraphs, lists and the like are separated by blank lines, list items,
table rows and ``<br>`` by newlines, table cells by " | "; runs of whitespace collapse to one
space (``<pre>`` keeps its lines). The text is yielded in sections of about 1 MiB.

Left out: links' targets, images' alt text, CSS visibility (hidden elements are kept), and
files over ``MAX_HTML_BYTES`` (the parse tree would not fit comfortably in memory).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.loaders.base import LoadError, Section
from appliance.loaders.text import detect_encoding, known_format, looks_like_text, split_text

MAX_HTML_BYTES = 32 << 20
"""BeautifulSoup parses about 1 MB/s here and its tree takes ~10x the file's size."""

_DROP = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe", "object"})
# Elements that start a new paragraph (blank line) or a new line.
_PARAGRAPH = frozenset(
    {"address", "article", "aside", "blockquote", "body", "dd", "div", "dl", "fieldset"}
    | {"figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main"}
    | {"nav", "ol", "p", "pre", "section", "table", "ul"}
)
_LINE = frozenset(["br", "caption", "dt", "figcaption", "li", "option", "tr"])
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_SPACE = re.compile(r"\s+")


def _encoding(raw: bytes, notes: list[str]) -> tuple[str, str]:
    """``(codec, errors)`` from the BOM, a meta charset, UTF-8, or charset-normalizer."""
    if not raw.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        match = _META_CHARSET.search(raw[:4096])
        if match:
            label = match.group(1).decode("ascii")
            try:
                name = codecs.lookup(label).name
            except LookupError:
                notes.append(f"unknown charset {label!r} ignored")
            else:
                # Pages labelled latin-1 are nearly always cp1252 (browsers read them so).
                return ("cp1252" if name == "iso8859-1" else name), "strict"
    return detect_encoding(raw[: 64 << 10], notes)


Event = tuple[str, str] | tuple[str, int]


def _follows_cell(cell: Any) -> bool:
    """True when a td/th comes after another cell of its row."""
    from bs4.element import PreformattedString

    for sibling in cell.previous_siblings:
        if isinstance(sibling, str) and (
            isinstance(sibling, PreformattedString) or sibling.isspace()
        ):
            continue  # comments and whitespace between cells
        return getattr(sibling, "name", None) in ("td", "th")
    return False


def _events(root: object) -> Iterator[Event]:
    """``("text", s)``, ``("pre", s)`` and ``("break", 1 | 2)`` in document order."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    stack: list[object] = [root]
    while stack:  # iterative: deeply nested pages must not hit the recursion limit
        item = stack.pop()
        if isinstance(item, int):  # a closing tag's break, pushed below
            yield ("break", item)
        elif isinstance(item, NavigableString):
            if not isinstance(item, PreformattedString):  # comments, doctype, CDATA
                yield ("text", str(item))
        elif isinstance(item, Tag) and item.name not in _DROP:
            if item.name == "pre":
                yield ("pre", item.get_text().strip("\n").rstrip())
                continue
            if item.name in ("td", "th") and _follows_cell(item):
                yield ("text", " | ")
            level = 2 if item.name in _PARAGRAPH else 1 if item.name in _LINE else 0
            if level:
                yield ("break", level)
                stack.append(level)
            stack.extend(reversed(item.contents))


def html_to_text(html: str) -> str:
    """Readable text of an HTML document: ``"<p>a <b>b</b></p><p>c</p>"`` → ``"a b\\n\\nc"``."""
    from bs4 import BeautifulSoup

    out: list[str] = []
    words: list[str] = []
    gap = 0  # the strongest break asked for since the last line written

    def emit(line: str) -> None:
        nonlocal gap
        if line:
            if out:
                out.append("\n" * max(gap, 1))
            out.append(line)
            gap = 0

    for kind, value in _events(BeautifulSoup(html, "lxml")):
        if kind == "text":
            words.append(str(value))
            continue
        emit(_SPACE.sub(" ", "".join(words)).strip())
        words.clear()
        if kind == "pre":
            gap = 2
            emit(str(value))
            gap = 2
        else:
            gap = max(gap, int(value))
    emit(_SPACE.sub(" ", "".join(words)).strip())
    return "".join(out)


class HtmlLoader:
    """HTML documents as readable text; kind ``html``."""

    kind = "html"
    suffixes: tuple[str, ...] = (".html", ".htm")

    def sniff(self, head: bytes) -> bool:
        return known_format(head) is None and looks_like_text(head)

    def load(self, path: Path, notes: list[str]) -> Iterator[Section]:
        try:
            size = path.stat().st_size
            if size > MAX_HTML_BYTES:
                raise LoadError(
                    f"HTML too large to parse ({size >> 20} MB > {MAX_HTML_BYTES >> 20} MB)"
                )
            raw = path.read_bytes()
        except PermissionError as e:
            raise LoadError("cannot read: permission denied") from e
        except OSError as e:
            raise LoadError(f"cannot read: {e.strerror or e}") from e
        encoding, errors = _encoding(raw, notes)
        try:
            decoded = raw.decode(encoding, errors)
        except UnicodeDecodeError:
            notes.append(f"invalid {encoding} bytes replaced")
            decoded = raw.decode(encoding, "replace")
        del raw
        text = html_to_text(decoded)
        if not text.strip():
            raise LoadError("no text in HTML")
        yield from split_text([text])
