"""Terminal output for the CLI with rich: ingest progress and summaries, status tables.

A progress bar is drawn only on a terminal; redirected output stays plain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from appliance.ingest import IngestReport
from appliance.ingest import Progress as Event

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class IngestDisplay:
    """A rich progress bar fed by ``ingest``'s progress events (no-op when disabled)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.chunks = 0
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> IngestDisplay:
        if self.enabled:
            self._bar = Progress(
                TextColumn("[bold]ingesting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files · {task.fields[chunks]} chunks"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[current]}", style="dim"),
                console=err,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("ingest", total=None, chunks=0, current="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, event: Event) -> None:
        if self._bar is None:
            return
        if event.kind == "scanned":
            self._bar.update(self._task, total=event.total)
        elif event.kind == "chunks":
            self.chunks += event.count
            self._bar.update(self._task, chunks=self.chunks)
        elif event.kind == "file":
            self._bar.update(self._task, advance=1, current=event.path[-40:])


def print_ingest_summary(report: IngestReport) -> None:
    for f in report.failed:
        err.print(f"[red]failed[/] {f.path}: {f.reason}")
    for path, note in report.notes:
        err.print(f"[yellow]note[/] {path}: {note}")
    out.print(
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"removed {report.removed}, failed {len(report.failed)} · {report.chunks} chunks"
        f" in {report.seconds:.1f}s ({report.chunks_per_second:.1f} chunks/s)"
    )


def print_status(stats: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    last = stats.get("last_ingest")
    rows = [
        ("index", stats.get("index_dir", "")),
        ("files", str(stats["files"])),
        ("chunks", f"{stats['chunks']} ({stats.get('sensitive_chunks', 0)} sensitive)"),
        ("embedding model", f"{stats['embedding_model']} ({stats['dimension']} dims)"),
        ("size on disk", f"{stats['size_bytes'] / 1e6:.1f} MB"),
        (
            "last ingest",
            dt.datetime.fromtimestamp(last).isoformat(" ", "seconds") if last else "never",
        ),
        ("folders", ", ".join(stats.get("roots", [])) or "-"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)
