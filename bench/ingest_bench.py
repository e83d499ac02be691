"""Ingestion throughput against bare embedding, re-ingest latency, and PDF parser speed.

Three measurements, each against a baseline taken in the same run:

- **pipeline vs bare**: ``appliance.ingest.ingest`` on the synthetic corpus (embedder loaded
  beforehand, so this is about the pipeline), then ``SentenceTransformer.encode`` alone on
  exactly the chunk texts the pipeline stored, same batch size. The ratio of their
  throughputs is what the pipeline (parsing, chunking, labelling, SQLite, FAISS) costs on top
  of the model. The pipeline's embedder is wrapped to time its ``encode`` calls and the token
  padding they implied, so a miss can be told apart: time outside ``encode`` is serial
  overhead; ``encode`` slower than bare is contention (the parser thread against torch's
  threads) or extra padding (small batches sorted by length less well).
- **re-ingest**: an unchanged folder of a thousand small files, in-process and as the user
  feels it (``appliance ingest DIR --index IDX --json`` in a subprocess, wall clock). Its
  first ingest takes vectors from a hash instead of the model (the re-ingest embeds nothing),
  so that number is the pipeline's own cost per file. The CPU-time ratio beside the
  wall-clock one is steadier when other processes share the machine.
- **parsers**: pages/s of ``PdfLoader`` with pypdfium2 and with pypdf, on the generated PDFs
  and, when ``../shared/devset/financebench`` exists, on the first pages of those 10-Ks.

Left out: DOCX/HTML loaders, GPU embedding, very large files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from appliance.config import Settings, load_settings
from appliance.embedding import Embedder
from appliance.ingest import IngestReport, default_labeler, ingest
from appliance.loaders.pdf import Engine, PdfLoader
from bench.corpus import write_corpus, write_small_files
from bench.report import SectionResult, Stopwatch, median

TARGET_RATIO = 0.85
TARGET_REINGEST_S = 2.0
DEVSET = Path(__file__).resolve().parent.parent.parent / "shared" / "devset" / "financebench"


class TimedEmbedder:
    """Wraps an ``Embedder``: the seconds spent in ``encode`` and the texts of each call."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.seconds = 0.0
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], batch_size: int = 32) -> Any:
        t = time.perf_counter()
        try:
            return self.inner.encode(texts, batch_size=batch_size)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls.append(list(texts))

    def token_counter(self) -> Any:
        return self.inner.token_counter()


def padded_tokens(groups: Sequence[Sequence[str]], embedder: Embedder, batch_size: int) -> int:
    """Tokens the model actually runs for ``encode`` called once per group.

    sentence-transformers sorts each call's texts by length (longest first) and pads each
    batch to its longest text, truncating at the model's ``max_seq_length``.
    """
    tok = embedder.model.tokenizer
    limit = int(embedder.model.max_seq_length)
    total = 0
    for group in groups:
        lengths = sorted(
            (
                min(len(ids), limit)
                for ids in tok(list(group), add_special_tokens=True)["input_ids"]
            ),
            reverse=True,
        )
        for i in range(0, len(lengths), batch_size):
            batch = lengths[i : i + batch_size]
            total += batch[0] * len(batch)
    return total


class HashEmbedder:
    """Stands in for the model where only the index's shape matters: the real model's id and
    token counter, vectors from a hash of each text (no torch, nearly free)."""

    def __init__(self, real: Embedder) -> None:
        self.real = real
        self.model_id = real.model_id
        self.dimension = int(real.encode(["dimension"]).shape[1])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dimension)
            out[i] = v / np.linalg.norm(v)
        return out

    def token_counter(self) -> Any:
        return self.real.token_counter()


@dataclass
class PipelineNumbers:
    """One pipeline run and its bare baseline (seconds are wall clock unless ``cpu``)."""

    report: IngestReport
    wall: float
    cpu: float
    encode_seconds: float
    encode_calls: int
    label_seconds: float
    bare_wall: float
    bare_cpu: float
    chunks: int
    padded_pipeline: int
    padded_bare: int
    notes: list[str] = field(default_factory=list)

    @property
    def pipeline_rate(self) -> float:
        return self.chunks / self.wall

    @property
    def bare_rate(self) -> float:
        return self.chunks / self.bare_wall

    @property
    def ratio(self) -> float:
        return self.pipeline_rate / self.bare_rate

    @property
    def cpu_ratio(self) -> float:
        return self.bare_cpu / self.cpu if self.cpu else 0.0


def chunk_texts(index_dir: Path) -> list[str]:
    """Every chunk text in the index, in insertion order."""
    conn = sqlite3.connect(index_dir / "index.sqlite")
    try:
        return [text for (text,) in conn.execute("SELECT text FROM chunks ORDER BY id")]
    finally:
        conn.close()


def pipeline_vs_bare(docs: Path, index_dir: Path, embedder: Embedder) -> PipelineNumbers:
    """Ingest ``docs`` into a new index, then encode the stored chunk texts bare."""
    settings = load_settings(index_dir=index_dir)
    batch = settings.ingest.batch_size
    timed = TimedEmbedder(embedder)
    labeler = default_labeler(settings)
    label_time = [0.0]

    def timed_labeler(cand: Any, section: Any, chunks: Any) -> None:
        t = time.perf_counter()
        if labeler is not None:
            labeler(cand, section, chunks)
        label_time[0] += time.perf_counter() - t

    with Stopwatch() as sw:
        report = ingest([docs], settings, embedder=timed, labeler=timed_labeler)
    if report.failed:
        raise RuntimeError(f"ingest failed on {report.failed[:3]}")
    texts = chunk_texts(index_dir)
    embedded = [t for call in timed.calls for t in call]
    notes = []
    extra = Counter(embedded) - Counter(texts)
    if not Counter(texts) - Counter(embedded) and extra:
        # Chunk contexts (``appliance.context``) are embedded beside the texts: bare encodes
        # the stored texts only, so what the contexts cost counts against the pipeline.
        notes.append(
            f"the pipeline also embeds {extra.total()} chunk contexts (counted against it)"
        )
    elif sorted(embedded) != sorted(texts):  # ingest embeds something else than it stores
        notes.append("the pipeline embeds other texts than it stores: bare encodes those")
        texts = embedded
    with Stopwatch() as bare:
        embedder.model.encode(
            texts,
            batch_size=batch,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return PipelineNumbers(
        report=report,
        wall=sw.wall,
        cpu=sw.cpu,
        encode_seconds=timed.seconds,
        encode_calls=len(timed.calls),
        label_seconds=label_time[0],
        bare_wall=bare.wall,
        bare_cpu=bare.cpu,
        chunks=len(texts),
        padded_pipeline=padded_tokens(timed.calls, embedder, batch),
        padded_bare=padded_tokens([texts], embedder, batch),
        notes=notes,
    )


@dataclass
class ReingestNumbers:
    """A first ingest of a folder, then re-ingests of it unchanged."""

    files: int
    first_seconds: float
    first_chunks: int
    again_seconds: float
    unchanged: int
    cli_walls: list[float]
    cli_unchanged: int


def cli_path() -> Path:
    """The ``appliance`` script of the running virtualenv."""
    return Path(sys.executable).parent / "appliance"


def reingest(
    docs: Path, index_dir: Path, embedder: Embedder, *, cli_runs: int = 3
) -> ReingestNumbers:
    """First ingest of ``docs``, then the unchanged re-ingest in-process and by the CLI.

    The first ingest takes its vectors from a ``HashEmbedder``: what is measured is the
    re-ingest, which embeds nothing, and the index still records the real model's id, so the
    CLI (with the real model) accepts it.
    """
    settings: Settings = load_settings(index_dir=index_dir)
    first = ingest([docs], settings, embedder=HashEmbedder(embedder))
    again = ingest([docs], settings, embedder=embedder)
    walls: list[float] = []
    unchanged = 0
    for _ in range(cli_runs):
        t = time.perf_counter()
        proc = subprocess.run(
            [str(cli_path()), "ingest", str(docs), "--index", str(index_dir), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        walls.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise RuntimeError(f"appliance ingest failed: {proc.stderr.strip()[-500:]}")
        unchanged = int(json.loads(proc.stdout)["unchanged"])
    return ReingestNumbers(
        files=first.added,
        first_seconds=first.seconds,
        first_chunks=first.chunks,
        again_seconds=again.seconds,
        unchanged=again.unchanged,
        cli_walls=walls,
        cli_unchanged=unchanged,
    )


def parse_rate(
    pdfs: Sequence[Path], engine: Engine, max_pages: int | None = None
) -> tuple[int, float]:
    """(pages, seconds) for ``PdfLoader(engine)`` over ``pdfs`` (first ``max_pages`` each)."""
    loader = PdfLoader(engine=engine)
    pages = 0
    t = time.perf_counter()
    for path in pdfs:
        sections = loader.load(path, notes=[])
        try:
            pages += sum(1 for _ in itertools.islice(sections, max_pages))
        finally:
            close = getattr(sections, "close", None)
            if close is not None:
                close()
    return pages, time.perf_counter() - t


def parsers(
    result: SectionResult, label: str, key: str, pdfs: Sequence[Path], max_pages: int | None
) -> None:
    fast_pages, fast_s = parse_rate(pdfs, "pdfium", max_pages)
    slow_pages, slow_s = parse_rate(pdfs, "pypdf", max_pages)
    scope = f"{len(pdfs)} files" + (f", first {max_pages} pages each" if max_pages else "")
    result.add(f"{key}_pages", f"{label}: pages parsed", fast_pages, "pages", scope)
    result.add(f"{key}_pdfium_pages_per_s", f"{label}: pypdfium2", fast_pages / fast_s, "pages/s")
    result.add(f"{key}_pypdf_pages_per_s", f"{label}: pypdf", slow_pages / slow_s, "pages/s")
    result.add(
        f"{key}_pdfium_speedup",
        f"{label}: pypdfium2 / pypdf",
        (fast_pages / fast_s) / (slow_pages / slow_s),
        "×",
    )
    if fast_pages != slow_pages:
        result.notes.append(f"{label}: pdfium yielded {fast_pages} text pages, pypdf {slow_pages}")


def run(
    workdir: Path, embedder: Embedder, *, quick: bool = False, load_seconds: float | None = None
) -> SectionResult:
    """Write the corpora, then time the pipeline, the re-ingests and the parsers.

    ``load_seconds`` is how long loading the embedder took (the caller loads it first).
    """
    res = SectionResult("ingest", "Ingest: pipeline vs bare encode, re-ingest, PDF parsers")
    add = res.add
    if load_seconds is not None:
        add("embedder_load_s", "embedder load + first encode", load_seconds, "s", "untimed below")
    kw = {"pdfs": 6, "pages": 5, "texts": 10} if quick else {}
    corpus = write_corpus(workdir / "docs", **kw)
    add(
        "corpus_files",
        "corpus files",
        corpus.files,
        "files",
        f"{len(corpus.pdfs)} PDFs ({corpus.pdf_pages} pages), {len(corpus.texts)} md/txt",
    )

    n = pipeline_vs_bare(corpus.root, workdir / "index", embedder)
    r = n.report
    add("pipeline_chunks", "pipeline: chunks", r.chunks, "chunks")
    add("pipeline_pages", "pipeline: PDF pages", r.pages, "pages")
    add("pipeline_seconds", "pipeline: seconds", r.seconds, "s")
    add("pipeline_chunks_per_s", "pipeline: chunks/s", r.chunks / r.seconds, "chunks/s")
    add("pipeline_pages_per_s", "pipeline: pages/s", r.pages / r.seconds, "pages/s")
    add(
        "pipeline_encode_s",
        "  time inside encode()",
        n.encode_seconds,
        "s",
        f"{n.encode_calls} calls",
    )
    add(
        "pipeline_other_s",
        "  main thread outside encode()",
        n.wall - n.encode_seconds,
        "s",
        "waiting for the parser thread, SQLite, FAISS",
    )
    add("pipeline_label_s", "  privacy labelling (parser thread)", n.label_seconds, "s")
    add("bare_seconds", "bare encode: seconds", n.bare_wall, "s", f"same {n.chunks} texts")
    add("bare_chunks_per_s", "bare encode: chunks/s", n.bare_rate, "chunks/s")
    add(
        "encode_slowdown",
        "encode() in pipeline / bare encode",
        n.encode_seconds / n.bare_wall,
        "×",
        "> 1: contention or padding",
    )
    add(
        "padded_tokens_ratio",
        "padded tokens, pipeline / bare",
        n.padded_pipeline / n.padded_bare,
        "×",
        f"{n.padded_pipeline:,} vs {n.padded_bare:,}",
    )
    add(
        "cpu_ratio",
        "CPU seconds, bare / pipeline",
        n.cpu_ratio,
        "×",
        f"{n.bare_cpu:.0f} vs {n.cpu:.0f} CPU s (all threads)",
    )
    res.target("pipeline_ratio", "pipeline / bare chunks/s", n.ratio, TARGET_RATIO, ">=")
    res.notes += n.notes

    again = ingest([corpus.root], load_settings(index_dir=workdir / "index"), embedder=embedder)
    add(
        "corpus_reingest_s",
        "re-ingest of the unchanged corpus (in-process)",
        again.seconds,
        "s",
        f"{again.unchanged} files unchanged",
    )

    count = len(write_small_files(workdir / "small", 1000))
    re = reingest(workdir / "small", workdir / "index_small", embedder)
    add(
        "small_first_s",
        f"{count} small files: first ingest",
        re.first_seconds,
        "s",
        f"{re.first_chunks} chunks; vectors from a hash: the pipeline's own cost",
    )
    add(
        "small_reingest_s",
        f"{count} small files: re-ingest (in-process)",
        re.again_seconds,
        "s",
        f"{re.unchanged} unchanged",
    )
    cli = median(re.cli_walls)
    add(
        "small_reingest_cli_s",
        f"{count} small files: `appliance ingest --json`",
        cli,
        "s",
        f"wall, subprocess; median of {len(re.cli_walls)}, min {min(re.cli_walls):.2f} s",
    )
    res.target(
        "reingest_cli_s",
        f"CLI re-ingest, {count} unchanged files (s)",
        cli,
        TARGET_REINGEST_S,
        "<=",
    )

    parsers(res, "generated PDFs", "gen", corpus.pdfs, None)
    devset = sorted(DEVSET.glob("*.pdf")) if DEVSET.is_dir() else []
    if devset:
        parsers(res, "financebench 10-Ks", "fb", devset, 5 if quick else 20)
    else:
        res.notes.append(f"{DEVSET} not found: real-PDF parser numbers skipped")
    return res
