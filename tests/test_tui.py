"""Pilot tests for ``appliance chat``: the real app driven by key presses, on the real core
(retrieval, routing, ingest) with a fake embedder and fake backends; one slow test runs the
real bundled models end to end.

The helpers here (``indexed``, ``make_app``, ``SlowBackend``) are also used by the snapshot
tests.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Markdown, OptionList, Static

from appliance.answers import Citation
from appliance.assistant import Assistant
from appliance.backends.base import Message
from appliance.backends.fake import FakeBackend, FakeRemoteBackend
from appliance.config import Settings, load_settings
from appliance.errors import ModelError
from appliance.ingest import ingest
from appliance.store import ChunkRecord
from appliance.tui import ChatApp, build_app
from appliance.tui.chat_log import AnswerEntry, ChatLog, NoteEntry
from appliance.tui.ingest_view import IngestProgress
from appliance.tui.passages import stitch, surrounding
from appliance.tui.prompt import PromptInput
from appliance.tui.screens import ConfirmScreen, HelpScreen, ModelPicker, PathPrompt
from appliance.tui.sources import PassageScreen, SourcesPane
from appliance.tui.status_bar import StatusBar
from tests.conftest import ROOT, SAMPLES, FakeEmbedder

BUNDLED = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
REPLY = "The notice period is **three months**, given in writing [1]."
QUESTION = "What is the notice period in the lease?"


# -- helpers --------------------------------------------------------------------------------
def tui_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings on a tmp index; relevance threshold off (the fake embedder scores low)."""
    overrides.setdefault("models_dir", ROOT / "models")
    return load_settings(
        index_dir=tmp_path / "index",
        ingest={"chunk_tokens": 60, "chunk_overlap": 10, "batch_size": 8},
        retrieval={"min_score": 0.0},
        **overrides,
    )


def indexed(tmp_path: Path, docs: Path = SAMPLES, **overrides: Any) -> Settings:
    settings = tui_settings(tmp_path, **overrides)
    ingest([docs], settings, embedder=FakeEmbedder())
    return settings


def make_app(
    settings: Settings,
    backend: FakeBackend | None = None,
    cloud: FakeBackend | None = None,
) -> ChatApp:
    """The app as the CLI builds it, with a fake embedder and fake backends."""
    embedder = FakeEmbedder()
    assistant = Assistant(
        settings,
        embedder=embedder,
        local_backend=backend if backend is not None else FakeBackend([REPLY]),
        cloud_backend=(lambda: cloud) if cloud is not None else None,
        audit=False,
    )
    return build_app(settings, assistant, embedder=embedder)


class SlowBackend(FakeBackend):
    """Yields the first word, then waits (at most 10 s) for the stop event before the rest."""

    def __init__(self, reply: str) -> None:
        super().__init__([reply])
        self.waiting = threading.Event()
        self.stopped = threading.Event()

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        pieces = super().stream(messages, max_tokens=max_tokens, temperature=temperature)

        def slow() -> Iterator[str]:
            yield next(pieces)
            self.waiting.set()
            if stop is not None and stop.wait(10):
                self.stopped.set()
                return
            yield from pieces

        return slow()


def notifications(app: ChatApp) -> list[tuple[str, str]]:
    """(message, severity) of every notification shown so far."""
    return [(n.message, n.severity) for n in app._notifications]


async def type_and_submit(pilot: Pilot[None], text: str) -> None:
    pilot.app.query_one(PromptInput).value = text
    await pilot.press("enter")


async def ask(pilot: Pilot[None], question: str = QUESTION) -> AnswerEntry:
    """Ask and wait for the answer to finish; returns its entry."""
    await type_and_submit(pilot, question)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return pilot.app.query(AnswerEntry).last()


async def until(pilot: Pilot[None], condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def markdown_text(entry: AnswerEntry) -> str:
    return entry.query_one(Markdown).source


def label_text(widget: Static) -> str:
    return str(widget.content)


def notes(app: ChatApp) -> list[NoteEntry]:
    return list(app.query(NoteEntry))


# -- asking ---------------------------------------------------------------------------------
async def test_answer_streams_with_route_and_sources(tmp_path: Path) -> None:
    backend = FakeBackend([REPLY])
    app = make_app(indexed(tmp_path), backend)
    async with app.run_test(size=(80, 24)) as pilot:
        entry = await ask(pilot)
        assert markdown_text(entry) == REPLY
        assert label_text(entry.query_one(".badge", Static)) == "LOCAL"
        assert label_text(entry.query_one(".model", Static)) == "fake"
        assert "offline mode" in label_text(entry.query_one(".reasons", Static))
        assert entry.answer is not None and entry.answer.route == "local"
        # the answer cites [1]: the sources pane lists exactly that citation
        pane = app.query_one(SourcesPane)
        assert [c.n for c in pane.citations] == [1]
        assert pane.citations == entry.citations == entry.answer.citations
        # and, after it, the evidence quoted with the answer
        assert pane.evidence == entry.evidence and entry.evidence
        assert pane.query_one(OptionList).option_count == 1 + len(entry.evidence)
        assert app.query_one(ChatLog).selected is entry
        # the question went to the backend with the retrieved passages
        assert QUESTION in backend.last_messages[-1].content
        assert "Passages:" in backend.last_messages[-1].content
        assert app.query_one(StatusBar).query_one("#status-model", Static).content == "model fake"


async def test_follow_up_sends_history_and_new_conversation_forgets(tmp_path: Path) -> None:
    backend = FakeBackend([REPLY, "It ends in 2034 [1].", "Fresh."])
    app = make_app(indexed(tmp_path), backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot)
        await ask(pilot, "And when does the lease end?")
        roles = [m.role for m in backend.calls[1].messages]
        assert roles == ["system", "user", "assistant", "user"]
        assert backend.calls[1].messages[1].content == QUESTION
        assert backend.calls[1].messages[2].content == REPLY
        assert len(app.history) == 2

        await type_and_submit(pilot, "/new")
        await pilot.pause()
        assert app.history == []
        assert not app.query(AnswerEntry)
        assert "New conversation" in label_text(notes(app)[-1])
        await ask(pilot, "Who is the landlord?")
        assert [m.role for m in backend.calls[2].messages] == ["system", "user"]

        await pilot.press("ctrl+n")  # the key does the same
        await pilot.pause()
        assert app.history == []


async def test_escape_cancels_a_running_answer(tmp_path: Path) -> None:
    backend = SlowBackend("Partial answer that never finishes.")
    app = make_app(indexed(tmp_path), backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_submit(pilot, QUESTION)
        await until(pilot, backend.waiting.is_set)
        entry = app.query(AnswerEntry).last()
        await until(pilot, lambda: markdown_text(entry).strip() == "Partial")
        assert app.answering
        # the UI stays responsive while the worker streams
        await pilot.press(*"next")
        assert app.query_one(PromptInput).value == "next"
        await type_and_submit(pilot, "another question")
        assert any("Still answering" in m for m, _ in notifications(app))

        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.answering and backend.stopped.is_set()
        assert entry.cancelled and entry.answer is not None and entry.answer.done
        assert markdown_text(entry).strip() == "Partial"
        assert label_text(entry.query_one(".state", Static)) == "cancelled"
        assert app.history == []  # a cut-off answer is not carried into the conversation


async def test_select_earlier_answer_shows_its_sources(tmp_path: Path) -> None:
    backend = FakeBackend([REPLY, "Visitors sign in at reception [1]."])
    app = make_app(indexed(tmp_path), backend)
    async with app.run_test(size=(80, 24)) as pilot:
        first = await ask(pilot)
        second = await ask(pilot, "Where do visitors sign in?")
        pane = app.query_one(SourcesPane)
        assert pane.citations == second.citations
        app.query_one(ChatLog).focus()
        await pilot.press("up")
        assert app.query_one(ChatLog).selected is first
        assert pane.citations == first.citations
        assert first.has_class("-selected") and not second.has_class("-selected")
        await pilot.press("down")
        assert pane.citations == second.citations


async def test_source_opens_passage_in_context(tmp_path: Path) -> None:
    app = make_app(indexed(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        entry = await ask(pilot)
        cited = entry.citations[0]
        app.query_one("#source-list", OptionList).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PassageScreen)
        assert app.screen.passage.complete
        assert label_text(app.screen.query_one("#cited", Static)) == cited.text.strip()
        assert app.screen.query(".context")  # surrounding text is shown too
        await pilot.press("escape")
        assert not isinstance(app.screen, PassageScreen)


async def test_nothing_relevant_says_so_without_sources(tmp_path: Path) -> None:
    settings = indexed(tmp_path)
    settings.retrieval.min_score = 1.0  # nothing is close enough
    backend = FakeBackend(["never used"])
    app = make_app(settings, backend)
    async with app.run_test(size=(80, 24)) as pilot:
        entry = await ask(pilot)
        assert "could not find" in markdown_text(entry)
        assert not backend.calls
        assert "no relevant passages" in label_text(entry.query_one(".reasons", Static))
        pane = app.query_one(SourcesPane)
        assert pane.citations == []
        assert "nothing to cite" in label_text(pane.query_one("#no-sources", Static))


def test_build_app_makes_its_own_assistant(tmp_path: Path) -> None:
    app = build_app(tui_settings(tmp_path))  # as `appliance chat` does; nothing loads yet
    assert isinstance(app, ChatApp) and isinstance(app.assistant, Assistant)
    assert app.assistant.mode == "offline"
    with pytest.raises(TypeError):
        build_app(tui_settings(tmp_path), assistant="not one")  # type: ignore[arg-type]


# -- errors ---------------------------------------------------------------------------------
async def test_no_index_yet_is_a_message_not_a_crash(tmp_path: Path) -> None:
    app = make_app(tui_settings(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.query_one(StatusBar)
        assert label_text(status.query_one("#status-index", Static)) == "index no index yet"
        entry = await ask(pilot)
        assert entry.error is not None and "no index" in entry.error
        assert entry.has_class("-failed")
        assert any("no index" in m and sev == "error" for m, sev in notifications(app))
        assert not app.answering
        await pilot.press(*"still works")
        assert app.query_one(PromptInput).value == "still works"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (ModelError("the model file is missing"), "the model file is missing"),
        (RuntimeError("boom"), "unexpected error: RuntimeError: boom"),
    ],
)
async def test_backend_errors_become_notifications(
    tmp_path: Path, error: Exception, shown: str
) -> None:
    backend = FakeBackend(["unused"])
    backend.error = error
    app = make_app(indexed(tmp_path), backend)
    async with app.run_test(size=(80, 24)) as pilot:
        entry = await ask(pilot)
        assert entry.error == shown
        assert (shown, "error") in notifications(app)
        assert app.is_running and not app.answering
        assert "could not" not in markdown_text(entry)
        backend.queue("Works again.")
        entry = await ask(pilot)
        assert markdown_text(entry) == "Works again."


async def test_unknown_command_is_a_warning(tmp_path: Path) -> None:
    app = make_app(tui_settings(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_submit(pilot, "/frobnicate")
        await pilot.pause()
        assert any(m.startswith("unknown command /frobnicate") for m, _ in notifications(app))


# -- mode -----------------------------------------------------------------------------------
async def test_hybrid_without_key_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    app = make_app(tui_settings(tmp_path), cloud=FakeRemoteBackend(["cloud"]))
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.query_one(StatusBar)
        assert status.mode_text == "OFFLINE"
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("ANTHROPIC_API_KEY" in m and s == "error" for m, s in notifications(app))
        assert app.assistant.mode == "offline"
        assert status.mode_text == "OFFLINE"


async def test_hybrid_with_key_asks_then_routes_to_cloud(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kitchen.md").write_text(
        "# Kitchen\n\nThe kettle is by the window. Tea bags are in the top drawer.\n"
    )
    cloud = FakeRemoteBackend(["Tea bags are in the top drawer [1]."], name="claude-fake")
    app = make_app(indexed(tmp_path, docs), cloud=cloud)
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.query_one(StatusBar)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # changing one's mind keeps it offline
        await pilot.pause()
        assert app.assistant.mode == "offline" and status.mode_text == "OFFLINE"

        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.click("#yes")
        await pilot.pause()
        assert app.assistant.mode == "hybrid"
        assert status.mode_text == "HYBRID"
        assert status.query_one("#status-mode").has_class("-hybrid")

        entry = await ask(pilot, "Where are the tea bags?")
        assert entry.answer is not None and entry.answer.route == "cloud"
        assert label_text(entry.query_one(".badge", Static)) == "CLOUD"
        assert label_text(entry.query_one(".model", Static)) == "claude-fake"
        assert "nothing sensitive found" in label_text(entry.query_one(".reasons", Static))
        assert cloud.calls

        await pilot.press("ctrl+t")  # back to offline needs no confirmation
        await pilot.pause()
        assert app.assistant.mode == "offline" and status.mode_text == "OFFLINE"


# -- ingest ---------------------------------------------------------------------------------
async def test_ingest_command_shows_progress_then_counts(tmp_path: Path, monkeypatch: Any) -> None:
    seen: list[str] = []
    original = IngestProgress.update_from

    def spy(self: IngestProgress, event: Any) -> None:
        seen.append(event.kind)
        original(self, event)

    monkeypatch.setattr(IngestProgress, "update_from", spy)
    app = make_app(tui_settings(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        index_label = app.query_one("#status-index", Static)
        assert label_text(index_label) == "index no index yet"
        await type_and_submit(pilot, f"/ingest {SAMPLES}")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert seen[0] == "scanned" and seen.count("file") == 10 and "chunks" in seen
        bar = app.query_one(IngestProgress)
        assert bar.files == 10 and not bar.display
        report = label_text(notes(app)[-1])
        assert f"Ingested {SAMPLES}: added 10, updated 0" in report
        assert "failed 0" in report
        assert label_text(index_label).startswith("index 10 files · ")
        # the reloaded index answers questions
        entry = await ask(pilot)
        assert entry.citations


async def test_ingest_reports_failed_files(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLES / "visitor_policy.txt", docs)
    (docs / "junk.pdf").write_bytes(b"this is not a PDF at all\n" * 10)
    app = make_app(tui_settings(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_submit(pilot, f"/ingest {docs}")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        note = notes(app)[-1]
        lines = label_text(note).splitlines()
        assert lines[0].startswith("failed junk.pdf: ")
        assert "added 1" in lines[-1] and "failed 1" in lines[-1]
        assert note.has_class("-error")
        assert any("could not be ingested" in m for m, s in notifications(app))
        assert label_text(app.query_one("#status-index", Static)).startswith("index 1 file · ")


async def test_ingest_missing_path_and_palette_prompt(tmp_path: Path) -> None:
    app = make_app(tui_settings(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_submit(pilot, "/ingest /no/such/folder")
        await pilot.pause()
        assert ("no such file or folder: /no/such/folder", "error") in notifications(app)
        # the command palette entry asks for a path, then ingests it
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Ingest a file")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one(Input).value = str(SAMPLES / "visitor_policy.txt")
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "added 1" in label_text(notes(app)[-1])


# -- input, help, model ---------------------------------------------------------------------
async def test_input_history_up_and_down(tmp_path: Path) -> None:
    app = make_app(indexed(tmp_path), FakeBackend(["One.", "Two."]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot, "first question")
        await ask(pilot, "second question")
        prompt = app.query_one(PromptInput)
        assert prompt.value == ""
        await pilot.press(*"draft")
        await pilot.press("up")
        assert prompt.value == "second question"
        await pilot.press("up")
        assert prompt.value == "first question"
        await pilot.press("up")
        assert prompt.value == "first question"
        await pilot.press("down")
        assert prompt.value == "second question"
        await pilot.press("down")
        assert prompt.value == "draft"


async def test_help_screen_opens_and_closes(tmp_path: Path) -> None:
    app = make_app(tui_settings(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")  # in the input, ? is just typed
        assert app.query_one(PromptInput).value == "?"
        assert not isinstance(app.screen, HelpScreen)
        app.query_one(ChatLog).focus()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)


def model_dir(tmp_path: Path) -> Path:
    """Two names for the bundled model, and a file that is not a model."""
    models = tmp_path / "models"
    models.mkdir()
    (models / BUNDLED.name).symlink_to(BUNDLED)
    (models / "Other-Model.Q4_1.gguf").symlink_to(BUNDLED)
    (models / "broken.gguf").write_bytes(b"nope")
    return models


@pytest.mark.skipif(not BUNDLED.exists(), reason="bundled model not installed")
async def test_model_picker_sets_the_model_for_next_answers(tmp_path: Path) -> None:
    settings = indexed(tmp_path, models_dir=model_dir(tmp_path))
    backend = FakeBackend(["From the other model."])
    app = make_app(settings, backend)
    asked: list[str | None] = []

    def local_backend(model: str | None = None) -> FakeBackend:
        asked.append(model)
        return backend

    app.assistant.local_backend = local_backend  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        model_label = app.query_one("#status-model", Static)
        assert label_text(model_label) == "model SmolLM2-135M-Instruct.Q4_1"
        await pilot.press("f2")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        listing = picker.query_one(OptionList)
        assert listing.highlighted is not None
        assert listing.get_option_at_index(listing.highlighted).id == BUNDLED.name
        assert listing.get_option("broken.gguf").disabled
        listing.highlighted = listing.get_option_index("Other-Model.Q4_1.gguf")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ModelPicker)
        assert app.model == "Other-Model.Q4_1.gguf"
        assert label_text(model_label) == "model Other-Model.Q4_1"
        await ask(pilot)
        assert asked == ["Other-Model.Q4_1.gguf"]


# -- passages -------------------------------------------------------------------------------
def test_stitch_lays_overlapping_chunks_on_their_offsets() -> None:
    s = stitch([("abc def", 10, 17), ("def ghi", 14, 21), ("jkl", 22, 25), ("mno", 30, 33)])
    assert s.text == "abc def ghi jkl\n\nmno"
    assert [s.locate(n) for n in (10, 14, 21, 22, 30, 33, 40)] == [0, 4, 11, 12, 17, 20, None]


def test_surrounding_text_around_a_citation(tmp_path: Path) -> None:
    settings = indexed(tmp_path)
    app_assistant = Assistant(
        settings, embedder=FakeEmbedder(), local_backend=FakeBackend(["[3]"]), audit=False
    )
    answer = app_assistant.ask("When is the fire alarm tested?")
    answer.read()
    for cited in answer.sources:
        passage = surrounding(settings.index_dir, cited, window=200)
        assert passage.complete and passage.cited == cited.text
        assert len(passage.before) <= 200 and len(passage.after) <= 200
    record = ChunkRecord(1, "gone.txt", str(tmp_path / "gone.txt"), None, 0, 5, "hello")
    gone = Citation(1, record, 0.5)
    passage = surrounding(settings.index_dir, gone)
    assert not passage.complete and passage.text == "hello"
    assert not surrounding(tmp_path / "no-index", gone).complete


# -- the real models ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not BUNDLED.exists(), reason="bundled model not installed")
async def test_real_models_answer_end_to_end(tmp_path: Path, real_embedder: Any) -> None:
    pytest.importorskip("llama_cpp")
    settings = load_settings(
        index_dir=tmp_path / "index", models_dir=ROOT / "models", llm={"max_tokens": 24}
    )
    ingest([SAMPLES / "visitor_policy.txt"], settings, embedder=real_embedder)
    assistant = Assistant(settings, embedder=real_embedder, audit=False)
    app = build_app(settings, assistant, embedder=real_embedder)
    async with app.run_test(size=(80, 24)) as pilot:
        entry = await ask(pilot, "When is the fire alarm tested?")
        answer = entry.answer
        assert entry.error is None and answer is not None and answer.done
        assert answer.model.startswith("SmolLM2") and answer.route == "local"
        assert answer.text.strip() and markdown_text(entry) == answer.text
        assert app.query_one(SourcesPane).citations
        assert all(c.file == "visitor_policy.txt" for c in entry.citations)


async def test_quitting_while_answering_stops_the_answer(tmp_path: Path) -> None:
    backend = SlowBackend("Partial answer that never finishes.")
    app = make_app(indexed(tmp_path), backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_submit(pilot, QUESTION)
        await until(pilot, backend.waiting.is_set)
        await pilot.press("ctrl+q")
    assert backend.stopped.wait(2)  # the worker thread does not outlive the app
