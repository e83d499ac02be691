"""Smoke test of the benchmarks (``python -m bench``): each section's core on tiny inputs.

Real models (embedder and the bundled GGUF), a few files, a 500-chunk synthetic index and one
question about a one-file corpus: it checks that every number comes out positive and that the
ratios are computed, not how fast anything is.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bench import ingest_bench, retrieval_bench, ttft_bench
from bench.__main__ import SECTIONS, parse_args
from bench.corpus import queries, write_corpus, write_small_files
from bench.report import SectionResult, percentile, render

pytestmark = pytest.mark.slow


def test_corpus_is_deterministic(tmp_path: Path) -> None:
    a = write_corpus(tmp_path / "a", pdfs=1, pages=2, texts=2)
    b = write_corpus(tmp_path / "b", pdfs=1, pages=2, texts=2)
    assert a.pdf_pages == 2 and a.files == 3 and a.words == b.words > 500
    assert [p.read_text() for p in a.texts] == [p.read_text() for p in b.texts]
    assert a.pdfs[0].read_bytes() == b.pdfs[0].read_bytes()
    assert queries(3) == queries(3)


def test_ingest_core(tmp_path: Path, real_embedder: Any) -> None:
    corpus = write_corpus(tmp_path / "docs", pdfs=2, pages=2, texts=2)
    n = ingest_bench.pipeline_vs_bare(corpus.root, tmp_path / "index", real_embedder)
    assert n.chunks == n.report.chunks > 0 and n.report.pages == 4
    assert n.pipeline_rate > 0 and n.bare_rate > 0 and n.ratio > 0 and n.cpu_ratio > 0
    assert n.padded_pipeline >= n.padded_bare > 0

    write_small_files(tmp_path / "small", 12)
    r = ingest_bench.reingest(
        tmp_path / "small", tmp_path / "index_small", real_embedder, cli_runs=1
    )
    assert r.files == r.unchanged == r.cli_unchanged == 12
    assert r.first_seconds > 0 and r.again_seconds > 0 and r.cli_walls[0] > 0

    for engine in ("pdfium", "pypdf"):
        pages, seconds = ingest_bench.parse_rate(corpus.pdfs, engine, max_pages=1)
        assert pages == 2 and seconds > 0


def test_retrieval_core(tmp_path: Path, real_embedder: Any) -> None:
    index = tmp_path / "index"
    retrieval_bench.build_index(index, 500, per_file=250)
    qs = queries(6)
    timings, overlap = retrieval_bench.measure(index, real_embedder, qs, alternatives=True)
    assert {"hybrid", "dense", "lexical"} | set(retrieval_bench.ALTERNATIVES) <= set(timings)
    assert all(t["max"] >= t["p95"] >= t["p50"] > 0 for t in timings.values())
    assert set(overlap) == {n for n in retrieval_bench.ALTERNATIVES if n.startswith("lexical")}
    assert all(0.0 <= share <= 1.0 for share in overlap.values())
    assert retrieval_bench.lexical_matches(index, qs) > 0


def test_ttft_core(tmp_path: Path, real_embedder: Any) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lease.txt").write_text(
        "Lease of Unit 3, Calder Wharf.\n\nThe lease of Unit 3 ends on 28 February 2034. "
        "The security deposit is £29,250, held by the landlord.\n"
    )
    n = ttft_bench.measure(
        tmp_path / "index",
        real_embedder,
        ["When does the lease of Unit 3 end?"],
        repeats=1,
        docs=docs,
    )
    assert len(n.ask_ms) == len(n.bare_ms) == 1 and not n.skipped
    assert n.ask_ms[0] > 0 and n.bare_ms[0] > 0 and n.prompt_tokens[0] > 0
    assert n.ratio > 0


def test_report_and_arguments() -> None:
    result = SectionResult("x", "X")
    result.add("a", "a value", 1.5, "s")
    result.target("r", "a ratio", 0.9, 0.85, ">=")
    result.target("t", "a time", 3.0, 2.0, "<=")
    assert [t.passed for t in result.targets] == [True, False]
    assert result.to_json()["targets"]["t"]["result"] == "MISS"
    out = io.StringIO()
    render(Console(file=out, width=100), result)
    assert "PASS" in out.getvalue() and "MISS" in out.getvalue()
    assert percentile([1, 2, 3, 4], 50) == 2.5
    args = parse_args(["ttft", "--quick"])
    assert args.sections == ["ttft"] and args.quick
    assert parse_args([]).sections == list(SECTIONS)  # every section, in order
    assert {"ingest", "retrieval", "ttft", "ocr"} <= set(SECTIONS)
