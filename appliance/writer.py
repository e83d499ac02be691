"""The write side of the index: ``IndexWriter``, the one writer of an index folder.

An ingest run opens one (``IndexWriter.open``): it takes the writer lock, sweeps what a crashed
run left pending, and from then on owns every change to the folder — a file's new version
begun, its chunks added (with their vectors), the file swapped in or discarded, files that
vanished from an ingested folder removed — and keeps the FAISS file (``appliance.vectors``) in
step with SQLite: it loads the vectors before the first swap, applies each committed swap to
them, and saves them once at the end with the store's generation. The order is what keeps a
crash harmless (see ``appliance.store``): SQLite commits first, the vector file follows, and a
vector file left behind is rebuilt from SQLite by the next writer.

Left out: what is written (scanning, loading, chunking, labelling and embedding are
``appliance.ingest``'s), and the SQL itself (``appliance.store``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.chunking import Chunk
from appliance.crashpoints import crash_point
from appliance.store import FileRecord, Store
from appliance.vectors import VectorIndex


@dataclass(frozen=True)
class Finished:
    """A file whose chunks have all been added: ready to be swapped in."""

    file_id: int
    pages: int | None
    notes: list[str]


class IndexWriter:
    """The single writer of one index folder; ``close`` (or ``with``) releases the lock."""

    def __init__(self, store: Store, model_id: str) -> None:
        if not store.locked:
            raise RuntimeError("IndexWriter needs a store holding the writer lock")
        self.store = store
        self.model_id = model_id
        self.rebuilt_vectors = False
        """Whether the vector file had to be rebuilt from SQLite during this run."""
        self._vectors: VectorIndex | None = None
        self._seq: dict[int, int] = {}  # next chunk number of each pending file
        self._embedder_recorded = False

    @classmethod
    def open(cls, index_dir: Path, model_id: str) -> IndexWriter:
        """Open (or create) the index in ``index_dir`` for writing with the embedder
        ``model_id``: takes the writer lock (a second writer gets a clear error) and sweeps
        files a crashed run left half-written."""
        store = Store.open(index_dir, embedding_model=model_id, create=True)
        try:
            store.lock()
            store.sweep_pending()
        except BaseException:
            store.close()
            raise
        return cls(store, model_id)

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock and the database (anything uncommitted is rolled back)."""
        self.store.close()

    def files(self, root: str | None = None) -> dict[str, FileRecord]:
        """The complete files (all, or those under ``root``) by absolute path."""
        return self.store.files(root)

    # -- files -------------------------------------------------------------------------------
    def begin_file(
        self, path: str, root: str, relpath: str, kind: str, sha256: str, size: int, mtime_ns: int
    ) -> int:
        """Start a new version of ``path``; returns its id. Readers see it only once a
        ``commit`` swaps it in."""
        self._transaction()
        fid = self.store.begin_file(path, root, relpath, kind, sha256, size, mtime_ns)
        self._seq[fid] = 0
        return fid

    def add_chunks(self, batch: Sequence[tuple[int, Chunk]], vectors: np.ndarray) -> None:
        """Add ``(file id, chunk)`` pairs, in order, with their vectors (one row each)."""
        if not batch:
            return
        if not self._embedder_recorded:
            # The first vectors fix the index's embedder and dimension (its own transaction).
            if self.store.in_transaction:
                self.store.commit()
            self.store.record_embedder(self.model_id, int(vectors.shape[1]))
            self._embedder_recorded = True
        self._transaction()
        i = 0
        while i < len(batch):
            fid = batch[i][0]
            j = i
            while j < len(batch) and batch[j][0] == fid:
                j += 1
            chunks = [c for _, c in batch[i:j]]
            self.store.add_chunks(fid, self._seq[fid], chunks, vectors[i:j])
            self._seq[fid] += len(chunks)
            i = j
        crash_point("chunks-inserted")

    def chunk_count(self, file_id: int) -> int:
        """Chunks added to a pending file so far."""
        return self._seq.get(file_id, 0)

    def discard_file(self, file_id: int) -> None:
        """Drop a pending file and the chunks added to it (it failed part way)."""
        self._transaction()
        self.store.delete_file(file_id)
        self._seq.pop(file_id, None)

    def commit(self, finished: Iterable[Finished] = ()) -> None:
        """Commit what was written, swapping the ``finished`` files in (each replaces the
        version it updates) in the same transaction; then bring the vectors along."""
        finished = list(finished)
        if finished:
            self.vectors()  # loaded before the swap is committed: it must reflect the old state
            # Its chunks may all be committed already: the swap still needs a transaction of
            # its own, or a crash between its statements would lose both versions.
            self._transaction()
        swaps: list[tuple[int, list[int]]] = []
        for done in finished:
            count = self._seq.pop(done.file_id, 0)
            removed = self.store.finish_file(
                done.file_id, pages=done.pages, chunks=count, notes=done.notes
            )
            self.store.bump_generation()
            swaps.append((done.file_id, removed))
        if self.store.in_transaction:
            self.store.commit()
            crash_point("file-committed")
        if swaps:
            vindex = self.vectors()
            for fid, removed in swaps:
                vindex.remove(removed)
                vindex.add(*self.store.file_vectors(fid))
            vindex.generation = self.store.generation

    def rollback(self) -> None:
        """Undo everything since the last commit."""
        self.store.rollback()

    def remove_vanished(
        self, roots: Sequence[str], present: set[str], touched: Sequence[tuple[str, int]] = ()
    ) -> int:
        """End of a run, one transaction: remove the files under ``roots`` that are not in
        ``present``, remember the new mtimes of unchanged ``touched`` files and the ``roots``
        themselves. Returns how many files were removed."""
        vanished = [p for root in roots for p in self.store.files(root) if p not in present]
        if vanished:
            self.vectors()
        removed_ids: list[int] = []
        self.store.begin()
        for root in roots:
            self.store.add_root(root)
        for path in vanished:
            removed_ids += self.store.remove_file(path)
            self.store.bump_generation()
        for path, mtime in touched:
            self.store.touch_file(path, mtime)
        self.store.set_meta("last_ingest", time.time())
        self.store.commit()
        if vanished:
            vindex = self.vectors()
            vindex.remove(removed_ids)
            vindex.generation = self.store.generation
        return len(vanished)

    # -- vectors -----------------------------------------------------------------------------
    def vectors(self) -> VectorIndex:
        """The vectors as committed so far (loaded, or rebuilt from SQLite, on first use)."""
        if self._vectors is None:
            self._vectors, rebuilt = VectorIndex.load(self.store)
            self.rebuilt_vectors |= rebuilt
        return self._vectors

    def save(self) -> None:
        """Write the vector file when it changed (or repair one a crash left behind, or that
        is damaged), then purge removed text from the database files."""
        if self._vectors is not None and self._vectors.dirty:
            crash_point("before-vectors-save")
            self._vectors.save(self.store)
        elif VectorIndex.needs_repair(self.store):
            # Readers only rebuild it in memory: the writer repairs it, under the lock.
            vindex, rebuilt = VectorIndex.load(self.store)
            vindex.save(self.store)
            self.rebuilt_vectors |= rebuilt
        # Removed text must not survive in the files: merge FTS5, truncate the WAL.
        self.store.purge_removed()

    def _transaction(self) -> None:
        if not self.store.in_transaction:
            self.store.begin()
