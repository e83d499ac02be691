"""End to end with the real models, air-gapped: every non-loopback socket is refused in this
test process (and the offline flags are set), then ingest + ask run on the sample documents.
Nothing may even try to reach the network: the guard's record of attempts must stay empty."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appliance import egress
from appliance.assistant import Assistant
from appliance.config import load_settings
from appliance.errors import EgressBlocked
from appliance.ingest import ingest
from appliance.store import Store

from .conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture
def airgap():  # type: ignore[no-untyped-def]
    egress.install()
    before = len(egress.blocked_attempts())
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        assert os.environ.get(key) == "1"
    # The guard really refuses: an attempt to reach a non-loopback address fails before sending.
    with pytest.raises(EgressBlocked):
        socket.create_connection(("10.255.255.1", 9), timeout=0.5)
    yield
    attempts = egress.blocked_attempts()[before + 1 :]
    egress.uninstall()
    assert attempts == [], f"something tried to reach the network: {attempts}"


def test_ingest_and_ask_offline_with_real_models(airgap, real_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(
        index_dir=tmp_path / "index", models_dir=ROOT / "models", llm={"max_tokens": 48}
    )
    report = ingest([SAMPLES], settings, embedder=real_embedder)
    assert report.failed == [] and report.added >= 10 and report.chunks > 0
    with Store.open(settings.index_dir) as store:
        stats = store.stats()
    assert stats["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert stats["dimension"] == 384
    assert stats["sensitive_chunks"] > 0, "sample documents carry made-up personal data"

    assistant = Assistant(settings, embedder=real_embedder)
    answer = assistant.ask("How much is the security deposit under the lease?")
    text = answer.read()
    assert text.strip()
    assert answer.route == "local"
    assert answer.model.startswith("SmolLM2")
    files = [c.file for c in answer.sources]
    assert files[0] == "contracts/lease_agreement.pdf"
    assert any(c.page == 2 for c in answer.sources if c.file == files[0])
    assert answer.timings["first_token_ms"] > 0


def test_cli_ingest_and_ask_json(tmp_path: Path) -> None:
    """The README's main commands, as a user runs them (the CLI installs its own guard)."""
    env = dict(os.environ, APPLIANCE_INDEX_DIR=str(tmp_path / "index"))
    env["APPLIANCE_LLM__MAX_TOKENS"] = "32"
    app = [sys.executable, "-m", "appliance"]
    proc = subprocess.run([*app, "ingest", str(SAMPLES), "--json"], env=env, capture_output=True,
                          text=True, cwd=ROOT, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= {
        "added",
        "updated",
        "unchanged",
        "removed",
        "failed",
        "chunks",
        "seconds",
    }
    assert result["failed"] == [] and result["added"] >= 10

    proc = subprocess.run([*app, "status", "--json"], env=env, capture_output=True, text=True,
                          cwd=ROOT)  # fmt: skip
    status = json.loads(proc.stdout)
    assert status["files"] == result["added"] and status["dimension"] == 384

    proc = subprocess.run(
        [*app, "ask", "When does the lease of Unit 3, Calder Wharf end?", "--json"],
        env=env, capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["route"] == "local" and answer["answer"].strip()
    assert answer["citations"] and answer["citations"][0]["file"].endswith(".pdf")
    c = answer["citations"][0]
    assert set(c) >= {"file", "page", "start", "end", "score", "text"}
    assert proc.stderr == "" or "Traceback" not in proc.stderr

    # usage errors exit 2 without a traceback
    proc = subprocess.run([*app, "ask", "x", "--index", str(tmp_path / "nowhere")], env=env,
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no index" in proc.stderr
