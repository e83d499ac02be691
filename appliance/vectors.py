"""The FAISS index derived from the SQLite store.

One file, ``index/vectors.faiss``: a small header (magic, the store generation it reflects, the
vector count and a CRC-32 of the body) followed by the serialized FAISS index (exact inner
product over L2-normalised vectors, with chunk ids as FAISS ids). SQLite always wins: the file
is used only when it is intact and in step with the store (same generation and vector count);
otherwise the vectors are rebuilt from SQLite, so a crash between the two never leaves them out
of step.

Only the writer writes it. ``load`` never touches the file: a reader (``ask``, ``eval``, the
chat app) that finds it missing, damaged or behind searches with vectors rebuilt in memory and
says so (see ``appliance.retrieve``); an ingest, holding the writer lock, saves the rebuilt
index atomically (temporary file 0600, fsync, rename). Files written before the checksum was
added (``APLVEC01``) are still read, and rewritten by the next ingest.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from appliance.crashpoints import crash_point
from appliance.store import Store, open_private

FILE_NAME = "vectors.faiss"
_MAGIC_V1 = b"APLVEC01"  # magic, generation, count; no checksum
_MAGIC = b"APLVEC02"  # magic, generation, count, CRC-32 of the body
_HEADER_V1 = struct.Struct("<8sQQ")
_HEADER = struct.Struct("<8sQQI")

MISSING = "missing"
DAMAGED = "damaged"
BEHIND = "behind the index"


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
        """The index for ``store``: the file when it is intact and in step, else rebuilt from
        SQLite in memory. Never writes: the caller that holds the writer lock saves a rebuilt
        index (``save``). Returns the index and whether it was rebuilt.
        """
        index, problem = cls.load_checked(store)
        return index, problem is not None

    @classmethod
    def load_checked(cls, store: Store) -> tuple[VectorIndex, str | None]:
        """Like ``load``; the second value says why it was rebuilt (``MISSING``, ``DAMAGED``,
        ``BEHIND``), None when the file was used or the index has no vectors yet."""
        loaded, problem = cls._read(store.index_dir / FILE_NAME, store)
        if loaded is not None:
            return loaded, None
        return cls.rebuild(store), problem if _has_vectors(store) else None

    @classmethod
    def problem(cls, store: Store) -> str | None:
        """Why the file cannot be used as it is (``MISSING``, ``DAMAGED``, ``BEHIND``); None
        when it is intact and in step, or when the index has no vectors yet."""
        if not _has_vectors(store):
            return None
        return cls._read(store.index_dir / FILE_NAME, store)[1]

    @classmethod
    def needs_repair(cls, store: Store) -> bool:
        """Whether the writer must rewrite the file: the index has vectors and the file is not
        ``intact`` (missing, damaged, behind, or written before the checksum)."""
        return _has_vectors(store) and not cls.intact(store)

    @classmethod
    def _read(cls, path: Path, store: Store) -> tuple[VectorIndex | None, str | None]:
        import faiss

        try:
            with path.open("rb") as fh:
                header = _parse_header(fh.read(_HEADER.size))
                if header is None:
                    return None, DAMAGED
                generation, ntotal, crc, offset = header
                if not _in_step(store, generation, ntotal):
                    return None, BEHIND
                fh.seek(0)
                data = fh.read()
        except FileNotFoundError:
            return None, MISSING
        except OSError:
            return None, DAMAGED
        body = memoryview(data)[offset:]
        if crc is not None and zlib.crc32(body) != crc:
            return None, DAMAGED
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8, offset=offset))
        except RuntimeError:
            return None, DAMAGED
        if index.ntotal != ntotal or (store.dimension is not None and index.d != store.dimension):
            return None, DAMAGED
        return cls(index, generation), None

    @staticmethod
    def in_step(store: Store) -> bool:
        """Cheap check (header only, no FAISS import) that the file matches the store."""
        try:
            with (store.index_dir / FILE_NAME).open("rb") as fh:
                head = fh.read(_HEADER.size)
        except OSError:
            return False
        header = _parse_header(head)
        if header is None:
            return False
        generation, ntotal, _, _ = header
        return _in_step(store, generation, ntotal)

    @staticmethod
    def intact(store: Store) -> bool:
        """In step and its body matches the header's checksum (reads the file, no FAISS import).

        False for a file without a checksum (``APLVEC01``): the writer rewrites it.
        """
        try:
            data = (store.index_dir / FILE_NAME).read_bytes()
        except OSError:
            return False
        header = _parse_header(data)
        if header is None or header[2] is None:
            return False
        generation, ntotal, crc, offset = header
        return _in_step(store, generation, ntotal) and zlib.crc32(memoryview(data)[offset:]) == crc

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

    def save(self, store: Store) -> None:
        """Write atomically: readers see the old file or the new one, never a torn one.

        Only under the writer lock (an ingest): readers never write the index folder.
        """
        import faiss

        if not store.locked:
            raise RuntimeError("VectorIndex.save needs the writer lock (only ingest writes)")
        index_dir = store.index_dir
        path = index_dir / FILE_NAME
        tmp = path.with_name(path.name + ".tmp")
        body = faiss.serialize_index(self.index).tobytes()
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_HEADER.pack(_MAGIC, self.generation, self.ntotal, zlib.crc32(body)))
            fh.write(body)
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
    def search(
        self, query: np.ndarray, k: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, inner product) of the ``k`` nearest vectors, best first; with ``allowed``
        only those chunk ids are searched (none when it is empty)."""
        if self.ntotal == 0 or (allowed is not None and not allowed):
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed is None:
            scores, ids = self.index.search(q, min(k, self.ntotal))
        else:
            import faiss

            # Keep the selector referenced while searching: ``params`` does not own it.
            sel = faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64))
            params = faiss.SearchParameters()
            params.sel = sel
            scores, ids = self.index.search(q, min(k, len(allowed)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def _in_step(store: Store, generation: int, ntotal: int) -> bool:
    """The one rule for a vector file being in step with SQLite: it reflects the store's current
    generation and holds one vector per chunk of its complete files."""
    return generation == store.generation and ntotal == store.count_ok_chunks()


def _has_vectors(store: Store) -> bool:
    """Whether the index should have a vector file: some vectors were ever written (their
    embedder and dimension are recorded). Before that, a missing file is no problem."""
    return store.dimension is not None


def _parse_header(data: bytes) -> tuple[int, int, int | None, int] | None:
    """(generation, count, CRC-32 or None for a v1 file, body offset), or None if not ours."""
    if len(data) >= _HEADER.size and data[:8] == _MAGIC:
        _, generation, ntotal, crc = _HEADER.unpack_from(data)
        return generation, ntotal, crc, _HEADER.size
    if len(data) >= _HEADER_V1.size and data[:8] == _MAGIC_V1:
        _, generation, ntotal = _HEADER_V1.unpack_from(data)
        return generation, ntotal, None, _HEADER_V1.size
    return None
