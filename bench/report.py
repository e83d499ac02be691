"""Result records shared by the benchmark sections, and how they are printed.

A section returns a ``SectionResult``: named measurements (``Metric``) and the ratios or
limits it is judged by (``Target``, PASS/MISS). ``render`` prints them as rich tables;
``to_json`` gives the same numbers for ``--json``. Also small timing helpers (median,
percentile, a wall+CPU stopwatch) so every section computes them the same way.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table


@dataclass
class Metric:
    key: str
    """Stable name in the JSON output (``pipeline_chunks_per_s``)."""
    label: str
    value: float | int | str
    unit: str = ""
    note: str = ""
    show: bool = True
    """False when a ``Grid`` of the section already shows it (it still goes to the JSON)."""


@dataclass
class Grid:
    """An extra table: a title, column names, rows of cells (numbers are formatted)."""

    title: str
    columns: list[str]
    rows: list[list[float | int | str]] = field(default_factory=list)


@dataclass
class Target:
    key: str
    label: str
    value: float
    limit: float
    direction: Literal[">=", "<="]

    @property
    def passed(self) -> bool:
        return self.value >= self.limit if self.direction == ">=" else self.value <= self.limit

    def to_json(self) -> dict[str, Any]:
        return {
            "value": round(self.value, 4),
            "target": f"{self.direction} {self.limit:g}",
            "result": "PASS" if self.passed else "MISS",
        }


@dataclass
class SectionResult:
    name: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(
        self,
        key: str,
        label: str,
        value: float | int | str,
        unit: str = "",
        note: str = "",
        *,
        show: bool = True,
    ) -> None:
        self.metrics.append(Metric(key, label, value, unit, note, show))

    def target(
        self, key: str, label: str, value: float, limit: float, direction: Literal[">=", "<="]
    ) -> Target:
        t = Target(key, label, value, limit, direction)
        self.targets.append(t)
        return t

    def to_json(self) -> dict[str, Any]:
        return {
            "metrics": {
                m.key: round(m.value, 4) if isinstance(m.value, float) else m.value
                for m in self.metrics
            },
            "targets": {t.key: t.to_json() for t in self.targets},
            "notes": self.notes,
            "warnings": self.warnings,
            "section_seconds": round(self.seconds, 1),
        }


def _fmt(value: float | int | str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def render(console: Console, result: SectionResult) -> None:
    table = Table(title=f"{result.title}  ({result.seconds:.0f} s)", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("note", style="dim")
    for m in result.metrics:
        if m.show:
            table.add_row(m.label, _fmt(m.value), m.unit, m.note)
    console.print(table)
    for grid in result.grids:
        extra = Table(title=grid.title, title_justify="left")
        for i, name in enumerate(grid.columns):
            extra.add_column(name, justify="left" if i < 2 else "right")
        for row in grid.rows:
            extra.add_row(*(_fmt(cell) for cell in row))
        console.print(extra)
    if result.targets:
        checks = Table(show_header=True, title_justify="left")
        checks.add_column("target")
        checks.add_column("value", justify="right")
        checks.add_column("limit", justify="right")
        checks.add_column("result")
        for t in result.targets:
            verdict = "[bold green]PASS[/]" if t.passed else "[bold red]MISS[/]"
            checks.add_row(t.label, _fmt(t.value), f"{t.direction} {t.limit:g}", verdict)
        console.print(checks)
    for note in result.notes:
        console.print(f"  [dim]•[/] {escape(note)}")
    for warning in result.warnings:
        console.print(f"  [yellow]! {escape(warning)}[/]")
    console.print()


# -- timing helpers -----------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in 0..100: ``percentile([1, 2, 3, 4], 50)`` → 2.5."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


class Stopwatch:
    """Wall-clock and process CPU seconds (all threads) of a ``with`` block.

    CPU time is the steadier of the two on a shared machine: other processes stretch wall
    time but not this process's CPU time.
    """

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Stopwatch:
        self._w = time.perf_counter()
        self._c = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c


def load_average() -> float:
    """One-minute load average (0 where the OS does not say): how busy the machine was."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0
