"""``python -m bench [SECTION…] [--quick] [--json FILE]``; sections: ``ingest``, ``retrieval``,
``ttft``, ``ocr``, ``devset``, ``ray``, ``answers``.

Runs the named sections (all by default) in one process, sharing one loaded embedder, in a
temporary folder that is removed afterwards whatever happens. Prints a table per section and
a summary of the targets; ``--json`` also writes every number to a file. Network access is
refused for the whole run (``appliance.egress``) and the Hugging Face stack is kept offline.
Exit status: 0 when every target passed, 1 when one missed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.report import SectionResult, load_average, render

SECTIONS = ("ingest", "retrieval", "ttft", "ocr", "devset", "ray", "answers")
Runner = Callable[[Path, Any], SectionResult]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the appliance: ratios against baselines measured in the "
        "same run, plus the absolute numbers.",
    )
    parser.add_argument(
        "sections",
        nargs="*",
        metavar="SECTION",
        help=f"which to run: {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller inputs (under 2 minutes)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write all numbers here")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}: choose from {', '.join(SECTIONS)}")
    args.sections = list(dict.fromkeys(args.sections)) or list(SECTIONS)
    return args


def _runner(name: str, quick: bool, load_s: float) -> Runner:
    """The section's ``run`` (imported only when it is wanted)."""
    if name == "ingest":
        from bench import ingest_bench

        return lambda d, e: ingest_bench.run(d, e, quick=quick, load_seconds=load_s)
    if name == "retrieval":
        from bench import retrieval_bench

        return lambda d, e: retrieval_bench.run(d, e, quick=quick)
    if name == "ray":  # needs the optional extra: a note instead when Ray is not installed
        from bench import ray_bench

        return lambda d, e: ray_bench.run(d, e, quick=quick, load_seconds=load_s)
    if name == "devset":
        from bench import devset_bench

        return lambda d, e: devset_bench.run(d, e, quick=quick)
    if name == "answers":
        from bench import answers_bench

        return lambda d, e: answers_bench.run(d, e, quick=quick)
    if name == "ocr":
        from bench import ocr_bench

        return lambda d, e: ocr_bench.run(d, e, quick=quick)
    from bench import ttft_bench

    return lambda d, e: ttft_bench.run(d, e, quick=quick)


def machine() -> dict[str, Any]:
    import numpy
    import torch

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }


def summary(console: Console, results: list[SectionResult], seconds: float) -> None:
    table = Table(title=f"Targets  (total {seconds:.0f} s)", title_justify="left")
    table.add_column("section")
    table.add_column("target")
    table.add_column("value", justify="right")
    table.add_column("limit", justify="right")
    table.add_column("result")
    for r in results:
        for t in r.targets:
            verdict = "[bold green]PASS[/]" if t.passed else "[bold red]MISS[/]"
            table.add_row(r.name, t.label, f"{t.value:.3g}", f"{t.direction} {t.limit:g}", verdict)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from appliance import egress
    from appliance.offline import ensure_offline

    ensure_offline()
    egress.install()
    from appliance.embedding import Embedder

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    started = time.perf_counter()
    load_before = load_average()
    embedder = Embedder()
    t = time.perf_counter()
    embedder.encode(["load the model"])
    load_s = time.perf_counter() - t
    info = machine()
    console.print(
        f"[bold]appliance benchmarks[/] {'(quick) ' if args.quick else ''}· "
        f"{info['cpus']} CPUs, torch {info['torch']} ({info['torch_threads']} threads), "
        f"Python {info['python']} · load average {load_before:.1f} · "
        f"embedder loaded in {load_s:.1f} s\n"
    )
    results: list[SectionResult] = []
    loads: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="appliance-bench-") as tmp:
        for name in args.sections:
            workdir = Path(tmp) / name
            workdir.mkdir()
            console.print(f"[dim]running {name}…[/]")
            before = load_average()
            t = time.perf_counter()
            result = _runner(name, args.quick, load_s)(workdir, embedder)
            result.seconds = time.perf_counter() - t
            loads[name] = load_average()
            busiest = max(before, loads[name])
            result.notes.append(f"load average before/after: {before:.1f} / {loads[name]:.1f}")
            if busiest > (os.cpu_count() or 1):
                result.warnings.append(
                    f"the machine was busy (load {busiest:.1f} on {os.cpu_count()} CPUs): "
                    "absolute times are inflated and ratios noisier than usual"
                )
            render(console, result)
            results.append(result)
    total = time.perf_counter() - started
    summary(console, results, total)
    if args.json:
        payload = {
            "quick": args.quick,
            "machine": info,
            "embedder_load_s": round(load_s, 3),
            "load_average": {"start": load_before, **loads},
            "total_seconds": round(total, 1),
            "sections": {r.name: r.to_json() for r in results},
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"numbers written to {args.json}")
    return 0 if all(t.passed for r in results for t in r.targets) else 1


if __name__ == "__main__":
    sys.exit(main())
