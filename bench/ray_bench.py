"""Ingest through Ray on this machine against in-process, and a scaling estimate for N nodes.

Three runs on one synthetic corpus (``bench.corpus``), default settings, each into a new index:

- **in-process**: ``ingest`` with the embedder the bench loaded beforehand;
- **Ray**: the same through a Ray cluster of this machine (loopback, all cores), documents
  as bytes through the object store; its embedder actors load their own model, and that start
  is part of the run (reported apart too). Starting the cluster is not: a team's cluster is up
  before anyone ingests; it is reported on its own line;
- **the writer alone**: the chunks the Ray run stored, replayed (several times over, as new
  files) through the ingest writer with vectors from a hash: SQLite, FTS5 and FAISS work per
  chunk in the coordinating process, the ceiling no number of embedder actors can lift.

Overhead of the Ray path = Ray seconds / (in-process seconds + embedder load) − 1, target
≤ 15 % on 2 cores: as a user waits for ``appliance ingest`` either way, each path loading the
model once (the bench loaded it before the in-process run; the Ray actors load their own
inside the run, while the first files parse). Without the load: reported beside it.

Scaling model (stated in the output): throughput on N nodes of C cores is
``min(N × C × r_core, r_writer)``, where ``r_core`` is one actor's measured chunks/s (texts
over seconds inside ``encode``, on the actor's side) divided by its threads, and ``r_writer``
is the writer-alone rate. It assumes embedding scales with cores (true for CPU actors on
separate nodes; threads within one actor scale less than linearly, so it is optimistic within
a node), parse tasks keep pace (they run beside the actors on every node), and the network
carries the documents and vectors (a 10 MB PDF per second is 80 Mbit/s).

Left out: GPU actors (no GPU here), several real nodes (one machine; the model replaces them).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.chunking import HFTokenCounter
from appliance.config import load_settings
from appliance.embedding import Embedder
from appliance.ingest import IngestReport, ingest
from bench.corpus import write_corpus
from bench.report import Grid, SectionResult

TARGET_OVERHEAD = 0.15
NODES = (1, 2, 4, 8, 16, 32)


class HashVectors:
    """Picklable stand-in embedder for actors: the real token counter, vectors from a hash."""

    model_id = "bench:hash-vectors"

    def __init__(self, model_dir: Path, dimension: int) -> None:
        self.model_dir = model_dir
        self.dimension = dimension

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        import hashlib

        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dimension)
            out[i] = v / np.linalg.norm(v)
        return out

    def token_counter(self) -> HFTokenCounter:
        return HFTokenCounter(self.model_dir)


def _ingest(docs: Path, index: Path, embedder: Any, **ray: Any) -> IngestReport:
    settings = load_settings(index_dir=index, ingest=ray or None)
    report = ingest([docs], settings, embedder=embedder)
    if report.failed:
        raise RuntimeError(f"ingest failed on {report.failed[:3]}")
    return report


def writer_rate(src: Path, dst: Path, embedder: HashVectors, min_chunks: int = 3000) -> float:
    """Chunks/s of the ingest writer alone, replaying the chunks stored in ``src``."""
    from appliance.chunking import Chunk
    from appliance.ingest import Candidate, _Begin, _Embedding, _End
    from appliance.store import Store
    from appliance.writer import IndexWriter

    with Store.open(src) as store:
        files = store.conn.execute("SELECT id, relpath, kind, sha256, size, pages FROM files")
        chunks: dict[int, list[Chunk]] = {}
        meta = files.fetchall()
        for fid, page, start, end, text, tokens, sensitive, context in store.conn.execute(
            "SELECT file_id, page, start, end, text, tokens, sensitive, context FROM chunks "
            "ORDER BY file_id, seq"
        ):
            chunk = Chunk(page, start, end, text, tokens, bool(sensitive), context=context)
            chunks.setdefault(fid, []).append(chunk)
    total = sum(len(c) for c in chunks.values())
    rounds = max(1, -(-min_chunks // max(1, total)))
    with IndexWriter.open(dst, embedder.model_id) as index:
        writer = _Embedding(index, embedder, 32, IngestReport())
        t = time.perf_counter()
        for r in range(rounds):
            for fid, rel, kind, sha, size, pages in meta:
                path = f"/replay/{r}/{rel}"
                begin = _Begin(Candidate(path, "/replay", f"{r}/{rel}"), kind, sha, size, 0, True)
                new = writer.begin(begin)
                writer.add(new, chunks.get(fid, []))
                writer.end(new, begin, _End(pages, []))
        writer.flush()
        index.save()
        seconds = time.perf_counter() - t
    return rounds * total / seconds


def run(
    workdir: Path, embedder: Embedder, *, quick: bool = False, load_seconds: float = 0.0
) -> SectionResult:
    res = SectionResult("ray", "Ingest through Ray on this machine vs in-process; N-node estimate")
    if importlib.util.find_spec("ray") is None:
        res.notes.append("Ray is not installed (make install EXTRAS=ray): section skipped")
        return res
    from appliance import ingest_ray

    add = res.add
    kw = {"pdfs": 4, "pages": 5, "texts": 8} if quick else {"pdfs": 12, "pages": 8, "texts": 20}
    corpus = write_corpus(workdir / "docs", **kw)
    cpus = os.cpu_count() or 1
    add("corpus_files", "corpus files", corpus.files, "files", f"{corpus.pdf_pages} PDF pages")

    local = _ingest(corpus.root, workdir / "local", embedder)
    add("inproc_s", "in-process: seconds", local.seconds, "s", f"{local.chunks} chunks")
    add("inproc_chunks_per_s", "in-process: chunks/s", local.chunks / local.seconds, "chunks/s")

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
    import ray

    t = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ray_logger = logging.getLogger("ray")
    ray_logger.setLevel(logging.ERROR)
    add("cluster_start_s", "local Ray cluster start (not charged)", time.perf_counter() - t, "s")
    try:
        address = ray.get_runtime_context().gcs_address
        remote = _ingest(corpus.root, workdir / "ray", embedder, ray_address=address)
        stats = ingest_ray.last_run
    finally:
        ray.shutdown()
    if remote.chunks != local.chunks:
        res.warnings.append(f"Ray stored {remote.chunks} chunks, in-process {local.chunks}")
    add("ray_s", "Ray: seconds", remote.seconds, "s", "actor start and model load included")
    add("ray_chunks_per_s", "Ray: chunks/s", remote.chunks / remote.seconds, "chunks/s")
    start = stats.actor_start_s if stats else 0.0
    add("ray_actor_wait_s", "  writer waiting for the actors to start", start, "s")
    add("embedder_load_s", "embedder load (in-process, before its run)", load_seconds, "s")
    overhead = remote.seconds / (local.seconds + load_seconds) - 1
    bare = remote.seconds / local.seconds - 1
    add("ray_overhead_no_load", "Ray s / in-process s − 1, load not counted", bare, "×")
    label = "Ray s / (in-process s + model load) − 1"
    res.target("ray_overhead", label, overhead, TARGET_OVERHEAD, "<=")

    hashed = HashVectors(embedder.path, embedder.dimension)
    writer = writer_rate(workdir / "ray", workdir / "replay", hashed)
    add("writer_chunks_per_s", "the writer alone: chunks/s (r_writer)", writer, "chunks/s")
    if not stats or not stats.per_actor or not any(busy for _, _, busy in stats.per_actor):
        res.notes.append("the actors' own timings were not available: no scaling estimate")
        return res
    texts = sum(n for _, n, _ in stats.per_actor)
    busy = sum(b for _, _, b in stats.per_actor)
    actor_rate = texts / busy
    threads = min(load_settings().ingest.ray_cpus_per_actor, cpus)
    per_core = actor_rate / threads
    add("actors", "embedder actors", stats.actors, "", f"{threads} threads each")
    add("actor_chunks_per_s", "one actor: chunks/s while encoding", actor_rate, "chunks/s")
    add("core_chunks_per_s", "per core (r_core)", per_core, "chunks/s")
    grid = Grid(
        "Estimate: chunks/s = min(N × C × r_core, r_writer); hours for 1M chunks",
        ["nodes N", f"C = {cpus}", "hours", "C = 16", "hours", "bound (C = 16)"],
    )
    for n in NODES:
        small = min(n * cpus * per_core, writer)
        big = min(n * 16 * per_core, writer)
        bound = "writer" if n * 16 * per_core >= writer else "embedding"
        grid.rows.append([n, small, 1e6 / small / 3600, big, 1e6 / big / 3600, bound])
    res.grids.append(grid)
    res.notes.append(
        "model: N nodes of C cores embed N × C × r_core chunks/s (one actor per "
        f"{load_settings().ingest.ray_cpus_per_actor} cores), capped by the single writer's "
        "r_writer (measured with hash vectors computed in-process: a lower bound)"
    )
    return res
