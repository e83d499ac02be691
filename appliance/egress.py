"""A guard that refuses network connections off this machine, in this Python process.

``install()`` patches ``socket.socket.connect``/``connect_ex``/``sendto``,
``socket.create_connection`` and the name lookups (``getaddrinfo``, ``gethostbyname``,
``gethostbyname_ex``) so that anything aimed at a non-loopback address or an unknown host name
raises ``EgressBlocked`` (also a ``ConnectionRefusedError``, so HTTP libraries fail loudly)
before a packet or DNS query leaves. Each refusal is logged on the ``appliance.egress`` logger
and kept in memory (``blocked_attempts()``). Loopback (127.0.0.0/8, ::1, ``localhost``) and
non-IP sockets (AF_UNIX) are always allowed; ``allow(host, port)`` / ``allow_url(url)`` open
one endpoint, such as the Anthropic API in hybrid mode. Names that are allowed may be
resolved, and the addresses they resolve to are then allowed on that port.

Left out: code that does not go through Python's ``socket`` module (C extensions opening their
own sockets, subprocesses). This is a tripwire for the appliance's own Python code and its
libraries, not a sandbox; use a firewall or a network namespace for a hard guarantee.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from appliance.errors import EgressBlocked

log = logging.getLogger("appliance.egress")

_MAX_RECORDS = 1000
_PATCHED_METHODS = ("connect", "connect_ex", "sendto")
_PATCHED_FUNCTIONS = ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex")


@dataclass(frozen=True)
class BlockedAttempt:
    host: str
    port: int | None
    via: str
    """The call that was refused (``connect``, ``getaddrinfo``, …)."""
    at: float
    """``time.time()`` of the attempt."""


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.installed = False
        self.originals: dict[str, Any] = {}
        self.names: set[tuple[str, int | None]] = set()
        """Allowed host names (lower case) and ports; port None = any port."""
        self.addresses: set[tuple[str, int | None]] = set()
        """Allowed IP addresses (normalised) and ports."""
        self.blocked: list[BlockedAttempt] = []


_state = _State()


def install(allowed: set[tuple[str, int]] | None = None) -> None:
    """Start refusing off-machine connections (idempotent; ``allowed`` is added each time)."""
    with _state.lock:
        for host, port in allowed or ():
            allow(host, port)
        if _state.installed:
            return
        _state.originals = {f"socket.{m}": socket.socket.__dict__.get(m) for m in _PATCHED_METHODS}
        _state.originals.update({f: getattr(socket, f) for f in _PATCHED_FUNCTIONS})
        for method in _PATCHED_METHODS:
            setattr(socket.socket, method, _guard_method(method, getattr(socket.socket, method)))
        socket.create_connection = _guarded_create_connection  # type: ignore[assignment]
        socket.getaddrinfo = _guarded_getaddrinfo
        socket.gethostbyname = _guard_lookup("gethostbyname")
        socket.gethostbyname_ex = _guard_lookup("gethostbyname_ex")
        _state.installed = True
        log.debug("egress guard installed")


def uninstall() -> None:
    """Restore the original socket functions and forget allowances and records (for tests)."""
    with _state.lock:
        if _state.installed:
            for name in _PATCHED_METHODS:
                original = _state.originals[f"socket.{name}"]
                if original is None:
                    delattr(socket.socket, name)  # it was inherited from _socket.socket
                else:
                    setattr(socket.socket, name, original)
            for name in _PATCHED_FUNCTIONS:
                setattr(socket, name, _state.originals[name])
            _state.installed = False
        _state.names.clear()
        _state.addresses.clear()
        _state.blocked.clear()


def is_installed() -> bool:
    return _state.installed


def allow(host: str, port: int | None) -> None:
    """Allow connections to ``host`` (a name or an IP address) on ``port`` (None = any)."""
    with _state.lock:
        ip = _ip(host)
        if ip is None:
            _state.names.add((host.lower().rstrip("."), port))
        else:
            _state.addresses.add((ip, port))


def allow_url(url: str) -> tuple[str, int]:
    """Allow the host and port of a URL (``https://api.anthropic.com`` → port 443)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"not a URL with a host: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    allow(parts.hostname, port)
    return parts.hostname, port


def blocked_attempts() -> list[BlockedAttempt]:
    """Refused attempts so far, oldest first (the most recent 1000)."""
    with _state.lock:
        return list(_state.blocked)


def is_allowed(host: str, port: int | None) -> bool:
    """Whether the guard lets a connection (or a lookup, when ``port`` is None) through."""
    if _is_loopback_name(host):
        return True
    ip = _ip(host)
    with _state.lock:
        if ip is None:
            pairs = _state.names
            host = host.lower().rstrip(".")
        else:
            if ipaddress.ip_address(ip).is_loopback:
                return True
            pairs, host = _state.addresses, ip
        return (
            (host, port) in pairs
            or (host, None) in pairs
            or (port is None and any(h == host for h, _ in pairs))
        )


def _check(host: Any, port: Any, via: str) -> None:
    host_text = host.decode() if isinstance(host, bytes) else str(host)
    port_num = _port(port)
    if is_allowed(host_text, port_num):
        return
    attempt = BlockedAttempt(host_text, port_num, via, time.time())
    with _state.lock:
        _state.blocked.append(attempt)
        del _state.blocked[:-_MAX_RECORDS]
    where = host_text if port_num is None else f"{host_text}:{port_num}"
    log.warning("blocked %s to %s (egress guard)", via, where)
    raise EgressBlocked(
        f"blocked network access to {where}: the appliance does not reach off this machine",
        hint="only hybrid mode (privacy.mode = hybrid) may reach the Anthropic endpoint",
    )


def _guard_method(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``connect``/``connect_ex`` (address is the last argument) or ``sendto``."""

    def guarded(self: socket.socket, *args: Any) -> Any:
        address = args[-1] if args else None
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            _check(address[0], address[1], name)
        return original(self, *args)

    guarded.__name__ = name
    return guarded


def _guarded_create_connection(
    address: tuple[str, int], *args: Any, **kwargs: Any
) -> socket.socket:
    _check(address[0], address[1], "create_connection")
    result: socket.socket = _state.originals["create_connection"](address, *args, **kwargs)
    return result


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    original = _state.originals["getaddrinfo"]
    name = host.decode() if isinstance(host, bytes) else host
    # No lookup leaves for the wildcard, a literal address or a loopback name.
    if name is None or _ip(str(name)) is not None or _is_loopback_name(str(name)):
        return original(host, port, *args, **kwargs)
    _check(name, port, "getaddrinfo")
    results = original(host, port, *args, **kwargs)
    _remember(name, [str(sockaddr[0]) for *_, sockaddr in results])
    return results


def _guard_lookup(name: str) -> Callable[[str], Any]:
    """Wrap ``gethostbyname`` (returns one address) or ``gethostbyname_ex`` (a triple)."""

    def guarded(host: str) -> Any:
        original = _state.originals[name]
        if _ip(host) is not None:
            return original(host)
        _check(host, None, name)
        result = original(host)
        _remember(host, [result] if isinstance(result, str) else list(result[2]))
        return result

    guarded.__name__ = name
    return guarded


def _remember(name: str, addresses: list[str]) -> None:
    """Allow the addresses an allowed name resolved to, on the ports the name is allowed on."""
    key = name.lower().rstrip(".")
    with _state.lock:
        ports = [port for host, port in _state.names if host == key]
        for address in addresses:
            ip = _ip(address)
            if ip is not None:
                _state.addresses.update((ip, port) for port in ports)


def _ip(host: str) -> str | None:
    """The normalised address if ``host`` is an IP literal (``::ffff:127.0.0.1`` → 127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _is_loopback_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in ("localhost", "ip6-localhost", "ip6-loopback") or host.endswith(".localhost")


def _port(port: Any) -> int | None:
    if port is None:
        return None
    try:
        return int(port)
    except (TypeError, ValueError):
        pass
    try:  # a service name such as "https" (read from /etc/services, no lookup)
        return socket.getservbyname(str(port))
    except OSError:
        return None
