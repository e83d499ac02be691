"""Ingest progress inside the app, and the report written to the log afterwards.

``IngestProgress`` is fed ``appliance.ingest.Progress`` events (on the UI thread; the app's
worker forwards them) and shows a ``ProgressBar`` over the files with the chunk count and the
file just finished. ``report_lines`` gives the same per-file error report as the CLI.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from appliance.ingest import IngestReport, Progress
from appliance.safetext import clean, name


def report_lines(target: str, report: IngestReport) -> list[str]:
    """The CLI's summary: failed files with reasons, notes, then the counts."""
    lines = [f"failed {name(f.path)}: {clean(f.reason)}" for f in report.failed]
    lines += [f"note {name(path)}: {clean(note)}" for path, note in report.notes]
    lines.append(
        f"Ingested {name(target)}: added {report.added}, updated {report.updated}, "
        f"unchanged {report.unchanged}, removed {report.removed}, failed {len(report.failed)}"
        f" · {report.chunks} chunks in {report.seconds:.1f}s"
    )
    return lines


class IngestProgress(Horizontal):
    """Hidden until an ingest starts; one line with a bar."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.files = 0
        self.chunks = 0
        self.failed = 0
        self.ocr_pages = 0

    def compose(self) -> ComposeResult:
        yield Label("ingesting", id="ingest-label", markup=False)
        yield ProgressBar(id="ingest-bar", show_eta=False)
        yield Label("", id="ingest-detail", markup=False)

    def start(self, target: str) -> None:
        self.files = self.chunks = self.failed = self.ocr_pages = 0
        self.query_one("#ingest-label", Label).update(f"ingesting {name(target)}")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one("#ingest-detail", Label).update("scanning…")
        self.display = True

    def update_from(self, event: Progress) -> None:
        bar = self.query_one(ProgressBar)
        if event.kind == "scanned":
            bar.update(total=event.total)
        elif event.kind == "chunks":
            self.chunks += event.count
        elif event.kind == "file":
            self.files += 1
            self.failed += event.status == "failed"
            bar.advance(1)
        elif event.kind == "ocr":
            self.ocr_pages += event.count
        failed = f" · {self.failed} failed" if self.failed else ""
        ocr = f" · {self.ocr_pages} pages OCR'd" if self.ocr_pages else ""
        self.query_one("#ingest-detail", Label).update(f"{self.chunks} chunks{ocr}{failed}")

    def stop(self) -> None:
        self.display = False
