"""Text from documents, file names, models and the index, made safe to show on a terminal.

A document (or a model repeating one) can carry terminal control sequences: ``ESC]0;…BEL``
retitles the window, ``ESC[31m`` recolours everything after it, ``ESC[2J`` clears the screen,
a carriage return or backspace overwrites what was printed, and the one-byte C1 forms (U+009B
is CSI) do the same on many terminals. Everything the CLI and the chat app print that did not
come from the appliance itself goes through this module first:

- ``clean`` for text (answers, passages, reasons, error details): whole escape sequences are
  removed, then every remaining C0/C1 control character except newline and tab.
- ``StreamCleaner`` for text that arrives in pieces (a streamed answer): a sequence split
  across two pieces is held back until it is complete, so its tail never shows as text.
- ``name`` for file names and paths: control characters, line breaks and Unicode bidi
  controls (U+202E can make ``invoice\\u202efdp.exe`` look like ``invoiceexe.pdf``) become
  visible escapes, so the user sees the name as it really is.

Left out: rich markup (``[bold]``) is not touched here; the printers escape it with
``rich.markup.escape`` or print plain ``Text``/``Content``. JSON output is data, not display:
``json.dumps`` already writes control characters as ``\\u001b``, so it is never cleaned.

>>> clean("\\x1b]0;pwned\\x07rent is \\x1b[31mdue\\x1b[0m\\x9b2J monthly\\r\\n")
'rent is due monthly\\n'
"""

from __future__ import annotations

import re

__all__ = ["StreamCleaner", "clean", "name"]

_STRING_BODY = 4096
"""Longest OSC/DCS body treated as one sequence (an OSC 8 hyperlink carries a URL)."""

_SEQUENCE = re.compile(
    # CSI: colours, cursor moves, erasing (ESC [ or the one-byte U+009B)
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    # OSC, DCS, SOS, PM, APC strings (window titles, hyperlinks), ended by BEL, ESC \ or ST
    rf"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]{{0,{_STRING_BODY}}}"
    r"(?:\x07|\x1b\\|\x9c)"
    # two-character escapes (ESC c resets the terminal, ESC ( B picks a character set)
    r"|\x1b[ -/]*[0-~]"
)
_PARTIAL = re.compile(
    r"(?:\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b\x9c]*\x1b?|[ -/]*)"
    r"|\x9b[0-?]*[ -/]*"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*\x1b?)\Z"
)
"""A sequence begun at the end of a piece that the next piece may complete."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 (but newline and tab), DEL and C1."""

_NAME_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]"
)
"""In a name even newline and tab mislead, as do bidi controls and line separators."""


def clean(text: str) -> str:
    """``text`` without escape sequences and control characters (newline and tab stay).

    >>> clean("a\\tb\\x08\\x08c\\rd\\x1bce")
    'a\\tbcde'
    """
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def name(text: str) -> str:
    """A file name or path for display: anything invisible or misleading becomes an escape.

    >>> name("invoice\\u202efdp.exe"), name("a\\x1b[31m\\nb.txt")
    ('invoice\\\\u202efdp.exe', 'a\\\\x1b[31m\\\\nb.txt')
    """
    return _NAME_UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class StreamCleaner:
    """``clean`` for text arriving in pieces; call ``flush`` after the last one.

    >>> s = StreamCleaner()
    >>> [s.feed("red \\x1b[3"), s.feed("1mtext \\x1b]0;ti"), s.feed("tle\\x07done"), s.flush()]
    ['red ', 'text ', 'done', '']
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """The cleaned text that can be shown now (possibly empty)."""
        text, self._held = self._held + piece, ""
        partial = _PARTIAL.search(text)
        if partial is not None and len(text) - partial.start() <= _STRING_BODY:
            text, self._held = text[: partial.start()], text[partial.start() :]
        return clean(text)

    def flush(self) -> str:
        """Whatever was held back (an unfinished sequence is dropped, its text kept clean)."""
        held, self._held = self._held, ""
        return clean(held)
