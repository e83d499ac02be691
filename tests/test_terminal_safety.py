"""Nothing from a document, a file name, a model or the index can drive the user's terminal.

Documents here carry a window retitle (``ESC]0;…BEL``), colour codes, the one-byte C1 CSI,
carriage returns and backspaces, and live in folders whose names are rich markup (``[bold]``,
``[/]``). Through the real CLI (in-process with fake models, and one subprocess for the raw
bytes) and the chat app, none of those bytes may reach the screen, and nothing may crash.
"""

from __future__ import annotations

import doctest
import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Markdown, OptionList, Static

import appliance.assistant
from appliance import egress, safetext
from appliance.assistant import Assistant
from appliance.backends.base import Message
from appliance.backends.fake import FakeBackend
from appliance.cli import main
from appliance.config import Settings, load_settings
from appliance.ingest import ingest
from appliance.tui import build_app
from appliance.tui.chat_log import AnswerEntry, NoteEntry
from appliance.tui.prompt import PromptInput
from appliance.tui.sources import PassageScreen, SourcesPane

from .conftest import ROOT, FakeEmbedder

FORBIDDEN = ["\x1b", "\x07", "\x9b", "\r", "\x08"]
"""Characters that must never be printed (ESC, BEL, C1 CSI, CR, BS)."""

EVIL = "\x1b]0;pwned\x07 the rent is \x1b[31mdue\x1b[0m monthly\x9b2J.\roverwritten\x08\x08"
DOC = (
    "Lease terms. The notice period is three months, given in writing. "
    + EVIL
    + " The tenant pays the rent quarterly in advance. " * 6
)
REPLY_PIECES = [
    "The notice period is \x1b]0;ti",  # an OSC split across pieces
    "tle\x07three months \x1b[3",  # a CSI split after its first parameter digit
    "1m[1].\x9b",  # a C1 CSI at the very end of a piece
    "2J\r\x08 Done.",
]


def assert_safe(text: str) -> None:
    found = [repr(c) for c in FORBIDDEN if c in text]
    assert not found, f"{found} reached the terminal in {text!r}"


class PiecesBackend(FakeBackend):
    """Yields ``REPLY_PIECES`` exactly as cut, so sequences straddle piece boundaries."""

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        self.calls.append(None)  # type: ignore[arg-type]
        return iter(REPLY_PIECES)


def evil_docs(tmp_path: Path) -> Path:
    """A folder named as markup holding a lease with escapes, in a file named with them."""
    docs = tmp_path / "docs [bold]\x1b[31m"
    docs.mkdir(parents=True)
    (docs / "lease\u202etxt.\x1b]0;x\x07.txt").write_text(DOC, encoding="utf-8")
    return docs


def indexed(tmp_path: Path) -> Settings:
    settings = load_settings(
        index_dir=tmp_path / "index",
        models_dir=ROOT / "models",
        ingest={"chunk_tokens": 60, "chunk_overlap": 10, "batch_size": 8},
        retrieval={"min_score": 0.0},
    )
    report = ingest([evil_docs(tmp_path)], settings, embedder=FakeEmbedder())
    assert report.added == 1 and not report.failed
    return settings


@pytest.fixture(autouse=True)
def _no_leftover_guard() -> Iterator[None]:
    yield
    egress.uninstall()  # main() installs the guard; keep other tests' sockets as they were


# -- the module ------------------------------------------------------------------------------
def test_doctests() -> None:
    assert doctest.testmod(safetext).failed == 0


def test_clean_keeps_text_newlines_and_tabs() -> None:
    assert safetext.clean(DOC).startswith("Lease terms.")
    cleaned = safetext.clean("a\tb\nc " + EVIL)
    assert_safe(cleaned)
    assert cleaned.startswith("a\tb\nc ") and "pwned" not in cleaned and "[31m" not in cleaned
    assert "due monthly" in cleaned and "\x9b" not in safetext.clean("\x9b\x9c\x85\x7f")


def test_every_split_of_a_stream_cleans_like_the_whole() -> None:
    text = "ab" + EVIL + "\x1bP1$r\x1b\\ end \x1b(B\x1b"
    whole = safetext.clean(text)
    for i, j in itertools.combinations(range(len(text) + 1), 2):
        s = safetext.StreamCleaner()
        shown = s.feed(text[:i]) + s.feed(text[i:j]) + s.feed(text[j:]) + s.flush()
        assert shown == whole, (i, j)


def test_an_unterminated_sequence_is_not_held_forever() -> None:
    s = safetext.StreamCleaner()
    shown = s.feed("\x1b]0;" + "x" * 5000) + s.feed(" more")
    assert shown.endswith("x more") and "\x1b" not in shown


def test_names_show_what_is_really_there() -> None:
    assert safetext.name("invoice\u202efdp.exe") == "invoice\\u202efdp.exe"
    assert safetext.name("a\nb\tc\x1b") == "a\\nb\\tc\\x1b"
    assert safetext.name("contracts/lease [v2].pdf") == "contracts/lease [v2].pdf"


# -- the CLI ---------------------------------------------------------------------------------
def test_ask_streams_and_cites_without_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = indexed(tmp_path)

    class FakeModels(Assistant):
        def __init__(self, settings: Settings, **kw: Any) -> None:
            super().__init__(settings, embedder=FakeEmbedder(), local_backend=PiecesBackend(), **kw)

    monkeypatch.setattr(appliance.assistant, "Assistant", FakeModels)
    monkeypatch.setenv("APPLIANCE_RETRIEVAL__MIN_SCORE", "0")
    index = str(settings.index_dir)
    code = main(["ask", "What is the notice period?", "--index", index])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert_safe(out + err)
    assert out.startswith("The notice period is three months [1]. Done.\n")
    assert "Sources" in out and "[1]" in out and "the rent is due monthly" in out
    assert "lease\\u202etxt.\\x1b]0;x\\x07.txt" in out  # the file name, visibly escaped
    assert "pwned" not in out and "title" not in out

    # --json is data: JSON escaping already makes the same text safe, and it stays whole
    code = main(["ask", "What is the notice period?", "--index", index, "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and "\\u001b]0;pwned\\u0007" in out
    assert_safe(out + err)

    code = main(["status", "--index", index])
    out, err = capsys.readouterr()
    assert_safe(out + err)
    assert code == 0 and "[bold]\\x1b[31m" in out  # the folder, escaped (the table may wrap)


def test_ingest_summary_with_markup_and_escapes_in_names(tmp_path: Path) -> None:
    """As a user runs it: failing files in a folder whose path reads ``x[/]``, named with
    escapes. The summary prints them escaped, with no markup error and no raw bytes."""
    docs = tmp_path / "docs [bold]"
    (docs / "x[" / "]").mkdir(parents=True)
    (docs / "x[" / "]" / "junk\x1b[2J.pdf").write_bytes(b"\x00garbage" * 100)
    (docs / "x[" / "]" / "[bold]\x9b\r.txt").write_bytes(b"")
    env = dict(os.environ, APPLIANCE_INDEX_DIR=str(tmp_path / "index"))
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "ingest", str(docs)],
        env=env, capture_output=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "MarkupError" not in err
    for raw in (b"\x1b", b"\x07", b"\xc2\x9b", b"\r", b"\x08"):
        assert raw not in proc.stdout + proc.stderr, raw
    assert "x[/]/junk\\x1b[2J.pdf" in err and "x[/]/[bold]\\x9b\\r.txt" in err
    assert "failed 2" in out


def test_ingest_notes_and_failures_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("appliance.ingest.Embedder", lambda *a, **k: FakeEmbedder())
    docs = tmp_path / "docs"
    (docs / "x[" / "]").mkdir(parents=True)
    (docs / "x[" / "]" / "junk[bold]\x1b[2J.pdf").write_bytes(b"\x00garbage" * 100)
    # not UTF-8: ingested with a note naming the file
    (docs / "caf\x1b]0;x\x07[bold].txt").write_bytes(
        b"Caf\xe9 cr\xe8me menu for the staff canteen, served daily. " * 4
    )
    code = main(["ingest", str(docs), "--index", str(tmp_path / "index")])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert_safe(out + err)
    assert "x[/]/junk[bold]\\x1b[2J.pdf" in err
    assert "note caf\\x1b]0;x\\x07[bold].txt" in err
    assert "added 1" in out and "failed 1" in out


# -- the chat app ----------------------------------------------------------------------------
async def test_chat_shows_answer_sources_and_passage_without_escapes(tmp_path: Path) -> None:
    settings = indexed(tmp_path)
    embedder = FakeEmbedder()
    assistant = Assistant(settings, embedder=embedder, local_backend=PiecesBackend(), audit=False)
    app = build_app(settings, assistant, embedder=embedder)
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one(PromptInput).value = "What is the notice period?"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        entry = app.query(AnswerEntry).last()
        shown = entry.query_one(Markdown).source
        assert shown.strip() == "The notice period is three months [1]. Done."
        assert entry.answer is not None and "\x1b" in entry.answer.text  # the data is intact

        pane = app.query_one(SourcesPane)
        options = pane.query_one(OptionList)
        assert options.option_count >= 1  # the citation, then evidence quotes
        prompt = str(options.get_option_at_index(0).prompt)
        assert_safe(prompt)
        assert "lease\\u202etxt." in prompt and "the rent is due monthly" in prompt

        options.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PassageScreen)
        for static in app.screen.query(Static):
            assert_safe(str(static.content))
        assert "the rent is due monthly" in str(app.screen.query_one("#cited", Static).content)
        await pilot.press("escape")

        # an in-app ingest report names the files as they really are
        app.start_ingest(str(evil_docs(tmp_path / "more")))
        await app.workers.wait_for_complete()
        await pilot.pause()
        note = str(app.query(NoteEntry).last().content)
        assert "docs [bold]\\x1b[31m" in note
        assert_safe(note)
