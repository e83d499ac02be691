"""The chat app's saved conversations: saved with their routes, reopened with ``/open``, and a
sensitive turn keeps the rest of the conversation local (shown in the status bar)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.backends.fake import FakeBackend, FakeRemoteBackend
from appliance.conversations import Conversations
from appliance.tui.chat_log import NoteEntry
from appliance.tui.status_bar import StatusBar

from .test_tui import ask, indexed, make_app, type_and_submit


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "kitchen.md").write_text("# Kitchen\n\nTea bags are in the top drawer.\n")
    (docs / "hr" / "review.md").write_text("# Review\n\nThe annual review of the tea rota.\n")
    return docs


async def test_a_sensitive_turn_keeps_the_chat_local_and_is_saved(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    settings = indexed(tmp_path, _docs(tmp_path), privacy={"sensitive_paths": ["hr/**"]})
    settings.retrieval.k = 1
    settings.retrieval.min_score = 0.2
    cloud = FakeRemoteBackend(["From the cloud."] * 5, name="claude-fake")
    app = make_app(settings, FakeBackend(["From here."] * 5), cloud=cloud)
    async with app.run_test(size=(100, 30)) as pilot:
        await app._set_mode("hybrid")
        first = await ask(pilot, "What is the annual review of the rota?")
        assert first.answer is not None and first.answer.route == "local"
        status = app.query_one(StatusBar)
        assert status.mode_text == "HYBRID · this chat stays local"
        notes = [str(n.render()) for n in app.query(NoteEntry)]
        assert any("stays on this machine" in n for n in notes)
        second = await ask(pilot, "Where are the tea bags?")
        assert second.answer is not None and second.answer.route == "local"
        assert cloud.calls == []

        saved = Conversations(settings.index_dir).recent()
        assert len(saved) == 1 and saved[0].turns == 2 and saved[0].local_only
        name = saved[0].name

        await pilot.press("ctrl+n")  # a new conversation may use the cloud again
        await pilot.pause()
        assert status.mode_text == "HYBRID"
        third = await ask(pilot, "Where are the tea bags?")
        assert third.answer is not None and third.answer.route == "cloud"

        await type_and_submit(pilot, f"/open {name}")
        await pilot.pause()
        assert [t.question for t in app.history] == [
            "What is the annual review of the rota?",
            "Where are the tea bags?",
        ]
        assert status.mode_text == "HYBRID · this chat stays local"
        fourth = await ask(pilot, "Where are the tea bags?")
        assert fourth.answer is not None and fourth.answer.route == "local"
        assert len(cloud.calls) == 1


async def test_open_unknown_conversation_is_a_notification(tmp_path: Path) -> None:
    app = make_app(indexed(tmp_path, _docs(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_submit(pilot, "/open nope")
        await pilot.pause()
        assert any("no saved conversation" in n.message for n in app._notifications)
        await type_and_submit(pilot, "/chats")
        await pilot.pause()
        assert any("No saved conversations" in str(n.render()) for n in app.query(NoteEntry))
