"""Snapshot tests for ``appliance chat``: one class per screen, at 80×24 (and one larger).

The app is built with ``build_app`` exactly as the CLI does, on a fake embedder and a fake
backend with fixed replies, so every screenshot is deterministic (no timings or clocks are
shown). Update with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the
report before committing the SVGs under ``tests/__snapshots__/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from appliance.backends.fake import FakeBackend
from appliance.tui.prompt import PromptInput
from tests.test_tui import BUNDLED, QUESTION, REPLY, indexed, make_app, model_dir, tui_settings

LARGE = (120, 36)
LONG_REPLY = (
    "The notice period is **three months**, given in writing [1].\n\n"
    "- Rent is reviewed every five years [2].\n"
    "- Notices go to the address in the lease [1]."
)


def steady(pilot: Pilot[None]) -> None:
    """A blinking cursor would make the screenshot depend on timing."""
    pilot.app.query_one(PromptInput).cursor_blink = False


async def asked(pilot: Pilot[None], question: str = QUESTION) -> None:
    steady(pilot)
    pilot.app.query_one(PromptInput).value = question
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


class TestEmptyChat:
    def test_first_run_without_index(self, tmp_path: Path, snap_compare: Any) -> None:
        assert snap_compare(make_app(tui_settings(tmp_path)), run_before=steady)

    def test_with_index_large(self, tmp_path: Path, snap_compare: Any) -> None:
        assert snap_compare(make_app(indexed(tmp_path)), terminal_size=LARGE, run_before=steady)


class TestAnswer:
    def test_answer_with_sources(self, tmp_path: Path, snap_compare: Any) -> None:
        app = make_app(indexed(tmp_path), FakeBackend([REPLY]))
        assert snap_compare(app, run_before=asked)

    def test_answer_with_sources_large(self, tmp_path: Path, snap_compare: Any) -> None:
        app = make_app(indexed(tmp_path), FakeBackend([LONG_REPLY]))
        assert snap_compare(app, run_before=asked, terminal_size=LARGE)


class TestPassage:
    def test_passage_in_context(self, tmp_path: Path, snap_compare: Any) -> None:
        app = make_app(indexed(tmp_path), FakeBackend([REPLY]))

        async def open_source(pilot: Pilot[None]) -> None:
            await asked(pilot)
            pilot.app.query_one("#source-list", OptionList).focus()
            await pilot.press("enter")
            await pilot.pause()

        assert snap_compare(app, run_before=open_source)


class TestHelp:
    def test_help_screen(self, tmp_path: Path, snap_compare: Any) -> None:
        assert snap_compare(make_app(tui_settings(tmp_path)), press=["f1"], run_before=steady)


class TestModelPicker:
    @pytest.mark.skipif(not BUNDLED.exists(), reason="bundled model not installed")
    def test_model_picker(self, tmp_path: Path, snap_compare: Any, monkeypatch: Any) -> None:
        model_dir(tmp_path)
        monkeypatch.chdir(tmp_path)  # the picker names the folder as configured: models/
        app = make_app(tui_settings(tmp_path, models_dir=Path("models")))
        assert snap_compare(app, press=["f2"], run_before=steady)


class TestHybridConfirm:
    def test_confirm_hybrid(self, tmp_path: Path, snap_compare: Any, monkeypatch: Any) -> None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        app = make_app(tui_settings(tmp_path), cloud=FakeBackend(["unused"]))
        assert snap_compare(app, press=["ctrl+t"], run_before=steady)
