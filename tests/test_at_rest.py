"""At rest: the index folder is private (0700, files 0600, whatever the umask), removed text is
gone from the raw bytes of every file in it, and readers (ask, eval, doctor) never write it.

Library tests use the fake embedder (fast); the CLI test runs the real commands with the real
models, as a user would."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance.config import Settings
from appliance.doctor import _index, _index_modes
from appliance.ingest import ingest
from appliance.retrieve import Retriever
from appliance.store import Store, loose_modes
from appliance.vectors import FILE_NAME, VectorIndex

from .conftest import ROOT, FakeEmbedder

MARKER = "Zqxmarkerword"
# FTS5 keeps tokens lower-cased (porter-stemmed: this one stems to itself) and its leaves store
# a term as a suffix after the prefix it shares with the previous one: look for all of them.
NEEDLES = [MARKER.encode(), MARKER.lower().encode(), MARKER.upper().encode(), b"markerword"]


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _modes(index: Path) -> dict[str, int]:
    """relative path → permission bits of every folder and file under ``index`` (itself: '.')."""
    out = {".": stat.S_IMODE(os.lstat(index).st_mode)}
    for path in index.rglob("*"):
        out[str(path.relative_to(index))] = stat.S_IMODE(os.lstat(path).st_mode)
    return out


def _assert_private(index: Path) -> dict[str, int]:
    modes = _modes(index)
    for rel, mode in modes.items():
        want = 0o700 if (index / rel).is_dir() else 0o600
        assert mode == want, f"{rel} is {mode:04o}, want {want:04o}: {modes}"
    return modes


def _corpus(docs: Path) -> None:
    for i in range(12):
        (docs / f"note{i}.txt").write_text(
            f"Note {i}: the quarterly invoice for the warehouse lease is due in March. " * 12
        )


def _secret(docs: Path) -> Path:
    path = docs / "secret.txt"
    path.write_text(
        f"The project codename is {MARKER}; keep {MARKER.lower()} away from the press.\n\n"
        + f"Minutes: {MARKER} budget approved, {MARKER.upper()} vendors shortlisted. " * 15
    )
    return path


def _grep(index: Path) -> dict[str, list[bytes]]:
    """Which needles occur in the raw bytes of which file under ``index``."""
    found: dict[str, list[bytes]] = {}
    for path in sorted(index.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hits = [n for n in NEEDLES if n in data or n in data.lower()]
            if hits:
                found[str(path.relative_to(index))] = hits
    return found


# -- file modes ---------------------------------------------------------------------------------
def test_index_is_private_whatever_the_umask(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _corpus(docs)
    with _umask(0):  # a library caller with the loosest umask: modes are set explicitly
        report = ingest([docs], settings, embedder=fake_embedder)
        assert report.added == 12 and not report.failed
        modes = _assert_private(settings.index_dir)
        assert {".", "index.sqlite", FILE_NAME, ".lock"} <= set(modes)
        # A reader holding the database open: WAL and SHM exist, with the database's mode.
        retriever = Retriever(settings, embedder=fake_embedder)
        try:
            assert retriever.search("warehouse lease invoice")
            modes = _assert_private(settings.index_dir)
            assert {"index.sqlite-wal", "index.sqlite-shm"} <= set(modes)
        finally:
            retriever.close()
        # An ingest that writes while the reader's files exist, then removes a file.
        (docs / "note0.txt").unlink()
        (docs / "note1.txt").write_text("A new note about the boiler service.")
        report = ingest([docs], settings, embedder=fake_embedder)
        assert (report.removed, report.updated) == (1, 1)
        _assert_private(settings.index_dir)
    assert loose_modes(settings.index_dir) == []


def test_loose_modes_are_reported_then_tightened_by_the_next_ingest(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _corpus(docs)
    ingest([docs], settings, embedder=fake_embedder)
    index = settings.index_dir
    # An index from before this change, or files another tool wrote into it.
    conv = index / "conversations" / "2026"
    conv.mkdir(parents=True)
    (conv / "chat.json").write_text("{}")
    (index / "audit.jsonl").write_text("")
    os.chmod(conv, 0o755)
    os.chmod(conv.parent, 0o777)
    for path in [index, *index.rglob("*")]:
        if path.is_file():
            os.chmod(path, 0o644)
    os.chmod(index, 0o755)
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the index")
    os.chmod(outside, 0o644)
    os.symlink(outside, index / "link")  # never followed nor changed

    check = _index_modes(settings)
    assert not check.ok and check.fix is not None
    assert "8 path(s)" in check.detail and "readable by other users" in check.detail
    assert ". 0755" in check.detail and "conversations 0777" in check.detail
    assert "appliance ingest" in check.fix and "chmod -R go-rwx" in check.fix

    report = ingest([docs], settings, embedder=fake_embedder)
    assert report.unchanged == 12
    (index / "link").unlink()
    _assert_private(index)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
    assert _index_modes(settings).ok


# -- removed text is gone -------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_removed_text_is_gone_from_every_file(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder, how: str
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _corpus(docs)
    secret = _secret(docs)
    ingest([docs], settings, embedder=fake_embedder)
    index = settings.index_dir
    assert _grep(index), "the marker must be in the index before it is removed"

    # A reader keeps the database open, so the WAL file stays beside it during the removal.
    reader = sqlite3.connect(index / "index.sqlite")
    try:
        assert reader.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] > 0
        if how == "deleted":
            secret.unlink()
        else:
            secret.write_text("The project was renamed; the minutes now say nothing of it.")
        report = ingest([docs], settings, embedder=fake_embedder)
        assert (report.removed, report.updated) == ((1, 0) if how == "deleted" else (0, 1))
        names = {p.name for p in index.iterdir()}
        assert "index.sqlite-wal" in names, names
        assert (index / "index.sqlite-wal").stat().st_size == 0, "WAL truncated after the run"
        assert _grep(index) == {}
        assert reader.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] > 0
    finally:
        reader.close()
    assert _grep(index) == {}

    with Store.open(index) as store:
        store.conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, chunks_fts, row)")
        terms = {t for (t,) in store.conn.execute("SELECT term FROM temp.vocab")}
        assert "invoic" in terms and not any("markerword" in t for t in terms)
        assert store.meta("purge_pending") is None
        hits = store.conn.execute(
            "SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (MARKER.lower(),)
        ).fetchone()[0]
        assert hits == 0


def test_crash_leftovers_leave_no_text_either(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    """Chunks of a half-written file (swept after a crash) are purged too."""
    docs = tmp_path / "docs"
    docs.mkdir()
    _corpus(docs)
    _secret(docs)
    ingest([docs], settings, embedder=fake_embedder)
    with Store.open(settings.index_dir) as store:  # as a crash would leave it: a pending file
        store.conn.execute("UPDATE files SET status = 'pending' WHERE relpath = 'secret.txt'")
    (docs / "secret.txt").unlink()
    ingest([docs], settings, embedder=fake_embedder)
    assert _grep(settings.index_dir) == {}


# -- readers never write --------------------------------------------------------------------------
def _damage_body(path: Path) -> None:
    """Same size, same (matching) header, other bytes in the middle of the vectors."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(b ^ 0x5A for b in data[mid : mid + 64])
    path.write_bytes(bytes(data))


def test_reader_rebuilds_damaged_vectors_in_memory_only(
    tmp_path: Path,
    settings: Settings,
    fake_embedder: FakeEmbedder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import appliance.embedding

    monkeypatch.setattr(
        appliance.embedding, "resolve_model", lambda _dir: (FakeEmbedder.model_id, None)
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    _corpus(docs)
    ingest([docs], settings, embedder=fake_embedder)
    vec = settings.index_dir / FILE_NAME
    _damage_body(vec)
    before = vec.read_bytes(), vec.stat().st_mtime_ns
    listing = sorted(p.name for p in settings.index_dir.iterdir())

    with Store.open(settings.index_dir) as store:
        assert VectorIndex.in_step(store), "the header still matches"
        assert not VectorIndex.intact(store)
        assert VectorIndex.problem(store) == "damaged"
        with pytest.raises(RuntimeError, match="writer lock"):
            VectorIndex.load(store)[0].save(store)

    retriever = Retriever(settings, embedder=fake_embedder)
    try:
        hits = retriever.search("quarterly invoice warehouse", method="dense")
        assert hits and hits[0].file.startswith("note")
        retriever.search("again", method="dense")
    finally:
        retriever.close()
    assert (vec.read_bytes(), vec.stat().st_mtime_ns) == before
    assert sorted(p.name for p in settings.index_dir.iterdir()) == listing  # no temporary file
    assert len(retriever.warnings) == 1 and "appliance ingest" in retriever.warnings[0]
    assert any("damaged" in r.getMessage() for r in caplog.records)

    check = _index(settings)
    assert not check.ok and "damaged" in check.detail and "appliance ingest" in (check.fix or "")
    assert (vec.read_bytes(), vec.stat().st_mtime_ns) == before

    report = ingest([docs], settings, embedder=fake_embedder)
    assert report.rebuilt_vectors and report.chunks == 0
    with Store.open(settings.index_dir) as store:
        assert VectorIndex.intact(store) and VectorIndex.problem(store) is None
    assert _index(settings).ok


def test_old_vector_files_are_read_and_rewritten_by_ingest(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    """A file written before the checksum (``APLVEC01``) is still used; ingest upgrades it."""
    import struct

    import faiss

    docs = tmp_path / "docs"
    docs.mkdir()
    _corpus(docs)
    ingest([docs], settings, embedder=fake_embedder)
    vec = settings.index_dir / FILE_NAME
    with Store.open(settings.index_dir) as store:
        vindex, _ = VectorIndex.load(store)
        body = faiss.serialize_index(vindex.index).tobytes()
        vec.write_bytes(struct.pack("<8sQQ", b"APLVEC01", store.generation, vindex.ntotal) + body)
        assert VectorIndex.in_step(store) and VectorIndex.problem(store) is None
        assert not VectorIndex.intact(store)
    report = ingest([docs], settings, embedder=fake_embedder)
    assert not report.rebuilt_vectors
    assert vec.read_bytes()[:8] == b"APLVEC02"


# -- through the real CLI ----------------------------------------------------------------------
def _app() -> list[str]:
    script = Path(sys.executable).parent / "appliance"
    return [str(script)] if script.exists() else [sys.executable, "-m", "appliance"]


@pytest.mark.slow
def test_cli_private_files_and_readers_never_write(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lease.txt").write_text(
        "Lease of Unit 3, Calder Wharf. The lease ends on 30 June 2031. "
        "The security deposit is 4,500 pounds, held by the landlord.\n\n"
        "The tenant pays rent quarterly in advance."
    )
    (docs / "boiler.txt").write_text("The boiler is serviced every October by Heatwell Ltd.")
    index = tmp_path / "index"
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"))
    env["APPLIANCE_LLM__MAX_TOKENS"] = "16"
    env.pop("APPLIANCE_CRASH_AT", None)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_app(), *argv, "--index", str(index)],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
            preexec_fn=lambda: os.umask(0o022),  # the CLI sets its own
        )

    proc = run("ingest", str(docs), "--json")
    assert proc.returncode == 0, proc.stderr
    _assert_private(index)

    proc = run("ask", "When does the lease of Unit 3 end?", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answer"].strip()
    modes = _assert_private(index)  # the audit files an ask writes included
    assert "audit.jsonl" in modes

    # A damaged vector file whose header still matches: questions work, nothing is written.
    vec = index / FILE_NAME
    _damage_body(vec)
    before = vec.read_bytes(), vec.stat().st_mtime_ns
    proc = run("ask", "How much is the security deposit?", "--json")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["answer"].strip()
    assert any(c["file"] == "lease.txt" for c in answer["citations"])
    assert "damaged" in proc.stderr and "appliance ingest" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "boiler service", "file": "boiler.txt"}) + "\n")
    proc = run("eval", str(questions), "--no-answers", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "appliance ingest" in proc.stderr
    proc = run("doctor", "--json")
    index_check = next(c for c in json.loads(proc.stdout) if c["name"] == "index")
    assert not index_check["ok"] and "appliance ingest" in index_check["fix"]
    assert (vec.read_bytes(), vec.stat().st_mtime_ns) == before
    assert not (index / (FILE_NAME + ".tmp")).exists()
    _assert_private(index)

    proc = run("ingest", str(docs), "--json")  # the writer repairs it
    assert proc.returncode == 0, proc.stderr
    assert vec.read_bytes() != before[0]
    with Store.open(index) as store:
        assert VectorIndex.intact(store)
    shutil.rmtree(tmp_path / "config", ignore_errors=True)
