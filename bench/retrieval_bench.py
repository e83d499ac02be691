"""Retrieval latency at 10k and 100k chunks: hybrid, and dense-only / lexical-only beside it.

Indexes are built without the embedder, straight through ``appliance.writer.IndexWriter``:
synthetic chunk texts (Zipf-distributed words, about 150 each, see ``bench.corpus``) with random
unit vectors (float32, 384 dimensions), a thousand chunks per file; the writer saves the FAISS
file. Searches go through the real ``Retriever`` with the real
embedder, so the query embedding is part of each latency: ``search(query, 5)`` over about a
hundred natural-language questions, after a warm-up, reporting p50 and p95 in milliseconds,
with the two pieces of dense search (query embedding, FAISS) timed on their own.

The dense numbers measure speed only (random vectors carry no meaning); the lexical ones use
realistic term statistics, which is what decides FTS5's cost. On the 100k index (not with
``--quick``) alternatives are timed too, as subclasses of ``Retriever`` here (the library is
unchanged): dropping very common words from the lexical query (their document frequency read
from ``fts5vocab``), or keeping only the rarest few. For the lexical variants,
"shared" is the part of the shipped lexical top 5 they also return. All timings are
interleaved query by query, so load from elsewhere hits every variant alike. Left out:
relevance (``appliance eval`` measures it), path filters, the reranker.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from appliance.chunking import Chunk
from appliance.config import load_settings
from appliance.embedding import DEFAULT_MODEL_ID
from appliance.retrieve import Method, Retriever, fts_query
from appliance.store import Store
from appliance.writer import Finished, IndexWriter
from bench.corpus import queries, synthetic_chunks
from bench.report import Grid, SectionResult, Stopwatch, median, percentile

DIM = 384
TARGET_P95_MS = 50.0
Timings = dict[str, float]


def build_index(index_dir: Path, chunks: int, *, per_file: int = 1000, seed: int = 2) -> None:
    """Write a synthetic index of ``chunks`` chunks (``per_file`` per file) and its FAISS file."""
    rng = np.random.default_rng(seed)
    texts = synthetic_chunks(chunks, seed=seed)
    with IndexWriter.open(index_dir, DEFAULT_MODEL_ID) as writer:
        for first in range(0, chunks, per_file):
            n = min(per_file, chunks - first)
            vecs = rng.standard_normal((n, DIM), dtype=np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            items: list[Chunk] = []
            pos = 0
            for _ in range(n):
                text = next(texts)
                items.append(Chunk(None, pos, pos + len(text), text, len(text.split())))
                pos += len(text) + 2
            relpath = f"file_{first // per_file:05d}.txt"
            sha = hashlib.sha256(relpath.encode()).hexdigest()
            fid = writer.begin_file(
                f"/synthetic/{relpath}", "/synthetic", relpath, "text", sha, pos, 0
            )
            writer.add_chunks([(fid, c) for c in items], vecs)
            writer.commit([Finished(fid, None, [])])
        writer.save()


# -- alternatives (prototypes; appliance.retrieve is not changed) ------------------------------
class TermStats:
    """Document frequency of query words, read from FTS5's own vocabulary (``fts5vocab``).

    The index holds porter stems, so each word is stemmed by FTS5 itself: the words go into a
    scratch FTS5 table (temp schema, this connection only) with the same tokenizer, and its
    ``instance`` vocabulary maps each row (word) to its stem.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab "
            "USING fts5vocab(main, chunks_fts, row)"
        )
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words "
            "USING fts5(w, tokenize='porter unicode61 remove_diacritics 2')"
        )
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_stems "
            "USING fts5vocab(temp, query_words, instance)"
        )
        self.total = int(conn.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]) or 1

    def doc_counts(self, words: list[str]) -> dict[str, int]:
        """``{word: chunks containing it}``, e.g. ``{"lease": 412, "the": 99870}``."""
        self.conn.execute("DELETE FROM temp.query_words")
        self.conn.executemany(
            "INSERT INTO temp.query_words(rowid, w) VALUES (?, ?)", list(enumerate(words, 1))
        )
        rows = self.conn.execute(
            "SELECT s.doc, COALESCE(v.doc, 0) FROM temp.query_stems s "
            "LEFT JOIN temp.chunks_vocab v ON v.term = s.term"
        ).fetchall()
        counts = dict.fromkeys(words, 0)
        for rowid, df in rows:
            counts[words[int(rowid) - 1]] = int(df)
        return counts


class DropCommonTerms(Retriever):
    """Lexical search without query words found in more than ``max_share`` of all chunks.

    Their bm25 weight is small, but each one makes FTS5 score every chunk containing it.
    When every word is that common, the rarest one is kept. Changes the ranking somewhat (see
    "shared"). The SQL is the shipped one: bm25's top rows in a subquery, joined after.
    """

    SQL = (
        "SELECT t.rowid, t.score FROM (SELECT rowid, bm25(chunks_fts) AS score "
        "FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?) t "
        "JOIN chunks c ON c.id = t.rowid JOIN files f ON f.id = c.file_id "
        "WHERE f.status = 'ok' ORDER BY t.score"
    )
    max_share = 0.10
    max_terms: int | None = None
    stats: TermStats | None = None

    def match(self, query: str) -> str | None:
        base = fts_query(query)
        if base is None:
            return None
        if self.stats is None:
            self.stats = TermStats(self.store.conn)
        words = [t[1:-1].replace('""', '"') for t in base.split(" OR ")]
        df = self.stats.doc_counts(words)
        keep = sorted(
            (w for w in words if df[w] <= self.max_share * self.stats.total), key=df.__getitem__
        )[: self.max_terms]
        keep = keep or [min(words, key=df.__getitem__)]
        return " OR ".join('"' + w.replace('"', '""') + '"' for w in keep)

    def lexical(
        self, query: str, n: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        match = self.match(query)
        if match is None:
            return []
        rows = self.store.conn.execute(self.SQL, (match, n + 16)).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows][:n]


class ThreeRarestTerms(DropCommonTerms):
    """``DropCommonTerms``, keeping at most the 3 rarest words."""

    max_terms = 3


# -- measuring ----------------------------------------------------------------------------------
Fn = Callable[[str], object]


def searcher(retriever: Retriever, method: Method = "hybrid") -> Fn:
    """``retriever.search(query, 5, method=method)`` as a function of the query."""

    def search(q: str) -> object:
        return retriever.search(q, 5, method=method)

    return search


def time_interleaved(fns: dict[str, Fn], qs: list[str], warmup: int = 5) -> dict[str, Timings]:
    """p50/p95/max milliseconds of each function over ``qs``, after ``warmup`` untimed rounds.

    The functions take turns on each query (starting with a different one each time), so a
    burst of load from elsewhere on the machine hits them all alike instead of one of them.
    """
    names = list(fns)
    for q in qs[:warmup]:
        for fn in fns.values():
            fn(q)
    ms: dict[str, list[float]] = {name: [] for name in names}
    for i, q in enumerate(qs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            t = time.perf_counter()
            fns[name](q)
            ms[name].append((time.perf_counter() - t) * 1000)
    return {n: {"p50": median(v), "p95": percentile(v, 95), "max": max(v)} for n, v in ms.items()}


def measure(
    index_dir: Path, embedder: Any, qs: list[str], *, alternatives: bool = False
) -> tuple[dict[str, Timings], dict[str, float]]:
    """Latencies of the shipped retriever (hybrid, dense, lexical, dense's two parts) and,
    with ``alternatives``, of the prototypes above; also each lexical variant's overlap with
    the shipped lexical top 5 (1.0 = the same chunks)."""
    settings = load_settings(index_dir=index_dir)
    shipped = Retriever(settings, embedder=embedder)
    vindex = shipped.vectors
    qvecs = {q: embedder.encode([q])[0] for q in qs}
    fns: dict[str, Fn] = {m: searcher(shipped, m) for m in ("hybrid", "dense", "lexical")}
    fns["query embedding"] = lambda q: embedder.encode([q])
    fns["FAISS search (top 40)"] = lambda q: vindex.search(qvecs[q], 40)
    variants: dict[str, Retriever] = {}
    overlap: dict[str, float] = {}
    try:
        if alternatives:
            variants = {
                name: cls(settings, embedder=embedder) for name, cls in ALTERNATIVES.items()
            }
            for name, v in variants.items():
                method = cast(Method, name.split(",")[0])
                fns[name] = searcher(v, method)
            reference = {q: {c for c, _ in shipped.lexical(q, 5)} for q in qs}
            for name, v in variants.items():
                if name.startswith("lexical"):
                    shared = sum(len(reference[q] & {c for c, _ in v.lexical(q, 5)}) for q in qs)
                    overlap[name] = shared / max(1, sum(len(r) for r in reference.values()))
        return time_interleaved(fns, qs), overlap
    finally:
        shipped.close()
        for v in variants.values():
            v.close()


ALTERNATIVES: dict[str, type[Retriever]] = {  # "method, what": the class that does it
    "lexical, drop words in >10% of chunks": DropCommonTerms,
    "lexical, at most 3 rarest words": ThreeRarestTerms,
    "hybrid, drop >10% words": DropCommonTerms,
}
"""Prototypes timed on the largest index. The shipped retriever already runs the lexical query
beside the dense one and the query's torch/FAISS work on one thread; these only change which
words the lexical query keeps (and so its results)."""


def lexical_matches(index_dir: Path, qs: list[str]) -> float:
    """Median number of chunks the shipped lexical query matches: what FTS5 has to score."""
    with Store.open(index_dir) as store:
        counts = [
            store.conn.execute(
                "SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,)
            ).fetchone()[0]
            for q in qs[:30]
            if (match := fts_query(q)) is not None
        ]
    return median(counts)


def run(workdir: Path, embedder: Any, *, quick: bool = False) -> SectionResult:
    """Build the synthetic indexes and time searches on each."""
    result = SectionResult("retrieval", "Retrieval latency: search(query, 5), real embedder")
    sizes = (10_000,) if quick else (10_000, 100_000)
    qs = queries(40 if quick else 100)
    embedder.encode(["warm up"])
    grid = Grid("Latency per search (ms)", ["index", "what", "p50", "p95", "max"])
    for size in sizes:
        tag = f"{size // 1000}k"
        index_dir = workdir / f"index_{tag}"
        with Stopwatch() as sw:
            build_index(index_dir, size)
        result.add(
            f"build_{tag}_s",
            f"{tag}: build synthetic index",
            sw.wall,
            "s",
            f"{size:,} chunks, {size // 1000} files",
        )
        result.add(
            f"lexical_matches_{tag}",
            f"{tag}: chunks matched per lexical query",
            lexical_matches(index_dir, qs),
            "chunks",
            "median",
        )
        timings, overlap = measure(
            index_dir, embedder, qs, alternatives=not quick and size == sizes[-1]
        )
        for name, share in overlap.items():
            result.add(
                f"overlap_{_key(name)}",
                f"{tag}: lexical top 5 shared with shipped, {name.removeprefix('lexical, ')}",
                share,
                "",
                "1 = the same chunks",
            )
        for name, t in timings.items():
            grid.rows.append([tag, name, t["p50"], t["p95"], t["max"]])
            for stat in ("p50", "p95"):
                result.add(
                    f"{_key(name)}_{tag}_{stat}_ms",
                    f"{tag}: {name} {stat}",
                    t[stat],
                    "ms",
                    show=False,
                )
        if size == sizes[-1]:
            result.target(
                f"hybrid_p95_{tag}_ms",
                f"hybrid p95 at {tag} (ms)",
                timings["hybrid"]["p95"],
                TARGET_P95_MS,
                "<=",
            )
    result.grids.append(grid)
    result.notes.append(f"{len(qs)} queries, e.g. {qs[0]!r}, {qs[3]!r}")
    return result


def _key(name: str) -> str:
    """``"hybrid, 1 thread (torch+FAISS)"`` → ``"hybrid_1_thread_torch_faiss"``."""
    return "_".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
