"""Rendering for people: the CLI's results as rich text and tables, and the ingest progress bar.

Each function prints one kind of result (``appliance.results``) to stdout (``out``), with
notes and errors on stderr (``err``); everything that came from a document, a file name or the
audit log is cleaned of terminal escapes first. A progress bar is drawn only on a terminal;
redirected output stays plain. Left out: JSON (``Result.to_json``) and choosing between the
two (``cli.emit``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from appliance.ingest import IngestReport
from appliance.ingest import Progress as Event
from appliance.safetext import clean, name

if TYPE_CHECKING:
    from appliance.answers import Answer
    from appliance.audit import VerifyResult
    from appliance.conversations import Summary
    from appliance.doctor import Check
    from appliance.evaluate import EvalScore
    from appliance.privacy.evaluate import Score
    from appliance.results import IndexStatus, ModelList

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class IngestDisplay:
    """A rich progress bar fed by ``ingest``'s progress events (no-op when disabled)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.chunks = 0
        self.ocr_pages = 0
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> IngestDisplay:
        if self.enabled:
            self._bar = Progress(
                TextColumn("[bold]ingesting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files · {task.fields[chunks]} chunks{task.fields[ocr]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[current]}", style="dim"),
                console=err,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("ingest", total=None, chunks=0, ocr="", current="")
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
            self._bar.update(self._task, advance=1, current=escape(name(event.path[-40:])))
        elif event.kind == "ocr":  # a scanned page read: the slow part, shown as it goes
            self.ocr_pages += event.count
            self._bar.update(
                self._task,
                ocr=f" · {self.ocr_pages} pages OCR'd",
                current=escape(name("OCR " + event.path[-36:])),
            )


def print_ingest_summary(report: IngestReport) -> None:
    for f in report.failed:
        err.print(f"[red]failed[/] {escape(name(f.path))}: {escape(clean(f.reason))}")
    for path, note in report.notes:
        err.print(f"[yellow]note[/] {escape(name(path))}: {escape(clean(note))}")
    out.print(
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"removed {report.removed}, failed {len(report.failed)} · {report.chunks} chunks"
        f" in {report.seconds:.1f}s ({report.chunks_per_second:.1f} chunks/s)"
    )


def print_status(status: IndexStatus) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    last = status.last_ingest
    model = clean(str(status.embedding_model))
    rows = [
        ("index", name(status.index_dir)),
        ("files", str(status.files)),
        ("chunks", f"{status.chunks} ({status.sensitive_chunks} sensitive)"),
        ("embedding model", f"{model} ({status.dimension} dims)"),
        ("size on disk", f"{status.size_bytes / 1e6:.1f} MB"),
        (
            "last ingest",
            dt.datetime.fromtimestamp(last).isoformat(" ", "seconds") if last else "never",
        ),
        ("folders", ", ".join(name(r) for r in status.roots) or "-"),
    ]
    for k, v in rows:
        table.add_row(k, escape(v))
    out.print(table)


NOT_BACKED = "None of this answer is backed by your documents; here is what they say:"


def print_answer_check(answer: Answer) -> None:
    """After a streamed answer: which sentences its sources do not back, then the evidence
    (the passage sentences that best answer the question) as quotes with their citation."""
    claims, evidence = answer.claims, answer.evidence
    unsupported = [c for c in claims if not c.supported]
    if claims and len(unsupported) == len(claims):
        out.print(f"\n[bold yellow]{NOT_BACKED}[/]")
    elif unsupported:
        backed = len(claims) - len(unsupported)
        out.print(
            f"\n[yellow]✗ not backed by the sources[/] [dim]({backed} of {len(claims)} "
            "sentences are):[/]"
        )
        for c in unsupported:
            text = " ".join(clean(c.text).split())
            out.print(f"  [yellow]✗[/] [dim]{escape(text)}  ({escape(clean(c.reason))})[/]")
    elif claims:
        out.print("\n[green]✓[/] [dim]every sentence is backed by its sources[/]")
    if evidence:
        out.print("\n[bold]Evidence[/]")
    for e in evidence:
        quote = " ".join(clean(e.text).split())
        quote = quote[:300] + ("…" if len(quote) > 300 else "")
        out.print(f"  “{escape(quote)}” [bold][{e.n}][/] [dim]{escape(name(e.where))}[/]")


def print_answer_footer(answer: Answer) -> None:
    """The claim check and evidence, sources after a streamed answer, then where it was
    answered (on stderr)."""
    print_answer_check(answer)
    sources = answer.citations
    if sources:
        out.print("\n[bold]Sources[/]")
    for c in sources:
        snippet = " ".join(clean(c.text).split())
        snippet = snippet[:110] + ("…" if len(snippet) > 110 else "")
        scanned = f" [dim](OCR {c.record.ocr:.2f})[/]" if c.record.ocr is not None else ""
        out.print(f"[bold][{c.n}][/] {escape(name(c.where))}{scanned}  [dim]{escape(snippet)}[/]")
    where = "LOCAL" if answer.route == "local" else "CLOUD"
    out.file.flush()
    detail = escape(clean(f"{answer.model} · {'; '.join(answer.reasons)}"))
    err.print(f"[dim]{where} · {detail}[/]")


def print_local_only(conversation: str) -> None:
    """After a turn of a saved conversation that stays local for good (on stderr)."""
    err.print(
        f"conversation {conversation!r}: a turn was sensitive, so it stays on this "
        "machine (start a new one for cloud answers)",
        style="dim",
        markup=False,
    )


def print_models(models: ModelList) -> None:
    rows, models_dir = models.rows, models.models_dir
    if not rows:
        err.print(
            f"no .gguf models in {escape(name(str(models_dir)))}: "
            "run `make install` or drop one there"
        )
        return
    table = Table(title=f"models in {escape(name(str(models_dir)))}")
    for col in ("", "name", "size", "quant", "context", "chat template"):
        table.add_column(col, no_wrap=col == "name")
    for r in rows:
        if r.error:
            error = escape(clean(r.error))
            table.add_row("", escape(name(r.name)), "", "", "", f"[red]{error}[/]")
            continue
        table.add_row(
            "*" if r.default else "",
            escape(name(r.name)),
            f"{r.size_bytes / 1e6:.0f} MB",
            escape(clean(r.quantisation or "?")),
            str(r.context_length or "?"),
            "yes" if r.chat_template else "[yellow]no[/]",
        )
    out.print(table)
    out.print("[dim]* default model[/]")


def print_checks(checks: list[Check]) -> None:
    for c in checks:
        mark = "[green]ok[/]  " if c.ok else "[red]FAIL[/]"
        out.print(f"{mark} {c.name}: {escape(clean(c.detail))}")
        if not c.ok and c.fix:
            out.print(f"      fix: {escape(clean(c.fix))}")


def print_eval(result: EvalScore) -> None:
    table = Table(title=f"retrieval on {result.questions} questions")
    for col in ("method", "hit@1", "hit@5", "MRR"):
        table.add_column(col)
    for method, m in result.methods.items():
        table.add_row(method, f"{m.hit1:.2f}", f"{m.hit5:.2f}", f"{m.mrr:.3f}")
    out.print(table)
    if result.answer_contains is not None:
        out.print(f"answers containing the gold answer: {result.answer_contains:.2f}")
    if result.evidence_contains is not None:
        out.print(f"evidence containing the gold answer: {result.evidence_contains:.2f}")
        out.print(f"answer or evidence containing it: {result.answer_or_evidence_contains:.2f}")
    if result.supported_rate is not None:
        out.print(f"answer sentences backed by their sources: {result.supported_rate:.2f}")


def print_privacy_eval(score: Score) -> None:
    out.print(f"{score.items} texts · precision {score.precision:.3f} · recall {score.recall:.3f}")
    for text in score.false_negatives:
        out.print(f"[red]missed[/] {escape(clean(text[:100]))}")
    for text in score.false_positives:
        out.print(f"[yellow]false alarm[/] {escape(clean(text[:100]))}")


def print_audit(records: list[dict[str, Any]]) -> None:
    if not records:
        out.print("the audit log is empty")
        return
    table = Table()
    for col in ("#", "time", "mode", "route", "model", "sent"):
        table.add_column(
            col, no_wrap=col not in ("model", "sent"), min_width=9 if col == "sent" else None
        )
    table.add_column("reasons", min_width=24)
    for r in records:
        sent, reasons = r.get("sent"), r.get("reasons")
        table.add_row(
            *(
                escape(clean(v))  # a tampered log is as untrusted as a document
                for v in (
                    str(r.get("seq", "?")),
                    str(r.get("time", ""))[:19].replace("T", " "),
                    str(r.get("mode", "")),
                    "→ sending" if r.get("event") == "send" else str(r.get("decision", "")),
                    str(r.get("model", "")),
                    _audit_sent(sent),
                    "; ".join(map(str, reasons)) if isinstance(reasons, list) else "",
                )
            ),
        )
    out.print(table)


def _audit_sent(sent: object) -> str:
    """``812 B``; ``812 B ×3`` when the SDK retried; ``no reply`` when no answer came back."""
    if not isinstance(sent, dict):
        return "-"
    text = f"{sent.get('bytes', '?')} B"
    attempts = sent.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        text += f" ×{attempts}"
    if attempts and sent.get("answered") is False:
        text += "\nno reply"
    return text


def print_chats(chats: list[Summary]) -> None:
    if not chats:
        out.print("no saved conversations: `appliance ask QUESTION --chat NAME` starts one")
        return
    table = Table()
    for col in ("name", "updated", "turns", "route"):
        table.add_column(col, no_wrap=True)
    table.add_column("first question", max_width=60)
    for c in chats:
        table.add_row(
            escape(name(c.name)),
            dt.datetime.fromtimestamp(c.updated).strftime("%Y-%m-%d %H:%M"),
            str(c.turns),
            "local only" if c.local_only else "any",
            escape(clean(c.first_question[:60])),
        )
    out.print(table)


def print_verify(result: VerifyResult) -> None:
    if result.ok:
        print(f"audit log intact: {result.lines} lines, each authenticated with the audit key")
    else:
        print(f"audit log TAMPERED ({result.kind}): {result.problem}")
    for note in result.notes:
        print(f"  note: {note}")
