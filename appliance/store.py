"""The index on disk: SQLite is the source of truth.

``index/index.sqlite`` holds the ingested files (path, content hash, size, mtime), their chunks
(text, page, character span, sensitivity label, embedding vector as a float32 blob) and an FTS5
table over chunk text for lexical search. ``appliance.vectors`` keeps the FAISS index derived
from it. All the SQL is here: readers get what they need through ``Store`` (chunk records,
path-filtered chunk ids, bm25 top hits, a page's chunks, stored vectors), and the write
statements are run by ``appliance.writer.IndexWriter``, which owns their order, the
transactions, the generation and the vector file.

Crash safety: a file's new chunks are written under a ``pending`` file row, committed as they
come; only when the file is complete does one transaction swap it in (delete the old version,
mark the new one ``ok``) and bump the index ``generation``. Readers only ever see ``ok`` files,
so a crash at any moment leaves every file either wholly present or absent, and the next writer
sweeps pending leftovers. One writer at a time (a lock file); readers never block.

The index records its schema version, embedding model id and dimension, and refuses to be used
with another embedder.

Document context (schema 2): each chunk also has a ``context`` (its document's title and the
headings it sits under, see ``appliance.context``). Its vector is added to the chunk's and
FTS5 indexes it beside the text, but it is not part of the chunk's text, so spans still point
exactly into the page. An index of schema 1 (no context) is read as it is; the first writer
upgrades it in place and marks every file for re-reading, so the next ingest of a folder adds
the context.

At rest: the folder is private to its owner (0700, every file in it 0600: the database and its
WAL/SHM files, which SQLite creates with the database's mode, the lock file, the vector file and
its temporary file). Modes are set where each file is created, whatever the process umask, and
the writer tightens anything looser (an older index, a file another tool wrote) when it takes
the lock. Removed text is gone from the files, not just unlinked from the tables: every
connection runs with ``secure_delete`` (freed space and pages are zeroed), deleting chunks marks
the FTS5 index for an ``optimize`` that drops its delete markers and old segments (external
content: its segments hold the tokens themselves), and the writer checkpoints and truncates the
WAL at the end of a run so old page images do not linger there. SQLite's own temporary data is
kept in memory (``temp_store``), never in files elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from appliance.chunking import Chunk
from appliance.errors import IndexError_

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
DB_NAME = "index.sqlite"
LOCK_NAME = ".lock"
DIR_MODE = 0o700
FILE_MODE = 0o600
_PURGE_KEY = "purge_pending"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roots (path TEXT PRIMARY KEY, added_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    root TEXT NOT NULL,
    relpath TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    pages INTEGER,
    chunks INTEGER NOT NULL DEFAULT 0,
    sensitive_chunks INTEGER NOT NULL DEFAULT 0,
    notes TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'ok')),
    ingested_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS files_ok_path ON files(path) WHERE status = 'ok';
CREATE INDEX IF NOT EXISTS files_root ON files(root);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES files(id),
    seq INTEGER NOT NULL,
    page INTEGER,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    sensitive INTEGER NOT NULL DEFAULT 0,
    detectors TEXT,
    embedding BLOB NOT NULL,
    context TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    context, text, content='chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, context, text) VALUES (new.id, new.context, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, context, text)
    VALUES ('delete', old.id, old.context, old.text);
END;
"""
# Schema 1 -> 2: chunks gain a context column, FTS5 indexes it beside the text.
_FTS_V2 = _SCHEMA[_SCHEMA.index("CREATE VIRTUAL TABLE") :]
_UPGRADE_1_2 = (
    "ALTER TABLE chunks ADD COLUMN context TEXT NOT NULL DEFAULT '';"
    "DROP TRIGGER IF EXISTS chunks_ai; DROP TRIGGER IF EXISTS chunks_ad;"
    "DROP TABLE IF EXISTS chunks_fts;"
    + _FTS_V2
    + "INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');"
    # Files ingested without context are read again by the next ingest of their folder.
    + "UPDATE files SET mtime_ns = -1, sha256 = '';"
)


# OCR facts per chunk, in a table of their own: additive (any writer creates it on an index
# that lacks it, so the schema version stays), and deleting a chunk deletes its row.
_OCR_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunk_ocr (chunk_id INTEGER PRIMARY KEY, confidence REAL NOT NULL);
CREATE TRIGGER IF NOT EXISTS chunk_ocr_ad AFTER DELETE ON chunks BEGIN
    DELETE FROM chunk_ocr WHERE chunk_id = old.id;
END;
"""


@dataclass(frozen=True)
class FileRecord:
    id: int
    path: str
    root: str
    relpath: str
    kind: str
    sha256: str
    size: int
    mtime_ns: int
    chunks: int


@dataclass(frozen=True)
class ChunkRecord:
    """One stored chunk as readers see it: where it is and what it says. Composed, not copied,
    by the types that add to it (``retrieve.Hit`` adds scores).

    >>> ChunkRecord(7, "lease.pdf", "/docs/lease.pdf", 3, 120, 180, "The rent is ...").where
    'lease.pdf p.3'
    """

    id: int
    file: str
    """Path relative to the ingested root, as shown to the user."""
    path: str
    """Absolute path of the file."""
    page: int | None
    start: int
    end: int
    """Character span of ``text`` in its page (or its file, when it has no pages)."""
    text: str
    sensitive: bool = False
    detectors: dict[str, int] = field(default_factory=dict)
    """Why it is sensitive: detector name -> findings."""
    file_id: int = 0
    ocr: float | None = None
    """Mean OCR confidence of the page this text was read from by OCR; None: a text layer."""

    @property
    def where(self) -> str:
        """``contracts/lease.pdf p.3`` or ``notes.md``."""
        return f"{self.file} p.{self.page}" if self.page is not None else self.file


class OfChunk:
    """For types built on one stored chunk (a search ``Hit``, an answer's ``Citation``): the
    ``record``'s fields read through, so ``hit.file`` is ``hit.record.file``."""

    record: ChunkRecord

    @property
    def chunk_id(self) -> int:
        return self.record.id

    @property
    def file(self) -> str:
        return self.record.file

    @property
    def path(self) -> str:
        return self.record.path

    @property
    def page(self) -> int | None:
        return self.record.page

    @property
    def start(self) -> int:
        return self.record.start

    @property
    def end(self) -> int:
        return self.record.end

    @property
    def text(self) -> str:
        return self.record.text

    @property
    def sensitive(self) -> bool:
        return self.record.sensitive

    @property
    def detectors(self) -> dict[str, int]:
        return self.record.detectors

    @property
    def where(self) -> str:
        """``contracts/lease.pdf p.3`` or ``notes.md``."""
        return self.record.where


class Store:
    """An open index folder. Use ``Store.open(...)``; close when done (or use ``with``)."""

    def __init__(self, index_dir: Path, conn: sqlite3.Connection) -> None:
        self.index_dir = index_dir
        self.conn = conn
        self._lock_fh: Any = None
        self.schema = SCHEMA_VERSION
        """The on-disk schema version: 1 has no chunk context (read as empty)."""

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        index_dir: Path,
        *,
        embedding_model: str | None = None,
        create: bool = False,
    ) -> Store:
        """Open (or with ``create`` make) the index in ``index_dir``.

        ``embedding_model`` is the id of the configured embedder: an index built with another
        one is refused. Raises ``IndexError_`` with a fix for every expected problem.
        """
        db = index_dir / DB_NAME
        if not db.exists() and not create:
            raise IndexError_(
                f"no index in {index_dir}",
                hint="ingest some documents first: `appliance ingest PATH` (or `make ingest`)",
            )
        try:
            if create:
                make_private_dir(index_dir)
                # SQLite gives the WAL and SHM files the database file's mode: create it 0600.
                os.close(open_private(db, os.O_RDWR | os.O_CREAT))
            conn = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA secure_delete=ON")  # deleted text is overwritten, not just freed
            conn.execute("PRAGMA temp_store=MEMORY")  # no temporary files with chunk text
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, *READABLE_VERSIONS):
                raise IndexError_(
                    f"{db} has schema version {version}; this appliance reads versions "
                    f"{', '.join(map(str, READABLE_VERSIONS))}",
                    hint="re-ingest into a new --index folder",
                )
            if version == 0 and not create:
                conn.close()
                raise IndexError_(
                    f"no index in {index_dir} ({db} is empty)",
                    hint="ingest some documents first: `appliance ingest PATH` (or `make ingest`)",
                )
            if version == 0:
                conn.executescript(
                    "BEGIN;" + _SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
                )
        except sqlite3.DatabaseError as exc:
            raise IndexError_(
                f"cannot open index {db}: {exc}",
                hint="the file is damaged; move it away and re-ingest",
            ) from None
        except OSError as exc:
            raise IndexError_(f"cannot open index folder {index_dir}: {exc.strerror}") from None
        store = cls(index_dir, conn)
        store._ocr_table(writable=create)
        store.schema = SCHEMA_VERSION if version == 0 else int(version)
        if embedding_model is not None:
            store.check_embedder(embedding_model)
        return store

    def _ocr_table(self, *, writable: bool) -> None:
        """Make sure ``chunk_ocr`` exists (writers); note whether it does (readers)."""
        if writable:
            self.conn.executescript(_OCR_SCHEMA)
        self.has_ocr = bool(
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunk_ocr'"
            ).fetchone()
        )

    def ocr_confidence(self, ids: Iterable[int]) -> dict[int, float]:
        """OCR confidence of those of ``ids`` whose text was read by OCR."""
        ids = list(ids)
        if not ids or not getattr(self, "has_ocr", False):
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT chunk_id, confidence FROM chunk_ocr WHERE chunk_id IN ({marks})", ids
        )
        return {int(r[0]): float(r[1]) for r in rows}

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.unlock()
        self.conn.close()

    # -- meta --------------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: object) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    def check_embedder(self, model_id: str) -> None:
        stored = self.meta("embedding_model")
        if stored is not None and stored != model_id:
            raise IndexError_(
                f"this index was built with the embedding model {stored!r}, but {model_id!r} "
                "is configured; vectors from different models cannot be mixed",
                hint="use the same embedding.model_dir, or ingest into a new --index folder",
            )

    def record_embedder(self, model_id: str, dimension: int) -> None:
        stored = self.meta("dimension")
        if stored is not None and int(stored) != dimension:
            raise IndexError_(
                f"index vectors have dimension {stored}, the embedder gives {dimension}",
                hint="ingest into a new --index folder",
            )
        self.check_embedder(model_id)
        if stored is None:
            self.begin()
            self.set_meta("embedding_model", model_id)
            self.set_meta("dimension", dimension)
            self.commit()

    @property
    def generation(self) -> int:
        return int(self.meta("generation", "0") or 0)

    @property
    def dimension(self) -> int | None:
        value = self.meta("dimension")
        return int(value) if value is not None else None

    # -- writer lock and crash recovery -------------------------------------------------------
    def lock(self) -> None:
        """Take the single-writer lock; a second ingest gets a clear error.

        The writer owns the folder: it tightens any loose modes in it (``tighten_modes``) and
        marks the index for a purge whenever chunk text is deleted on this connection.
        """
        fh = os.fdopen(open_private(self.index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT), "r+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise IndexError_(
                f"another ingest is writing to {self.index_dir}", hint="wait for it to finish"
            ) from None
        self._lock_fh = fh
        tighten_modes(self.index_dir)
        if self.schema < SCHEMA_VERSION:
            self.upgrade()
        # Any deletion of chunk text (a removed, replaced or failed file, crash leftovers)
        # leaves tokens in FTS5 segments until they are merged: remember it in the index, so a
        # run interrupted before ``purge_removed`` still purges next time.
        self.conn.execute(
            "CREATE TEMP TRIGGER IF NOT EXISTS chunks_purge AFTER DELETE ON chunks BEGIN "
            f"INSERT OR REPLACE INTO meta(key, value) VALUES ('{_PURGE_KEY}', '1'); END"
        )

    def upgrade(self) -> None:
        """Bring a schema-1 index to schema 2 in one transaction (under the writer lock).

        Chunks gain an empty context, FTS5 is rebuilt over context and text, and every file is
        marked changed so that the next ingest of its folder reads it again with its context.
        """
        self.conn.executescript(
            "BEGIN IMMEDIATE;" + _UPGRADE_1_2 + f"PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
        )
        self.schema = SCHEMA_VERSION

    @property
    def locked(self) -> bool:
        """Whether this store holds the writer lock (only then may anything be written)."""
        return self._lock_fh is not None

    def purge_removed(self) -> bool:
        """After deletions: merge FTS5 so no token of removed text survives; then truncate the WAL.

        Runs under the writer lock at the end of an ingest. Returns whether the FTS5 index was
        optimised (only when chunks were deleted since the last purge).
        """
        if not self.locked:
            raise RuntimeError("purge_removed needs the writer lock")
        purged = False
        if self.meta(_PURGE_KEY) is not None:
            self.begin()
            # Rewrites the FTS5 index as one segment: delete markers and the segments holding
            # the removed tokens are dropped, and secure_delete zeroes the pages they occupied.
            self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
            self.conn.execute("DELETE FROM meta WHERE key = ?", (_PURGE_KEY,))
            self.commit()
            purged = True
        self.checkpoint()
        return purged

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it to zero bytes (old page images go).

        Waits at most a second for readers; returns False when one kept it from finishing (the
        WAL is then reused from its start by the next writes).
        """
        self.conn.execute("PRAGMA busy_timeout=1000")
        try:
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError:
            busy = 1
        finally:
            self.conn.execute("PRAGMA busy_timeout=30000")
        return not busy

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def sweep_pending(self) -> int:
        """Delete half-written files left by a crash; returns how many."""
        ids = [r[0] for r in self.conn.execute("SELECT id FROM files WHERE status = 'pending'")]
        if ids:
            self.begin()
            for fid in ids:
                self.delete_file(fid)
            self.commit()
        return len(ids)

    # -- reading -----------------------------------------------------------------------------
    def files(self, root: str | None = None) -> dict[str, FileRecord]:
        sql = (
            "SELECT id, path, root, relpath, kind, sha256, size, mtime_ns, chunks "
            "FROM files WHERE status = 'ok'"
        )
        args: tuple[str, ...] = ()
        if root is not None:
            sql += " AND (path = ? OR path LIKE ? ESCAPE '\\')"
            prefix = root.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args = (root, prefix + "/%")
        return {r[1]: FileRecord(*r) for r in self.conn.execute(sql, args)}

    def roots(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT path FROM roots ORDER BY path")]

    def stats(self) -> dict[str, Any]:
        files, chunks, sensitive = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(chunks), 0), COALESCE(SUM(sensitive_chunks), 0) "
            "FROM files WHERE status = 'ok'"
        ).fetchone()
        size = sum(p.stat().st_size for p in self.index_dir.iterdir() if p.is_file())
        last = self.meta("last_ingest")
        return {
            "files": files,
            "chunks": chunks,
            "sensitive_chunks": sensitive,
            "embedding_model": self.meta("embedding_model"),
            "dimension": self.dimension,
            "schema_version": SCHEMA_VERSION,
            "generation": self.generation,
            "roots": self.roots(),
            "size_bytes": size,
            "last_ingest": float(last) if last else None,
        }

    def ok_vectors(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of every chunk of every complete file, in batches."""
        cur = self.conn.execute(
            "SELECT c.id, c.embedding FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE f.status = 'ok' ORDER BY c.id"
        )
        while rows := cur.fetchmany(batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield ids, vecs

    def file_vectors(self, file_id: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.conn.execute(
            "SELECT id, embedding FROM chunks WHERE file_id = ? ORDER BY id", (file_id,)
        ).fetchall()
        dim = self.dimension or 0
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        return ids, np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def count_ok_chunks(self) -> int:
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM chunks c JOIN files f ON f.id = c.file_id "
                "WHERE f.status = 'ok'"
            ).fetchone()[0]
        )

    def file_contexts(self) -> dict[int, str]:
        """``{file id: its path and document line}`` for every complete file, e.g.
        ``{3: "reports/3M_2018_10K.pdf" + newline + "3M 2018 10K · 10-K ... 3M Company"}``."""
        first = (
            "(SELECT c.context FROM chunks c WHERE c.file_id = f.id ORDER BY c.seq LIMIT 1)"
            if self.schema >= 2
            else "''"
        )
        rows = self.conn.execute(
            f"SELECT f.id, f.relpath, {first} FROM files f WHERE f.status = 'ok'"
        )
        return {r[0]: r[1] + "\n" + (r[2] or "").split("\n", 1)[0] for r in rows}

    def headed_contexts(self) -> Iterator[tuple[int, str]]:
        """(chunk id, context) of the chunks of complete files whose context has a headings
        line (a second line under the document line); none on a schema-1 index."""
        if self.schema < 2:
            return
        rows = self.conn.execute(
            "SELECT c.id, c.context FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE f.status = 'ok' AND instr(c.context, char(10)) > 0"
        )
        for cid, context in rows:
            yield int(cid), str(context)

    def chunk_vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]:
        """The stored vectors of those of ``ids`` that exist."""
        ids = list(ids)
        out: dict[int, np.ndarray] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for cid, blob in self.conn.execute(
                f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", part
            ):
                out[int(cid)] = np.frombuffer(blob, dtype=np.float32)
        return out

    def file_chunk_ids(self, file_ids: Iterable[int]) -> set[int]:
        """Ids of every chunk of these files."""
        ids = list(file_ids)
        out: set[int] = set()
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            out.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT id FROM chunks WHERE file_id IN ({marks})", part
                )
            )
        return out

    def chunk_ids_matching(self, path_glob: str) -> set[int]:
        """Ids of every chunk of the complete files whose relative or absolute path matches the
        shell-style ``path_glob`` (``contracts/*``, ``*.pdf``)."""
        # Match file paths once per file, then take their chunks.
        files = [
            fid
            for fid, rel, path in self.conn.execute(
                "SELECT id, relpath, path FROM files WHERE status = 'ok'"
            )
            if fnmatch.fnmatch(rel, path_glob) or fnmatch.fnmatch(path, path_glob)
        ]
        return self.file_chunk_ids(files)

    def bm25(self, match: str, limit: int, context_weight: float) -> list[tuple[int, float]]:
        """(chunk id, score) of the best ``limit`` FTS5 matches of ``match`` (an FTS5 query),
        best first, scores higher for better (negated bm25); only complete files.

        ``context_weight`` weighs the chunk's document context against its text (weight 1).
        FTS5 ranks first and keeps only the best ``limit`` rows; chunks of files that are not
        complete are dropped after, so a few may be missing from the ``limit``.
        """
        rows = self.conn.execute(
            "SELECT t.rowid, t.score FROM (SELECT rowid, bm25(chunks_fts, ?, 1.0) AS score "
            "FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?) t "
            "JOIN chunks c ON c.id = t.rowid JOIN files f ON f.id = c.file_id "
            "WHERE f.status = 'ok' ORDER BY t.score",
            (context_weight, match, limit),
        ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def page_chunks(
        self, path: str, page: int | None, lo: int, hi: int
    ) -> tuple[list[tuple[str, int, int]], int | None]:
        """The (text, start, end) of the chunks of ``path``'s ``page`` that touch ``[lo, hi]``,
        by start, and where the page's last chunk ends (None: no such complete file or page)."""
        same_page = (
            "FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE f.path = ? AND f.status = 'ok' AND c.page IS ?"
        )
        rows = self.conn.execute(
            f"SELECT c.text, c.start, c.end {same_page} AND c.end >= ? AND c.start <= ? "
            "ORDER BY c.start, c.end",
            (path, page, lo, hi),
        ).fetchall()
        end = self.conn.execute(f"SELECT MAX(c.end) {same_page}", (path, page)).fetchone()[0]
        chunks = [(str(t), int(s), int(e)) for t, s, e in rows]
        return chunks, int(end) if end is not None else None

    def chunk_pages(self, ids: Iterable[int]) -> dict[int, tuple[int, int | None]]:
        """``{chunk id: (file id, page)}`` for those of ``ids`` in complete files."""
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT c.id, c.file_id, c.page FROM chunks c JOIN files f ON f.id = c.file_id "
            f"WHERE f.status = 'ok' AND c.id IN ({marks})",
            ids,
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def chunk_records(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        records = self._chunk_records(ids)
        ocr = self.ocr_confidence(records)
        return {i: replace(r, ocr=ocr[i]) if i in ocr else r for i, r in records.items()}

    def _chunk_records(self, ids: Iterable[int]) -> dict[int, ChunkRecord]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            "SELECT c.id, f.relpath, f.path, c.page, c.start, c.end, c.text, c.sensitive, "
            f"c.detectors, c.file_id FROM chunks c JOIN files f ON f.id = c.file_id "
            f"WHERE f.status = 'ok' AND c.id IN ({marks})",
            ids,
        )
        return {
            r[0]: ChunkRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                bool(r[7]),
                json.loads(r[8] or "{}"),
                r[9],
            )
            for r in rows
        }

    # -- writing -----------------------------------------------------------------------------
    def add_root(self, root: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO roots(path, added_at) VALUES (?, ?)", (root, time.time())
        )

    def begin_file(
        self, path: str, root: str, relpath: str, kind: str, sha256: str, size: int, mtime_ns: int
    ) -> int:
        """A pending row for a new version of ``path``; invisible until ``finish_file``."""
        cur = self.conn.execute(
            "INSERT INTO files(path, root, relpath, kind, sha256, size, mtime_ns, status, "
            "ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            (path, root, relpath, kind, sha256, size, mtime_ns, time.time()),
        )
        return int(cur.lastrowid or 0)

    def add_chunks(
        self, file_id: int, first_seq: int, chunks: list[Chunk], vectors: np.ndarray
    ) -> None:
        self.conn.executemany(
            "INSERT INTO chunks(file_id, seq, page, start, end, text, tokens, sensitive, "
            "detectors, embedding, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    file_id,
                    first_seq + i,
                    c.page,
                    c.start,
                    c.end,
                    c.text,
                    c.tokens,
                    int(c.sensitive),
                    json.dumps(c.detectors) if c.detectors else None,
                    vectors[i].astype(np.float32).tobytes(),
                    c.context,
                )
                for i, c in enumerate(chunks)
            ],
        )
        ocr = [(c.ocr, file_id, first_seq + i) for i, c in enumerate(chunks) if c.ocr is not None]
        if ocr:
            self.conn.executemany(
                "INSERT OR REPLACE INTO chunk_ocr(chunk_id, confidence) "
                "SELECT id, ? FROM chunks WHERE file_id = ? AND seq = ?",
                ocr,
            )

    def finish_file(
        self, file_id: int, *, pages: int | None, chunks: int, notes: list[str]
    ) -> list[int]:
        """Swap the pending version in; returns chunk ids of the version it replaced.

        Must run inside a transaction (``begin``/``commit``) with the chunk inserts; the writer
        bumps the generation in the same transaction (``appliance.writer``).
        """
        path = self.conn.execute("SELECT path FROM files WHERE id = ?", (file_id,)).fetchone()[0]
        old = self.conn.execute(
            "SELECT id FROM files WHERE path = ? AND status = 'ok'", (path,)
        ).fetchone()
        removed = self.delete_file(old[0]) if old else []
        sensitive = self.conn.execute(
            "SELECT COUNT(*) FROM chunks WHERE file_id = ? AND sensitive = 1", (file_id,)
        ).fetchone()[0]
        self.conn.execute(
            "UPDATE files SET status = 'ok', pages = ?, chunks = ?, sensitive_chunks = ?, "
            "notes = ?, ingested_at = ? WHERE id = ?",
            (pages, chunks, sensitive, json.dumps(notes) if notes else None, time.time(), file_id),
        )
        return removed

    def remove_file(self, path: str) -> list[int]:
        """Remove a file and its chunks (inside a transaction); returns removed chunk ids."""
        row = self.conn.execute(
            "SELECT id FROM files WHERE path = ? AND status = 'ok'", (path,)
        ).fetchone()
        if not row:
            return []
        return self.delete_file(row[0])

    def touch_file(self, path: str, mtime_ns: int) -> None:
        """Same content, new mtime: remember it so the next run does not hash it again."""
        self.conn.execute(
            "UPDATE files SET mtime_ns = ? WHERE path = ? AND status = 'ok'", (mtime_ns, path)
        )

    def delete_file(self, file_id: int) -> list[int]:
        """Delete a file row (any status) and its chunks (inside a transaction); returns the
        chunk ids."""
        ids = [
            r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE file_id = ?", (file_id,))
        ]
        self.conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
        self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
        return ids

    def bump_generation(self) -> None:
        """Count one more change of the set of complete files (inside the change's transaction):
        the vector file records the generation it reflects."""
        self.set_meta("generation", self.generation + 1)

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def begin(self) -> None:
        """Start a write transaction; only the writer, holding the lock, may (readers never
        write)."""
        if not self.locked:
            raise RuntimeError("writing to the index needs the writer lock (appliance.writer)")
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


# -- private files -----------------------------------------------------------------------------
def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with the folder itself 0700, whatever the umask."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)


def open_private(path: Path, flags: int, mode: int = FILE_MODE) -> int:
    """``os.open`` a file so that it is 0600 (or ``mode``) whatever the umask; returns the fd.

    A file that already exists with a looser mode is tightened through the open descriptor.
    Symlinks are refused (``O_NOFOLLOW``).
    """
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & ~mode:
            os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        raise
    return fd


def loose_modes(index_dir: Path) -> list[Path]:
    """Paths under ``index_dir`` (itself included) that group or others may access."""
    loose: list[Path] = []
    for path, st in _walk(index_dir):
        if stat.S_IMODE(st.st_mode) & 0o077:
            loose.append(path)
    return loose


def tighten_modes(index_dir: Path) -> list[Path]:
    """Make ``index_dir`` private, recursively; returns what changed.

    Group and other permissions are taken away (so the appliance's own folders end 0700 and
    its files 0600), nothing is added: an owner's bits are kept, which also keeps a folder
    pointed at by mistake usable. Symlinks are neither followed nor changed. A path that cannot
    be changed (another owner) is left as it is; ``appliance doctor`` reports it.
    """
    changed: list[Path] = []
    for path, st in _walk(index_dir):
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            with contextlib.suppress(OSError):
                os.chmod(path, mode & 0o700)
                changed.append(path)
    return changed


def _walk(index_dir: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every folder and file under ``index_dir`` with its ``lstat``; symlinks skipped."""
    try:
        top = os.lstat(index_dir)
    except OSError:
        return
    if not stat.S_ISDIR(top.st_mode):
        return
    yield index_dir, top
    for dirpath, dirnames, filenames in os.walk(index_dir, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISLNK(st.st_mode):
                yield path, st


def db_path(index_dir: Path) -> Path:
    return index_dir / DB_NAME


def index_exists(index_dir: Path) -> bool:
    return os.path.exists(db_path(index_dir))
