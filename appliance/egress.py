"""A guard that refuses network traffic off this machine, in this Python process.

``install()`` patches ``socket.socket.connect``/``connect_ex``/``sendto``/``sendmsg``,
``socket.create_connection`` and the name lookups (``getaddrinfo``, ``gethostbyname``,
``gethostbyname_ex``, and the reverse ones ``gethostbyaddr``/``getnameinfo``, which
``getfqdn`` uses) so that anything aimed at a non-loopback address or an unknown host name
raises ``EgressBlocked`` (also a ``ConnectionRefusedError``, so HTTP libraries fail loudly)
before a packet or DNS query leaves. Behind those patches an audit hook (``sys.addaudithook``)
sees the same operations as the C socket module raises them, so code that uses the raw
``_socket.socket`` class, or calls the unpatched C methods directly, is refused the same way;
it also refuses raw and packet sockets (``SOCK_RAW``, ``AF_PACKET``) and address families other
than Unix, IPv4/IPv6, netlink and the kernel crypto API. Each refusal is logged on the
``appliance.egress`` logger and kept in memory (``blocked_attempts()``).

What is allowed: loopback (127.0.0.0/8, ::1, ``localhost`` but not ``*.localhost``, which the
C resolver may send to DNS) and Unix sockets, except
- DNS: nothing reaches port 53 (or 853, DNS over TLS) on any address, loopback included (a
  local stub resolver such as ``127.0.0.53:53`` forwards the names it is asked), nor the Unix
  sockets of the local resolvers (systemd-resolved's varlink socket, nscd, the system D-Bus);
- a proxy named in ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` that listens on loopback is
  a way out too: it is refused unless hybrid mode allowed it;
- reverse lookups only for loopback addresses (anything else sends a PTR query).
``allow(host, port)`` / ``allow_url(url)`` open one endpoint; ``allow_endpoint(url)`` is what
hybrid mode calls for the Anthropic endpoint: it refuses a plain ``http://`` URL to another
machine (``check_endpoint``) and also opens the proxy the HTTP client will use for that URL
(``proxy_for``), so a corporate ``HTTPS_PROXY`` works. ``revoke_all()`` closes everything
again (leaving hybrid mode). Names that are allowed may be resolved, and the addresses they
resolve to are then allowed on that port. ``proxy_for(url)`` says which proxy a request to the
endpoint goes through (for the audit record); ``guard_summary()`` is ``doctor``'s line, and
``airgap(argv)`` re-executes the command in a network namespace with no interfaces.

Left out: code that does not go through Python's socket module (native libraries opening their
own sockets, a resolver library inside native code) and subprocesses (a new interpreter has no
guard). This is a tripwire for the appliance's own Python code and its libraries, not a
sandbox; ``LIMITS`` says so for ``doctor``, and ``unshare -n`` (``appliance --airgap``) or a
firewall gives the OS-level guarantee.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

from appliance.errors import ConfigError, EgressBlocked

log = logging.getLogger("appliance.egress")

_MAX_RECORDS = 1000
_PATCHED_METHODS = ("connect", "connect_ex", "sendto", "sendmsg")
_PATCHED_FUNCTIONS = (
    "create_connection",
    "getaddrinfo",
    "gethostbyname",
    "gethostbyname_ex",
    "gethostbyaddr",
    "getnameinfo",
)

DNS_PORTS = frozenset({53, 853})
"""Ports refused on every address, loopback included: DNS (and DNS over TLS)."""

RESOLVER_SOCKETS = frozenset(
    {
        "/run/systemd/resolve/io.systemd.Resolve",
        "/run/nscd/socket",
        "/run/dbus/system_bus_socket",
    }
)
"""Unix sockets through which a local service resolves names for its callers."""

_SOCKET_FAMILIES = frozenset(
    getattr(socket, name)
    for name in ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_ALG")
    if hasattr(socket, name)
)
"""Address families a socket may be created with while the guard is on."""

_PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_PACKET_TYPES = frozenset({3, 10})
"""``SOCK_RAW`` and the obsolete ``SOCK_PACKET``: the sender writes the headers itself."""

LIMITS = (
    "it works inside this Python process (its sockets, raw _socket use included, name and "
    "reverse lookups, DNS to any resolver) and cannot see subprocesses or native code that "
    "opens its own sockets"
)
OS_GUARANTEE = (
    "for an OS-level air gap run `appliance --airgap …` (a network namespace with no "
    "interfaces; or `sudo unshare -n appliance …`) or block egress with a firewall"
)
AIRGAP_ENV = "APPLIANCE_AIRGAPPED"
"""Set to 1 in the command ``--airgap`` re-executes inside a fresh network namespace."""


@dataclass(frozen=True)
class BlockedAttempt:
    host: str
    port: int | None
    via: str
    """The call that was refused (``connect``, ``getaddrinfo``, ``audit:socket.connect``…)."""
    at: float
    """``time.time()`` of the attempt."""


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.installed = False
        self.hooked = False
        """Whether the audit hook is in place (it cannot be removed; it idles when not
        installed)."""
        self.originals: dict[str, Any] = {}
        self.names: set[tuple[str, int | None]] = set()
        """Allowed host names (lower case) and ports; port None = any port."""
        self.addresses: set[tuple[str, int | None]] = set()
        """Allowed IP addresses (normalised) and ports."""
        self.blocked: list[BlockedAttempt] = []
        self.local = threading.local()
        """``numeric``: a ``getnameinfo`` with ``NI_NUMERICHOST`` is running (no lookup)."""


_state = _State()


def install(allowed: set[tuple[str, int]] | None = None) -> None:
    """Start refusing off-machine traffic (idempotent; ``allowed`` is added each time)."""
    with _state.lock:
        for host, port in allowed or ():
            allow(host, port)
        if _state.installed:
            return
        methods = [m for m in _PATCHED_METHODS if hasattr(socket.socket, m)]
        _state.originals = {f"socket.{m}": socket.socket.__dict__.get(m) for m in methods}
        _state.originals.update({f: getattr(socket, f) for f in _PATCHED_FUNCTIONS})
        for method in methods:
            original = getattr(socket.socket, method)
            wrap = _guard_sendmsg if method == "sendmsg" else _guard_method
            setattr(socket.socket, method, wrap(method, original))
        socket.create_connection = _guarded_create_connection  # type: ignore[assignment]
        socket.getaddrinfo = _guarded_getaddrinfo
        socket.gethostbyname = _guard_lookup("gethostbyname")
        socket.gethostbyname_ex = _guard_lookup("gethostbyname_ex")
        socket.gethostbyaddr = _guarded_gethostbyaddr
        socket.getnameinfo = _guarded_getnameinfo
        if not _state.hooked:
            sys.addaudithook(_audit_hook)
            _state.hooked = True
        _state.installed = True
        log.debug("egress guard installed")


def uninstall() -> None:
    """Restore the original socket functions and forget allowances and records (for tests).

    The audit hook stays (Python cannot remove one) but does nothing until ``install()``."""
    with _state.lock:
        if _state.installed:
            for key, original in _state.originals.items():
                if key.startswith("socket."):
                    name = key.removeprefix("socket.")
                    if original is None:
                        delattr(socket.socket, name)  # it was inherited from _socket.socket
                    else:
                        setattr(socket.socket, name, original)
                else:
                    setattr(socket, key, original)
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
        if ip is not None:
            _state.addresses.add((ip, port))
        else:
            _state.names.add((host.lower().rstrip("."), port))
            if _is_loopback_name(host):  # connected to by address after a local lookup
                _state.addresses.update({("127.0.0.1", port), ("::1", port)})


def allow_url(url: str) -> tuple[str, int]:
    """Allow the host and port of a URL (``https://api.anthropic.com`` → port 443)."""
    host, port = _host_port(url)
    allow(host, port)
    return host, port


def revoke_all() -> None:
    """Withdraw every allowance (leaving hybrid mode): only loopback is reachable again."""
    with _state.lock:
        had = sorted(_describe(_state.names | _state.addresses))
        _state.names.clear()
        _state.addresses.clear()
    if had:
        log.info("egress allowances revoked: %s", ", ".join(had))


def allowances() -> list[str]:
    """The endpoints allowed now besides loopback, as ``host:port`` (``host:*`` = any port)."""
    with _state.lock:
        return sorted(_describe(_state.names | _state.addresses))


def check_endpoint(url: str) -> None:
    """Refuse an endpoint that would carry the API key and the text in clear text.

    ``https://`` anywhere is fine; ``http://`` only on this machine (a test server, a local
    gateway), and then not through a proxy on another machine."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        _ = parts.port  # a bad port raises here
    except ValueError:
        scheme, host = "", None
    shown = _redact(url)
    if scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"the Anthropic endpoint {shown!r} is not an http(s) URL with a host",
            hint="set privacy.anthropic_base_url (or ANTHROPIC_BASE_URL) to https://…",
        )
    if scheme == "https":
        return
    if not _is_loopback_host(host):
        raise ConfigError(
            f"refusing the Anthropic endpoint {shown}: plain http:// to another machine would "
            "send the API key and your text in clear text",
            hint="use an https:// URL (http:// is accepted only on this machine, e.g. "
            "http://127.0.0.1:PORT for a local gateway)",
        )
    proxy = proxy_for(url)
    if proxy is not None and not _is_loopback_host(urlsplit(proxy).hostname or ""):
        raise ConfigError(
            f"refusing the Anthropic endpoint {shown}: it is plain http:// and the HTTP client "
            f"would send it in clear text through the proxy {_redact(proxy)}",
            hint="use an https:// endpoint, or add its host to NO_PROXY",
        )


def proxy_for(url: str) -> str | None:
    """The proxy the HTTP client (httpx, from the environment) uses for ``url``, or None.

    Follows httpx: ``https_proxy``/``HTTPS_PROXY`` for https URLs (``http_proxy`` for http),
    else ``all_proxy``; nothing when ``NO_PROXY`` names the host (``*`` = every host)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    env = urllib.request.getproxies_environment()
    if _no_proxy(env.get("no", ""), scheme, host, port):
        return None
    proxy = env.get(scheme) or env.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def proxy_shown_for(url: str) -> str | None:
    """The proxy requests to ``url`` go through, as the audit states it: scheme, host and port,
    credentials and paths left out (None when they go direct): with
    ``HTTPS_PROXY=http://ana:secret@proxy.corp.example:3128/``, ``http://proxy.corp.example:3128``.
    """
    proxy = proxy_for(url)
    if proxy is None:
        return None
    parts = urlsplit(proxy)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def allow_endpoint(url: str) -> str | None:
    """Hybrid mode: check ``url`` and, when the guard is on, allow it and its proxy.

    Returns the proxy the request goes through (None when direct), to be stated in the
    audit record. Raises ``ConfigError`` for a clear-text endpoint or an unusable proxy."""
    check_endpoint(url)
    proxy = proxy_for(url)
    if proxy is not None:
        try:
            _host_port(proxy)
        except ValueError:
            raise ConfigError(
                f"the proxy {_redact(proxy)!r} set in {_proxy_variable(url)} is not a URL with "
                "a host",
                hint="set it like HTTPS_PROXY=http://proxy.example.com:3128, or unset it",
            ) from None
    if _state.installed:
        allow_url(url)
        if proxy is not None:
            allow_url(proxy)
            log.info("egress: %s allowed through the proxy %s", _redact(url), _redact(proxy))
    return proxy


def blocked_attempts() -> list[BlockedAttempt]:
    """Refused attempts so far, oldest first (the most recent 1000)."""
    with _state.lock:
        return list(_state.blocked)


def is_allowed(host: str, port: int | None) -> bool:
    """Whether the guard lets a connection (or a lookup, when ``port`` is None) through."""
    if port in DNS_PORTS:
        return False
    ip = _ip(host)
    with _state.lock:
        if ip is None:
            pairs = _state.names
            key = host.lower().rstrip(".")
        else:
            pairs, key = _state.addresses, ip
        if (
            (key, port) in pairs
            or (key, None) in pairs
            or (port is None and any(h == key for h, _ in pairs))
        ):
            return True
    if not _is_loopback_host(host):
        return False
    # A proxy on loopback forwards off the machine: only an explicit allowance opens it.
    return port is None or not any(
        p == port and _is_loopback_host(h) for h, p in _environment_proxies().values()
    )


def guard_summary() -> str:
    """One line for ``appliance doctor``: what the guard covers and how to get more."""
    state = "on" if _state.installed else "off in this process"
    others = network_interfaces()
    if others is not None and not others:
        where = "no network interface besides loopback here: the OS-level air gap is in place"
    else:
        where = OS_GUARANTEE
    return f"in-process egress guard {state}: {LIMITS}; {where}"


def airgap(argv: list[str]) -> None:
    """``appliance --airgap``: run the command again in a fresh network namespace.

    Re-executes ``python -m appliance argv`` under ``unshare --net`` (adding
    ``--map-root-user`` when not root, where the kernel lets users create namespaces) and does
    not return. Inside (``APPLIANCE_AIRGAPPED=1``) it checks that the process really has no
    network interface besides loopback and returns. Raises ``ConfigError`` where the OS cannot
    do it, saying what to do instead."""
    hint = (
        "run it as root (`sudo appliance --airgap …`), allow unprivileged user namespaces "
        "(sysctl kernel.unprivileged_userns_clone=1), or block egress with a firewall"
    )
    if os.environ.get(AIRGAP_ENV) == "1":
        others = network_interfaces()
        if others is None or others:
            raise ConfigError(
                f"{AIRGAP_ENV}=1 but this process can reach network interfaces "
                f"({', '.join(others or ['unknown'])}): it is not air-gapped",
                hint=f"unset {AIRGAP_ENV} and use --airgap",
            )
        return
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        raise ConfigError(
            "--airgap needs Linux network namespaces and the unshare command (util-linux)",
            hint="run the appliance on a machine without network, or block its egress with a "
            "firewall",
        )
    flags = ["--net"] if os.geteuid() == 0 else ["--net", "--map-root-user"]
    try:
        probe = subprocess.run(
            [unshare, *flags, "true"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"--airgap: cannot run unshare: {exc}", hint=hint) from None
    if probe.returncode != 0:
        why = (probe.stderr or probe.stdout).strip().splitlines()
        raise ConfigError(
            "--airgap: this system does not let the appliance create a network namespace"
            + (f" ({why[-1]})" if why else ""),
            hint=hint,
        )
    env = dict(os.environ, **{AIRGAP_ENV: "1"})
    command = [unshare, *flags, "--", sys.executable, "-m", "appliance", *argv]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(unshare, command, env)


# -- checks ---------------------------------------------------------------------------------


def _check(host: Any, port: Any, via: str) -> None:
    host_text = host.decode() if isinstance(host, bytes) else str(host)
    port_num = _port(port)
    if is_allowed(host_text, port_num):
        return
    where = host_text if port_num is None else f"{host_text}:{port_num}"
    if port_num in DNS_PORTS:
        _refuse(
            host_text,
            port_num,
            via,
            f"blocked DNS traffic to {where}: host names would leave this machine through a "
            "resolver",
            "the appliance resolves no names (only loopback, and the Anthropic endpoint in "
            "hybrid mode through the system resolver)",
        )
    variable = _proxy_variable_at(host_text, port_num)
    if variable is not None:
        _refuse(
            host_text,
            port_num,
            via,
            f"blocked network access to {where}, the proxy set in {variable}: the appliance "
            "does not reach off this machine",
            "the proxy is used only in hybrid mode, as the path to the Anthropic endpoint "
            "(switch hybrid on after setting the proxy; check NO_PROXY); offline, nothing "
            "leaves",
        )
    _refuse(
        host_text,
        port_num,
        via,
        f"blocked network access to {where}: the appliance does not reach off this machine",
        "only hybrid mode (privacy.mode = hybrid) may reach the Anthropic endpoint",
    )


def _check_reverse(host: Any, via: str) -> None:
    """A reverse lookup sends a PTR query unless the address is loopback."""
    text = host.decode() if isinstance(host, bytes) else str(host)
    ip = _ip(text)
    if _is_loopback_name(text) or (ip is not None and ipaddress.ip_address(ip).is_loopback):
        return
    _refuse(
        text,
        None,
        via,
        f"blocked a reverse lookup of {text}: it would send a DNS query off this machine",
        "the appliance looks up no names; only loopback addresses are resolved",
    )


def _check_address(family: int, address: Any, via: str) -> None:
    """The destination of ``connect``/``sendto``/``sendmsg`` on a socket of ``family``."""
    if family in (socket.AF_INET, socket.AF_INET6):
        if isinstance(address, tuple) and len(address) >= 2:
            _check(address[0], address[1], via)
    elif family == socket.AF_UNIX and isinstance(address, (str, bytes)) and address:
        path = os.fsdecode(address)
        if not path.startswith("\0") and os.path.realpath(path) in _resolver_sockets():
            _refuse(
                path,
                None,
                via,
                f"blocked a connection to {path}: a local resolver would look up names for "
                "this process",
                "the appliance looks up no names offline",
            )


def _refuse(host: str, port: int | None, via: str, message: str, hint: str) -> NoReturn:
    with _state.lock:
        _state.blocked.append(BlockedAttempt(host, port, via, time.time()))
        del _state.blocked[:-_MAX_RECORDS]
    where = host if port is None else f"{host}:{port}"
    log.warning("blocked %s to %s (egress guard)", via, where)
    raise EgressBlocked(message, hint=hint)


# -- the patched functions ------------------------------------------------------------------


def _guard_method(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``connect``/``connect_ex`` (address is the last argument) or ``sendto``."""

    def guarded(self: socket.socket, *args: Any) -> Any:
        if args:
            _check_address(self.family, args[-1], name)
        return original(self, *args)

    guarded.__name__ = name
    return guarded


def _guard_sendmsg(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``sendmsg(buffers, ancdata, flags, address)``: the address is the fourth."""

    def guarded(self: socket.socket, *args: Any) -> Any:
        if len(args) >= 4 and args[3] is not None:
            _check_address(self.family, args[3], name)
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
        if _ip(host) is not None or _is_loopback_name(host):
            return original(host)
        _check(host, None, name)
        result = original(host)
        _remember(host, [result] if isinstance(result, str) else list(result[2]))
        return result

    guarded.__name__ = name
    return guarded


def _guarded_gethostbyaddr(host: str) -> tuple[str, list[str], list[str]]:
    _check_reverse(host, "gethostbyaddr")
    result: tuple[str, list[str], list[str]] = _state.originals["gethostbyaddr"](host)
    return result


def _guarded_getnameinfo(sockaddr: tuple[Any, ...], flags: int) -> tuple[str, str]:
    original = _state.originals["getnameinfo"]
    if flags & socket.NI_NUMERICHOST:  # the address as digits: no lookup is made
        _state.local.numeric = True
        try:
            result: tuple[str, str] = original(sockaddr, flags)
        finally:
            _state.local.numeric = False
        return result
    if isinstance(sockaddr, tuple) and sockaddr:
        _check_reverse(sockaddr[0], "getnameinfo")
    result = original(sockaddr, flags)
    return result


# -- the audit hook: the same checks where the C socket module raises its events ------------


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if not event.startswith("socket.") or not _state.installed:
        return
    via = f"audit:{event}"
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        if address is not None:
            _check_address(sock.family, address, via)
    elif event == "socket.getaddrinfo":
        host = args[0].decode() if isinstance(args[0], bytes) else args[0]
        if host is not None and _ip(str(host)) is None and not _is_loopback_name(str(host)):
            _check(host, args[1], via)
    elif event == "socket.gethostbyname":  # gethostbyname and gethostbyname_ex
        host = str(args[0])
        if _ip(host) is None and not _is_loopback_name(host):
            _check(host, None, via)
    elif event == "socket.gethostbyaddr":
        _check_reverse(args[0], via)
    elif event == "socket.getnameinfo":
        sockaddr = args[0]
        numeric = getattr(_state.local, "numeric", False)
        if not numeric and isinstance(sockaddr, tuple) and sockaddr:
            _check_reverse(sockaddr[0], via)
    elif event == "socket.__new__":
        _check_new(args[1], args[2], via)


def _check_new(family: int, kind: int, via: str) -> None:
    """Refuse raw, packet and other-family sockets, which bypass the address checks."""
    if family == -1:  # created from a file descriptor: its family is not known yet
        return
    raw = family in (socket.AF_INET, socket.AF_INET6) and kind != -1 and kind & 0xF in _PACKET_TYPES
    if family in _SOCKET_FAMILIES and not raw:
        return
    what = "a raw socket" if raw else f"a socket of address family {family}"
    _refuse(
        f"family {family}",
        None,
        via,
        f"blocked {what}: it would send packets the egress guard cannot check",
        "the appliance needs only TCP/UDP to loopback and Unix sockets",
    )


# -- helpers ---------------------------------------------------------------------------------


def _remember(name: str, addresses: list[str]) -> None:
    """Allow the addresses an allowed name resolved to, on the ports the name is allowed on."""
    key = name.lower().rstrip(".")
    with _state.lock:
        ports = [port for host, port in _state.names if host == key]
        for address in addresses:
            ip = _ip(address)
            if ip is not None:
                _state.addresses.update((ip, port) for port in ports)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"not a URL with a host: {_redact(url)!r}")
    default = {"https": 443, "http": 80, "socks5": 1080, "socks5h": 1080}
    port = parts.port or default.get(parts.scheme.lower(), 80)
    return parts.hostname, port


def _environment_proxies() -> dict[str, tuple[str, int]]:
    """``{variable: (host, port)}`` for the proxy variables set (lower case wins, like
    urllib and httpx)."""
    found: dict[str, tuple[str, int]] = {}
    for lower in _PROXY_VARIABLES:
        for variable in (lower, lower.upper()):
            value = os.environ.get(variable)
            if value:
                with contextlib.suppress(ValueError):
                    found[variable] = _host_port(value if "://" in value else f"http://{value}")
                break
    return found


def _proxy_variable_at(host: str, port: int | None) -> str | None:
    """The proxy variable naming ``host:port``, if one does."""
    if port is None:
        return None
    key = _ip(host) or host.lower().rstrip(".")
    for variable, (phost, pport) in _environment_proxies().items():
        pkey = _ip(phost) or phost.lower().rstrip(".")
        same = pkey == key or (_is_loopback_host(phost) and _is_loopback_host(host))
        if same and pport == port:
            return variable
    return None


def _proxy_variable(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    for lower in (f"{scheme}_proxy", "all_proxy"):
        for variable in (lower, lower.upper()):
            if os.environ.get(variable):
                return variable
    return "the environment"


def _no_proxy(entries: str, scheme: str, host: str, port: int) -> bool:
    """Whether ``NO_PROXY`` exempts ``scheme://host:port`` (httpx's reading of it)."""
    for raw in entries.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "://" in entry:
            parts = urlsplit(entry)
            if parts.scheme not in (scheme, "all"):
                continue
            entry_host, entry_port = parts.hostname or "", parts.port
        else:
            parts = urlsplit(f"//{entry}")
            try:
                entry_host, entry_port = parts.hostname or entry, parts.port
            except ValueError:
                entry_host, entry_port = entry, None
        if entry_port is not None and entry_port != port:
            continue
        entry_ip = _ip(entry_host)
        if entry_ip is not None or entry_host == "localhost":
            if (entry_ip or entry_host) == (_ip(host) or host):
                return True
            continue
        domain = entry_host.lstrip("*").lstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def _describe(pairs: set[tuple[str, int | None]]) -> list[str]:
    return [f"[{h}]:{p or '*'}" if ":" in h else f"{h}:{p or '*'}" for h, p in pairs]


def _redact(url: str) -> str:
    """``url`` without a user name or password in it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="…@" + parts.netloc.rsplit("@", 1)[1]).geturl()


def _resolver_sockets() -> frozenset[str]:
    return frozenset(os.path.realpath(p) for p in RESOLVER_SOCKETS) | RESOLVER_SOCKETS


def network_interfaces() -> list[str] | None:
    """This process's network interfaces besides loopback (None when the OS does not say).

    Read from ``/proc/self/net/dev``, which follows the process's network namespace
    (``/sys/class/net`` shows the namespace sysfs was mounted in)."""
    try:
        with open("/proc/self/net/dev", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return None
    names = (line.split(":", 1)[0].strip() for line in lines if ":" in line)
    return sorted(n for n in names if n and n != "lo")


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
    """The loopback names ``/etc/hosts`` answers. Not ``*.localhost``: the C resolver may ask
    DNS for those, and a name such as ``<secret>.localhost`` would carry the secret out."""
    return host.lower().rstrip(".") in _LOOPBACK_NAMES


def _is_loopback_host(host: str) -> bool:
    """A loopback name or a loopback address."""
    ip = _ip(host)
    return _is_loopback_name(host) or (ip is not None and ipaddress.ip_address(ip).is_loopback)


def _port(port: Any) -> int | None:
    if port is None:
        return None
    try:
        return int(port)
    except (TypeError, ValueError):
        pass
    try:  # a service name such as "https" (read from /etc/services, no lookup)
        return socket.getservbyname(port.decode() if isinstance(port, bytes) else str(port))
    except OSError:
        return None
