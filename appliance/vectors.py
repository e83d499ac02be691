"""The FAISS index derived from the SQLite store.

One file, ``index/vectors.faiss``: a small header (magic, the store generation it reflects)
followed by the serialized FAISS index (exact inner product over L2-normalised vectors, with
chunk ids as FAISS ids). It is written atomically (temporary file, fsync, rename) and rebuilt
from SQLite whenever it is missing, unreadable, or disagrees with the store (other generation or
vector count): SQLite always wins, so a crash between the two never leaves them out of step.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from appliance.crashpoints import crash_point
from appliance.store import Store

FILE_NAME = "vectors.faiss"
_MAGIC = b"APLVEC01"
_HEADER = struct.Struct("<8sQQ")


class VectorIndex:
    """A FAISS ``IndexIDMap2(IndexFlatIP)`` in step with a ``Store``."""

    def __init__(self, index: Any, generation: int) -> None:
        self.index = index
        self.generation = generation
        self.dirty = False

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    # -- load / rebuild ----------------------------------------------------------------------
    @classmethod
    def load(cls, store: Store) -> tuple[VectorIndex, bool]:
        """The index for ``store``; rebuilt (and saved) when the file is missing or stale.

        Returns the index and whether it was rebuilt.
        """
        path = store.index_dir / FILE_NAME
        loaded = cls._read(path, store)
        if loaded is not None:
            return loaded, False
        index = cls.rebuild(store)
        index.save(store.index_dir)
        return index, True

    @classmethod
    def _read(cls, path: Path, store: Store) -> VectorIndex | None:
        import faiss

        try:
            data = path.read_bytes()
        except OSError:
            return None
        if len(data) < _HEADER.size:
            return None
        magic, generation, _ = _HEADER.unpack_from(data)
        if magic != _MAGIC or generation != store.generation:
            return None
        try:
            index = faiss.deserialize_index(
                np.frombuffer(data, dtype=np.uint8, offset=_HEADER.size)
            )
        except RuntimeError:
            return None
        if index.ntotal != store.count_ok_chunks() or (
            store.dimension is not None and index.d != store.dimension
        ):
            return None
        return cls(index, generation)

    @staticmethod
    def in_step(store: Store) -> bool:
        """Cheap check (header only, no FAISS import) that the file matches the store."""
        try:
            with (store.index_dir / FILE_NAME).open("rb") as fh:
                head = fh.read(_HEADER.size)
        except OSError:
            return False
        if len(head) < _HEADER.size:
            return False
        magic, generation, ntotal = _HEADER.unpack(head)
        return bool(
            magic == _MAGIC and generation == store.generation and ntotal == store.count_ok_chunks()
        )

    @classmethod
    def empty(cls, dimension: int, generation: int = 0) -> VectorIndex:
        import faiss

        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)), generation)

    @classmethod
    def rebuild(cls, store: Store) -> VectorIndex:
        index = cls.empty(store.dimension or 1, store.generation)
        for ids, vecs in store.ok_vectors():
            index.index.add_with_ids(vecs, ids)
        index.dirty = True
        return index

    # -- updates -----------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64)
            )
            self.dirty = True

    def remove(self, ids: list[int]) -> None:
        if ids:
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
            self.dirty = True

    def save(self, index_dir: Path) -> None:
        """Write atomically: readers see the old file or the new one, never a torn one."""
        import faiss

        path = index_dir / FILE_NAME
        tmp = path.with_name(path.name + ".tmp")
        blob = faiss.serialize_index(self.index)
        with tmp.open("wb") as fh:
            fh.write(_HEADER.pack(_MAGIC, self.generation, self.ntotal))
            fh.write(blob.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        crash_point("vectors-written")
        os.replace(tmp, path)
        dir_fd = os.open(index_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.dirty = False

    # -- search ------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.ntotal == 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        scores, ids = self.index.search(q, min(k, self.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
