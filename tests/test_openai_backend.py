"""The OpenAI-compatible backend against llama-cpp-python's own server on loopback (the
bundled GGUF), and against a small scripted server for the error shapes vLLM, TGI and
llama.cpp send.

Streaming, cancellation, a server that is down (one line, no fallback), trust: a server in
``privacy.trusted_hosts`` is the local backend and answers sensitive turns; one that is not
takes Claude's place (hybrid mode, non-sensitive turns only, the last gate and the audit's
per-attempt lines); the egress guard opens exactly that host and port.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance import egress
from appliance.assistant import Assistant
from appliance.audit import AuditLog
from appliance.backends.base import Message
from appliance.backends.fake import FakeBackend
from appliance.backends.openai import (
    KEY_VARIABLE,
    OpenAIBackend,
    TrustedOpenAIBackend,
    check_server_url,
    is_trusted,
    server_trust,
)
from appliance.config import LLMSettings, PrivacySettings, Settings, load_settings
from appliance.errors import ConfigError, EgressBlocked, ModelError, PrivacyBlocked
from appliance.ingest import ingest

from .conftest import FakeEmbedder
from .fake_anthropic import FakeAnthropicServer, fake_anthropic
from .fake_openai import Scripted, chunk, scripted, sse

__all__ = ["fake_anthropic", "scripted"]  # fixtures, used by name below

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVED = "smollm2"
SERVER_EXTRA = ("uvicorn", "fastapi", "sse_starlette", "starlette_context")
START_TIMEOUT_S = 90.0
QUESTION = [
    Message("system", "Answer in one short sentence."),
    Message("user", "What is the capital of France?"),
]
LONG = [Message("user", "Write a long story about a dragon who learns to bake bread.")]
SENSITIVE = "Which IBAN does the payroll transfer go to?"
PLAIN = "When is the herb garden on the roof terrace watered?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _host_port(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0]


# ---- llama-cpp-python's OpenAI-compatible server, once per module --------------------------


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT/v1``: ``python -m llama_cpp.server`` with the bundled model."""
    if not BUNDLED.exists():
        pytest.skip("bundled model not installed (run `make install`)")
    missing = [m for m in SERVER_EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"llama-cpp-python's server extra is missing ({', '.join(missing)})")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(BUNDLED),
        "--model_alias", SERVED, "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(min(2, os.cpu_count() or 1)),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"llama_cpp.server exited ({process.returncode}):\n{log.read_text()[-2000:]}"
            )
        try:
            with direct.open(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"llama_cpp.server did not serve within {START_TIMEOUT_S:g}s")


@pytest.fixture(scope="module")
def trusted(model_server: str) -> TrustedOpenAIBackend:
    return TrustedOpenAIBackend(base_url=model_server)


@pytest.mark.slow
def test_streams_an_answer_from_the_server(trusted: TrustedOpenAIBackend) -> None:
    pieces = list(trusted.stream(QUESTION, max_tokens=24, temperature=0.0))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert trusted.is_local and trusted.name == SERVED  # the first (only) model it lists
    assert trusted.server.endswith("(trusted)")
    body = json.loads(trusted.last_request_bytes)
    assert body["stream"] is True and body["model"] == SERVED
    assert body["messages"][1] == {"role": "user", "content": "What is the capital of France?"}


@pytest.mark.slow
def test_cancel_stops_the_stream_and_frees_the_server(trusted: TrustedOpenAIBackend) -> None:
    stop = threading.Event()
    pieces = []
    for piece in trusted.stream(LONG, max_tokens=1500, temperature=0.0, stop=stop):
        pieces.append(piece)
        if len(pieces) == 2:
            stop.set()
    assert len(pieces) == 2
    # The connection was closed, so the server stopped generating: the next answer starts
    # at once instead of waiting for the 1,500 tokens of the cancelled one (25 s or more).
    started = time.perf_counter()
    assert trusted.complete(QUESTION, max_tokens=16, temperature=0.0)
    assert time.perf_counter() - started < 15
    stop.set()
    assert list(trusted.stream(QUESTION, max_tokens=16, temperature=0.0, stop=stop)) == []
    assert trusted.attempts == []  # cancelled before it started: nothing was sent


def test_server_down_is_a_one_line_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    started = time.perf_counter()
    with pytest.raises(ModelError) as raised:
        TrustedOpenAIBackend(base_url=url)
    assert time.perf_counter() - started < 5
    assert raised.value.message == f"cannot reach the model server at {url}"
    assert "\n" not in raised.value.message


@pytest.mark.slow
def test_a_trusted_server_is_reached_directly_whatever_the_proxy_variables(
    model_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = f"http://127.0.0.1:{_free_port()}"
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(variable, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert TrustedOpenAIBackend(base_url=model_server).complete(
        QUESTION, max_tokens=16, temperature=0.0
    )
    # An untrusted one goes through the proxy: the dead proxy cannot be reached, or, where an
    # earlier test in this process left the egress guard on, the guard refuses the proxy.
    with pytest.raises((ModelError, EgressBlocked), match=r"cannot reach|the proxy set in"):
        OpenAIBackend(base_url=model_server)


# ---- routing through the assistant -----------------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "public").mkdir()
    (docs / "hr" / "payroll.txt").write_text(
        "The payroll transfer goes to IBAN GB82 WEST 1234 5698 7654 32 on the last Friday."
    )
    (docs / "public" / "garden.md").write_text(
        "# Garden\n\nThe herb garden on the roof terrace is watered every Tuesday by volunteers."
    )
    return docs


def _settings(
    tmp_path: Path,
    url: str,
    *,
    trusted: bool,
    mode: str,
    claude: FakeAnthropicServer | None = None,
) -> Settings:
    privacy: dict[str, Any] = {"mode": mode, "sensitive_paths": ["hr/**"]}
    privacy["trusted_hosts"] = [_host_port(url)] if trusted else []
    if claude is not None:
        privacy["anthropic_base_url"] = claude.url
    return load_settings(
        index_dir=tmp_path / "index",
        llm={"backend": "openai", "base_url": url, "n_ctx": 2048, "max_tokens": 24},
        privacy=privacy,
        retrieval={"min_score": 0.3, "k": 2},
        ingest={"chunk_tokens": 60, "chunk_overlap": 0},
    )


def _records(settings: Settings, event: str = "answer") -> list[dict[str, Any]]:
    return [r for r in AuditLog(settings.index_dir).records() if r.get("event") == event]


@pytest.mark.slow
def test_a_trusted_server_answers_sensitive_turns_and_claude_the_rest(
    tmp_path: Path, corpus: Path, model_server: str, fake_anthropic: FakeAnthropicServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_anthropic.api_key)
    settings = _settings(tmp_path, model_server, trusted=True, mode="hybrid", claude=fake_anthropic)
    ingest([corpus], settings, embedder=FakeEmbedder())
    assistant = Assistant(settings, embedder=FakeEmbedder())

    answer = assistant.ask(SENSITIVE)
    assert len(list(answer)) > 1 and answer.text.strip()
    assert answer.route == "local" and answer.sensitive and answer.model == SERVED
    assert fake_anthropic.requests == []
    record = _records(settings)[-1]
    assert record["backend"] == "local" and record["sent"] is None
    assert record["server"] == f"{_host_port(model_server)} (trusted)"

    answer = assistant.ask(PLAIN)  # hybrid: a non-sensitive turn still goes to Claude
    answer.read()
    assert answer.route == "cloud" and answer.text == fake_anthropic.reply
    assert "server" not in _records(settings)[-1]

    assistant.set_mode("offline")
    answer = assistant.ask(PLAIN)
    for _ in answer:
        answer.cancel()
    assert answer.route == "local" and answer.model == SERVED and answer.cancelled
    assert _records(settings)[-1]["cancelled"] is True
    assert len(fake_anthropic.requests) == 1


@pytest.mark.slow
def test_an_untrusted_server_takes_claudes_place(
    tmp_path: Path, corpus: Path, model_server: str, fake_anthropic: FakeAnthropicServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # not needed: Claude is not used
    settings = _settings(
        tmp_path, model_server, trusted=False, mode="offline", claude=fake_anthropic
    )
    ingest([corpus], settings, embedder=FakeEmbedder())
    local = FakeBackend(["Answered on this machine."] * 5)
    assistant = Assistant(settings, embedder=FakeEmbedder(), local_backend=local)
    assert assistant.hybrid_unavailable() is None

    answer = assistant.ask(PLAIN)  # offline: the server is outside the boundary, never used
    answer.read()
    assert answer.route == "local" and answer.text == "Answered on this machine."
    assert assistant._cloud is None

    assistant.set_mode("hybrid")
    answer = assistant.ask(SENSITIVE)
    answer.read()
    assert answer.route == "local" and answer.model == "fake"
    assert assistant._cloud is None, "a sensitive turn never builds the remote backend"

    answer = assistant.ask(PLAIN)
    assert len(list(answer)) > 1
    assert answer.route == "cloud" and answer.model == SERVED
    remote = assistant.cloud_backend()
    assert isinstance(remote, OpenAIBackend) and not remote.is_local
    assert len(remote.attempts) == 1 and b"herb garden" in remote.attempts[0]
    assert b"GB82" not in remote.attempts[0]
    record = _records(settings)[-1]
    assert record["backend"] == "cloud" and record["model"] == SERVED
    assert record["server"] == f"{_host_port(model_server)} (untrusted)"
    assert record["sent"]["attempts"] == 1
    assert record["sent"]["sha256"] == hashlib.sha256(remote.last_request_bytes).hexdigest()
    send = _records(settings, "send")[-1]  # written by the last gate before the bytes left
    assert send["server"] == record["server"] and send["model"] == SERVED
    assert fake_anthropic.requests == []


def test_a_trusted_server_that_is_down_is_an_error_never_a_fallback(
    tmp_path: Path, corpus: Path, fake_anthropic: FakeAnthropicServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_anthropic.api_key)
    url = f"http://127.0.0.1:{_free_port()}/v1"
    settings = _settings(tmp_path, url, trusted=True, mode="hybrid", claude=fake_anthropic)
    ingest([corpus], settings, embedder=FakeEmbedder())
    assistant = Assistant(settings, embedder=FakeEmbedder())
    with pytest.raises(ModelError, match="cannot reach the model server"):
        assistant.ask(SENSITIVE).read()
    assert fake_anthropic.requests == []


# ---- the egress guard and the trust rule --------------------------------------------------


@pytest.fixture
def guard() -> Iterator[None]:
    egress.install()
    yield
    egress.uninstall()


def _assistant(tmp_path: Path, url: str, trusted: list[str], mode: str = "offline") -> Assistant:
    settings = load_settings(
        index_dir=tmp_path / "index",
        llm={"backend": "openai", "base_url": url},
        privacy={"mode": mode, "trusted_hosts": trusted},
    )
    return Assistant(settings, embedder=FakeEmbedder(), audit=False)


@pytest.mark.usefixtures("guard")
def test_the_guard_opens_exactly_the_trusted_server_in_every_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    egress.revoke_all()  # allowances left by earlier tests in this process
    assistant = _assistant(tmp_path, "http://10.255.255.1:8000/v1", ["10.255.255.1:8000"])
    assert egress.allowances() == ["10.255.255.1:8000"]  # offline too: inside the boundary
    assert not egress.is_allowed("10.255.255.1", 8001)
    assistant.set_mode("hybrid")
    assistant.set_mode("offline")  # leaving hybrid revokes Claude, not the trusted server
    assert egress.allowances() == ["10.255.255.1:8000"]


@pytest.mark.usefixtures("guard")
def test_an_untrusted_server_is_opened_only_in_hybrid_mode(tmp_path: Path) -> None:
    assistant = _assistant(tmp_path, "https://llm.example.com/v1", [])
    assert egress.allowances() == []
    assistant.set_mode("hybrid")
    assert egress.allowances() == ["llm.example.com:443"]
    assistant.set_mode("offline")
    assert egress.allowances() == []
    with pytest.raises(ConfigError, match="clear text"):
        _assistant(tmp_path, "http://llm.example.com:8000/v1", [], mode="hybrid")


@pytest.mark.parametrize(
    ("url", "hosts", "expected"),
    [
        ("http://gpu-box.lan:8000/v1", ["gpu-box.lan"], True),  # every port of the host
        ("http://GPU-box.lan.:8000/v1", ["gpu-box.lan:8000"], True),
        ("http://gpu-box.lan:8001/v1", ["gpu-box.lan:8000"], False),
        ("https://gpu-box.lan/v1", ["gpu-box.lan:443"], True),
        ("http://gpu-box.lan.evil.example:8000/v1", ["gpu-box.lan"], False),
        ("http://[fd00::5]:8000/v1", ["[fd00::5]:8000"], True),
        ("http://[fd00::5]:8000/v1", ["fd00:0::5"], True),
        ("http://127.0.0.1:8000/v1", ["localhost"], False),  # compared as written
        ("http://127.0.0.1:8000/v1", [], False),  # loopback is not trusted by default
        ("http://10.0.0.5:8000/v1", ["http://10.0.0.5:8000"], True),
    ],
)
def test_trusted_hosts(url: str, hosts: list[str], expected: bool) -> None:
    assert is_trusted(url, hosts) is expected


def test_trust_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="not a host"):
        is_trusted("http://gpu-box:8000/v1", ["gpu-box:port"])
    with pytest.raises(ConfigError, match="needs llm"):
        server_trust(LLMSettings(backend="openai"), PrivacySettings())
    assert server_trust(LLMSettings(), PrivacySettings(trusted_hosts=["x"])) is None
    check_server_url("http://gpu-box.lan:8000/v1", trusted=True)  # http inside the boundary
    check_server_url("http://127.0.0.1:8000/v1", trusted=False)  # on this machine
    with pytest.raises(ConfigError, match="clear text"):
        check_server_url("http://gpu-box.lan:8000/v1", trusted=False)
    with pytest.raises(ConfigError, match="user name or password"):
        check_server_url("https://me:secret@gpu-box.lan/v1", trusted=True)
    with pytest.raises(ConfigError, match="not an http"):
        check_server_url("gpu-box.lan:8000", trusted=True)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_LLM__BACKEND", "openai")
    monkeypatch.setenv("APPLIANCE_LLM__BASE_URL", "http://gpu-box.lan:8000/v1")
    monkeypatch.setenv("APPLIANCE_PRIVACY__TRUSTED_HOSTS", '["gpu-box.lan:8000"]')
    settings = load_settings()
    assert server_trust(settings.llm, settings.privacy) is True
    with pytest.raises(ConfigError):
        load_settings(llm={"backend": "vllm"})


# ---- error shapes, against a scripted server ------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"error": {"message": "invalid api key", "type": "auth"}},
         "refused the request (HTTP 401): invalid api key"),
        (500, {"object": "error", "message": "CUDA out of\n  memory"},
         "answered HTTP 500: CUDA out of memory"),
        (422, {"error": "Input validation error", "error_type": "validation"},
         "answered HTTP 422: Input validation error"),
        (404, {"detail": "Not Found"}, "no model 'm' (HTTP 404): Not Found"),
    ],
)  # fmt: skip
def test_http_errors_are_one_line(
    scripted: tuple[Scripted, str], status: int, body: dict[str, Any], message: str
) -> None:
    script, url = scripted
    script.status, script.content_type, script.body = (
        status,
        "application/json",
        json.dumps(body).encode(),
    )
    with pytest.raises(ModelError) as raised:
        OpenAIBackend(base_url=url).complete(QUESTION, max_tokens=16, temperature=0.0)
    assert message in raised.value.message and "\n" not in raised.value.message


def test_an_error_event_mid_stream_is_reported(scripted: tuple[Scripted, str]) -> None:
    script, url = scripted
    script.body = sse(chunk("Par"), {"error": {"message": "the engine died"}})
    pieces: list[str] = []
    with pytest.raises(ModelError, match="failed while answering: the engine died"):
        pieces.extend(OpenAIBackend(base_url=url).stream(QUESTION, max_tokens=8, temperature=0))
    assert pieces == ["Par"]


def test_a_stream_that_stops_short_is_an_error(scripted: tuple[Scripted, str]) -> None:
    script, url = scripted
    script.body = sse(chunk("Par"), chunk("is"))  # no finish_reason, no [DONE]
    with pytest.raises(ModelError, match="without finishing"):
        OpenAIBackend(base_url=url).complete(QUESTION, max_tokens=8, temperature=0.0)
    script.body = sse(chunk("Par"), chunk("is", "stop"), "[DONE]")
    assert OpenAIBackend(base_url=url).complete(QUESTION, max_tokens=8, temperature=0) == "Paris"


def test_a_silent_server_times_out(scripted: tuple[Scripted, str]) -> None:
    script, url = scripted
    script.delay, script.body = 2.0, sse(chunk("late", "stop"), "[DONE]")
    with pytest.raises(ModelError, match=r"sent nothing for 0\.3s"):
        OpenAIBackend(base_url=url, timeout=0.3).complete(QUESTION, max_tokens=8, temperature=0)


def test_the_model_list_decides_name_and_context(scripted: tuple[Scripted, str]) -> None:
    script, url = scripted
    script.models = [{"id": "big", "max_model_len": 1024}, {"id": "small"}]
    backend = OpenAIBackend(base_url=url)
    assert (backend.name, backend.context_length) == ("big", 1024)
    assert OpenAIBackend(base_url=url, model="small").context_length == 4096
    with pytest.raises(ModelError, match="has no model 'huge' \\(it serves: big, small\\)"):
        OpenAIBackend(base_url=url, model="huge")


def test_the_key_comes_from_its_own_variable_only(
    scripted: tuple[Scripted, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, url = scripted
    script.body = sse(chunk("ok", "stop"), "[DONE]")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-platform-key")  # never sent to this server
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    OpenAIBackend(base_url=url).complete(QUESTION, max_tokens=8, temperature=0.0)
    assert all("authorization" not in h for h in script.headers)
    monkeypatch.setenv(KEY_VARIABLE, "server-key")
    OpenAIBackend(base_url=url).complete(QUESTION, max_tokens=8, temperature=0.0)
    assert script.headers[-1]["authorization"] == "Bearer server-key"


def test_the_last_gate_stops_the_send(scripted: tuple[Scripted, str]) -> None:
    script, url = scripted
    backend = OpenAIBackend(base_url=url)

    def gate(body: bytes) -> None:
        raise PrivacyBlocked("stopped a request: it holds something sensitive")

    backend.gate = gate
    with pytest.raises(PrivacyBlocked):
        backend.complete(QUESTION, max_tokens=8, temperature=0.0)
    assert backend.attempts == [] and script.posts == 0


# ---- doctor ------------------------------------------------------------------------------


@pytest.mark.slow
def test_doctor_names_the_server_and_contacts_only_a_trusted_one(
    tmp_path: Path, model_server: str
) -> None:
    from appliance.doctor import _model_server

    where = _host_port(model_server)
    llm = {"backend": "openai", "base_url": model_server}
    trusted = load_settings(index_dir=tmp_path, llm=llm, privacy={"trusted_hosts": [where]})
    check = _model_server(trusted)
    assert check.ok and check.detail.startswith(f"{where} (trusted) serves {SERVED}")
    untrusted = _model_server(load_settings(index_dir=tmp_path, llm=llm))
    assert untrusted.ok and "not contacted" in untrusted.detail
    assert "llama.cpp in this process" in _model_server(load_settings(index_dir=tmp_path)).detail
    down = {"backend": "openai", "base_url": f"http://127.0.0.1:{_free_port()}/v1"}
    with pytest.raises(ModelError, match="cannot reach"):
        _model_server(
            load_settings(index_dir=tmp_path, llm=down, privacy={"trusted_hosts": ["127.0.0.1"]})
        )


def test_the_last_gate_keeps_a_misrouted_turn_off_an_untrusted_server(
    tmp_path: Path, corpus: Path, scripted: tuple[Scripted, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from appliance.router import Decision

    script, url = scripted
    script.body = sse(chunk("ok", "stop"), "[DONE]")
    settings = _settings(tmp_path, url, trusted=False, mode="hybrid")
    ingest([corpus], settings, embedder=FakeEmbedder())
    local = FakeBackend(["Answered on this machine."] * 3)
    assistant = Assistant(settings, embedder=FakeEmbedder(), local_backend=local)
    # A router that wrongly sends everything out: the last gate still sees the IBAN.
    misroute = lambda *args, **kwargs: Decision("cloud", False, ["misrouted"])  # noqa: E731
    monkeypatch.setattr(assistant.router, "decide", misroute)
    answer = assistant.ask(SENSITIVE)
    answer.read()
    assert answer.route == "local" and "last gate: kept local" in answer.reasons
    assert script.posts == 0 and answer.text == "Answered on this machine."
    answer = assistant.ask(PLAIN)  # the same misrouting with nothing sensitive does go out
    answer.read()
    assert answer.route == "cloud" and answer.text == "ok" and script.posts == 1
