"""Crash safety: SIGKILL a real `appliance ingest` subprocess at several points, run it again,
and check the index is complete and consistent, and that nothing complete before was lost."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.store import Store
from appliance.vectors import VectorIndex

from .conftest import SAMPLES

pytestmark = pytest.mark.slow


def _run(index: Path, docs: Path, crash: str | None = None, timeout: float = 300):  # type: ignore[no-untyped-def]
    env = dict(os.environ, APPLIANCE_INGEST__BATCH_SIZE="4", APPLIANCE_INGEST__CHUNK_TOKENS="64")
    env.pop("APPLIANCE_CRASH_AT", None)
    if crash:
        env["APPLIANCE_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "appliance", "ingest", str(docs), "--index", str(index), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _contents(index: Path) -> dict[str, int]:
    """relpath → chunk count of complete files; asserts SQLite/FAISS agreement."""
    with Store.open(index) as store:
        files = {
            rel: n
            for rel, n in store.conn.execute("SELECT relpath, chunks FROM files WHERE status='ok'")
        }
        for rel, n in files.items():
            got = store.conn.execute(
                "SELECT COUNT(*) FROM chunks c JOIN files f ON f.id=c.file_id "
                "WHERE f.relpath=? AND f.status='ok'",
                (rel,),
            ).fetchone()[0]
            assert got == n, f"{rel}: {got} chunks stored, {n} recorded"
        assert VectorIndex.in_step(store), "FAISS and SQLite disagree"
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    """A first batch of documents (ingested completely) and a second one added later."""
    base = tmp_path_factory.mktemp("crash")
    docs = base / "docs"
    shutil.copytree(SAMPLES, docs / "first")
    extra = base / "extra"
    for i in range(8):
        (extra / f"n{i}").mkdir(parents=True)
        (extra / f"n{i}" / f"memo{i}.txt").write_text(
            "\n\n".join(
                f"Memo {i}, item {j}: the harbour crane {j} needs inspection before winter."
                for j in range(20)
            )
        )
    reference = base / "reference-index"
    full = base / "full"
    shutil.copytree(docs, full)
    shutil.copytree(extra, full / "second")
    assert _run(reference, full).returncode == 0
    return docs, extra, _contents(reference)


@pytest.mark.parametrize(
    "crash",
    ["chunks-inserted:2", "file-committed:2", "before-vectors-save", "vectors-written", "timer"],
)
def test_killed_ingest_recovers(
    tmp_path: Path, corpus: tuple[Path, Path, dict[str, int]], crash: str
) -> None:
    docs, extra, reference = corpus
    work = tmp_path / "docs"
    shutil.copytree(docs, work)
    index = tmp_path / "index"
    assert _run(index, work).returncode == 0
    before = _contents(index)

    shutil.copytree(extra, work / "second")
    if crash == "timer":
        env = dict(
            os.environ, APPLIANCE_INGEST__BATCH_SIZE="4", APPLIANCE_INGEST__CHUNK_TOKENS="64"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "ingest", str(work), "--index", str(index)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill it once it has committed something of the second batch.
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            try:
                con = sqlite3.connect(index / "index.sqlite", timeout=5)
                n = con.execute(
                    "SELECT COUNT(*) FROM files WHERE relpath LIKE 'second/%'"
                ).fetchone()[0]
                con.close()
            except sqlite3.Error:
                n = 0
            if n >= 1:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    else:
        killed = _run(index, work, crash)
        assert killed.returncode == -signal.SIGKILL, killed.stderr

    # Whatever state the crash left: complete files only, everything from before still there.
    with Store.open(index) as store:
        ok = {r for (r,) in store.conn.execute("SELECT relpath FROM files WHERE status='ok'")}
    assert set(before) <= ok

    again = _run(index, work)
    assert again.returncode == 0, again.stderr
    assert _contents(index) == reference
