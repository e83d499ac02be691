"""The egress guard against each way round it that a review found, and the hybrid allowances.

Nothing here sends a packet off the machine: every non-loopback destination is refused by the
guard before the system call. For sockets that proves itself: an unbound socket that had really
sent or connected would have been given a local port, and ``getsockname()`` still says port 0.
Addresses are from TEST-NET (203.0.113.0/24), which no one routes anyway.
"""

from __future__ import annotations

import _socket
import socket
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from appliance import egress
from appliance.assistant import Assistant
from appliance.backends.anthropic import AnthropicBackend
from appliance.backends.fake import FakeBackend
from appliance.config import Settings, load_settings
from appliance.errors import ConfigError, EgressBlocked

from .conftest import FakeEmbedder

PUBLIC = "203.0.113.5"
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.fixture
def guard() -> Iterator[None]:
    egress.install()
    try:
        yield
    finally:
        egress.uninstall()


def _vias() -> list[str]:
    return [a.via for a in egress.blocked_attempts()]


def _unsent(sock: socket.socket | _socket.socket) -> None:
    """The socket never reached the kernel's send/connect: it still has no local port."""
    assert sock.getsockname()[1] == 0


# ---- sendmsg -------------------------------------------------------------------------------


@pytest.mark.usefixtures("guard")
def test_sendmsg_to_a_public_address_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(EgressBlocked, match=f"{PUBLIC}:9"):
            udp.sendmsg([b"secret payload"], [], 0, (PUBLIC, 9))
        with pytest.raises(EgressBlocked):
            udp.sendmsg([b"x"], (), 0, ("::ffff:" + PUBLIC, 9))
        _unsent(udp)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp6, pytest.raises(EgressBlocked):
        udp6.sendmsg([b"x"], [], 0, ("2001:db8::1", 9, 0, 0))
    assert _vias() == ["sendmsg", "sendmsg", "sendmsg"]


@pytest.mark.usefixtures("guard")
def test_sendmsg_on_loopback_still_works() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendmsg([b"hel", b"lo"], [], 0, server.getsockname())
            client.connect(server.getsockname())
            client.sendmsg([b"again"])  # connected: no address to check
        assert server.recv(16) == b"hello" and server.recv(16) == b"again"
    assert egress.blocked_attempts() == []


# ---- the raw _socket class -----------------------------------------------------------------


@pytest.mark.usefixtures("guard")
def test_raw_socket_class_is_covered() -> None:
    with closing(_socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)) as raw:
        raw.settimeout(2)
        with pytest.raises(EgressBlocked):
            raw.connect((PUBLIC, 443))
        with pytest.raises(EgressBlocked):
            raw.connect_ex((PUBLIC, 443))
        _unsent(raw)
    with closing(_socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)) as raw_udp:
        with pytest.raises(EgressBlocked):
            raw_udp.sendto(b"x", (PUBLIC, 9))
        with pytest.raises(EgressBlocked):
            raw_udp.sendmsg([b"x"], [], 0, (PUBLIC, 9))
        _unsent(raw_udp)
    # The C method called directly on a patched socket skips the Python wrapper: still refused.
    with socket.socket() as sock:
        with pytest.raises(EgressBlocked):
            _socket.socket.connect(sock, (PUBLIC, 443))
        _unsent(sock)
    with pytest.raises(EgressBlocked):
        _socket.getaddrinfo("example.com", 443)  # the C lookup, not socket.getaddrinfo
    with pytest.raises(EgressBlocked):
        _socket.gethostbyname_ex("example.com")
    assert all(v.startswith("audit:socket.") for v in _vias())
    assert len(_vias()) == 7


@pytest.mark.usefixtures("guard")
def test_raw_socket_to_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with closing(_socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)) as raw:
            raw.connect(server.getsockname())
    assert egress.blocked_attempts() == []


@pytest.mark.usefixtures("guard")
def test_raw_and_packet_sockets_are_refused() -> None:
    # Refused before the kernel is asked (so also without root): these bypass address checks.
    with pytest.raises(EgressBlocked, match="raw socket"):
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    with pytest.raises(EgressBlocked, match="raw socket"):
        _socket.socket(_socket.AF_INET6, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, 58)
    if hasattr(socket, "AF_PACKET"):
        with pytest.raises(EgressBlocked, match="address family"):
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    with pytest.raises(EgressBlocked, match="raw socket"):
        socket.socket(socket.AF_INET, 10)  # SOCK_PACKET, obsolete but still in Linux
    socket.socket(socket.AF_UNIX).close()
    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()


@pytest.mark.usefixtures("guard")
def test_names_under_localhost_are_not_resolved() -> None:
    # The C resolver may ask DNS for them: the name itself would leave.
    with pytest.raises(EgressBlocked):
        socket.getaddrinfo("ssn-078-05-1120.localhost", 80)
    with pytest.raises(EgressBlocked):
        socket.gethostbyname("secret.localhost")
    assert socket.getaddrinfo("localhost", 80)


# ---- reverse lookups ------------------------------------------------------------------------


@pytest.mark.usefixtures("guard")
def test_reverse_lookups_are_refused() -> None:
    with pytest.raises(EgressBlocked, match="reverse lookup"):
        socket.gethostbyaddr(PUBLIC)
    with pytest.raises(EgressBlocked, match="reverse lookup"):
        socket.gethostbyaddr("example.com")
    with pytest.raises(EgressBlocked):
        socket.getnameinfo((PUBLIC, 443), 0)
    with pytest.raises(EgressBlocked):
        _socket.gethostbyaddr(PUBLIC)
    with pytest.raises(EgressBlocked):
        _socket.getnameinfo((PUBLIC, 443), 0)
    assert _vias() == [
        "gethostbyaddr",
        "gethostbyaddr",
        "getnameinfo",
        "audit:socket.gethostbyaddr",
        "audit:socket.getnameinfo",
    ]


@pytest.mark.usefixtures("guard")
def test_getfqdn_makes_no_lookup() -> None:
    # getfqdn swallows the refusal (an OSError) and returns the name it was given.
    assert socket.getfqdn(PUBLIC) == PUBLIC
    assert socket.getfqdn("example.com") == "example.com"
    assert _vias() == ["gethostbyaddr", "gethostbyaddr"]


@pytest.mark.usefixtures("guard")
def test_reverse_lookups_without_the_network_still_work() -> None:
    numeric = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    assert socket.getnameinfo((PUBLIC, 443), numeric) == (PUBLIC, "443")
    with pytest.raises(EgressBlocked):  # the C function directly: its flags are not seen
        _socket.getnameinfo((PUBLIC, 443), numeric)  # so it fails closed
    try:
        socket.gethostbyaddr("127.0.0.1")  # answered from /etc/hosts
    except EgressBlocked:
        pytest.fail("a loopback reverse lookup was refused")
    except OSError:
        pass  # no hosts entry on this machine: not the guard's business
    assert _vias() == ["audit:socket.getnameinfo"]


# ---- DNS to any resolver --------------------------------------------------------------------


@pytest.mark.parametrize("resolver", ["127.0.0.53", "127.0.0.1", "::1", "::ffff:127.0.0.1"])
@pytest.mark.usefixtures("guard")
def test_dns_port_refused_on_loopback(resolver: str) -> None:
    family = socket.AF_INET6 if ":" in resolver else socket.AF_INET
    query = b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x06secret\x07example\x00\x00\x01\x00\x01"
    with socket.socket(family, socket.SOCK_DGRAM) as udp:
        with pytest.raises(EgressBlocked, match="DNS"):
            udp.sendto(query, (resolver, 53))
        with pytest.raises(EgressBlocked, match="DNS"):
            udp.sendmsg([query], [], 0, (resolver, 53))
        with pytest.raises(EgressBlocked, match="DNS"):
            udp.connect((resolver, 53))
        _unsent(udp)
    with socket.socket(family, socket.SOCK_STREAM) as tcp:
        with pytest.raises(EgressBlocked, match="DNS"):
            tcp.connect((resolver, 53))
        _unsent(tcp)
    with closing(_socket.socket(family, _socket.SOCK_DGRAM)) as raw:
        with pytest.raises(EgressBlocked, match="DNS"):
            raw.sendto(query, (resolver, 53))
        _unsent(raw)
    assert len(egress.blocked_attempts()) == 5


@pytest.mark.usefixtures("guard")
def test_dns_port_refused_even_when_allowed() -> None:
    egress.allow("127.0.0.53", 53)
    egress.allow("127.0.0.1", None)
    assert not egress.is_allowed("127.0.0.53", 53) and not egress.is_allowed("127.0.0.1", 53)
    assert not egress.is_allowed("localhost", 853)  # DNS over TLS
    with pytest.raises(EgressBlocked, match="DNS"):
        socket.create_connection(("localhost", 53), timeout=1)
    assert egress.is_allowed("127.0.0.1", 8080)


@pytest.mark.usefixtures("guard")
def test_local_resolver_sockets_refused(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock, pytest.raises(EgressBlocked, match="resolver"):
        sock.connect("/run/systemd/resolve/io.systemd.Resolve")  # refused, present or not
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)  # other Unix sockets are local


# ---- hybrid mode: allowances, revocation, clear text, proxies ------------------------------


def _settings(tmp_path: Path, base_url: str) -> Settings:
    return load_settings(
        index_dir=tmp_path / "index",
        privacy={"mode": "offline", "anthropic_base_url": base_url},
    )


def _assistant(tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch) -> Assistant:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    return Assistant(
        _settings(tmp_path, base_url),
        embedder=FakeEmbedder(),
        local_backend=FakeBackend(["local"]),
        audit=False,
    )


@pytest.mark.usefixtures("guard")
def test_leaving_hybrid_revokes_the_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant = _assistant(tmp_path, f"https://{PUBLIC}:8443", monkeypatch)
    assert not egress.is_allowed(PUBLIC, 8443)
    assistant.set_mode("hybrid")
    assert egress.is_allowed(PUBLIC, 8443) and not egress.is_allowed(PUBLIC, 443)
    assert egress.allowances() == [f"{PUBLIC}:8443"]
    assistant.set_mode("offline")
    assert egress.allowances() == []
    assert not egress.is_allowed(PUBLIC, 8443)
    with socket.socket() as sock:
        with pytest.raises(EgressBlocked):
            sock.connect((PUBLIC, 8443))
        _unsent(sock)
    assistant.set_mode("hybrid")  # the chat app's toggle, back on
    assert egress.is_allowed(PUBLIC, 8443)


@pytest.mark.usefixtures("guard")
def test_revoke_forgets_resolved_addresses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assistant = _assistant(tmp_path, "https://api.anthropic.com", monkeypatch)
    assistant.set_mode("hybrid")
    egress._remember("api.anthropic.com", [PUBLIC])  # as if the name had been resolved
    assert egress.is_allowed("api.anthropic.com", 443) and egress.is_allowed(PUBLIC, 443)
    assistant.set_mode("offline")
    assert not egress.is_allowed("api.anthropic.com", 443)
    assert not egress.is_allowed(PUBLIC, 443)
    with pytest.raises(EgressBlocked):
        socket.getaddrinfo("api.anthropic.com", 443)


@pytest.mark.parametrize(
    "url",
    [
        f"http://{PUBLIC}:8080",
        "http://api.example.com",
        "HTTP://api.anthropic.com/v1",
        "http://10.0.0.2:4000",
    ],
)
def test_clear_text_remote_endpoint_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="clear text") as err:
        egress.check_endpoint(url)
    assert err.value.hint and "https://" in err.value.hint


@pytest.mark.parametrize(
    "url",
    ["https://api.anthropic.com", "http://127.0.0.1:9", "http://localhost:8080", "http://[::1]:9"],
)
def test_https_and_loopback_http_accepted(url: str) -> None:
    egress.check_endpoint(url)


def test_endpoint_must_be_an_http_url() -> None:
    for url in ("ftp://api.example.com", "api.anthropic.com", "https://", "https://h:99999"):
        with pytest.raises(ConfigError, match="not an http"):
            egress.check_endpoint(url)


def test_credentials_in_a_refused_url_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        egress.check_endpoint("http://user:hunter2@api.example.com")
    assert "hunter2" not in str(err.value) and "api.example.com" in str(err.value)


def test_clear_text_endpoint_refused_by_backend_and_mode_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="clear text"):
        AnthropicBackend(base_url="http://api.example.com", api_key="k")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://{PUBLIC}")
    with pytest.raises(ConfigError, match="clear text"):
        AnthropicBackend(api_key="k")
    assistant = _assistant(tmp_path, "http://api.example.com:8080", monkeypatch)
    with pytest.raises(ConfigError, match="clear text"):
        assistant.set_mode("hybrid")
    assert assistant.mode == "offline"


def test_loopback_http_through_a_remote_proxy_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp.example:3128")
    with pytest.raises(ConfigError, match="proxy"):
        egress.check_endpoint("http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    egress.check_endpoint("http://127.0.0.1:9")


def test_proxy_for_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    api = "https://api.anthropic.com"
    assert egress.proxy_for(api) is None
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp.example:3128")
    assert egress.proxy_for(api) == "http://proxy.corp.example:3128"
    monkeypatch.setenv("https_proxy", "http://lower.corp.example:8080")  # lower case wins
    assert egress.proxy_for(api) == "http://lower.corp.example:8080"
    assert egress.proxy_for("http://127.0.0.1:9") is None  # https_proxy is for https only
    for no_proxy, bypassed in [
        ("anthropic.com", True),
        (".anthropic.com", True),
        ("*", True),
        ("api.anthropic.com:443", True),
        ("api.anthropic.com:8443", False),
        ("evilanthropic.com", False),
        ("example.com, localhost", False),
    ]:
        monkeypatch.setenv("NO_PROXY", no_proxy)
        assert (egress.proxy_for(api) is None) is bypassed, no_proxy


@pytest.mark.usefixtures("guard")
def test_https_proxy_allowed_only_in_hybrid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = "203.0.113.7"
    monkeypatch.setenv("HTTPS_PROXY", f"http://{proxy}:3128")
    assistant = _assistant(tmp_path, "https://api.anthropic.com", monkeypatch)
    # Offline: refused, and the message names the proxy.
    with socket.socket() as sock:
        with pytest.raises(EgressBlocked, match=r"proxy set in HTTPS_PROXY") as err:
            sock.connect((proxy, 3128))
        _unsent(sock)
    assert err.value.hint and "hybrid" in err.value.hint
    # Hybrid: the proxy is the path to the endpoint, and is stated.
    assistant.set_mode("hybrid")
    assert egress.proxy_for(assistant.cloud_base_url()) == f"http://{proxy}:3128"
    assert egress.is_allowed(proxy, 3128)
    assert not egress.is_allowed(proxy, 22) and not egress.is_allowed("203.0.113.8", 3128)
    assert egress.allowances() == [f"{proxy}:3128", "api.anthropic.com:443"]
    # Back offline: closed again.
    assistant.set_mode("offline")
    assert not egress.is_allowed(proxy, 3128) and egress.allowances() == []


@pytest.mark.usefixtures("guard")
def test_proxy_by_name_and_no_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.corp.example:3128")
    with pytest.raises(EgressBlocked, match="https_proxy"):
        socket.create_connection(("proxy.corp.example", 3128), timeout=1)
    assistant = _assistant(tmp_path, "https://api.anthropic.com", monkeypatch)
    assistant.set_mode("hybrid")
    assert egress.is_allowed("proxy.corp.example", 3128)
    assistant.set_mode("offline")
    monkeypatch.setenv("NO_PROXY", "anthropic.com")  # the endpoint goes direct: no proxy
    assistant.set_mode("hybrid")
    assert not egress.is_allowed("proxy.corp.example", 3128)
    assert egress.allowances() == ["api.anthropic.com:443"]


@pytest.mark.usefixtures("guard")
def test_loopback_proxy_is_a_way_out_only_in_hybrid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        port = proxy.getsockname()[1]
        monkeypatch.setenv("HTTPS_PROXY", f"http://localhost:{port}")
        with socket.socket() as sock, pytest.raises(EgressBlocked, match="HTTPS_PROXY"):
            sock.connect(("127.0.0.1", port))  # it would forward off the machine
        assistant = _assistant(tmp_path, "https://api.anthropic.com", monkeypatch)
        assistant.set_mode("hybrid")
        with socket.socket() as sock:
            sock.connect(("127.0.0.1", port))
        assistant.set_mode("offline")
        with socket.socket() as sock, pytest.raises(EgressBlocked):
            sock.connect(("127.0.0.1", port))


def test_bad_proxy_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://:3128")
    assistant = _assistant(tmp_path, "https://api.anthropic.com", monkeypatch)
    with pytest.raises(ConfigError, match="HTTPS_PROXY"):
        assistant.set_mode("hybrid")


# ---- what the guard cannot do ---------------------------------------------------------------


def test_summary_states_the_limits_and_the_os_level_guarantee() -> None:
    text = egress.guard_summary()
    assert "subprocesses" in text and "native code" in text
    assert "unshare -n" in text or "no network interface besides loopback" in text
    assert "off in this process" in text
    egress.install()
    try:
        assert "guard on" in egress.guard_summary()
    finally:
        egress.uninstall()


def test_uninstall_restores_everything() -> None:
    originals = {n: getattr(socket, n) for n in ("gethostbyaddr", "getnameinfo", "getaddrinfo")}
    egress.install()
    egress.install()  # no double wrapping
    assert "sendmsg" in vars(socket.socket)
    egress.uninstall()
    assert "sendmsg" not in vars(socket.socket)
    assert {n: getattr(socket, n) for n in originals} == originals
    assert not egress.is_installed()


def test_doctor_states_the_limits() -> None:
    from appliance.doctor import _network_guard

    check = _network_guard(load_settings())
    assert check.ok and check.name == "network guard"
    assert "subprocesses" in check.detail and "native code" in check.detail
    assert "--airgap" in check.detail or "air gap is in place" in check.detail


# ---- appliance --airgap: the OS-level guarantee ----------------------------------------------


def _can_unshare() -> bool:
    import os
    import shutil
    import subprocess

    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    flags = ["--net"] if os.geteuid() == 0 else ["--net", "--map-root-user"]
    return subprocess.run([unshare, *flags, "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="no network namespaces here (unshare refused)")
def test_airgap_runs_the_command_in_a_namespace_without_network(tmp_path: Path) -> None:
    import subprocess
    import sys

    # The re-executed command checks that it has no interface besides loopback, or fails.
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "appliance", "--airgap", "audit", "verify", "--json"),
            *("--index", str(tmp_path / "index")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"ok": true' in proc.stdout


def test_airgap_flag_set_by_hand_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(egress.AIRGAP_ENV, "1")
    if egress.network_interfaces() == []:
        egress.airgap([])  # really without network (a CI sandbox): nothing to say
        return
    with pytest.raises(ConfigError, match="not air-gapped"):
        egress.airgap([])


def test_airgap_where_the_os_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.delenv(egress.AIRGAP_ENV, raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="unshare") as err:
        egress.airgap(["status"])
    assert err.value.hint and "firewall" in err.value.hint


def test_airgap_and_hybrid_exclude_each_other() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "--airgap", "ask", "--hybrid", "hello"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--airgap and --hybrid" in proc.stderr
