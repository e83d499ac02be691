"""Backends (one contract over Fake, Llama with the bundled model, Anthropic and an untrusted
OpenAI-compatible server against loopback fakes), GGUF header reading, and the egress guard."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance import egress
from appliance.backends.anthropic import AnthropicBackend, AnthropicOptions
from appliance.backends.base import Backend, Message
from appliance.backends.fake import FakeBackend
from appliance.backends.gguf_info import (
    FILE_TYPES,
    GGUFError,
    list_models,
    quant_from_name,
    read_info,
)
from appliance.backends.llama import LlamaBackend, LlamaOptions
from appliance.backends.openai import OpenAIBackend
from appliance.doctor import llama_build_info
from appliance.errors import EgressBlocked, ModelError, PrivacyBlocked
from bench.ttft_bench import bare_prefill_seconds
from tests.fake_anthropic import FakeAnthropicServer, fake_anthropic
from tests.fake_openai import Scripted, chunk, scripted, sse

__all__ = ["fake_anthropic", "scripted"]  # fixtures, used by name below

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
BUNDLED = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
QUESTION = [
    Message("system", "Answer in one short sentence."),
    Message("user", "What is the capital of France?"),
]
OFF_MACHINE = ("10.255.255.1", 9)  # never reached: the guard refuses before connecting

needs_model = pytest.mark.skipif(not BUNDLED.exists(), reason="bundled model not installed")


@pytest.fixture(scope="module")
def llama() -> LlamaBackend:
    if not BUNDLED.exists():
        pytest.skip("bundled model not installed (run `make install`)")
    return LlamaBackend(models_dir=MODELS)


@pytest.fixture
def claude(fake_anthropic: FakeAnthropicServer) -> AnthropicBackend:
    fake_anthropic.reply = "Paris is the capital of France, and has been for centuries."
    return AnthropicBackend(
        base_url=fake_anthropic.url, api_key=fake_anthropic.api_key, max_retries=0
    )


@pytest.fixture
def served(scripted: tuple[Scripted, str]) -> OpenAIBackend:
    """A model server outside the trust boundary (a remote backend), on loopback."""
    script, url = scripted
    words = ["Paris ", "is ", "the ", "capital ", "of ", "France."]
    script.body = sse(*[chunk(w) for w in words], chunk(None, "stop"), "[DONE]")
    return OpenAIBackend(base_url=url)


@pytest.fixture
def guard() -> Iterator[None]:
    egress.install()
    yield
    egress.uninstall()


# ---- one contract, every backend ---------------------------------------------------------


@pytest.fixture(
    params=["fake", pytest.param("llama", marks=pytest.mark.slow), "anthropic", "openai"]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        return FakeBackend(default_reply="Paris is the capital of France.")
    if request.param == "llama":
        return request.getfixturevalue("llama")
    if request.param == "openai":
        return request.getfixturevalue("served")
    return request.getfixturevalue("claude")


def test_streams_text(backend: Backend) -> None:
    pieces = list(backend.stream(QUESTION, max_tokens=16, temperature=0.0))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip()


def test_stop_event_ends_the_stream(backend: Backend) -> None:
    stop = threading.Event()
    stream = backend.stream(QUESTION, max_tokens=16, temperature=0.0, stop=stop)
    first = next(stream)
    stop.set()
    assert first and list(stream) == []


def test_stop_set_before_start_yields_nothing(backend: Backend) -> None:
    stop = threading.Event()
    stop.set()
    assert list(backend.stream(QUESTION, max_tokens=16, temperature=0.0, stop=stop)) == []


def test_describes_itself(backend: Backend) -> None:
    short = backend.count_tokens("The capital of France is Paris.")
    assert 0 < short < backend.count_tokens("The capital of France is Paris. " * 20)
    assert backend.context_length > short and backend.name
    assert repr(backend).startswith(f"<{type(backend).__name__} {backend.name!r}")


@pytest.fixture(params=["anthropic", "openai"])
def sender(request: pytest.FixtureRequest) -> AnthropicBackend | OpenAIBackend:
    """A backend whose requests leave the machine."""
    return request.getfixturevalue("claude" if request.param == "anthropic" else "served")


def test_remote_backends_gate_and_record_the_bytes_they_send(
    sender: AnthropicBackend | OpenAIBackend,
) -> None:
    seen: list[bytes] = []

    def gate(body: bytes) -> None:
        seen.append(body)
        if b"France" in body:
            raise PrivacyBlocked("stopped a request: it holds something sensitive")

    sender.gate = gate
    with pytest.raises(PrivacyBlocked):
        sender.complete(QUESTION, max_tokens=16, temperature=0.0)
    assert len(seen) == 1 and sender.attempts == [] and sender.last_request_bytes == b""
    assert sender.complete([Message("user", "Hello there")], max_tokens=16, temperature=0.0)
    assert sender.attempts == [seen[-1]] == [sender.last_request_bytes]
    assert b"Hello there" in sender.last_request_bytes
    assert sender.last_request_sha256 == hashlib.sha256(seen[-1]).hexdigest()


# ---- fake --------------------------------------------------------------------------------


def test_fake_records_and_queues() -> None:
    fake = FakeBackend(["one two", "three"])
    assert list(fake.stream(QUESTION, max_tokens=8, temperature=0.2)) == ["one ", "two"]
    assert fake.complete(QUESTION, max_tokens=8, temperature=0) == "three"
    assert fake.complete(QUESTION, max_tokens=1, temperature=0) == "This "
    assert fake.last_messages == QUESTION and fake.calls[0].temperature == 0.2
    fake.error = ModelError("boom")
    with pytest.raises(ModelError):
        list(fake.stream(QUESTION, max_tokens=8, temperature=0))


# ---- llama -------------------------------------------------------------------------------


@pytest.mark.slow
def test_llama_uses_the_bundled_model_and_caches_it(llama: LlamaBackend) -> None:
    assert llama.name == "SmolLM2-135M-Instruct.Q4_1"
    assert llama.context_length == 4096  # min(setting 4096, trained 8192)
    assert llama.n_threads == len(os.sched_getaffinity(0))
    assert LlamaBackend(models_dir=MODELS).llm is llama.llm  # loaded once per process


@pytest.mark.slow
def test_llama_prompt_tokens_render_the_chat_template(llama: LlamaBackend) -> None:
    content = sum(llama.count_tokens(m.content) for m in QUESTION)
    used = llama.prompt_tokens(QUESTION)
    assert used == len(llama.prompt_token_ids(QUESTION)) and used > content + 4
    assert llama.count_tokens("Paris") < llama.count_tokens("Paris is in France")


@pytest.mark.slow
def test_llama_one_answer_at_a_time(llama: LlamaBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    first = llama.stream(QUESTION, max_tokens=16, temperature=0)
    assert next(first)
    monkeypatch.setattr("appliance.backends.llama.BUSY_TIMEOUT_S", 0.05)
    with pytest.raises(ModelError, match="busy"):
        next(llama.stream(QUESTION, max_tokens=16, temperature=0))
    del first  # an abandoned stream releases the model
    assert next(llama.stream(QUESTION, max_tokens=4, temperature=0))


@pytest.mark.slow
def test_llama_refuses_a_prompt_over_its_context(llama: LlamaBackend) -> None:
    small = LlamaBackend(models_dir=MODELS, n_ctx=512)
    assert small.context_length == 512
    with pytest.raises(ModelError, match="takes 512"):
        list(small.stream([Message("user", "word " * 600)], max_tokens=8, temperature=0))


@needs_model
@pytest.mark.slow
def test_llama_keeps_llama_cpp_chatter_off_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    backend = LlamaBackend(models_dir=MODELS, n_ctx=640)  # a fresh load
    list(backend.stream(QUESTION, max_tokens=4, temperature=0))
    assert capfd.readouterr().err == ""


@pytest.mark.slow
def test_bare_prefill_and_build_info(llama: LlamaBackend) -> None:
    assert 0 < bare_prefill_seconds(llama, QUESTION) < 30
    info = llama_build_info()
    assert info["llama_cpp_python"] and isinstance(info["gpu_offload"], bool)
    assert info["features"] and info["cpus"] >= 1 and isinstance(info["amx"], bool)


def test_llama_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model named nope"):
        LlamaBackend(model="nope", models_dir=tmp_path)
    with pytest.raises(ModelError, match="no GGUF model"):
        LlamaBackend(models_dir=tmp_path)
    (tmp_path / "junk.gguf").write_text("not a model")
    with pytest.raises(GGUFError, match="not a GGUF model file"):
        LlamaBackend(model="junk", models_dir=tmp_path)
    with pytest.raises(ValidationError):
        LlamaOptions(n_ctxx=10)  # type: ignore[call-arg]


def test_a_model_setting_names_one_gguf(tmp_path: Path) -> None:
    from appliance.models import DEFAULT_GGUF, resolve_model

    (tmp_path / "qwen.gguf").write_bytes(b"")
    assert resolve_model(None, tmp_path) == tmp_path / "qwen.gguf"  # the only one
    assert resolve_model("qwen", tmp_path) == tmp_path / "qwen.gguf"  # ".gguf" optional
    (tmp_path / "llama.gguf").write_bytes(b"")
    with pytest.raises(ModelError, match=r"several models .* llama\.gguf, qwen\.gguf"):
        resolve_model(None, tmp_path)
    (tmp_path / DEFAULT_GGUF).write_bytes(b"")
    assert resolve_model(None, tmp_path) == tmp_path / DEFAULT_GGUF  # the bundled one wins
    elsewhere = tmp_path / "sub" / "mistral.gguf"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"")
    assert resolve_model(str(elsewhere), tmp_path / "sub" / "..") == elsewhere
    with pytest.raises(ModelError, match="no model named mistral"):
        resolve_model("mistral", tmp_path)  # a bare name is looked up in models_dir only


@needs_model
@pytest.mark.slow
def test_llama_reports_a_damaged_model(tmp_path: Path) -> None:
    with BUNDLED.open("rb") as src:
        (tmp_path / "cut.gguf").write_bytes(src.read(4_000_000))  # header intact, weights cut
    with pytest.raises(ModelError, match=r"cannot load cut\.gguf: .*(corrupt|bounds|incomplete)"):
        LlamaBackend(model="cut.gguf", models_dir=tmp_path)


# ---- anthropic ---------------------------------------------------------------------------


def test_anthropic_records_the_exact_body(
    claude: AnthropicBackend, fake_anthropic: FakeAnthropicServer
) -> None:
    assert "".join(claude.stream(QUESTION, max_tokens=16, temperature=0)).startswith("Paris")
    (request,) = fake_anthropic.requests
    assert request.path == "/v1/messages" and request.body == claude.last_request_bytes
    assert claude.last_request_sha256 == hashlib.sha256(request.body).hexdigest()
    body = request.json()
    assert body["system"] == "Answer in one short sentence." and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert body["model"] == "claude-sonnet-4-6" and body["max_tokens"] == 16


def test_anthropic_wrong_key(fake_anthropic: FakeAnthropicServer) -> None:
    backend = AnthropicBackend(base_url=fake_anthropic.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(ModelError, match="rejected the API key") as err:
        list(backend.stream(QUESTION, max_tokens=16, temperature=0))
    assert "ANTHROPIC_API_KEY" in str(err.value)


def test_anthropic_server_down() -> None:
    with FakeAnthropicServer() as server:
        url = server.url
    backend = AnthropicBackend(base_url=url, api_key="k", max_retries=0, timeout=5)
    with pytest.raises(ModelError, match="cannot reach Anthropic"):
        list(backend.stream(QUESTION, max_tokens=16, temperature=0))


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [(429, "rate_limit_error", "rate limit"), (529, "overloaded_error", "HTTP 529.*Overloaded")],
)
def test_anthropic_api_errors(
    claude: AnthropicBackend,
    fake_anthropic: FakeAnthropicServer,
    status: int,
    kind: str,
    expected: str,
) -> None:
    fake_anthropic.fail_with = (status, kind, "Overloaded, slow down")
    with pytest.raises(ModelError, match=expected):
        list(claude.stream(QUESTION, max_tokens=16, temperature=0))


def test_anthropic_key_and_url_from_environment(
    fake_anthropic: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelError, match="ANTHROPIC_API_KEY") as err:
        AnthropicBackend()
    assert "export ANTHROPIC_API_KEY" in str(err.value)
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_anthropic.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.url)
    backend = AnthropicBackend(max_retries=0)
    assert backend.base_url == fake_anthropic.url
    assert backend.complete(QUESTION, max_tokens=16, temperature=0)
    with pytest.raises(ValidationError):
        AnthropicOptions(modell="x")  # type: ignore[call-arg]


def test_offline_imports_load_no_sdk() -> None:
    code = (
        "import sys, appliance.backends.llama, appliance.backends.anthropic, "
        "appliance.backends.fake, appliance.egress;"
        "print(sorted(m for m in ('anthropic', 'llama_cpp', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---- gguf_info ---------------------------------------------------------------------------


@needs_model
def test_gguf_info_of_the_bundled_model() -> None:
    info = read_info(BUNDLED)
    assert "135M" in info.name and info.architecture == "llama"
    assert info.file_type == "Q4_1" and info.context_length == 8192
    assert info.has_chat_template and info.size_bytes == BUNDLED.stat().st_size


def _gguf(kvs: list[tuple[str, int, bytes]], version: int = 3) -> bytes:
    """A minimal GGUF: header and key/values (type id, packed value), no tensors."""
    out = b"GGUF" + struct.pack("<IQQ", version, 0, len(kvs))
    for key, vtype, value in kvs:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", vtype) + value
    return out


def _s(text: str) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode()


def test_gguf_info_reads_a_synthetic_header(tmp_path: Path) -> None:
    tokens = struct.pack("<IQ", 8, 3) + _s("a") + _s("bc") + _s("")
    path = tmp_path / "tiny.gguf"
    path.write_bytes(
        _gguf(
            [
                ("general.architecture", 8, _s("qwen2")),
                ("general.name", 8, _s("Tiny")),
                ("general.file_type", 4, struct.pack("<I", 15)),
                ("tokenizer.ggml.tokens", 9, tokens),
                ("tokenizer.ggml.scores", 9, struct.pack("<IQ3f", 6, 3, 0, 0, 0)),
                ("qwen2.context_length", 4, struct.pack("<I", 32768)),
            ]
        )
    )
    info = read_info(path)
    assert (info.name, info.architecture, info.file_type) == ("Tiny", "qwen2", "Q4_K_M")
    assert info.context_length == 32768 and not info.has_chat_template


def test_gguf_info_rejects_junk(tmp_path: Path) -> None:
    cases = {
        "junk.gguf": b"PK\x03\x04 a zip file",
        "empty.gguf": b"",
        "cut.gguf": _gguf([("general.name", 8, _s("Tiny"))])[:-3],
        "old.gguf": _gguf([], version=1),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(GGUFError, match=r"junk\.gguf is not a GGUF model file"):
        read_info(tmp_path / "junk.gguf")
    with pytest.raises(GGUFError, match=r"empty\.gguf is not a GGUF model file"):
        read_info(tmp_path / "empty.gguf")
    with pytest.raises(GGUFError, match=r"cut\.gguf is truncated or damaged"):
        read_info(tmp_path / "cut.gguf")
    with pytest.raises(GGUFError, match="version 1 is not supported"):
        read_info(tmp_path / "old.gguf")
    listed = list_models(tmp_path)
    assert len(listed) == 4 and all(m.error for m in listed)


@needs_model
def test_list_models_and_quant_names(tmp_path: Path) -> None:
    (tmp_path / BUNDLED.name).symlink_to(BUNDLED)
    (tmp_path / "broken.Q8_0.gguf").write_bytes(b"nope")
    good, bad = sorted(list_models(tmp_path), key=lambda m: m.error is not None)
    assert good.file_type == "Q4_1" and good.error is None
    assert bad.file_type == "Q8_0" and bad.error and "not a GGUF" in bad.error
    assert quant_from_name("qwen2.5-7b-instruct-q4_k_m.gguf") == "Q4_K_M"
    assert quant_from_name("Llama-3.2-1B-Instruct-IQ2_XXS.gguf") == "IQ2_XXS"
    assert quant_from_name("model.gguf") is None


def test_file_types_match_llama_cpp() -> None:
    import llama_cpp

    for attr in dir(llama_cpp):
        if attr.startswith(("LLAMA_FTYPE_MOSTLY_", "LLAMA_FTYPE_ALL_")):
            value = getattr(llama_cpp, attr)
            assert FILE_TYPES[value] == attr.split("_", 3)[-1], attr


# ---- egress guard ------------------------------------------------------------------------


def test_guard_refuses_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    reached: list[tuple[str, int]] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: tuple[str, int]) -> None:
        reached.append(address)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    egress.install()
    try:
        with socket.socket() as sock:
            sock.settimeout(2)
            started = time.perf_counter()
            with pytest.raises(EgressBlocked) as err:
                sock.connect(OFF_MACHINE)
            assert time.perf_counter() - started < 0.5
        assert reached == []  # the real connect never ran: no packet left
        assert isinstance(err.value, ConnectionRefusedError) and "10.255.255.1:9" in str(err.value)
        with FakeAnthropicServer() as server, socket.socket() as sock:
            port = int(server.url.rsplit(":", 1)[1])
            sock.connect(("127.0.0.1", port))
        assert reached == [("127.0.0.1", port)]
        (attempt,) = egress.blocked_attempts()
        assert (attempt.host, attempt.port, attempt.via) == ("10.255.255.1", 9, "connect")
    finally:
        egress.uninstall()


@pytest.mark.usefixtures("guard")
def test_guard_covers_every_way_out(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock, pytest.raises(EgressBlocked):
        sock.connect_ex(OFF_MACHINE)
    with pytest.raises(EgressBlocked):
        socket.create_connection(OFF_MACHINE, timeout=1)
    with pytest.raises(EgressBlocked):
        socket.getaddrinfo("example.com", 443)  # no DNS query leaves either
    with pytest.raises(EgressBlocked):
        socket.gethostbyname("example.com")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(EgressBlocked):
        udp.sendto(b"x", ("10.255.255.1", 53))
    with socket.socket(socket.AF_INET6) as sock, pytest.raises(EgressBlocked):
        sock.connect(("::ffff:10.255.255.1", 9, 0, 0))
    vias = [a.via for a in egress.blocked_attempts()]
    assert vias == [
        "connect_ex",
        "create_connection",
        "getaddrinfo",
        "gethostbyname",
        "sendto",
        "connect",
    ]
    assert "blocked getaddrinfo to example.com:443" in caplog.text


@pytest.mark.usefixtures("guard")
def test_guard_allows_loopback_and_unix_sockets(tmp_path: Path) -> None:
    with FakeAnthropicServer() as server:
        port = int(server.url.rsplit(":", 1)[1])
        socket.create_connection(("localhost", port), timeout=5).close()
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert socket.getaddrinfo("localhost", 80)
    assert egress.is_allowed("127.8.9.10", 1) and egress.is_allowed("::1", 1)
    assert egress.is_allowed("::ffff:127.0.0.1", 1)
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server_sock, socket.socket(socket.AF_UNIX) as client:
        server_sock.bind(path)
        server_sock.listen()
        client.connect(path)
    assert egress.blocked_attempts() == []


@pytest.mark.usefixtures("guard")
def test_guard_allow_and_idempotence() -> None:
    assert not egress.is_allowed(*OFF_MACHINE)
    egress.allow(*OFF_MACHINE)
    assert egress.is_allowed(*OFF_MACHINE) and not egress.is_allowed("10.255.255.1", 10)
    assert egress.allow_url("https://api.anthropic.com") == ("api.anthropic.com", 443)
    assert egress.is_allowed("API.anthropic.com", 443) and egress.is_allowed(
        "api.anthropic.com", None
    )
    assert not egress.is_allowed("api.anthropic.com", 80)
    egress.install()  # again: no double wrapping
    egress.uninstall()
    assert socket.socket.connect is socket.SocketType.connect and "connect" not in vars(
        socket.socket
    )
    assert socket.getaddrinfo.__module__ == "socket" and not egress.is_installed()


@pytest.mark.usefixtures("guard")
def test_anthropic_through_the_guard(claude: AnthropicBackend) -> None:
    assert claude.complete(QUESTION, max_tokens=16, temperature=0)  # loopback: allowed
    remote = AnthropicBackend(base_url="https://10.255.255.1:9", api_key="k", max_retries=0)
    with pytest.raises(EgressBlocked):
        remote.complete(QUESTION, max_tokens=16, temperature=0)
    with pytest.raises(EgressBlocked, match=r"api\.anthropic\.com:443"):
        AnthropicBackend(api_key="k", max_retries=0).complete(QUESTION, max_tokens=8, temperature=0)
    assert remote.last_request_bytes == b""  # nothing left
