"""Red team: every way found (or thought of) to get a secret out through hybrid mode.

Each test plants a secret where an attacker, a careless document or a hurried user would put
it, asks through the library or the CLI against a real HTTP server on loopback that speaks
Anthropic's Messages API (the real SDK on the client side), and asserts that no recorded request
byte holds it and that the audit line explains the local route. Each attack also has a control
(the same setup without the secret does reach the server), so a test cannot pass by sending
nothing at all.

How the material was made: the secrets are written for these tests in the formats real
documents, file names and people use (values split by Unicode spaces and invisible characters,
full-width digits, look-alike letters, lower-case IBANs, key blocks longer than a chunk); none
comes from a dataset the detectors were tuned on.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance import egress
from appliance.assistant import Assistant
from appliance.audit import AuditLog
from appliance.backends.fake import FakeBackend
from appliance.chunking import Chunker, WordCounter
from appliance.config import Settings, load_settings
from appliance.conversations import Conversations
from appliance.errors import PrivacyBlocked
from appliance.ingest import Candidate, default_labeler, ingest
from appliance.loaders.base import Section
from appliance.router import Decision

from .conftest import FakeEmbedder
from .fake_anthropic import FakeAnthropicServer, fake_anthropic  # noqa: F401

HR_CANARY = "CANARY-HR-7731"
GARDEN_Q = "When is the herb garden on the roof terrace watered?"
PARKING_Q = "What does the parking permit allowance cover?"


# -- set-up ------------------------------------------------------------------------------------
@pytest.fixture
def server(
    fake_anthropic: FakeAnthropicServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FakeAnthropicServer]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_anthropic.api_key)
    egress.install()
    yield fake_anthropic
    egress.uninstall()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _garden(docs: Path) -> None:
    _write(
        docs / "public" / "garden.md",
        "# Garden\n\nThe herb garden on the roof terrace is watered every Tuesday by "
        "volunteers.\n\nRosemary, thyme and mint grow in the raised beds beside the bench.",
    )


def _payroll(docs: Path) -> None:
    _write(
        docs / "hr" / "payroll.txt",
        f"Payroll run {HR_CANARY}: the parking permit allowance for staff is paid monthly.\n\n"
        "Questions about the parking permit allowance go to the office.",
    )


def _settings(
    tmp_path: Path, server: FakeAnthropicServer, mode: str = "hybrid", **privacy: Any
) -> Settings:
    return load_settings(
        index_dir=tmp_path / "index",
        privacy={
            "mode": mode,
            "sensitive_paths": ["hr/**"],
            "anthropic_base_url": server.url,
            **privacy,
        },
        retrieval={"min_score": 0.1, "k": 3},
        ingest={"chunk_tokens": 60, "chunk_overlap": 0},
    )


def _assistant(settings: Settings, *roots: Path) -> Assistant:
    if roots:
        report = ingest(list(roots), settings, embedder=FakeEmbedder())
        assert not report.failed, report.failed
    return Assistant(
        settings, embedder=FakeEmbedder(), local_backend=FakeBackend(["Answered here."] * 50)
    )


def _sent(server: FakeAnthropicServer) -> str:
    """Everything the server received: raw bytes, and the JSON decoded (``\\u`` escapes)."""
    raw = "\n".join(r.body.decode("utf-8", "replace") for r in server.requests)
    decoded = "\n".join(json.dumps(r.json(), ensure_ascii=False) for r in server.requests)
    return raw + "\n" + decoded


def _assert_never_sent(server: FakeAnthropicServer, *secrets: str) -> None:
    sent = _sent(server)
    for secret in secrets:
        assert secret not in sent, f"{secret!r} reached the server"


def _last_audit(assistant: Assistant) -> dict[str, Any]:
    return AuditLog(assistant.settings.index_dir).records()[-1]


def _ask(assistant: Assistant, question: str, **kwargs: Any) -> Any:
    answer = assistant.ask(question, **kwargs)
    answer.read()
    return answer


# -- 1. conversations remember their routes ---------------------------------------------------
def test_a_local_turn_never_travels_as_history(tmp_path: Path, server: FakeAnthropicServer) -> None:
    docs = tmp_path / "docs"
    _garden(docs)
    _payroll(docs)
    assistant = _assistant(_settings(tmp_path, server), docs)
    first = _ask(assistant, PARKING_Q)
    assert first.route == "local" and first.sensitive, first.reasons
    second = _ask(assistant, GARDEN_Q, history=[first.turn()])
    assert second.route == "local", second.reasons
    assert server.requests == []
    assert any("earlier sensitive turn" in r for r in _last_audit(assistant)["reasons"])
    # control: the same question in a fresh conversation does go out
    assert _ask(assistant, GARDEN_Q).route == "cloud" and len(server.requests) == 1
    _assert_never_sent(server, HR_CANARY, PARKING_Q, "parking permit")


def test_switching_offline_to_hybrid_keeps_earlier_turns_home(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    _garden(docs)
    _payroll(docs)
    assistant = _assistant(_settings(tmp_path, server, mode="offline"), docs)
    first = _ask(assistant, PARKING_Q)
    assert first.route == "local" and first.sensitive
    assistant.set_mode("hybrid")
    second = _ask(assistant, GARDEN_Q, history=[first.turn()])
    assert second.route == "local" and server.requests == []


def test_a_later_turn_stays_local_even_after_harmless_turns(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    _garden(docs)
    _payroll(docs)
    assistant = _assistant(_settings(tmp_path, server), docs)
    history = [_ask(assistant, PARKING_Q).turn()]
    for question in (GARDEN_Q, "What grows in the raised beds?", "Who waters it?"):
        answer = _ask(assistant, question, history=history)
        assert answer.route == "local"
        history.append(answer.turn())
    assert server.requests == []


def test_saved_conversation_without_its_flag_counts_as_sensitive(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    _garden(docs)
    assistant = _assistant(_settings(tmp_path, server), docs)
    store = Conversations(assistant.settings.index_dir)
    store.folder.mkdir(parents=True)
    # an edited or truncated file: the flag is gone; the safe reading is "sensitive"
    store.path("edited").write_text(
        json.dumps({"version": 1, "name": "edited",
                    "turns": [{"question": "about the payroll", "answer": "it is monthly"}]})
    )  # fmt: skip
    conversation = store.load("edited")
    assert conversation.local_only
    answer = _ask(assistant, GARDEN_Q, history=conversation.turns)
    assert answer.route == "local" and server.requests == []


def test_cli_chat_keeps_a_sensitive_conversation_local_across_runs(
    tmp_path: Path, server: FakeAnthropicServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``appliance ask --chat NAME --hybrid`` twice, with the real models, in one process each
    time the way a user runs it: the second run reads the saved conversation."""
    from appliance.cli import main

    docs = tmp_path / "docs"
    _garden(docs)
    _payroll(docs)
    config = _write(tmp_path / "appliance.toml", '[privacy]\nsensitive_paths = ["hr/**"]\n')
    index = str(tmp_path / "index")
    os.environ["ANTHROPIC_BASE_URL"] = server.url
    try:
        common = ["--index", index, "--config", str(config)]
        assert main(["ingest", str(docs), "--json", *common]) == 0
        ask = ["ask", "--hybrid", "--chat", "case-1", "--json", "--k", "2", *common]
        capsys.readouterr()
        assert main([*ask[:1], PARKING_Q, *ask[1:]]) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["route"] == "local" and first["chat"]["local_only"] is True
        assert main([*ask[:1], GARDEN_Q, *ask[1:]]) == 0
        second = json.loads(capsys.readouterr().out)
        assert second["route"] == "local", second["reasons"]
        assert server.requests == []
        saved = Path(index) / "conversations" / "case-1.json"
        assert oct(saved.stat().st_mode & 0o777) == "0o600"
        assert oct(saved.parent.stat().st_mode & 0o777) == "0o700"
        turns = json.loads(saved.read_text())["turns"]
        assert [t["sensitive"] for t in turns] == [True, True]
        # control: a new conversation asks the same harmless question through the cloud
        assert main(["ask", GARDEN_Q, "--hybrid", "--json", "--k", "2", *common]) == 0
        assert json.loads(capsys.readouterr().out)["route"] == "cloud"
        assert len(server.requests) == 1
        _assert_never_sent(server, HR_CANARY, "parking permit")
    finally:
        del os.environ["ANTHROPIC_BASE_URL"]
        egress.install()  # main() reinstalled the guard; the fixture uninstalls it


# -- 2. file and folder names -------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "Maria Lopez - maria.lopez@mailbox.example - SSN 536-90-4399.md",
        "Maria_Lopez_SSN_536904399.md",
        "maria.lopez＠mailbox.example.md",
        "review SSN ５３６-９０-４３９９.md",
    ],
)
def test_a_file_name_with_personal_data_is_never_sent(
    tmp_path: Path, server: FakeAnthropicServer, name: str
) -> None:
    docs = tmp_path / "docs"
    _write(
        docs / "public" / name,
        "The bicycle storage room is in the basement next to the lifts.",
    )
    assistant = _assistant(_settings(tmp_path, server), docs)
    answer = _ask(assistant, "Where is the bicycle storage room?")
    assert answer.route == "local" and server.requests == []
    assert any(r.startswith("name:") for r in _last_audit(assistant)["detectors"])
    _assert_never_sent(server, "536", "maria", "Maria")


# -- 3. folder rules, whatever was ingested -----------------------------------------------------
def test_ingesting_the_sensitive_folder_itself_keeps_the_rule(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    _payroll(docs)
    assistant = _assistant(_settings(tmp_path, server), docs / "hr")
    answer = _ask(assistant, PARKING_Q)
    assert answer.route == "local" and server.requests == []
    assert "rule:hr/**" in _last_audit(assistant)["detectors"]


def test_ingesting_a_single_sensitive_file_keeps_the_rule(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    _payroll(docs)
    assistant = _assistant(_settings(tmp_path, server), docs / "hr" / "payroll.txt")
    assert _ask(assistant, PARKING_Q).route == "local" and server.requests == []


def test_a_symlink_is_judged_by_its_target(tmp_path: Path, server: FakeAnthropicServer) -> None:
    docs = tmp_path / "docs"
    _payroll(docs)
    _garden(docs)
    (docs / "public" / "notes.txt").symlink_to(Path("..") / "hr" / "payroll.txt")
    assistant = _assistant(_settings(tmp_path, server), docs / "public")
    answer = _ask(assistant, PARKING_Q)
    assert answer.route == "local" and server.requests == []
    _assert_never_sent(server, HR_CANARY)
    assert _ask(assistant, GARDEN_Q).route == "cloud"  # control


def test_a_look_alike_folder_name_does_not_dodge_the_rule(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    _write(docs / "һr" / "payroll.txt", f"Payroll {HR_CANARY}: the parking permit allowance.")
    assistant = _assistant(_settings(tmp_path, server), docs)
    assert _ask(assistant, PARKING_Q).route == "local" and server.requests == []


# -- 4. identifiers in the formats people write them ---------------------------------------------
FORMATS = {
    "card, non-breaking spaces": "4111\u00a01111\u00a01111\u00a01111",
    "card, thin spaces": "5500\u20090000\u20090000\u20090004",
    "card, zero-width joins": "4111\u200b1111\u200b1111\u200b1111",
    "card, full-width digits": "４１１１ １１１１ １１１１ １１１１",
    "card, dots": "4111.1111.1111.1111",
    "iban, lower case": "gb82 west 1234 5698 7654 32",
    "iban, dashes": "GB82-WEST-1234-5698-7654-32",
    "ssn, no dashes after SSN": "SSN 536904399",
    "email, full-width at": "maria.lopez＠mailbox.example",
    "email, zero-width inside": "maria.lo\u200bpez@mail\u200bbox.example",
    "email, Cyrillic a": "mаria.lopez@mailbox.example",
    "private key line": "-----BEGIN OPENSSH PRIVATE KEY-----",
}


@pytest.mark.parametrize("value", list(FORMATS.values()), ids=list(FORMATS))
def test_identifiers_in_a_question_stay_local(
    tmp_path: Path, server: FakeAnthropicServer, value: str
) -> None:
    docs = tmp_path / "docs"
    _garden(docs)
    assistant = _assistant(_settings(tmp_path, server), docs)
    answer = _ask(assistant, f"When is the herb garden watered? Mine is {value}")
    assert answer.route == "local", answer.reasons
    assert server.requests == []


@pytest.mark.parametrize("value", list(FORMATS.values()), ids=list(FORMATS))
def test_identifiers_in_a_passage_stay_local(
    tmp_path: Path, server: FakeAnthropicServer, value: str
) -> None:
    docs = tmp_path / "docs"
    _write(
        docs / "public" / "locker.md",
        f"The locker deposit for the swimming pool is refunded to {value} at the end of term.",
    )
    assistant = _assistant(_settings(tmp_path, server), docs)
    answer = _ask(assistant, "How is the swimming pool locker deposit refunded?")
    assert answer.route == "local", answer.reasons
    assert server.requests == []


# -- 5. a private key longer than a chunk ---------------------------------------------------------
def _key_lines(n: int = 36) -> list[str]:
    import base64
    import hashlib

    return [
        base64.b64encode(hashlib.sha512(f"line {i}".encode()).digest()[:48]).decode()
        for i in range(n)
    ]


def test_every_chunk_of_a_private_key_is_labelled_and_kept_home(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    lines = _key_lines()
    _write(
        docs / "public" / "deploy_notes.md",
        "Deploy notes for the staging box.\n\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "\n".join(lines)
        + "\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    settings = _settings(tmp_path, server)
    settings.ingest.chunk_tokens = 16
    settings.retrieval.k = 10
    settings.retrieval.min_score = -1.0  # every chunk of the file is given to the model
    assistant = _assistant(settings, docs)
    con = sqlite3.connect(settings.index_dir / "index.sqlite")
    labels = con.execute("SELECT text, sensitive FROM chunks").fetchall()
    con.close()
    middle = [s for t, s in labels if "PRIVATE KEY" not in t]
    assert len(labels) >= 3 and middle, "the key should span several chunks"
    assert all(s for _, s in labels), "a chunk of the key block is not labelled"
    answer = _ask(assistant, "staging box deploy notes", path="*deploy*")
    assert answer.route == "local" and server.requests == []
    assert any("ingest label" in r for r in answer.reasons), answer.reasons


# -- 6. values cut by a chunk boundary ------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "secret"),
    [("4111 1111 1111 1111", "4111 1111 1111 1111"),
     ("GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32"),
     ("SSN 536 90 4399", "536 90 4399"),
     ("maria.lopez@mailbox.example", "maria.lopez@mailbox.example")],
)  # fmt: skip
def test_a_value_cut_by_a_chunk_boundary_is_labelled_on_both_sides(
    tmp_path: Path, value: str, secret: str
) -> None:
    settings = load_settings(index_dir=tmp_path / "i")
    label = default_labeler(settings)
    chunker = Chunker(WordCounter(), max_tokens=16, overlap=0)
    cand = Candidate(str(tmp_path / "n.txt"), str(tmp_path), "n.txt")
    filler = "the quarterly garden rota lists volunteers and their tasks for each week".split()
    cut_at_least_once = False
    for shift in range(16):
        # long unbroken text without punctuation: the chunker cuts token windows
        words = (filler * 3)[:shift] + value.split() + filler * 2
        text = " ".join(words)
        section = Section(None, 0, text)
        chunks = list(chunker.chunk(section))
        label(cand, section, chunks)
        start = text.index(secret)
        end = start + len(secret)
        touching = [c for c in chunks if c.start < end and start < c.end]
        cut_at_least_once |= len(touching) > 1
        assert all(c.sensitive for c in touching), (shift, [c.text for c in touching])
        assert not any(c.sensitive for c in chunks if c not in touching)
    assert cut_at_least_once or " " not in secret  # one word is never cut


def test_a_chunk_holding_half_a_card_is_not_sent(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    filler = "the quarterly garden rota lists volunteers and their tasks".split()
    words = filler + filler[:4] + "4111 1111 1111 1111".split() + filler
    _write(docs / "public" / "rota.txt", " ".join(words))  # no punctuation: cut into windows
    settings = _settings(tmp_path, server)
    settings.ingest.chunk_tokens = 16
    assistant = _assistant(settings, docs)
    answer = _ask(assistant, "quarterly garden rota volunteers tasks")
    assert answer.route == "local" and server.requests == []


# -- 7. redaction and eval -------------------------------------------------------------------------
def test_redaction_never_sends_a_chunk_whose_label_the_detectors_no_longer_confirm(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    _write(docs / "public" / "badge.md", "Visitor badge ZX-4471 opens the roof terrace door.")
    at_ingest = _settings(tmp_path, server, patterns=[r"ZX-\d{4}"])
    ingest([docs], at_ingest, embedder=FakeEmbedder())
    now = _settings(tmp_path, server, redact=True)  # the pattern has since been removed
    assistant = _assistant(now)
    answer = _ask(assistant, "Which badge opens the roof terrace door?")
    assert answer.route == "local", answer.reasons
    assert server.requests == []
    assert any("ingest label" in r for r in answer.reasons)


def test_cli_eval_in_hybrid_mode_audits_every_question(
    tmp_path: Path, server: FakeAnthropicServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli import main

    docs = tmp_path / "docs"
    _garden(docs)
    config = _write(tmp_path / "appliance.toml", '[privacy]\nmode = "hybrid"\n')
    questions = _write(
        tmp_path / "q.jsonl",
        json.dumps({"question": GARDEN_Q, "file": "public/garden.md", "answer": "Tuesday"}) + "\n",
    )
    index = tmp_path / "index"
    os.environ["ANTHROPIC_BASE_URL"] = server.url
    try:
        common = ["--index", str(index), "--config", str(config)]
        assert main(["ingest", str(docs), "--json", *common]) == 0
        assert main(["eval", str(questions), "--json", *common]) == 0
    finally:
        del os.environ["ANTHROPIC_BASE_URL"]
        egress.install()
    assert len(server.requests) == 1
    records = AuditLog(index).records()
    sends = [r for r in records if r.get("event") == "send"]
    answers = [r for r in records if r.get("event") == "answer"]
    assert len(answers) == 1 and answers[0]["decision"] == "cloud"
    # the send was on record before it left, with the exact bytes' hash
    import hashlib

    assert len(sends) == 1 and records.index(sends[0]) < records.index(answers[0])
    assert sends[0]["sent"]["sha256"] == hashlib.sha256(server.requests[0].body).hexdigest()


# -- 8. more attacks -------------------------------------------------------------------------------
def test_a_user_term_in_a_heading_keeps_the_passage_home(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    docs = tmp_path / "docs"
    _write(
        docs / "public" / "plan.md",
        "# project falcon\n\nThe roof terrace herb garden is watered every Tuesday.",
    )
    assistant = _assistant(_settings(tmp_path, server, terms=["Project Falcon"]), docs)
    assert _ask(assistant, GARDEN_Q).route == "local" and server.requests == []


def test_the_last_gate_stops_what_the_router_let_through(
    tmp_path: Path, server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A router bug that calls a sensitive turn harmless: the scan of the request stops it."""
    docs = tmp_path / "docs"
    _write(docs / "public" / "desk.md", "The front desk rota: call Ana on +44 20 7946 0321.")
    assistant = _assistant(_settings(tmp_path, server), docs)

    def fooled(*args: Any, **kwargs: Any) -> Decision:
        return Decision("cloud", False, ["hybrid mode", "nothing sensitive found"])

    monkeypatch.setattr(assistant.router, "decide", fooled)
    answer = _ask(assistant, "Who is on the front desk rota?")
    assert answer.route == "local" and server.requests == []
    reasons = _last_audit(assistant)["reasons"]
    assert "last gate: kept local" in reasons and any("phone" in r for r in reasons)


def test_the_wire_gate_refuses_to_send_sensitive_bytes(
    tmp_path: Path, server: FakeAnthropicServer
) -> None:
    """The request hook sees the bytes the SDK serialised; a finding there stops the send."""
    from appliance.backends.anthropic import AnthropicBackend
    from appliance.backends.base import Message

    docs = tmp_path / "docs"
    _garden(docs)
    assistant = _assistant(_settings(tmp_path, server), docs)
    backend = AnthropicBackend(base_url=server.url, api_key=server.api_key, max_retries=0)
    decision = Decision("cloud", False, ["hybrid mode"])
    backend.gate = lambda body: assistant._wire_gate("a question", decision, backend, body)
    with pytest.raises(PrivacyBlocked):
        backend.complete(
            [Message("user", "card 4111\u00a01111\u00a01111\u00a01111")],
            max_tokens=16,
            temperature=0,
        )
    assert server.requests == [] and backend.attempts == []
    assert backend.complete([Message("user", "hello")], max_tokens=16, temperature=0)
    assert len(server.requests) == 1  # control: a harmless request goes through


def test_the_audit_line_names_the_proxy_without_its_credentials(
    tmp_path: Path, server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    _garden(docs)
    settings = _settings(tmp_path, server, anthropic_base_url="https://api.anthropic.com")
    settings.privacy.mode = "offline"
    assistant = _assistant(settings, docs)
    monkeypatch.setenv("HTTPS_PROXY", "http://ana:hunter2@proxy.corp.example:3128")
    assert assistant.cloud_proxy() == "http://proxy.corp.example:3128"
    monkeypatch.setenv("NO_PROXY", "api.anthropic.com")
    assert assistant.cloud_proxy() is None
