"""OCR'd passages in the chat app and in ``ask``'s sources: a passage read from a scan says so,
with the page's OCR confidence; a text-layer passage shows nothing new. The scan is drawn with
Pillow (``tests.test_ocr.scan``) and read by the real bundled OCR model at ingest."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Label, OptionList

from appliance import render
from appliance.backends.fake import FakeBackend
from appliance.store import Store
from appliance.tui.sources import PassageScreen, SourcesPane, citation_prompt
from tests.test_ocr import INVOICE, scan
from tests.test_tui import ask, indexed, label_text, make_app

REPLY = "The invoice total is 1,250.00 EUR [1], due within 30 days [2]."


def scanned_docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    scan(INVOICE).convert("1").save(docs / "invoice.png")
    (docs / "terms.txt").write_text(
        "Payment terms: every invoice is due within 30 days of its date.\n"
    )
    return docs


def confidences(settings_index: Path) -> dict[str, float | None]:
    with Store.open(settings_index) as store:
        ids = [r[0] for r in store.conn.execute("SELECT id FROM chunks")]
        return {r.file: r.ocr for r in store.chunk_records(ids).values()}


async def test_ocr_passages_say_so_with_their_confidence(tmp_path: Path) -> None:
    settings = indexed(tmp_path, scanned_docs(tmp_path))
    stored = confidences(settings.index_dir)
    assert stored["terms.txt"] is None and (stored["invoice.png"] or 0) > 0.8
    app = make_app(settings, FakeBackend([REPLY]))
    async with app.run_test(size=(100, 30)) as pilot:
        entry = await ask(pilot, "What is the invoice total and when is it due?")
        pane = app.query_one(SourcesPane)
        by_file = {c.file: c for c in pane.citations}
        assert set(by_file) == {"invoice.png", "terms.txt"}
        # The retriever's hit carries the stored confidence through to the citation.
        scanned, typed = by_file["invoice.png"], by_file["terms.txt"]
        assert scanned.record.ocr == stored["invoice.png"] and typed.record.ocr is None
        confidence = f"{scanned.record.ocr:.2f}"
        assert f"· OCR {confidence}" in citation_prompt(scanned).plain
        assert "OCR" not in citation_prompt(typed).plain
        assert entry.evidence and all(
            e.record.ocr == by_file[e.file].record.ocr for e in entry.evidence
        )

        options = app.query_one("#source-list", OptionList)
        for citation, note in (
            (scanned, f"read by OCR · confidence {confidence}"),
            (typed, None),
        ):
            options.focus()
            options.highlighted = options.get_option_index(str(pane.citations.index(citation)))
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, PassageScreen)
            assert app.screen.passage.citation == citation
            shown = app.screen.query("#ocr-note")
            if note is None:
                assert not shown
            else:
                text = label_text(shown.only_one(Label))
                assert text.startswith(note) and "recognition errors" in text
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, PassageScreen)


@pytest.mark.parametrize("ocr", [0.8712, None])
def test_ask_sources_mark_ocr(monkeypatch: pytest.MonkeyPatch, ocr: float | None) -> None:
    from appliance.answers import Answer, Citation
    from appliance.store import ChunkRecord

    record = ChunkRecord(1, "scan.pdf", "/d/scan.pdf", 2, 0, 12, "Invoice 4471", ocr=ocr)
    answer = Answer("q", "q", "local", [], "fake", [], pieces=iter(["Total [1]."]))
    answer.read()
    monkeypatch.setattr(Answer, "citations", property(lambda self: [Citation(1, record, 0.5)]))
    buf = io.StringIO()
    monkeypatch.setattr(render, "out", Console(file=buf, width=120, highlight=False))
    monkeypatch.setattr(render, "err", Console(file=io.StringIO()))
    render.print_answer_footer(answer)
    line = next(x for x in buf.getvalue().splitlines() if x.startswith("[1]"))
    if ocr is None:
        assert line == "[1] scan.pdf p.2  Invoice 4471"
    else:
        assert line == "[1] scan.pdf p.2 (OCR 0.87)  Invoice 4471"
