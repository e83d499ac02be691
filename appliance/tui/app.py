"""The chat app: wires the widgets to the core API (``Assistant``, ``ingest``, ``Store``).

Questions are answered in a worker thread that iterates the streamed ``Answer`` and hands
each piece to the UI thread, so the UI stays responsive; Esc cancels (``answer.cancel()``).
Finished exchanges become the ``history`` of the next question until a new conversation, and
are saved (``appliance.conversations``) with the route each took: ``/chats`` lists saved
conversations, ``/open NAME`` reopens one. A conversation with a sensitive turn stays local
(the router's rule); the status bar and a note say so.
Ingest runs in another worker with a progress bar; afterwards the index is reloaded and the
status bar refreshed. Every core call is wrapped: an ``ApplianceError`` (or any unexpected
exception) becomes an error notification, never a traceback.

Left out on purpose: anything a CLI user could not also do (no logic beyond presentation),
and editing settings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import Worker, WorkerState

from appliance.answers import Answer
from appliance.assistant import Assistant
from appliance.config import Settings
from appliance.conversations import Conversation, Conversations
from appliance.embedding import TextEmbedder
from appliance.errors import ApplianceError
from appliance.ingest import IngestReport, Progress, ingest
from appliance.prompting import Turn
from appliance.safetext import clean
from appliance.store import Store
from appliance.tui.chat_log import AnswerEntry, ChatLog
from appliance.tui.ingest_view import IngestProgress, report_lines
from appliance.tui.passages import surrounding
from appliance.tui.prompt import PromptInput
from appliance.tui.screens import ConfirmScreen, HelpScreen, ModelPicker, PathPrompt
from appliance.tui.sources import PassageScreen, SourcesPane
from appliance.tui.status_bar import StatusBar

log = logging.getLogger("appliance.tui")

LOCAL_ONLY_NOTE = (
    "A turn of this conversation was sensitive, so the whole conversation stays on this "
    "machine, even in HYBRID mode. Start a new one (Ctrl+N) for cloud answers."
)

HYBRID_WARNING = (
    "In HYBRID mode a question may be answered by Anthropic's Claude ({model}) when the "
    "question, the passages found for it and the conversation so far are all judged "
    "non-sensitive: they are then sent over the network. Anything judged sensitive still "
    "stays on this machine, and every routing decision is written to the audit log."
)


def default_model_file(settings: Settings) -> str | None:
    """The GGUF file answers use when none is picked (None when there is none)."""
    from appliance.models import resolve_model

    try:
        return resolve_model(settings.llm.model, settings.models_dir).name
    except ApplianceError:
        return None


class ChatApp(App[None]):
    """``appliance chat``: ask your documents, see sources, ingest, pick model and mode."""

    CSS_PATH = "app.tcss"
    TITLE = "appliance chat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+n", "new_conversation", "New chat"),
        Binding("ctrl+t", "toggle_mode", "Mode"),
        Binding("f2", "pick_model", "Model"),
    ]

    def __init__(
        self, settings: Settings, assistant: Assistant, *, embedder: TextEmbedder | None = None
    ) -> None:
        super().__init__()
        self.settings = settings
        self.assistant = assistant
        self.embedder = embedder
        """Used for ingest; the same one the assistant searches with (None: load the default)."""
        self.history: list[Turn] = []
        self.conversations = Conversations(settings.index_dir)
        self.conversation: Conversation | None = None
        """The conversation being saved; None until its first answer."""
        self.model: str | None = None
        """GGUF file picked in the model picker; None means the configured default."""
        self._entry: AnswerEntry | None = None
        self._answer: Answer | None = None
        self._stop = threading.Event()
        self._ingest_stop: threading.Event | None = None
        self._reload_pending = False

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield ChatLog(id="chat-log")
            yield SourcesPane(id="sources")
        yield IngestProgress(id="ingest")
        yield PromptInput(placeholder="Ask about your documents  (/help for commands)", id="prompt")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        status = self.query_one(StatusBar)
        status.set_mode(self.assistant.mode, local_only=self.local_only)
        status.set_model(self._model_label())
        self.refresh_index()
        self.query_one(PromptInput).focus()

    def on_unmount(self) -> None:
        self._stop.set()
        if self._answer is not None:
            self._answer.cancel()
        if self._ingest_stop is not None:
            self._ingest_stop.set()

    def notify(self, message: str, *, markup: bool = False, **kwargs: Any) -> None:
        """Notifications quote file names, model names and error text: plain, cleaned text."""
        super().notify(clean(message), markup=markup, **kwargs)

    def _model_label(self) -> str:
        name = self.model or default_model_file(self.settings)
        return name.removesuffix(".gguf") if name else "none (no .gguf in models/)"

    def refresh_index(self) -> None:
        """Show the index size in the status bar ("no index yet" before the first ingest)."""
        stats: dict[str, Any] | None
        try:
            with Store.open(self.settings.index_dir) as store:
                stats = store.stats()
        except ApplianceError:
            stats = None
        self.query_one(StatusBar).set_index(stats)

    @property
    def answering(self) -> bool:
        return self._entry is not None

    @property
    def ingesting(self) -> bool:
        return self._ingest_stop is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.answering or self.ingesting
        return True

    def _from_thread(self, callback: Callable[..., Any], *args: Any) -> bool:
        """Run ``callback`` on the UI thread and wait; False when the app has gone away."""
        try:
            self.call_from_thread(callback, *args)
        except (Exception, asyncio.CancelledError, concurrent.futures.CancelledError):
            log.debug("UI call failed (app closing?)", exc_info=True)
            return False
        return True

    # -- the input ---------------------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    async def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        prompt = self.query_one(PromptInput)
        prompt.remember(text)
        prompt.value = ""
        if text.startswith("/"):
            await self.run_command(text)
        else:
            await self.ask(text)

    async def run_command(self, text: str) -> None:
        """``/ingest PATH``, ``/new``, ``/open [NAME]``, ``/chats``, ``/model``,
        ``/mode [offline|hybrid]``, ``/help``."""
        name, _, arg = text.partition(" ")
        arg = arg.strip()
        if name == "/ingest":
            if arg:
                self.start_ingest(arg)
            else:
                self.action_ingest_prompt()
        elif name == "/new":
            await self.action_new_conversation()
        elif name == "/open":
            await self.open_conversation(arg)
        elif name == "/chats":
            await self.list_conversations()
        elif name == "/model":
            self.action_pick_model()
        elif name == "/mode":
            if arg and arg not in ("offline", "hybrid"):
                self.notify("use /mode offline or /mode hybrid", severity="warning")
            elif arg != self.assistant.mode:
                await self.action_toggle_mode()
        elif name in ("/help", "/?"):
            self.action_help()
        elif name in ("/quit", "/exit"):
            self.exit()
        else:
            self.notify(
                f"unknown command {name}: try /ingest PATH, /new, /open, /chats, /model, "
                "/mode, /help",
                severity="warning",
            )

    # -- asking ------------------------------------------------------------------------------
    async def ask(self, question: str) -> None:
        if self.answering:
            self.notify("Still answering: wait, or press Esc to stop it", severity="warning")
            return
        entry = await self.query_one(ChatLog).add_question(question)
        self._entry, self._answer = entry, None
        self._stop = threading.Event()
        self.refresh_bindings()
        self._answer_worker(question, list(self.history), self.model, entry, self._stop)

    @work(thread=True, exit_on_error=False, group="answer")
    def _answer_worker(
        self,
        question: str,
        history: list[Turn],
        model: str | None,
        entry: AnswerEntry,
        stop: threading.Event,
    ) -> None:
        try:
            answer = self.assistant.ask(question, history=history, model=model)
            self._answer = answer
            if stop.is_set():  # Esc came while retrieving or loading the model
                answer.cancel()
            if not self._from_thread(entry.begin, answer):
                answer.cancel()
                return
            for piece in answer:
                if not self._from_thread(entry.write, piece):
                    answer.cancel()
                    return
        except ApplianceError as exc:
            self._from_thread(self._answer_failed, entry, str(exc))
            return
        except Exception as exc:  # a bug must not take the app down
            log.exception("answering failed")
            self._from_thread(
                self._answer_failed, entry, f"unexpected error: {type(exc).__name__}: {exc}"
            )
            return
        # a backend may end quietly on the stop event: Esc counts even if ``cancelled`` is unset
        self._from_thread(self._answer_done, entry, answer, answer.cancelled or stop.is_set())

    async def _answer_done(self, entry: AnswerEntry, answer: Answer, cancelled: bool) -> None:
        await entry.finish(cancelled)
        if not cancelled and answer.text.strip():
            was_local_only = self.local_only
            self.history.append(answer.turn())
            self._save_history()
            if self.local_only and not was_local_only and self.assistant.mode == "hybrid":
                self.query_one(StatusBar).set_mode(self.assistant.mode, local_only=True)
                await self.query_one(ChatLog).add_note(LOCAL_ONLY_NOTE)
        if answer.route == "local" and answer.model != "none":
            self.query_one(StatusBar).set_model(answer.model)
        self._end_answer()
        self.query_one(ChatLog).select(entry)

    @property
    def local_only(self) -> bool:
        """A turn of this conversation was sensitive: the rest of it stays on this machine."""
        return any(t.sensitive for t in self.history)

    def _save_history(self) -> None:
        if self.conversation is None:
            self.conversation = Conversation(self.conversations.fresh_name())
        self.conversation.turns = list(self.history)
        self.conversation.updated = time.time()
        try:
            self.conversations.save(self.conversation)
        except (OSError, ApplianceError) as exc:
            self.notify(f"cannot save the conversation: {exc}", severity="warning")

    async def open_conversation(self, name: str) -> None:
        """``/open NAME``: show a saved conversation and continue it (the latest without NAME)."""
        if self.answering:
            self.notify("Still answering: press Esc to stop it first", severity="warning")
            return
        try:
            if not name:
                recent = self.conversations.recent(1)
                if not recent:
                    self.notify("no saved conversations yet", severity="warning")
                    return
                name = recent[0].name
            conversation = self.conversations.load(name, create=False)
        except ApplianceError as exc:
            self.notify(str(exc), title="Cannot open", severity="error", timeout=10)
            return
        chat = self.query_one(ChatLog)
        await chat.clear()
        self.conversation = conversation
        self.history = list(conversation.turns)
        await chat.add_note(f"Reopened conversation {conversation.name} ({len(self.history)} "
                            "turns; their sources are not kept).")  # fmt: skip
        for turn in self.history:
            await chat.add_past(turn)
        if self.local_only:
            await chat.add_note(LOCAL_ONLY_NOTE)
        self.query_one(StatusBar).set_mode(self.assistant.mode, local_only=self.local_only)
        self.query_one(PromptInput).focus()

    async def list_conversations(self) -> None:
        recent = self.conversations.recent(10)
        if not recent:
            await self.query_one(ChatLog).add_note("No saved conversations yet.")
            return
        lines = ["Saved conversations (/open NAME):"]
        for c in recent:
            flag = " · local only" if c.local_only else ""
            lines.append(f"  {c.name}  {c.turns} turns{flag}  {c.first_question[:50]}")
        await self.query_one(ChatLog).add_note("\n".join(lines))

    async def _answer_failed(self, entry: AnswerEntry, message: str) -> None:
        await entry.fail(message)
        self.notify(message, title="Could not answer", severity="error", timeout=10)
        self._end_answer()
        self.query_one(ChatLog).select(entry)

    def _end_answer(self) -> None:
        self._entry = self._answer = None
        self.refresh_bindings()
        if self._reload_pending:
            self._reload_pending = False
            self.assistant.reload_index()

    def action_stop(self) -> None:
        """Esc: stop the answer being written (keeping its text so far), else the ingest."""
        if self.answering:
            self._stop.set()
            if self._answer is not None:
                self._answer.cancel()
        elif self._ingest_stop is not None:
            self._ingest_stop.set()
            self.notify("Stopping the ingest after the current file…")

    @on(ChatLog.SelectionChanged)
    def _show_sources(self, event: ChatLog.SelectionChanged) -> None:
        pane = self.query_one(SourcesPane)
        entry = event.entry
        if entry is None:
            pane.show([])
        elif entry.error is not None:
            pane.show([], "This answer failed: nothing to cite.")
        elif entry.running:
            pane.show([], "Sources show when the answer is done.")
        else:
            pane.show(entry.citations, "No passage was relevant: nothing to cite.", entry.evidence)

    @on(SourcesPane.Open)
    def _open_passage(self, event: SourcesPane.Open) -> None:
        try:
            passage = surrounding(self.settings.index_dir, event.citation)
        except Exception as exc:
            log.exception("reading the passage failed")
            self.notify(f"cannot show the passage: {exc}", severity="error")
            return
        self.push_screen(PassageScreen(passage))

    async def action_new_conversation(self) -> None:
        if self.answering:
            self.notify("Still answering: press Esc to stop it first", severity="warning")
            return
        self.history.clear()
        self.conversation = None
        self.query_one(StatusBar).set_mode(self.assistant.mode)
        chat = self.query_one(ChatLog)
        await chat.clear()
        await chat.add_note("New conversation: earlier questions are forgotten.")
        self.query_one(PromptInput).focus()

    # -- mode --------------------------------------------------------------------------------
    async def action_toggle_mode(self) -> None:
        if self.assistant.mode == "hybrid":
            await self._set_mode("offline")
            return
        why_not = self.assistant.hybrid_unavailable()
        if why_not is not None:
            self.notify(why_not, title="Hybrid mode unavailable", severity="error", timeout=10)
            return
        warning = HYBRID_WARNING.format(model=self.settings.privacy.claude_model)
        screen = ConfirmScreen(
            "Switch to HYBRID mode?", warning, yes="Switch to hybrid", no="Stay offline"
        )

        async def confirmed(yes: bool | None) -> None:
            if yes:
                await self._set_mode("hybrid")

        self.push_screen(screen, confirmed)

    async def _set_mode(self, mode: str) -> None:
        try:
            self.assistant.set_mode(mode)
        except ApplianceError as exc:
            self.notify(str(exc), title="Mode unchanged", severity="error", timeout=10)
            return
        finally:
            self.query_one(StatusBar).set_mode(self.assistant.mode, local_only=self.local_only)
        note = (
            "HYBRID mode: non-sensitive questions may be answered by Claude."
            if mode == "hybrid"
            else "OFFLINE mode: everything is answered on this machine."
        )
        await self.query_one(ChatLog).add_note(note)
        if mode == "hybrid" and self.local_only:
            await self.query_one(ChatLog).add_note(LOCAL_ONLY_NOTE)

    # -- model -------------------------------------------------------------------------------
    def action_pick_model(self) -> None:
        from appliance.models import list_models

        try:
            models = list_models(self.settings.models_dir)
        except OSError as exc:
            self.notify(f"cannot list {self.settings.models_dir}: {exc}", severity="error")
            return
        current = self.model or default_model_file(self.settings)
        picker = ModelPicker(models, current, str(self.settings.models_dir))
        self.push_screen(picker, self._model_chosen)

    def _model_chosen(self, name: str | None) -> None:
        if name is None:
            return
        # the configured default keeps model=None, so the already loaded backend is reused
        self.model = None if name == default_model_file(self.settings) else name
        self.query_one(StatusBar).set_model(self._model_label())
        self.notify(f"Next answers use {name.removesuffix('.gguf')}")

    # -- ingest ------------------------------------------------------------------------------
    def action_ingest_prompt(self) -> None:
        def chosen(path: str | None) -> None:
            if path:
                self.start_ingest(path)

        self.push_screen(PathPrompt(), chosen)

    def start_ingest(self, target: str) -> None:
        if self.ingesting:
            self.notify("An ingest is already running", severity="warning")
            return
        path = Path(target).expanduser()
        if not path.exists():
            self.notify(f"no such file or folder: {target}", severity="error")
            return
        self._ingest_stop = stop = threading.Event()
        bar = self.query_one(IngestProgress)
        bar.start(target)
        self.refresh_bindings()
        self._ingest_worker(path, target, bar, stop)

    @work(thread=True, exit_on_error=False, group="ingest")
    def _ingest_worker(
        self, path: Path, target: str, bar: IngestProgress, stop: threading.Event
    ) -> None:
        def progress(event: Progress) -> None:
            self._from_thread(bar.update_from, event)

        try:
            report = ingest(
                [path], self.settings, progress=progress, cancel=stop, embedder=self.embedder
            )
        except ApplianceError as exc:
            self._from_thread(self._ingest_failed, target, str(exc))
            return
        except Exception as exc:
            log.exception("ingest failed")
            self._from_thread(
                self._ingest_failed, target, f"unexpected error: {type(exc).__name__}: {exc}"
            )
            return
        self._from_thread(self._ingest_done, target, report, stop.is_set())

    async def _ingest_done(self, target: str, report: IngestReport, stopped: bool) -> None:
        self._end_ingest()
        lines = report_lines(target, report)
        if stopped:
            lines.append("Stopped: the files finished so far are in the index.")
        await self.query_one(ChatLog).add_note("\n".join(lines), error=bool(report.failed))
        if self.answering:
            self._reload_pending = True
        else:
            self.assistant.reload_index()
        self.refresh_index()
        if report.failed:
            self.notify(
                f"{len(report.failed)} file(s) could not be ingested: see the conversation",
                severity="warning",
            )
        else:
            self.notify(f"Ingested {target}")

    async def _ingest_failed(self, target: str, message: str) -> None:
        self._end_ingest()
        await self.query_one(ChatLog).add_note(f"Ingest of {target} failed: {message}", error=True)
        self.notify(message, title="Ingest failed", severity="error", timeout=10)
        self.refresh_index()

    def _end_ingest(self) -> None:
        self._ingest_stop = None
        self.query_one(IngestProgress).stop()
        self.refresh_bindings()

    # -- other actions -----------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Ingest a file or folder…", "Add documents to the index", self.action_ingest_prompt
        )
        yield SystemCommand(
            "Switch offline / hybrid mode",
            "Hybrid may send non-sensitive questions to Claude (asks first)",
            self.action_toggle_mode,
        )
        yield SystemCommand("Choose the local model…", "GGUF files in models/",
                            self.action_pick_model)  # fmt: skip
        yield SystemCommand(
            "New conversation", "Forget the earlier turns", self.action_new_conversation
        )
        yield SystemCommand("Help", "Keys and commands", self.action_help)
        yield from super().get_system_commands(screen)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # the workers catch their own errors; this is the last line of defence
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            self.notify(f"unexpected error: {type(err).__name__}: {err}", severity="error")
