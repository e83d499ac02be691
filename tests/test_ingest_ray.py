"""Ingest on a Ray cluster: a real local cluster (2 CPUs, loopback only) against in-process runs.

The index built through Ray must equal the in-process one (files, chunk texts, spans, labels,
contexts; vectors within float tolerance), whether documents travel as bytes or by path; a
killed embedder actor is restarted and the run completes; a driver SIGKILLed mid-ingest
leaves a consistent index and the rerun finishes it. Skipped when Ray is not installed
(``pip install '.[ray]'``; ``make test`` installs it), except the check of that error itself.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.config import Settings, load_settings
from appliance.errors import ConfigError
from appliance.ingest import IngestReport, ingest
from appliance.store import Store
from appliance.vectors import VectorIndex

from .conftest import ROOT, SAMPLES, FakeEmbedder

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="Ray is not installed (pip install '.[ray]', or make install EXTRAS=ray)",
)


class SlowEmbedder(FakeEmbedder):
    """The fake embedder, slow enough for a test to kill its actor mid-run."""

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        time.sleep(0.4)
        return super().encode(texts, batch_size)


@pytest.fixture(scope="module")
def cluster() -> Any:
    """A Ray cluster of this machine only, bound to loopback; its GCS address."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every socket on loopback
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="appliance")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _settings(index: Path, **ingest: Any) -> Settings:
    return load_settings(
        index_dir=index,
        models_dir=ROOT / "models",
        ingest={"chunk_tokens": 60, "chunk_overlap": 10, "batch_size": 8, **ingest},
    )


def _docs(base: Path) -> Path:
    """The samples, a few more memos, and files that must fail with the same reasons."""
    docs = base / "docs"
    shutil.copytree(SAMPLES, docs / "samples")
    for i in range(4):
        (docs / "memos" / f"memo{i}.txt").parent.mkdir(parents=True, exist_ok=True)
        (docs / "memos" / f"memo{i}.txt").write_text(
            "\n\n".join(
                f"Memo {i}, item {j}: the harbour crane {j} needs inspection before winter."
                for j in range(12)
            )
        )
    (docs / "bad").mkdir()
    (docs / "bad" / "junk.pdf").write_bytes(b"\x00\x01 not a pdf " * 100)
    (docs / "bad" / "empty.txt").write_bytes(b"")
    os.symlink(docs / "bad" / "missing.txt", docs / "bad" / "broken.txt")
    return docs


def _index(index: Path) -> dict[tuple[str, int], tuple[Any, ...]]:
    """(relpath, seq) → the chunk's stored fields and vector; asserts SQLite/FAISS agree."""
    with Store.open(index) as store:
        assert VectorIndex.in_step(store), "FAISS and SQLite disagree"
        pending = store.conn.execute("SELECT COUNT(*) FROM files WHERE status != 'ok'")
        assert pending.fetchone()[0] == 0
        rows = store.conn.execute(
            "SELECT f.relpath, c.seq, c.page, c.start, c.end, c.text, c.tokens, c.sensitive, "
            "c.detectors, c.context, o.confidence, f.kind, f.sha256, f.pages, f.chunks, "
            "f.sensitive_chunks, c.embedding FROM chunks c JOIN files f ON f.id = c.file_id "
            "LEFT JOIN chunk_ocr o ON o.chunk_id = c.id"
        ).fetchall()
    return {
        (rel, seq): (*fields, np.frombuffer(blob, dtype=np.float32))
        for rel, seq, *fields, blob in rows
    }


def _assert_same(a: dict[Any, tuple[Any, ...]], b: dict[Any, tuple[Any, ...]]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        *fa, va = a[key]
        *fb, vb = b[key]
        assert fa == fb, key
        np.testing.assert_allclose(va, vb, atol=1e-5)


def _failures(report: IngestReport) -> dict[str, str]:
    return {f.path: f.reason for f in report.failed}


@needs_ray
@pytest.mark.parametrize("shared_fs", [False, True], ids=["bytes", "shared-fs"])
def test_ray_index_equals_in_process(tmp_path: Path, cluster: str, shared_fs: bool) -> None:
    docs = _docs(tmp_path)
    local = ingest([docs], _settings(tmp_path / "local"), embedder=FakeEmbedder())
    settings = _settings(tmp_path / "ray", ray_address=cluster, ray_shared_fs=shared_fs)
    remote = ingest([docs], settings, embedder=FakeEmbedder())

    assert (remote.added, remote.chunks, remote.pages) == (local.added, local.chunks, local.pages)
    assert _failures(remote) == _failures(local)
    assert set(_failures(local)) == {"bad/junk.pdf", "bad/empty.txt", "bad/broken.txt"}
    assert remote.notes == local.notes
    _assert_same(_index(tmp_path / "ray"), _index(tmp_path / "local"))
    with Store.open(tmp_path / "ray") as store:  # labels were set on the workers
        assert store.conn.execute("SELECT COUNT(*) FROM chunks WHERE sensitive = 1").fetchone()[0]

    # Incremental as in-process: nothing to do, then one changed, one touched, one removed.
    again = ingest([docs], settings, embedder=FakeEmbedder())
    assert (again.added, again.updated, again.chunks) == (0, 0, 0)
    assert again.unchanged == local.added
    memo = docs / "memos" / "memo0.txt"
    memo.write_text("The harbour crane was inspected in March; the report is filed.")
    os.utime(memo, ns=(time.time_ns(), time.time_ns() + 10**9))
    touched = docs / "memos" / "memo1.txt"
    os.utime(touched, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    (docs / "memos" / "memo2.txt").unlink()
    changed = ingest([docs], settings, embedder=FakeEmbedder())
    assert (changed.updated, changed.removed, changed.unchanged) == (1, 1, local.added - 2)
    local2 = ingest([docs], _settings(tmp_path / "local"), embedder=FakeEmbedder())
    assert (local2.updated, local2.removed) == (1, 1)
    _assert_same(_index(tmp_path / "ray"), _index(tmp_path / "local"))
    with Store.open(tmp_path / "ray") as store:  # the touched file's new mtime is kept
        assert store.files()[str(touched)].mtime_ns == touched.stat().st_mtime_ns


@needs_ray
def test_killed_embedder_actor_is_restarted(tmp_path: Path, cluster: str) -> None:
    import ray

    docs = _docs(tmp_path)
    shutil.rmtree(docs / "bad")
    reference = ingest([docs], _settings(tmp_path / "local"), embedder=FakeEmbedder())
    settings = _settings(tmp_path / "ray", ray_address=cluster, batch_size=4)
    result: list[IngestReport | BaseException] = []

    def run() -> None:
        try:
            result.append(ingest([docs], settings, embedder=SlowEmbedder()))
        except BaseException as exc:
            result.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    actor = None
    deadline = time.time() + 120
    while actor is None and time.time() < deadline and worker.is_alive():
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
        mine = [n for n in names if n.startswith("embedder-")]
        if mine:
            actor = ray.get_actor(mine[0], namespace="appliance")
        time.sleep(0.1)
    assert actor is not None, "no embedder actor appeared"
    pid = ray.get(actor.pid.remote())  # answered once the model is up
    time.sleep(1.0)  # a call or two in
    assert worker.is_alive(), "the run ended before the actor could be killed"
    os.kill(pid, signal.SIGKILL)
    worker.join(timeout=300)
    assert result and isinstance(result[0], IngestReport), result
    report = result[0]
    assert not report.failed and report.added == reference.added
    assert report.chunks == reference.chunks
    _assert_same(_index(tmp_path / "ray"), _index(tmp_path / "local"))


def _cli(index: Path, docs: Path, address: str, crash: str | None = None) -> Any:
    env = dict(os.environ, APPLIANCE_INGEST__BATCH_SIZE="4", APPLIANCE_INGEST__CHUNK_TOKENS="64")
    env.pop("APPLIANCE_CRASH_AT", None)
    if crash:
        env["APPLIANCE_CRASH_AT"] = crash
    cmd = [sys.executable, "-m", "appliance", "ingest", str(docs), "--index", str(index)]
    return subprocess.run(
        [*cmd, "--json", "--ray", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=index.parent,
    )


@needs_ray
@pytest.mark.slow
def test_killed_driver_rerun_finishes(tmp_path: Path, cluster: str, real_embedder: Any) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    local = load_settings(
        index_dir=tmp_path / "local",
        models_dir=ROOT / "models",
        ingest={"batch_size": 4, "chunk_tokens": 64},
    )
    reference = ingest([docs], local, embedder=real_embedder)
    index = tmp_path / "ray"

    killed = _cli(index, docs, cluster, crash="chunks-inserted:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    with Store.open(index) as store:  # complete files only, FAISS in step or rebuildable
        partial = store.conn.execute("SELECT COUNT(*) FROM files WHERE status='ok'").fetchone()
    assert partial[0] < reference.added

    again = _cli(index, docs, cluster)
    assert again.returncode == 0, again.stderr[-2000:]
    _assert_same(_index(index), _index(tmp_path / "local"))


def test_without_ray_the_error_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    settings = _settings(tmp_path / "index", ray_address="local")
    with pytest.raises(ConfigError, match="needs Ray") as err:
        ingest([SAMPLES], settings, embedder=FakeEmbedder())
    assert "appliance[ray]" in str(err.value)
    assert not (tmp_path / "index").exists(), "nothing is created before Ray is there"

    code = main(["ingest", str(SAMPLES), "--index", str(tmp_path / "i2"), "--ray", "local"])
    assert code == 2
    err_text = capsys.readouterr().err
    assert "needs Ray" in err_text and "Traceback" not in err_text
    assert main(["ingest", str(SAMPLES), "--index", str(tmp_path / "i3"), "--ray-shared-fs"]) == 2


def test_a_rule_on_the_real_path_reaches_workers_without_the_file(tmp_path: Path) -> None:
    """Bytes mode: a folder rule that matches only through a symlink is resolved here."""
    from appliance.ingest import Candidate
    from appliance.ingest_ray import RayPipeline

    (tmp_path / "real" / "hr").mkdir(parents=True)
    (tmp_path / "real" / "hr" / "review.txt").write_text("Annual review.")
    (tmp_path / "docs").mkdir()
    os.symlink(tmp_path / "real" / "hr", tmp_path / "docs" / "team")
    settings = load_settings(
        index_dir=tmp_path / "index",
        privacy={"sensitive_paths": ["hr/**"]},
        ingest={"ray_address": "local"},
    )
    pipeline = RayPipeline(settings, FakeEmbedder(), None)  # type: ignore[arg-type]
    linked = Candidate(str(tmp_path / "docs" / "team" / "review.txt"), str(tmp_path), "team/r")
    given = pipeline._label_path(linked)
    assert given == str(tmp_path / "real" / "hr" / "review.txt")
    plain = Candidate(str(tmp_path / "docs" / "x.txt"), str(tmp_path / "docs"), "x.txt")
    assert pipeline._label_path(plain) == plain.path
    # A worker that cannot resolve the link still finds the rule on the path it is given.
    from appliance.privacy import Classifier

    classifier = Classifier(settings.privacy)
    assert classifier.rule_for("team/r", "/elsewhere/team/review.txt") is None
    assert classifier.rule_for("team/r", given) == "hr/**"


def test_bench_writer_rate_replays_an_index(tmp_path: Path) -> None:
    """The benchmark's writer-alone measure (no Ray needed): a positive rate, a whole index."""
    from bench.ray_bench import HashVectors, writer_rate

    ingest([SAMPLES], _settings(tmp_path / "src"), embedder=FakeEmbedder())
    rate = writer_rate(tmp_path / "src", tmp_path / "dst", HashVectors(tmp_path, 16), 200)
    assert rate > 0
    with Store.open(tmp_path / "dst") as store:
        assert store.stats()["chunks"] >= 200 and VectorIndex.in_step(store)
