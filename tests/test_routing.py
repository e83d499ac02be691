"""The privacy router against a real HTTP server on loopback speaking Anthropic's Messages API.

Sensitive questions, and questions whose retrieved passages are sensitive, never reach the
server; canary strings planted in sensitive documents never appear in any request; a
non-sensitive question in hybrid mode does reach it and streams back; offline mode never
connects. The local model is a fake here (fast); the cloud side is the real SDK over HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance import egress
from appliance.assistant import Assistant
from appliance.audit import AuditLog
from appliance.backends.fake import FakeBackend
from appliance.config import Settings, load_settings
from appliance.errors import ConfigError
from appliance.ingest import ingest
from appliance.privacy import Detector, evaluate

from .conftest import FakeEmbedder
from .fake_anthropic import FakeAnthropicServer, fake_anthropic  # noqa: F401

CANARIES = ["CANARY-7Q2X-PAYROLL", "CANARY-9KD3-DIAGNOSIS", "CANARY-M4RT-SALARY"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "public").mkdir()
    (docs / "hr" / "payroll.txt").write_text(
        f"Payroll run {CANARIES[0]}: the parking permit allowance for staff is paid monthly.\n\n"
        "Questions about the parking permit allowance go to the office."
    )
    (docs / "public" / "patient.txt").write_text(
        f"Clinic note {CANARIES[1]}. Contact the patient at maria.lopez@mailbox.example or "
        "+44 20 7946 0321 about the physiotherapy referral for knee pain."
    )
    (docs / "public" / "salary.md").write_text(
        f"# Salary transfer {CANARIES[2]}\n\nSalary for the receptionist goes to IBAN "
        "GB82 WEST 1234 5698 7654 32 each month for the front desk rota."
    )
    (docs / "public" / "garden.md").write_text(
        "# Garden\n\nThe herb garden on the roof terrace is watered every Tuesday by volunteers."
        "\n\nRosemary, thyme and mint grow in the raised beds beside the bench."
    )
    return docs


def _settings(tmp_path: Path, server: FakeAnthropicServer | None, mode: str) -> Settings:
    privacy: dict[str, object] = {"mode": mode, "sensitive_paths": ["hr/**"]}
    if server is not None:
        privacy["anthropic_base_url"] = server.url
    return load_settings(
        index_dir=tmp_path / "index",
        privacy=privacy,
        retrieval={"min_score": 0.3, "k": 2},
        ingest={"chunk_tokens": 60, "chunk_overlap": 0},
    )


def _assistant(settings: Settings, local: FakeBackend) -> Assistant:
    return Assistant(settings, embedder=FakeEmbedder(), local_backend=local)


@pytest.fixture
def hybrid(
    tmp_path: Path, corpus: Path, fake_anthropic: FakeAnthropicServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
):  # type: ignore[no-untyped-def]  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_anthropic.api_key)
    egress.install()
    settings = _settings(tmp_path, fake_anthropic, "hybrid")
    ingest([corpus], settings, embedder=FakeEmbedder())
    local = FakeBackend(["Answered on this machine."] * 20)
    yield _assistant(settings, local), local, fake_anthropic
    egress.uninstall()


def _all_requests(server: FakeAnthropicServer) -> str:
    return "\n".join(r.body.decode("utf-8", "replace") for r in server.requests)


def test_non_sensitive_question_goes_to_the_cloud_and_streams(hybrid) -> None:  # type: ignore[no-untyped-def]
    assistant, local, server = hybrid
    answer = assistant.ask("When is the herb garden on the roof terrace watered?")
    pieces = list(answer)
    assert answer.route == "cloud", answer.reasons
    assert len(pieces) > 1 and answer.text == server.reply
    assert len(server.requests) == 1 and local.calls == []
    body = server.requests[0].json()
    assert "herb garden" in json.dumps(body)
    record = AuditLog(assistant.settings.index_dir).records()[-1]
    assert record["decision"] == "cloud"
    assert record["sent"]["bytes"] == len(server.requests[0].body)
    import hashlib

    assert record["sent"]["sha256"] == hashlib.sha256(server.requests[0].body).hexdigest()


@pytest.mark.parametrize(
    "question",
    [
        "Is jane.doe@corp.example on the garden rota?",  # e-mail in the question
        "When is the herb garden watered? My card is 4111 1111 1111 1111",  # card number
        "What does the parking permit allowance cover?",  # passages under hr/** (folder rule)
        "How do I contact the patient about the physiotherapy referral?",  # e-mail + phone
        "Which IBAN does the receptionist salary go to?",  # IBAN in passages
    ],
)
def test_sensitive_turns_never_reach_the_server(hybrid, question: str) -> None:  # type: ignore[no-untyped-def]
    assistant, local, server = hybrid
    answer = assistant.ask(question)
    answer.read()
    assert answer.route == "local", answer.reasons
    assert server.requests == []
    assert local.calls, "answered by the local model"
    assert any("×" in r for r in answer.reasons)


def test_canaries_never_leave_whatever_is_asked(hybrid) -> None:  # type: ignore[no-untyped-def]
    assistant, _, server = hybrid
    questions = [
        "When is the herb garden watered?",
        "parking permit allowance",
        "physiotherapy referral knee pain",
        "receptionist salary transfer",
        "What grows in the raised beds?",
        "front desk rota",
        "payroll run",
        "clinic note",
    ]
    for q in questions:
        assistant.ask(q).read()
    sent = _all_requests(server)
    assert server.requests, "some non-sensitive questions should have gone out"
    for canary in CANARIES:
        assert canary not in sent


def test_history_with_sensitive_content_keeps_the_turn_local(hybrid) -> None:  # type: ignore[no-untyped-def]
    from appliance.prompting import Turn

    assistant, _, server = hybrid
    history = [Turn("My number is +44 20 7946 0999, note it.", "Noted.")]
    answer = assistant.ask("When is the herb garden watered?", history=history)
    answer.read()
    assert answer.route == "local" and server.requests == []


def test_offline_mode_never_connects(
    tmp_path: Path, corpus: Path, fake_anthropic: FakeAnthropicServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_anthropic.api_key)
    settings = _settings(tmp_path, fake_anthropic, "offline")
    ingest([corpus], settings, embedder=FakeEmbedder())
    local = FakeBackend(["Local."] * 5)
    assistant = _assistant(settings, local)
    for q in ("When is the herb garden watered?", "What grows in the raised beds?"):
        answer = assistant.ask(q)
        answer.read()
        assert answer.route == "local" and "offline mode" in answer.reasons
    assert fake_anthropic.requests == []


def test_hybrid_without_key_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    settings = _settings(tmp_path, None, "hybrid")
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        Assistant(settings, embedder=FakeEmbedder(), local_backend=FakeBackend())


def test_classification_error_fails_closed(hybrid, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assistant, _, server = hybrid

    def broken(text: str) -> list[object]:
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(assistant.router.detector, "scan", broken)
    answer = assistant.ask("When is the herb garden watered?")
    answer.read()
    assert answer.route == "local" and server.requests == []


def test_local_model_failure_on_sensitive_turn_is_an_error_not_a_fallback(
    hybrid, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from appliance.errors import ModelError

    assistant, _, server = hybrid

    def no_model(model: str | None = None) -> None:
        raise ModelError("no model")

    monkeypatch.setattr(assistant, "local_backend", no_model)
    with pytest.raises(ModelError):
        assistant.ask("Is jane.doe@corp.example on the garden rota?").read()
    assert server.requests == []


def test_redaction_tier_sends_placeholders_and_restores_locally(
    tmp_path: Path, corpus: Path, fake_anthropic: FakeAnthropicServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_anthropic.api_key)
    settings = _settings(tmp_path, fake_anthropic, "hybrid")
    settings.privacy.redact = True
    ingest([corpus], settings, embedder=FakeEmbedder())
    assistant = _assistant(settings, FakeBackend())
    fake_anthropic.reply = "Write to [EMAIL_1] about it."
    answer = assistant.ask("Is jane.doe@corp.example on the herb garden rota?")
    answer.read()
    assert answer.route == "cloud" and "redacted" in answer.reasons
    sent = _all_requests(fake_anthropic)
    assert "jane.doe@corp.example" not in sent and "[EMAIL_1]" in sent
    assert "jane.doe@corp.example" in answer.text
    # folder-rule passages are never redacted out: they stay local
    n = len(fake_anthropic.requests)
    assistant.ask("What does the parking permit allowance cover?").read()
    assert len(fake_anthropic.requests) == n


def test_shipped_labelled_set_has_full_recall() -> None:
    path = Path(__file__).parent.parent / "appliance" / "data" / "privacy_eval.jsonl"
    assert sum(1 for _ in path.open()) >= 200
    result = evaluate(path, Detector())
    assert result.recall == 1.0
    assert result.precision >= 0.95


def test_offline_cli_never_imports_the_sdk(tmp_path: Path) -> None:
    code = (
        "import sys; from appliance.cli import main\n"
        "rc = main(['status', '--index', sys.argv[1]])\n"
        "assert 'anthropic' not in sys.modules, 'SDK imported in offline mode'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
