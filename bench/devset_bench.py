"""Retrieval quality on real annual reports and on the reading-comprehension samples.

The dev set is ``../shared/devset/financebench`` beside the repository (13 10-K filings, 46
questions with one evidence page each); it is read, never copied, and the section is skipped
with a note when it is absent. The reading-comprehension set is ``samples/eval.jsonl`` over
``samples/`` (short single-topic files). Each is ingested once into a cache folder
(``$APPLIANCE_DEVSET_CACHE``, default ``<tmp>/appliance-devset``) named by a fingerprint of
the code and settings that decide the index, and reused by later runs; every string the
embedder saw is kept there too, so a rebuild after a change to chunking or context embeds only
what is new. The dev build's pages/s is reported when it was built in this run.

Every method is scored on the same indexes in one run: page hit@1, hit@5 and MRR of dense,
lexical and hybrid retrieval as shipped, then hybrid with the additions taken away one at a
time (``ABLATIONS``): the context vectors (passage vectors without their document/headings),
bm25 over the context column, the scope to documents a question names, page scoring, the lexical
query expansion and the statement pages a financial question asks about
(``appliance.statements``), and all of them at once (the retriever as it was). Context vectors
for other weights are rebuilt in memory from the cached text and context vectors. A table of
questions whose hybrid rank moved against that baseline follows, and the p50/p95 latency of
hybrid search on the dev index. No reranker is bundled, so there is no reranked row.

Left out: answers (``appliance eval --answers`` checks those), held-out filings (the dev set
is for measuring, not tuning: look at which questions move, not only at the totals).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance import context as context_mod
from appliance import retrieve as retrieve_mod
from appliance import statements as statements_mod
from appliance.config import Settings, load_settings
from appliance.evaluate import evaluate
from appliance.ingest import ingest
from appliance.retrieve import Retriever
from appliance.store import Store
from appliance.vectors import VectorIndex
from bench.report import Grid, SectionResult, median, percentile

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT.parent / "shared" / "devset" / "financebench"
SAMPLES = ROOT / "samples"
TARGET_HIT5 = 0.65
TARGET_HIT1 = 0.40
# What decides the index's content: a change to any of these rebuilds the cached indexes.
_INDEX_CODE = (
    "appliance/context.py",
    "appliance/chunking.py",
    "appliance/ingest.py",
    "appliance/loaders/pdf.py",
    "appliance/loaders/text.py",
    "appliance/loaders/html.py",
    "appliance/store.py",
)

Ablation = dict[str, Any]
ABLATIONS: dict[str, Ablation] = {
    "hybrid": {},
    "  without context vectors": {"vector_weight": 0.0},
    "  without bm25 on context": {"context_weight": 0.0},
    "  without naming scope": {"scope_weight": 0.0},
    "  without page scoring": {"page_scoring": False},
    "  without query expansion": {"expand": False},
    "  without statement pages": {"statement_weight": 0.0},
    "  5 lexical candidates (as before)": {"lexical_candidates": 5},
    "  without all (as before)": {
        "vector_weight": 0.0,
        "context_weight": 0.0,
        "scope_weight": 0.0,
        "page_scoring": False,
        "expand": False,
        "lexical_candidates": 5,
        "statement_weight": 0.0,
    },
    "  context vectors at weight 0.5": {"vector_weight": 0.5},
    "  context vectors at weight 1.0": {"vector_weight": 1.0},
    "  bm25 context weight 0.5": {"context_weight": 0.5},
    "  expansion for bm25 only": {"expand_dense": False},
    "  naming scope weight 3": {"scope_weight": 3.0},
    "  40 lexical candidates": {"lexical_candidates": 40},
    "  page score + 0.2 × second + 0.04 × third": {"page_decay": 0.2},
    "  statement pages at weight 1": {"statement_weight": 1.0},
    "  statement pages at weight 6": {"statement_weight": 6.0},
}
"""Hybrid as shipped, then with one addition taken away at a time, then other settings of
the same parts (rows of the table)."""
BASELINE = "  without all (as before)"
_SETTINGS = ("context_weight", "scope_weight", "page_scoring", "lexical_candidates")


def cache_dir() -> Path:
    return Path(os.environ.get("APPLIANCE_DEVSET_CACHE") or tempfile.gettempdir()) / (
        "appliance-devset"
    )


def fingerprint(settings: Settings) -> str:
    """Twelve hex digits over the index-deciding code, chunk settings and context weight."""
    digest = hashlib.sha256()
    for rel in _INDEX_CODE:
        path = ROOT / rel
        digest.update(path.read_bytes() if path.exists() else b"-")
    ing = settings.ingest
    digest.update(f"{ing.chunk_tokens}/{ing.chunk_overlap}/{context_mod.CONTEXT_WEIGHT}".encode())
    return digest.hexdigest()[:12]


class CachedEmbedder:
    """An embedder that remembers every string's vector (in memory, saved to a file)."""

    def __init__(self, inner: Any, path: Path) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.encoded = 0
        if path.exists():
            with np.load(path) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        missing = list(
            dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.vectors)
        )
        if missing:
            for t, v in zip(
                missing, self.inner.encode(missing, batch_size=batch_size), strict=True
            ):
                self.vectors[self.key(t)] = v
            self.encoded += len(missing)
        if not texts:
            return self.inner.encode([], batch_size=batch_size)
        return np.vstack([self.vectors[k] for k in keys]).astype(np.float32)

    def vector(self, text: str) -> np.ndarray:
        return self.vectors[self.key(text)]

    def token_counter(self) -> Any:
        return self.inner.token_counter()

    def save(self) -> None:
        if not self.vectors:
            return
        keys = np.array(list(self.vectors))
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=np.vstack(list(self.vectors.values())))
        os.replace(tmp, self.path)


@dataclass
class Built:
    index_dir: Path
    fresh: bool
    seconds: float
    pages: int
    chunks: int
    encoded: int


def build(docs: Path, index_dir: Path, embedder: CachedEmbedder) -> Built:
    """Ingest ``docs`` into ``index_dir`` unless a complete build is already there."""
    stamp = index_dir / "build.json"
    if stamp.exists():
        info = json.loads(stamp.read_text())
        return Built(index_dir, False, info["seconds"], info["pages"], info["chunks"], 0)
    before = embedder.encoded
    report = ingest([docs], load_settings(index_dir=index_dir), embedder=embedder)
    if report.failed:
        raise RuntimeError(f"ingest failed on {report.failed[:3]}")
    embedder.save()
    info = {"seconds": report.seconds, "pages": report.pages, "chunks": report.chunks}
    stamp.write_text(json.dumps(info))
    return Built(
        index_dir, True, report.seconds, report.pages, report.chunks, embedder.encoded - before
    )


def mixed_vectors(store: Store, embedder: CachedEmbedder, weight: float) -> VectorIndex:
    """The index's vectors as ingest would have made them with another context weight."""
    rows = store.conn.execute(
        "SELECT c.id, c.text, c.context FROM chunks c JOIN files f ON f.id = c.file_id "
        "WHERE f.status = 'ok' ORDER BY c.id"
    ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    text = np.vstack([embedder.vector(r[1]) for r in rows]).astype(np.float32)
    mixer = context_mod.ContextVectors(embedder, weight)
    vecs = mixer.mix(text, [r[2] for r in rows])
    vindex = VectorIndex.empty(vecs.shape[1], store.generation)
    vindex.add(ids, vecs)
    return vindex


@contextmanager
def variant(retriever: Retriever, embedder: CachedEmbedder, ablation: Ablation) -> Iterator[None]:
    """Apply an ablation to a retriever for the duration of the block."""
    cfg = retriever.settings.retrieval
    saved = cfg.model_copy()
    saved_vectors = (retriever._vectors, retriever._vectors_generation)
    saved_expand = retriever.expand_queries
    saved_dense = retriever.expand_dense
    saved_decay = retrieve_mod.PAGE_DECAY
    saved_statements = statements_mod.STATEMENT_WEIGHT
    try:
        statements_mod.STATEMENT_WEIGHT = ablation.get("statement_weight", saved_statements)
        retriever.expand_dense = ablation.get("expand_dense", saved_dense)
        retrieve_mod.PAGE_DECAY = ablation.get("page_decay", saved_decay)
        for name in _SETTINGS:
            if name in ablation:
                setattr(cfg, name, ablation[name])
        retriever.expand_queries = ablation.get("expand", True)
        weight = ablation.get("vector_weight")
        if weight is not None and weight != context_mod.CONTEXT_WEIGHT:
            retriever._vectors = mixed_vectors(retriever.store, embedder, weight)
            retriever._vectors_generation = retriever.store.generation
        yield
    finally:
        for name in _SETTINGS:
            setattr(cfg, name, getattr(saved, name))
        retriever.expand_queries = saved_expand
        retriever.expand_dense = saved_dense
        retrieve_mod.PAGE_DECAY = saved_decay
        statements_mod.STATEMENT_WEIGHT = saved_statements
        retriever._vectors, retriever._vectors_generation = saved_vectors


def score(eval_file: Path, retriever: Retriever) -> dict[str, Any]:
    return evaluate(eval_file, retriever).to_json()


def latency(retriever: Retriever, questions: list[str]) -> tuple[float, float]:
    """p50 and p95 milliseconds of ``search(q, 5)`` (hybrid), after a warm-up."""
    for q in questions[:3]:
        retriever.search(q, 5)
    ms = []
    for q in questions:
        t = time.perf_counter()
        retriever.search(q, 5)
        ms.append((time.perf_counter() - t) * 1000)
    return median(ms), percentile(ms, 95)


def run(workdir: Path, embedder: Any, *, quick: bool = False) -> SectionResult:
    """Build (or reuse) both indexes and score every method and ablation on them."""
    del workdir, quick  # the indexes live in the cache folder, reused between runs
    res = SectionResult("devset", "Retrieval quality: annual reports (dev set) and samples")
    if not (DEVSET / "questions.jsonl").exists():
        res.notes.append(f"skipped: no dev set at {DEVSET}")
        return res
    settings = load_settings()
    root = cache_dir() / fingerprint(settings)
    root.mkdir(parents=True, exist_ok=True)
    cached = CachedEmbedder(embedder, cache_dir() / "vectors.npz")
    sets = {
        "annual reports": (DEVSET, DEVSET / "questions.jsonl", root / "financebench"),
        "samples (reading comprehension)": (SAMPLES, SAMPLES / "eval.jsonl", root / "samples"),
    }
    grid = Grid(
        "Page hit@1 / hit@5 / MRR@10 per method",
        ["set", "method", "hit@1", "hit@5", "MRR"],
    )
    moved = Grid(
        "Dev-set questions whose hybrid rank moved (against the retriever as before)",
        ["question", "file p.", "before", "now"],
    )
    for label, (docs, questions, index_dir) in sets.items():
        built = build(docs, index_dir, cached)
        key = "dev" if docs == DEVSET else "samples"
        if built.fresh and built.encoded >= built.chunks:
            res.add(
                f"{key}_ingest_pages_per_s",
                f"{label}: ingest pages/s",
                built.pages / built.seconds if built.seconds else 0.0,
                "pages/s",
                f"{built.pages} pages, {built.chunks} chunks, {built.seconds:.0f} s",
            )
        else:
            res.notes.append(
                f"{label}: index reused or partly cached ({index_dir}); ingest rate: see the "
                "ingest section"
            )
        retriever = Retriever(load_settings(index_dir=index_dir), embedder=cached)
        try:
            results: dict[str, dict[str, Any]] = {}
            for name, ablation in ABLATIONS.items():
                with variant(retriever, cached, ablation):
                    results[name] = score(questions, retriever)
            shipped = results["hybrid"]
            for method in ("dense", "lexical", "hybrid"):
                m = shipped[method]
                grid.rows.append([label, method, m["hit@1"], m["hit@5"], m["mrr"]])
                for stat in ("hit@1", "hit@5", "mrr"):
                    res.add(
                        f"{key}_{method}_{stat}", f"{label} {method} {stat}", m[stat], show=False
                    )
            for name in list(ABLATIONS)[1:]:
                m = results[name]["hybrid"]
                grid.rows.append([label, name, m["hit@1"], m["hit@5"], m["mrr"]])
                slug = "_".join(name.split()[1:])
                res.add(
                    f"{key}_hybrid_{slug}_hit@5",
                    f"{label} hybrid {name.strip()}",
                    m["hit@5"],
                    show=False,
                )
            if key == "dev":
                res.target(
                    "dev_hybrid_hit5",
                    "dev set hybrid page hit@5",
                    shipped["hybrid"]["hit@5"],
                    TARGET_HIT5,
                    ">=",
                )
                res.target(
                    "dev_hybrid_hit1",
                    "dev set hybrid page hit@1",
                    shipped["hybrid"]["hit@1"],
                    TARGET_HIT1,
                    ">=",
                )
                before = results[BASELINE]["per_question"]
                items = [
                    json.loads(line) for line in questions.read_text().splitlines() if line.strip()
                ]
                for old, new, item in zip(before, shipped["per_question"], items, strict=True):
                    a, b = old["ranks"]["hybrid"], new["ranks"]["hybrid"]
                    if a != b:
                        moved.rows.append(
                            [
                                item["question"][:60],
                                f"{item['file'][:16]} {item['page']}",
                                _rank(a),
                                _rank(b),
                            ]
                        )
                qs = [item["question"] for item in items]
                p50, p95 = latency(retriever, qs)
                res.add(
                    "dev_hybrid_p50_ms",
                    f"{label}: hybrid search p50",
                    p50,
                    "ms",
                    f"{built.chunks} chunks",
                )
                res.add("dev_hybrid_p95_ms", f"{label}: hybrid search p95", p95, "ms")
            else:
                res.target(
                    "samples_hybrid_hit1",
                    "samples hybrid hit@1",
                    shipped["hybrid"]["hit@1"],
                    0.9,
                    ">=",
                )
        finally:
            retriever.close()
    cached.save()
    res.grids += [grid, moved]
    res.notes.append(
        "ranks over the top 10; '-' = not found; 100k-chunk latency: retrieval section"
    )
    return res


def _rank(rank: int | None) -> str:
    return "-" if rank is None else str(rank)
