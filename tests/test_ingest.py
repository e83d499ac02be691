"""Ingestion: incremental runs, vanished files, bad files, index consistency (fake embedder)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from appliance.config import Settings
from appliance.errors import ConfigError, IndexError_
from appliance.ingest import ingest
from appliance.store import Store
from appliance.vectors import VectorIndex

from .conftest import SAMPLES, FakeEmbedder


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _consistent(settings: Settings) -> tuple[int, int]:
    """Assert SQLite and FAISS agree; return (files, chunks)."""
    with Store.open(settings.index_dir) as store:
        stats = store.stats()
        assert (
            store.conn.execute("SELECT COUNT(*) FROM files WHERE status='pending'").fetchone()[0]
            == 0
        )
        orphans = store.conn.execute(
            "SELECT COUNT(*) FROM chunks WHERE file_id NOT IN (SELECT id FROM files)"
        ).fetchone()[0]
        assert orphans == 0
        fts = store.conn.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]
        assert fts == store.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        assert VectorIndex.in_step(store)
        vindex, rebuilt = VectorIndex.load(store)
        assert not rebuilt
        ids = {int(i) for i, _ in store.conn.execute("SELECT id, 1 FROM chunks")}
        faiss_ids = {int(vindex.index.id_map.at(i)) for i in range(vindex.ntotal)}  # type: ignore[attr-defined]
        assert ids == faiss_ids
        return stats["files"], stats["chunks"]


def test_samples_ingest_then_unchanged(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    first = ingest([SAMPLES], settings, embedder=fake_embedder)
    assert first.failed == []
    assert first.added >= 8 and first.chunks > 0
    files, chunks = _consistent(settings)
    assert files == first.added and chunks == first.chunks

    calls = fake_embedder.calls
    again = ingest([SAMPLES], settings, embedder=fake_embedder)
    assert (again.added, again.updated, again.removed, again.chunks) == (0, 0, 0, 0)
    assert again.unchanged == first.added
    assert fake_embedder.calls == calls, "unchanged files must not be re-embedded"


def test_changed_vanished_and_touched_files(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    a = _write(docs, "a.txt", "Alpha policy.\n\nThe alpha budget is 100 euros.")
    b = _write(docs, "sub/b.md", "# Beta\n\nBeta rules apply on Mondays.")
    c = _write(docs, "c.txt", "Gamma notes about the gamma project.")
    emb = fake_embedder
    r = ingest([docs], settings, embedder=emb)
    assert (r.added, r.failed) == (3, [])

    a.write_text("Alpha policy, revised.\n\nThe alpha budget is 250 euros.")
    os.utime(a, ns=(time.time_ns(), time.time_ns() + 10**9))
    b.unlink()
    os.utime(c, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))  # same content, new mtime
    r = ingest([docs], settings, embedder=emb)
    assert (r.added, r.updated, r.removed, r.unchanged) == (0, 1, 1, 1)
    files, _ = _consistent(settings)
    assert files == 2
    with Store.open(settings.index_dir) as store:
        texts = " ".join(t for (t,) in store.conn.execute("SELECT text FROM chunks"))
        assert "250 euros" in texts and "100 euros" not in texts and "Beta" not in texts
        # the touched file's new mtime is remembered: next run needs no hashing
        rec = store.files()[str(c)]
        assert rec.mtime_ns == c.stat().st_mtime_ns


def test_bad_file_reported_and_index_untouched(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    _write(docs, "good.txt", "A perfectly good document about harbour fees.")
    r = ingest([docs], settings, embedder=fake_embedder)
    before = _consistent(settings)
    (docs / "junk.pdf").write_bytes(os.urandom(2048))
    (docs / "empty.txt").write_bytes(b"")
    os.symlink(docs / "missing.txt", docs / "broken.txt")
    r = ingest([docs], settings, embedder=fake_embedder)
    reasons = {f.path: f.reason for f in r.failed}
    assert set(reasons) == {"junk.pdf", "empty.txt", "broken.txt"}
    assert all(reason and "\n" not in reason for reason in reasons.values())
    assert _consistent(settings) == before


def test_changed_file_that_turns_bad_keeps_old_version(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    f = _write(docs, "notes.txt", "The quay opens at six in the morning.")
    ingest([docs], settings, embedder=fake_embedder)
    f.write_bytes(b"\x00\x01\x02" * 500)
    r = ingest([docs], settings, embedder=fake_embedder)
    assert [x.path for x in r.failed] == ["notes.txt"]
    assert _consistent(settings) == (1, 1)


def test_missing_path_is_usage_error(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    with pytest.raises(ConfigError):
        ingest([Path("/nonexistent/folder")], settings, embedder=fake_embedder)


def test_other_embedder_is_refused(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    _write(docs, "a.txt", "Some words here.")
    ingest([docs], settings, embedder=fake_embedder)
    other = FakeEmbedder()
    other.model_id = "test:another-model"
    with pytest.raises(IndexError_, match="another-model"):
        ingest([docs], settings, embedder=other)


def test_missing_or_stale_vector_file_is_rebuilt(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    ingest([docs], settings, embedder=fake_embedder)
    vec = settings.index_dir / "vectors.faiss"
    vec.unlink()
    r = ingest([docs], settings, embedder=fake_embedder)
    assert r.rebuilt_vectors
    _consistent(settings)
    vec.write_bytes(b"garbage")
    with Store.open(settings.index_dir) as store:
        assert not VectorIndex.in_step(store)
        _, rebuilt = VectorIndex.load(store)
        assert rebuilt
    assert vec.read_bytes() == b"garbage"  # a reader rebuilds in memory, never writes
    r = ingest([docs], settings, embedder=fake_embedder)
    assert r.rebuilt_vectors and r.chunks == 0
    _consistent(settings)


def test_thousand_small_files_reingest_fast(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "many"
    for i in range(1000):
        _write(docs, f"d{i // 100}/note{i}.txt", f"Note {i}: the meeting room {i % 7} is booked.")
    r = ingest([docs], settings, embedder=fake_embedder)
    assert r.added == 1000 and not r.failed
    r = ingest([docs], settings, embedder=fake_embedder)
    assert r.unchanged == 1000 and r.chunks == 0
    # The benchmark reports the time; here only a generous sanity bound.
    assert r.seconds < 10
