"""Hybrid retrieval: dense (FAISS) and lexical (SQLite FTS5 bm25), fused by reciprocal rank.

``Retriever.search(query, k)`` returns ``Hit``s with file, page, character span, text, the
fused score and each method's score and rank. Any query text is safe for lexical search: it is
reduced to quoted word terms joined by OR, so FTS5 syntax (quotes, ``*``, ``-``, ``:``,
parentheses, ``NEAR``) is never interpreted. An optional path glob filters both methods. A
local cross-encoder re-ranks the fused candidates when ``retrieval.reranker_dir`` is set (none
is bundled). Only complete files are ever searched (see ``appliance.store``).
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from appliance.config import Settings
from appliance.embedding import Embedder
from appliance.errors import ModelError
from appliance.store import ChunkRecord, Store
from appliance.vectors import BEHIND, VectorIndex

Method = Literal["dense", "lexical", "hybrid"]
_log = logging.getLogger("appliance.retrieve")

_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its me my of on "
    "or our that the their them there these they this to was we were what when where which who "
    "why will with you your".split()
)
# Words that frame a question rather than say what it is about; they are rare in documents,
# so bm25 would weigh them heavily and match passages that merely use them.
_QUESTION_WORDS = frozenset(
    "answer answers question questions following assume please give provide explain describe "
    "tell show shown state using use used based rely relying detail details information "
    "response respond would should could can may might like if then whether something".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)
_ALNUM = re.compile(r"[^\W\d_]+|\d+")


@dataclass
class Hit:
    chunk_id: int
    file: str
    path: str
    page: int | None
    start: int
    end: int
    text: str
    score: float
    dense: float | None = None
    lexical: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None
    rerank: float | None = None
    sensitive: bool = False
    detectors: dict[str, int] | None = None

    @property
    def where(self) -> str:
        """``contracts/lease.pdf p.3`` or ``notes.md``."""
        return f"{self.file} p.{self.page}" if self.page is not None else self.file


def fts_query(text: str, max_terms: int = 32) -> str | None:
    """A safe FTS5 query: every word quoted, OR-ed; None when nothing searchable is left.

    >>> fts_query('lease "notice" NEAR(term) -x* in FY2018')
    '"lease" OR "notice" OR "near" OR "term" OR "x" OR "fy2018" OR "fy" OR "2018"'
    """
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or word in _QUESTION_WORDS:
            continue
        pieces = _ALNUM.findall(word)
        # "fy2018" also searches "2018"; "q3" also "3" is too short to help, so keep ≥ 2 chars
        for term in [word, *(p for p in pieces if len(pieces) > 1 and len(p) > 1)]:
            if term not in terms:
                terms.append(term)
    if not terms:
        terms = list(dict.fromkeys(w for w in _WORD.findall(text.lower())))
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:max_terms])


class Retriever:
    """Searches one index; holds the store, the vector index and the embedder."""

    def __init__(
        self, settings: Settings, *, store: Store | None = None, embedder: Any = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder(
            settings.embedding.model_dir, settings.embedding.device
        )
        self.store = store or Store.open(settings.index_dir, embedding_model=self.embedder.model_id)
        self._vectors: VectorIndex | None = None
        self._vectors_generation = -1
        self.warnings: list[str] = []
        self._reranker: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lexical")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()

    @property
    def vectors(self) -> VectorIndex:
        gen = self.store.generation
        if self._vectors is None or gen != self._vectors_generation:
            # A reader never writes the index: a missing, damaged or stale vector file (a writer
            # mid-run or crashed) is rebuilt from SQLite's truth in memory only; only an ingest,
            # under the writer lock, rewrites it.
            self._vectors, problem = VectorIndex.load_checked(self.store)
            self._vectors_generation = gen
            if problem is not None and self.store.dimension is not None:
                self._warn_vectors(problem)
        return self._vectors

    def _warn_vectors(self, problem: str) -> None:
        """Tell the user once (stderr, via logging; also kept in ``warnings``)."""
        message = (
            f"the vector file in {self.store.index_dir} is {problem}: searching with vectors "
            "rebuilt in memory (slower); run `appliance ingest` on your folders to repair it"
        )
        if problem == BEHIND:
            message += " (unless an ingest is running now)"
        if message not in self.warnings:
            self.warnings.append(message)
            _log.warning("appliance: warning: %s", message)

    # -- filters -----------------------------------------------------------------------------
    def allowed_ids(self, path_glob: str | None) -> set[int] | None:
        if not path_glob:
            return None
        # Match file paths once per file, then take their chunks.
        files = [
            fid
            for fid, rel, path in self.store.conn.execute(
                "SELECT id, relpath, path FROM files WHERE status = 'ok'"
            )
            if fnmatch.fnmatch(rel, path_glob) or fnmatch.fnmatch(path, path_glob)
        ]
        allowed: set[int] = set()
        for i in range(0, len(files), 500):
            part = files[i : i + 500]
            marks = ",".join("?" * len(part))
            allowed.update(
                cid
                for (cid,) in self.store.conn.execute(
                    f"SELECT id FROM chunks WHERE file_id IN ({marks})", part
                )
            )
        return allowed

    # -- the two methods ---------------------------------------------------------------------
    def dense(self, query: str, n: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        if allowed is not None and not allowed:
            return []
        vindex = self.vectors
        if vindex.ntotal == 0:
            return []
        return self._dense_search(vindex, query, n, allowed)

    def _dense_search(
        self, vindex: VectorIndex, query: str, n: int, allowed: set[int] | None
    ) -> list[tuple[int, float]]:
        with _one_thread():
            qvec = self.embedder.encode([query])[0]
            if allowed is None:
                return vindex.search(qvec, n)
            return self._dense_filtered(vindex, qvec, n, allowed)

    @staticmethod
    def _dense_filtered(
        vindex: VectorIndex, qvec: np.ndarray, n: int, allowed: set[int]
    ) -> list[tuple[int, float]]:
        import faiss

        sel = faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64))
        params = faiss.SearchParameters()
        params.sel = sel
        q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
        scores, ids = vindex.index.search(q, min(n, len(allowed)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def lexical(
        self, query: str, n: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        match = fts_query(query)
        if match is None or (allowed is not None and not allowed):
            return []
        # Rank inside FTS5 first (it keeps only the best LIMIT rows), then drop chunks of files
        # that are not complete; a few extra rows cover those.
        limit = n + 16 if allowed is None else max(n * 20, 1000)
        rows = self.store.conn.execute(
            "SELECT t.rowid, t.score FROM (SELECT rowid, bm25(chunks_fts) AS score "
            "FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?) t "
            "JOIN chunks c ON c.id = t.rowid JOIN files f ON f.id = c.file_id "
            "WHERE f.status = 'ok' ORDER BY t.score",
            (match, limit),
        ).fetchall()
        out = [(int(r[0]), -float(r[1])) for r in rows if allowed is None or r[0] in allowed]
        return out[:n]

    # -- fused -------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        path_glob: str | None = None,
        method: Method = "hybrid",
    ) -> list[Hit]:
        cfg = self.settings.retrieval
        k = k or cfg.k
        n = max(cfg.candidates, k)
        allowed = self.allowed_ids(path_glob)
        if method == "dense":
            dense, lexical = self.dense(query, n, allowed), []
        elif method == "lexical":
            dense, lexical = [], self.lexical(query, n, allowed)
        else:
            # bm25 is precise at its very top (names, codes, exact phrases) and noisy below:
            # only its best few hits join the fusion. SQLite runs it in a thread while the
            # query is embedded and FAISS searched (both release the GIL).
            vindex = self.vectors  # refreshed here: the thread below uses the connection
            lex_n = max(cfg.lexical_candidates, 1)
            pending = self._pool.submit(self.lexical, query, lex_n, allowed)
            try:
                skip = vindex.ntotal == 0 or (allowed is not None and not allowed)
                dense = [] if skip else self._dense_search(vindex, query, n, allowed)
            finally:
                lexical = pending.result()
        fused: dict[int, float] = {}
        for weight, ranked in ((cfg.dense_weight, dense), (cfg.lexical_weight, lexical)):
            for rank, (cid, _) in enumerate(ranked, 1):
                fused[cid] = fused.get(cid, 0.0) + weight / (cfg.rrf_k + rank)
        order = sorted(fused, key=lambda c: -fused[c])
        if self.settings.retrieval.reranker_dir is not None and method == "hybrid":
            order = order[: max(k * 4, 20)]
        else:
            order = order[:k]
        records = self.store.chunk_records(order)
        dense_info = {cid: (rank, s) for rank, (cid, s) in enumerate(dense, 1)}
        lex_info = {cid: (rank, s) for rank, (cid, s) in enumerate(lexical, 1)}
        hits = [
            _hit(records[cid], fused[cid], dense_info.get(cid), lex_info.get(cid))
            for cid in order
            if cid in records
        ]
        if self.settings.retrieval.reranker_dir is not None and method == "hybrid":
            hits = self.rerank(query, hits)[:k]
        return hits

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """Order hits by a local cross-encoder's scores."""
        if not hits:
            return []
        if self._reranker is None:
            from appliance.offline import ensure_offline

            ensure_offline()
            from sentence_transformers import CrossEncoder

            path = self.settings.retrieval.reranker_dir
            try:
                self._reranker = CrossEncoder(str(path), local_files_only=True)
            except Exception as exc:
                raise ModelError(f"cannot load the reranker from {path}: {exc}") from None
        scores = self._reranker.predict([(query, h.text) for h in hits])
        for h, s in zip(hits, scores, strict=True):
            h.rerank = float(s)
        return sorted(hits, key=lambda h: -(h.rerank or 0.0))


_THREADS = threading.Lock()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run one query's embedding and FAISS search on a single thread.

    The work is too small to split: on a busy machine, waiting for a second thread to be
    scheduled cost up to 0.5 s per query, and it competes with the lexical query running
    beside it (measured at 100k chunks: hybrid p95 67 ms with two threads, 34 ms with one).
    """
    import faiss
    import torch

    with _THREADS:
        before = torch.get_num_threads(), faiss.omp_get_max_threads()
        torch.set_num_threads(1)
        faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before[0])
            faiss.omp_set_num_threads(before[1])


def _hit(
    rec: ChunkRecord,
    score: float,
    dense: tuple[int, float] | None,
    lexical: tuple[int, float] | None,
) -> Hit:
    return Hit(
        chunk_id=rec.id,
        file=rec.file,
        path=rec.path,
        page=rec.page,
        start=rec.start,
        end=rec.end,
        text=rec.text,
        score=score,
        dense=dense[1] if dense else None,
        dense_rank=dense[0] if dense else None,
        lexical=lexical[1] if lexical else None,
        lexical_rank=lexical[0] if lexical else None,
        sensitive=rec.sensitive,
        detectors=rec.detectors,
    )
