"""The sources pane (citations of the selected answer) and the passage view.

The pane lists each citation with its file, page, retrieval score and the start of its text,
then the evidence sentences quoted with the answer; choosing one (Enter or a click) opens
``PassageScreen``: the cited span (or quoted sentence) highlighted between the text around it,
as rebuilt from the index by ``appliance.tui.passages``. A passage read from a scan says so
with the page's OCR confidence (in the list and in the passage view), so that its quoted words
are taken with the recognition errors they may hold; text-layer passages show nothing extra.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from appliance.answers import Citation
from appliance.safetext import clean, name
from appliance.tui.passages import Passage

NO_SOURCES = "Sources of the selected answer show here."


def snippet(text: str, limit: int = 90) -> str:
    """One line of ``text``: ``snippet("a\\n b  c", 4)`` → ``"a b…"``."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def ocr_note(c: Citation) -> str | None:
    """``"read by OCR · confidence 0.87"`` for a passage read from a scan, None otherwise."""
    ocr = c.record.ocr
    return None if ocr is None else f"read by OCR · confidence {ocr:.2f}"


def citation_prompt(c: Citation) -> Content:
    """``[1] contracts/lease.pdf`` / ``page 2 · score 0.031`` / the start of the text (with
    ``· OCR 0.87`` after the score when the passage was read from a scan)."""
    page = f"page {c.page} · " if c.page is not None else ""
    scanned = f" · OCR {c.record.ocr:.2f}" if c.record.ocr is not None else ""
    return Content.assemble(
        (f"[{c.n}] ", "bold $accent"),
        (name(c.file), "bold"),
        (f"\n{page}score {c.score:.3f}{scanned}\n", "$text-muted"),
        (snippet(clean(c.text), 120), "italic"),
    )


def evidence_prompt(c: Citation) -> Content:
    """``quote [1] contracts/lease.pdf p.2`` / the quoted sentence."""
    return Content.assemble(
        ("quote ", "bold $success"),
        (f"[{c.n}] ", "bold $accent"),
        (name(c.where), "bold"),
        "\n",
        (f"“{snippet(clean(c.text), 160)}”", "italic"),
    )


class SourcesPane(Vertical):
    """Citations of one answer; Enter on one opens the passage in context."""

    class Open(Message):
        """The user wants to read ``citation`` in its surrounding text."""

        def __init__(self, citation: Citation) -> None:
            super().__init__()
            self.citation = citation

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.citations: list[Citation] = []
        self.evidence: list[Citation] = []

    def compose(self) -> ComposeResult:
        yield Label("Sources", id="sources-title")
        yield Static(NO_SOURCES, id="no-sources")
        yield OptionList(id="source-list")

    def on_mount(self) -> None:
        self.query_one(OptionList).display = False

    def show(
        self,
        citations: list[Citation],
        note: str | None = None,
        evidence: Sequence[Citation] = (),
    ) -> None:
        """List ``citations``, then the ``evidence`` quoted with the answer (each opens with
        its sentence highlighted); with no citations, ``note`` (or the default hint) instead."""
        self.citations = list(citations)
        self.evidence = list(evidence) if citations else []
        options = self.query_one(OptionList)
        options.clear_options()
        items: list[Option | None] = []
        for i, c in enumerate(citations):
            items += [None] if items else []  # a separator line between citations
            items.append(Option(citation_prompt(c), id=str(i)))
        for i, c in enumerate(self.evidence):
            items += [None] if items else []
            items.append(Option(evidence_prompt(c), id=f"e{i}"))
        options.add_options(items)
        options.display = bool(citations)
        if citations:
            options.highlighted = 0
        empty = self.query_one("#no-sources", Static)
        empty.update(note or NO_SOURCES)
        empty.display = not citations
        self.query_one("#sources-title", Label).update(
            f"Sources ({len(citations)})" if citations else "Sources"
        )

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        key = event.option.id
        if key is not None and key.startswith("e"):
            self.post_message(self.Open(self.evidence[int(key[1:])]))
        elif key is not None:
            self.post_message(self.Open(self.citations[int(key)]))


class PassageScreen(ModalScreen[None]):
    """A cited passage, highlighted, with the text before and after it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, passage: Passage) -> None:
        super().__init__()
        self.passage = passage

    def compose(self) -> ComposeResult:
        p = self.passage
        c = p.citation
        page = f", page {c.page}" if c.page is not None else ""
        with Vertical(id="passage-box", classes="modal-box"):
            yield Label(
                f"[{c.n}] {name(c.file)}{page} · score {c.score:.3f}",
                classes="modal-title",
                markup=False,
            )
            note = ocr_note(c)
            if note is not None:
                yield Label(
                    f"{note} · the words may hold recognition errors",
                    id="ocr-note",
                    classes="modal-hint",
                    markup=False,
                )
            with VerticalScroll(id="passage-text"):
                if clean(p.before).strip():
                    before = ("…" if p.more_before else "") + clean(p.before).strip()
                    yield Static(before, classes="context", markup=False)
                yield Static(clean(p.cited).strip(), id="cited", markup=False)
                if clean(p.after).strip():
                    after = clean(p.after).strip() + ("…" if p.more_after else "")
                    yield Static(after, classes="context", markup=False)
            if not p.complete:
                yield Label(
                    "The file has changed since (or the index is gone): only the cited text "
                    "is shown.",
                    classes="modal-hint",
                )
            yield Label("Esc closes", classes="modal-hint")

    def on_mount(self) -> None:
        scroller = self.query_one("#passage-text", VerticalScroll)
        cited = self.query_one("#cited")
        self.call_after_refresh(lambda: scroller.scroll_to_center(cited, animate=False))
