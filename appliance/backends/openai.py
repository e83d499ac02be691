"""A backend for any OpenAI-compatible chat server you run yourself: vLLM, llama.cpp's
``llama-server``, llama-cpp-python's server, Hugging Face TGI.

One ``POST {base_url}/chat/completions`` with ``"stream": true`` per answer, read as
server-sent events (``data: {...}`` chunks, ``data: [DONE]``) with ``httpx2``, the HTTP client
the Anthropic SDK already brings; there is no SDK for this, on purpose: the OpenAI SDK is a
client for OpenAI's platform (it reads ``OPENAI_*`` variables and adds platform headers), and
the servers here differ from that platform in their error bodies anyway. On first use the
backend asks ``GET {base_url}/models`` which models the server serves: ``llm.model`` must be
one of them (default: the first), and a context length the server reports there (vLLM's
``max_model_len``) caps ``llm.n_ctx``.

Trust: a server whose host (or host:port) is listed in ``privacy.trusted_hosts`` is inside the
trust boundary and ``TrustedOpenAIBackend`` (``is_local``) answers every turn, sensitive or
not; it is reached directly (proxy variables are ignored for it) and may use plain ``http://``
on your network. Any other server is an ``OpenAIBackend`` (not local): the router treats it
like Claude, so only non-sensitive turns in hybrid mode reach it, it must be ``https://``
unless it is on this machine, and it has the same last gate (``gate``) and per-attempt audit
(``attempts``) as ``AnthropicBackend`` (``sending.GatedSender``). ``allow_server`` opens the
egress guard for exactly the server's host and port. The optional API key comes from
``APPLIANCE_OPENAI_API_KEY`` and is never stored (not ``OPENAI_API_KEY``: that usually holds
a key for OpenAI's platform, which must not travel to another server).

Failures are one-line ``ModelError``\\ s (server down, timeout, HTTP errors, an error event
mid-stream); nothing here falls back to another model. Cancellation (``stop``) closes the
connection at the next piece the server sends, which tells the server to stop generating.

Left out: retries (a failed request is reported, never re-sent), the legacy completions and
the responses APIs, tool calls, token counting through the server (the base estimate is used),
and sampling options beyond ``temperature`` and ``max_tokens``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from appliance.backends.base import Backend, Message
from appliance.backends.sending import GatedSender
from appliance.errors import ConfigError, EgressBlocked, ModelError, PrivacyBlocked

if TYPE_CHECKING:
    from appliance.config import LLMSettings, PrivacySettings

KEY_VARIABLE = "APPLIANCE_OPENAI_API_KEY"
_MAX_DETAIL = 300


class OpenAIOptions(BaseModel):
    """How to reach the server (mirrors the ``llm`` settings; see there)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    """The server's API root: ``http://gpu-box.lan:8000/v1``."""
    model: str | None = None
    """The served model name (vLLM's ``--served-model-name``); default: the first listed."""
    context_length: int = Field(default=4096, ge=16)
    """Tokens the served model takes (capped at what the server reports, if it does)."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds to wait for the server's next bytes (the first token waits for the prompt)."""
    connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for a connection (and for the model list)."""


class OpenAIBackend(GatedSender, Backend):
    """Chat with a model server outside the trust boundary: a remote backend, like Claude."""

    is_local: ClassVar[bool] = False
    Options: ClassVar[type[OpenAIOptions]] = OpenAIOptions

    def __init__(
        self, options: OpenAIOptions | None = None, *, api_key: str | None = None, **kwargs: Any
    ) -> None:
        self.options = options or OpenAIOptions(**kwargs)
        self.base_url = self.options.base_url.rstrip("/")
        check_server_url(self.base_url, trusted=self.is_local)
        host, port = host_port(self.base_url)
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.server = f"{shown} ({'trusted' if self.is_local else 'untrusted'})"
        """Where answers come from, for the audit log: ``gpu-box.lan:8000 (trusted)``."""
        import httpx2  # only here: importing this module loads no HTTP client

        self._http = httpx2
        key = api_key or os.environ.get(KEY_VARIABLE)
        self._init_sending()  # the gate is set only for a server outside the trust boundary
        self.last_payload: dict[str, Any] = {}
        self._client = httpx2.Client(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {key}"} if key else None,
            timeout=httpx2.Timeout(self.options.timeout, connect=self.options.connect_timeout),
            trust_env=not self.is_local,  # a trusted server is reached directly, not via a proxy
            event_hooks=self._event_hooks(),
        )
        self.name, served_context = self._served_model()
        self.context_length = min(self.options.context_length, served_context or 1 << 30)

    @classmethod
    def from_settings(cls, llm: LLMSettings, privacy: PrivacySettings) -> OpenAIBackend:
        """The backend ``llm.base_url`` names: trusted or not as ``privacy.trusted_hosts`` says."""
        trusted = server_trust(llm.model_copy(update={"backend": "openai"}), privacy)
        kind = TrustedOpenAIBackend if trusted else OpenAIBackend
        return kind(
            OpenAIOptions(
                base_url=llm.base_url or "",
                model=llm.model,
                context_length=llm.n_ctx,
                timeout=llm.timeout,
                connect_timeout=llm.connect_timeout,
            )
        )

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        self._new_turn()
        if stop is not None and stop.is_set():
            return  # nothing is sent for a turn cancelled before it started
        payload: dict[str, Any] = {
            "model": self.name,
            "messages": [m.as_dict() for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        self.last_payload = payload
        try:
            with self._client.stream("POST", "chat/completions", json=payload) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._status_error(response)
                finished = False
                for event in self._http.EventSource(response):
                    if event.data.strip() == "[DONE]":
                        finished = True
                        break
                    piece, done = self._piece(event.data)
                    finished = finished or done
                    if stop is not None and stop.is_set():
                        # Checked before yielding too: a consumer that stops reading once it
                        # has set ``stop`` never resumes this generator after its last piece.
                        return  # leaving the block closes the connection: the server stops
                    if piece:
                        yield piece
                if not finished:  # e.g. llama-cpp-python's server on a prompt too long
                    raise ModelError(
                        f"the model server at {self.server} ended the answer without finishing it",
                        hint="its log says why; a prompt longer than the server's context is a "
                        "common cause: set llm.n_ctx to the server's",
                    )
        except self._http.HTTPError as exc:
            raise self._error(exc) from None

    def probe(self) -> list[str]:
        """The model names the server lists (``GET /models``; empty when it keeps no list);
        raises ``ModelError``."""
        return [m["id"] for m in self._models() or []]

    # -- requests --------------------------------------------------------------------------
    def _served_model(self) -> tuple[str, int | None]:
        """The model to ask for and the context length the server reports for it, if any."""
        models = self._models()  # a server that is down is reported now, before a question
        if models is None:  # no model list here (some gateways): the name must be given
            if self.options.model is None:
                raise ModelError(
                    f"the model server at {self.server} does not list its models",
                    hint="set llm.model to the served model name",
                )
            return self.options.model, None
        names = [m["id"] for m in models]
        wanted = self.options.model or (names[0] if names else None)
        if wanted is None:
            raise ModelError(
                f"the model server at {self.server} lists no models",
                hint="set llm.model to the served model name",
            )
        if wanted not in names and names:
            listed = ", ".join(names[:5])
            raise ModelError(
                f"the model server at {self.server} has no model {wanted!r} (it serves: {listed})",
                hint="set llm.model to one of them",
            )
        entry = next((m for m in models if m["id"] == wanted), {})
        length = entry.get("max_model_len")
        return wanted, length if isinstance(length, int) and length > 0 else None

    def _models(self) -> list[dict[str, Any]] | None:
        """The server's model list; None when it has none (HTTP 404 or 405)."""
        quick = self._http.Timeout(self.options.connect_timeout)
        try:
            response = self._client.get("models", timeout=quick)
        except self._http.HTTPError as exc:
            raise self._error(exc) from None
        if response.status_code in (404, 405):
            return None
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            data = response.json().get("data")
            return [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except (ValueError, AttributeError, TypeError):
            raise ModelError(
                f"the model server at {self.server} sent an unreadable model list",
                hint="is llm.base_url the API root (…/v1)?",
            ) from None

    def _piece(self, data: str) -> tuple[str | None, bool]:
        """The text of one streamed chunk and whether it ends the answer
        (``{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}`` → ``("Hi", False)``)."""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ModelError(
                f"the model server at {self.server} sent an unreadable chunk: {_one_line(data)}"
            ) from None
        if not isinstance(chunk, dict):
            return None, False
        if chunk.get("error"):
            raise ModelError(
                f"the model server at {self.server} failed while answering: {_detail(chunk)}"
            )
        choices = chunk.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) else None, bool(choice.get("finish_reason"))

    # -- errors ----------------------------------------------------------------------------
    def _status_error(self, response: Any) -> ModelError:
        status = response.status_code
        try:
            detail = _detail(response.json())
        except ValueError:
            detail = _one_line(response.text) or response.reason_phrase
        where = f"the model server at {self.server}"
        if status in (401, 403):
            return ModelError(
                f"{where} refused the request (HTTP {status}): {detail}",
                hint=f"set {KEY_VARIABLE} to the server's API key",
            )
        if status == 404:
            return ModelError(
                f"{where} has no {response.request.url.path} or no model "
                f"{getattr(self, 'name', self.options.model)!r} (HTTP 404): "
                f"{detail}",
                hint="llm.base_url usually ends in /v1; llm.model must be a name the server lists",
            )
        return ModelError(f"{where} answered HTTP {status}: {detail}")

    def _error(self, exc: Exception) -> Exception:
        """A user-facing error for an ``httpx2`` exception."""
        cause: BaseException | None = exc
        while cause is not None:  # the guard's or the gate's refusal, wrapped by httpx2
            if isinstance(cause, (EgressBlocked, PrivacyBlocked)):
                return cause
            cause = cause.__cause__ or cause.__context__
        http = self._http
        if isinstance(exc, (http.ConnectError, http.ConnectTimeout)):
            return ModelError(
                f"cannot reach the model server at {self.base_url}",
                hint="is it running? check llm.base_url; answers never fall back to another model",
            )
        if isinstance(exc, http.TimeoutException):
            return ModelError(
                f"the model server at {self.server} sent nothing for {self.options.timeout:g}s",
                hint="it may be overloaded; raise llm.timeout",
            )
        if isinstance(exc, (http.RemoteProtocolError, http.ReadError)):
            return ModelError(
                f"the model server at {self.server} closed the connection "
                "before the answer was complete"
            )
        return ModelError(
            f"model server error at {self.server}: {type(exc).__name__}: {_one_line(str(exc))}"
        )


class TrustedOpenAIBackend(OpenAIBackend):
    """A model server inside the trust boundary (``privacy.trusted_hosts``): a local backend."""

    is_local: ClassVar[bool] = True


# -- where the server is, and whether it is trusted ------------------------------------------


def server_trust(llm: LLMSettings, privacy: PrivacySettings) -> bool | None:
    """None when answers come from llama.cpp in this process (``llm.backend = "llama"``);
    else whether the configured server is inside the trust boundary."""
    if llm.backend != "openai":
        return None
    if not llm.base_url:
        raise ConfigError(
            'llm.backend = "openai" needs llm.base_url', hint="e.g. http://gpu-box.lan:8000/v1"
        )
    return is_trusted(llm.base_url, privacy.trusted_hosts)


def host_port(url: str) -> tuple[str, int]:
    """``http://GPU-box.lan:8000/v1`` → ``("gpu-box.lan", 8000)``; the scheme's port if none."""
    parts = urlsplit(url)
    host = _host(parts.hostname or "")
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return host, port


def is_trusted(url: str, trusted_hosts: Iterable[str]) -> bool:
    """Whether ``url``'s server is listed: ``gpu-box.lan`` trusts every port of that host,
    ``gpu-box.lan:8000`` only that port (``[::1]:8000`` for IPv6). Names and addresses are
    compared as written: ``localhost`` does not trust ``127.0.0.1``."""
    try:
        host, port = host_port(url)
    except ValueError:
        return False
    for entry in trusted_hosts:
        entry_host, entry_port = _entry(entry)
        if entry_host == host and entry_port in (None, port):
            return True
    return False


def check_server_url(url: str, *, trusted: bool) -> None:
    """Refuse a server URL that is not usable, or would carry your text in clear text.

    ``https://`` is fine anywhere; plain ``http://`` only to a trusted host (your network) or
    on this machine, and then not through a proxy on another machine."""
    try:
        parts = urlsplit(url)
        scheme, host, _ = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        scheme, host = "", None
    if scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"llm.base_url {url!r} is not an http(s) URL with a host",
            hint="e.g. http://gpu-box.lan:8000/v1",
        )
    if parts.username or parts.password:
        raise ConfigError(
            "llm.base_url must not hold a user name or password",
            hint=f"put the server's API key in {KEY_VARIABLE}",
        )
    if trusted or scheme == "https":
        return
    from appliance import egress

    if not _loopback(host):
        raise ConfigError(
            f"refusing llm.base_url {url}: plain http:// to a host outside "
            "privacy.trusted_hosts would send your text in clear text",
            hint="use https://, or list the host in privacy.trusted_hosts if the server is "
            "inside your network",
        )
    proxy = egress.proxy_for(url)
    if proxy is not None and not _loopback(urlsplit(proxy).hostname or ""):
        raise ConfigError(
            f"refusing llm.base_url {url}: it is plain http:// and would go in clear text "
            "through the proxy set in the environment",
            hint="use https://, or add the host to NO_PROXY",
        )


def allow_server(url: str, *, trusted: bool) -> str | None:
    """Open the egress guard for the server at ``url`` (when the guard is on); returns the
    proxy requests go through (None when direct).

    A trusted server: exactly its host and port, direct, in every mode (it is inside the trust
    boundary). An untrusted one: as Claude's endpoint in hybrid mode (the host, port and the
    proxy from the environment; ``egress.allow_endpoint``)."""
    from appliance import egress

    check_server_url(url, trusted=trusted)
    if not trusted:
        return egress.allow_endpoint(url)
    if egress.is_installed():
        egress.allow(*host_port(url))
    return None


def allow_trusted_server(llm: LLMSettings, privacy: PrivacySettings) -> None:
    """Open the egress guard for the configured model server when it is trusted: it is inside
    the trust boundary and answers in every mode. Nothing to do for any other backend."""
    if server_trust(llm, privacy):
        allow_server(llm.base_url or "", trusted=True)


def _entry(entry: str) -> tuple[str, int | None]:
    """A ``privacy.trusted_hosts`` entry as (host, port or None): ``gpu-box:8000``,
    ``10.0.0.5``, ``[fd00::5]:8000``, ``fd00::5``, or a URL."""
    text = entry.strip()
    if "://" not in text and text.count(":") > 1 and not text.startswith("["):
        return _host(text), None  # a bare IPv6 address
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host = None
    if not host:
        raise ConfigError(
            f"privacy.trusted_hosts: {entry!r} is not a host or host:port",
            hint="e.g. gpu-box.lan, gpu-box.lan:8000, 10.0.0.5:8000",
        )
    return _host(host), port


def _host(host: str) -> str:
    """A host as compared: lower case, no trailing dot, addresses normalised."""
    host = host.lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower().rstrip(".") == "localhost"


def _detail(body: Any) -> str:
    """The message of an error body in the shapes these servers use: OpenAI's and vLLM's
    ``{"error": {"message": …}}``, old vLLM's ``{"message": …}``, TGI's ``{"error": "…"}``,
    FastAPI's ``{"detail": …}``."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _one_line(str(error["message"]))
        for key in ("error", "message", "detail"):
            if body.get(key):
                value = body[key]
                return _one_line(value if isinstance(value, str) else json.dumps(value))
    return _one_line(json.dumps(body) if not isinstance(body, str) else body)


def _one_line(text: str) -> str:
    """``"a\\n  b"`` → ``"a b"``, cut to a few hundred characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_DETAIL else flat[: _MAX_DETAIL - 1] + "…"
