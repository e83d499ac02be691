"""The remote backend: Anthropic's Claude through the official ``anthropic`` SDK.

Used only in hybrid mode for turns judged non-sensitive. The SDK is imported inside the
constructor, so importing this module (or running offline) never loads it. The API key comes
from ``ANTHROPIC_API_KEY`` and is never stored; the endpoint from ``privacy.anthropic_base_url``,
else ``ANTHROPIC_BASE_URL``, else Anthropic's API. The exact bytes of the last request body that
reached the endpoint are kept in ``last_request_bytes`` (captured from the HTTP client, as
sent) so the audit log can record their size and sha256 (``sending.GatedSender``, which also
runs the last privacy gate on those bytes). ``require_key`` and ``endpoint`` are the one place
the key and the endpoint are looked up. SDK failures become ``ModelError``; an
``EgressBlocked`` from the egress guard is re-raised as itself. ``temperature`` is accepted for
the interface but not sent: the installed SDK (2.x) has no sampling parameters.

``allow_endpoint`` is what switching hybrid mode on asks of it (``Assistant.set_mode``).

Left out: deciding whether a turn may go out (the router), redaction, tool use, and token
counting through the API (that would send the text).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from appliance.backends.base import Backend, Message
from appliance.backends.sending import GatedSender
from appliance.errors import ConfigError, EgressBlocked, ModelError, PrivacyBlocked

if TYPE_CHECKING:
    from appliance.config import PrivacySettings

DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_VARIABLE = "ANTHROPIC_API_KEY"
URL_VARIABLE = "ANTHROPIC_BASE_URL"
NO_KEY = f"hybrid mode needs {KEY_VARIABLE} in the environment"


class MissingKey(ConfigError, ModelError):
    """No Anthropic API key is set: a settings problem, and a backend that cannot be built."""


def key_missing() -> str | None:
    """Why Claude cannot be asked now (no API key in the environment); None when it can."""
    return None if os.environ.get(KEY_VARIABLE) else NO_KEY


def require_key() -> str:
    """The API key from the environment; ``MissingKey`` saying how to set it when unset."""
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        raise MissingKey(
            NO_KEY,
            hint=f"export {KEY_VARIABLE}=sk-ant-… (read from the environment, never stored), "
            "or stay in offline mode (the default)",
        )
    return key


def endpoint(configured: str | None = None) -> str:
    """The API root: ``privacy.anthropic_base_url``, else ``$ANTHROPIC_BASE_URL``, else
    Anthropic's."""
    return configured or os.environ.get(URL_VARIABLE) or DEFAULT_BASE_URL


def allow_endpoint(configured: str | None = None) -> str | None:
    """Switching hybrid mode on: the key must be set, then the egress guard opens the endpoint
    (and the proxy from the environment) after refusing a clear-text remote one. Returns the
    proxy requests go through (None when direct)."""
    from appliance import egress

    require_key()
    return egress.allow_endpoint(endpoint(configured))


class AnthropicOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = "claude-sonnet-4-6"
    base_url: str | None = None
    """Default: ``$ANTHROPIC_BASE_URL``, else Anthropic's API."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds to wait for the API before giving up."""
    max_retries: int = Field(default=2, ge=0, le=10)
    """The SDK's retries on connection errors, 429 and 5xx."""
    context_length: int = Field(default=200_000, ge=1)


class AnthropicBackend(GatedSender, Backend):
    """Chat with Claude; nothing local about it."""

    is_local: ClassVar[bool] = False
    Options: ClassVar[type[AnthropicOptions]] = AnthropicOptions

    def __init__(
        self, options: AnthropicOptions | None = None, *, api_key: str | None = None, **kwargs: Any
    ) -> None:
        self.options = options or AnthropicOptions(**kwargs)
        key = api_key or require_key()
        import anthropic  # only here: offline runs never load the SDK

        self._sdk = anthropic
        self.name = self.options.model
        self.context_length = self.options.context_length
        self.base_url = endpoint(self.options.base_url)
        from appliance.egress import check_endpoint

        check_endpoint(self.base_url)  # no API key or text in clear text to another machine
        self._init_sending()
        self.last_payload: dict[str, Any] = {}
        """The arguments of the last request, before the SDK serialised them."""
        self._client = anthropic.Anthropic(
            api_key=key,
            base_url=self.base_url,
            timeout=self.options.timeout,
            max_retries=self.options.max_retries,
            http_client=anthropic.DefaultHttpxClient(event_hooks=self._event_hooks()),
        )

    @classmethod
    def from_settings(cls, privacy: PrivacySettings) -> AnthropicBackend:
        return cls(
            AnthropicOptions(model=privacy.claude_model, base_url=privacy.anthropic_base_url)
        )

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        self._new_turn()  # a turn that sends nothing never reports the previous turn's
        if stop is not None and stop.is_set():
            return  # nothing is sent for a turn cancelled before it started
        payload: dict[str, Any] = {
            "model": self.options.model,
            "max_tokens": max_tokens,
            "messages": [m.as_dict() for m in messages if m.role != "system"],
        }
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        if system:
            payload["system"] = system
        self.last_payload = payload
        try:
            with self._client.messages.stream(**payload) as events:
                for text in events.text_stream:
                    yield text
                    if stop is not None and stop.is_set():
                        break
        except self._sdk.AnthropicError as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> Exception:
        """A user-facing error for an SDK exception."""
        cause: BaseException | None = exc
        while cause is not None:  # the guard's refusal, wrapped by httpx and the SDK
            if isinstance(cause, (EgressBlocked, PrivacyBlocked)):
                return cause
            cause = cause.__cause__ or cause.__context__
        sdk = self._sdk
        if isinstance(exc, sdk.APIStatusError):
            detail = _api_message(exc)
            status = exc.status_code
            if isinstance(exc, sdk.AuthenticationError):
                return ModelError(f"Anthropic rejected the API key (HTTP {status}): {detail}",
                                  hint="check ANTHROPIC_API_KEY")  # fmt: skip
            if isinstance(exc, sdk.NotFoundError):
                return ModelError(f"Anthropic has no model {self.name!r} (HTTP {status}): {detail}",
                                  hint="set privacy.claude_model")  # fmt: skip
            if isinstance(exc, sdk.RateLimitError):
                return ModelError(f"Anthropic rate limit reached (HTTP {status}): {detail}",
                                  hint="wait a little and ask again")  # fmt: skip
            return ModelError(f"Anthropic API error (HTTP {status}): {detail}")
        if isinstance(exc, sdk.APITimeoutError):
            return ModelError(f"Anthropic at {self.base_url} did not answer within "
                              f"{self.options.timeout:g}s")  # fmt: skip
        if isinstance(exc, sdk.APIConnectionError):
            return ModelError(f"cannot reach Anthropic at {self.base_url}",
                              hint="check the network, or use privacy.mode offline")  # fmt: skip
        return ModelError(f"Anthropic client error: {exc}")


def _api_message(exc: Any) -> str:
    """The ``error.message`` of an Anthropic error body, else the SDK's message."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{error['message']} ({error.get('type', 'error')})"
    return str(getattr(exc, "message", exc))
