"""The conversation: questions, answers streaming in as Markdown, and notes from the app.

Each answer shows where it was answered (a LOCAL or CLOUD badge and the model), then the text
as it streams; once done, the sentences its sources do not back are listed, marked ✗, the
evidence is quoted under it, then why it went there (the routing reasons).
The log is focusable: up/down select an earlier answer (its sources and evidence show in the
sources pane), as does a click.

Left out: asking (the app's worker feeds ``AnswerEntry``), and the sources themselves.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Label, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from appliance.answers import Answer, Citation
from appliance.evidence import Evidence
from appliance.prompting import Turn
from appliance.safetext import StreamCleaner, clean

WELCOME = (
    "Ask a question about your documents. In OFFLINE mode nothing leaves this machine.\n"
    "/ingest PATH adds documents · F1 shows the keys."
)


NOT_BACKED = "None of this answer is backed by your documents; here is what they say:"


def evidence_content(evidence: list[Evidence]) -> Content:
    """Quotes, one a line: ``“The annual rent is £58,500.” [1] lease.pdf p.2``."""
    parts: list[tuple[str, str] | str] = []
    for e in evidence:
        quote = " ".join(clean(e.text).split())
        quote = quote[:240] + ("…" if len(quote) > 240 else "")
        parts += ["\n" if parts else "", (f"“{quote}”", "italic"), (f" [{e.n}]", "bold $accent")]
        parts.append((f" {clean(e.where)}", "$text-muted"))
    return Content.assemble(*parts)


def snippet(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class QuestionEntry(Static):
    """One question as the user typed it."""

    def __init__(self, question: str) -> None:
        super().__init__(clean(question), markup=False)


class NoteEntry(Static):
    """A message from the app (ingest reports, mode switches, a new conversation)."""

    def __init__(self, text: str, *, error: bool = False) -> None:
        super().__init__(clean(text), markup=False, classes="-error" if error else "")


class AnswerEntry(Vertical):
    """One answer: badge and model, streamed Markdown, routing reasons."""

    class Selected(Message):
        def __init__(self, entry: AnswerEntry) -> None:
            super().__init__()
            self.entry = entry

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question
        self.answer: Answer | None = None
        self.error: str | None = None
        self.cancelled = False
        self._stream: MarkdownStream | None = None
        self._cleaner = StreamCleaner()  # answers may echo escape sequences from documents

    def compose(self) -> ComposeResult:
        with Horizontal(classes="answer-head"):
            yield Label("…", classes="badge")
            yield Label("", classes="model")
            yield Label("thinking…", classes="state")
        yield Markdown("", open_links=False)
        yield Static("", classes="check")
        yield Static("", classes="evidence")
        yield Static("", classes="reasons", markup=False)

    @property
    def citations(self) -> list[Citation]:
        return self.answer.citations if self.answer is not None and self.answer.done else []

    @property
    def running(self) -> bool:
        return self.error is None and (self.answer is None or not self.answer.done)

    def begin(self, answer: Answer) -> None:
        """The route is known: show the badge and start streaming."""
        self.answer = answer
        badge = self.query_one(".badge", Label)
        badge.update("CLOUD" if answer.route == "cloud" else "LOCAL")
        badge.set_class(answer.route == "cloud", "-cloud")
        badge.set_class(answer.route != "cloud", "-local")
        self.query_one(".model", Label).update(Content(clean(answer.model)))
        self.query_one(".state", Label).update("answering…")
        self._stream = Markdown.get_stream(self.query_one(Markdown))

    async def write(self, piece: str) -> None:
        text = self._cleaner.feed(piece)
        if self._stream is not None and text:
            await self._stream.write(text)

    async def finish(self, cancelled: bool = False) -> None:
        """Streaming is over (done or cancelled): show why it went where it went."""
        rest = self._cleaner.flush()
        if self._stream is not None:
            if rest:
                await self._stream.write(rest)
            await self._stream.stop()
            self._stream = None
        answer = self.answer
        if answer is None:
            return
        self.cancelled = cancelled or answer.cancelled
        self.query_one(".state", Label).update("cancelled" if self.cancelled else "")
        if not self.cancelled:
            await self._show_check(answer)
        self.query_one(".reasons", Static).update(clean("why: " + " · ".join(answer.reasons)))

    async def _show_check(self, answer: Answer) -> None:
        """Say which sentences the sources do not back (✗, dimmed), then quote the evidence."""
        claims, evidence = answer.claims, answer.evidence
        unsupported = [c for c in claims if not c.supported]
        check = self.query_one(".check", Static)
        if claims and len(unsupported) == len(claims):
            check.update(Content.styled(NOT_BACKED, "bold $text-warning"))
        elif unsupported:
            lines: list[tuple[str, str] | str] = [
                (f"✗ {len(unsupported)} of {len(claims)} sentences not backed by the sources:",
                 "bold $text-warning"),
            ]  # fmt: skip
            for c in unsupported:
                lines += ["\n", ("✗ ", "$text-warning"), (snippet(clean(c.text)), "dim")]
            check.update(Content.assemble(*lines))
        elif claims:
            check.update(Content.styled("✓ every sentence is backed by its sources", "$success"))
        check.display = bool(claims)
        quotes = self.query_one(".evidence", Static)
        quotes.update(evidence_content(evidence))
        quotes.display = bool(evidence)

    @property
    def evidence(self) -> list[Citation]:
        """The evidence quoted with the answer, as citations of their exact spans."""
        answer = self.answer
        if answer is None or not answer.done or self.cancelled:
            return []
        out = []
        for e in answer.evidence:
            hit = answer.passages[e.n - 1]
            quoted = replace(hit.record, page=e.page, start=e.start, end=e.end, text=e.text)
            out.append(Citation(e.n, quoted, hit.score))
        return out

    async def fail(self, message: str) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.error = message
        self.add_class("-failed")
        self.query_one(".state", Label).update("failed")
        self.query_one(".reasons", Static).update(clean(message))

    def on_click(self) -> None:
        self.post_message(self.Selected(self))


class ChatLog(VerticalScroll, can_focus=True):
    """The scrolling conversation; keeps the newest entry in view while answers stream."""

    class SelectionChanged(Message):
        """Another answer (or none) is now the one whose sources are shown."""

        def __init__(self, entry: AnswerEntry | None) -> None:
            super().__init__()
            self.entry = entry

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "select(-1)", "Earlier answer", show=False),
        Binding("down", "select(1)", "Later answer", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.selected: AnswerEntry | None = None

    def compose(self) -> ComposeResult:
        yield Static(WELCOME, id="welcome", markup=False)

    def on_mount(self) -> None:
        self.anchor()

    async def add_question(self, question: str) -> AnswerEntry:
        """Show a question and an empty answer under it; returns the answer to fill."""
        entry = AnswerEntry(question)
        await self.mount_all([QuestionEntry(question), entry])
        self.scroll_end(animate=False)  # and follow the answer again
        return entry

    async def add_past(self, turn: Turn) -> None:
        """A turn of a reopened conversation: its question, and its answer as a note."""
        route = "CLOUD" if turn.route == "cloud" else "LOCAL"
        await self.mount_all([QuestionEntry(turn.question), NoteEntry(f"{route}: {turn.answer}")])
        self.scroll_end(animate=False)

    async def add_note(self, text: str, *, error: bool = False) -> None:
        await self.mount(NoteEntry(text, error=error))
        self.scroll_end(animate=False)

    @property
    def answers(self) -> list[AnswerEntry]:
        return list(self.query(AnswerEntry))

    def select(self, entry: AnswerEntry | None, *, scroll: bool = False) -> None:
        """Mark ``entry`` as the answer whose sources are shown."""
        for other in self.answers:
            other.set_class(other is entry, "-selected")
        self.selected = entry
        if entry is not None and scroll:
            self.scroll_to_widget(entry, animate=False)
        self.post_message(self.SelectionChanged(entry))

    def action_select(self, step: int) -> None:
        answers = self.answers
        if not answers:
            return
        if self.selected not in answers:
            index = len(answers) - 1
        else:
            assert self.selected is not None
            index = max(0, min(len(answers) - 1, answers.index(self.selected) + step))
        self.release_anchor()
        self.select(answers[index], scroll=True)

    @on(AnswerEntry.Selected)
    def _clicked(self, event: AnswerEntry.Selected) -> None:
        event.stop()
        self.select(event.entry)

    async def clear(self) -> None:
        """Start afresh: remove every entry but the welcome text."""
        await self.query("QuestionEntry, AnswerEntry, NoteEntry").remove()
        self.select(None)
