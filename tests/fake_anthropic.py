"""A real HTTP server on loopback that speaks enough of Anthropic's Messages API for tests.

``POST /v1/messages`` answers with a JSON message, or with server-sent events when the body asks
for ``"stream": true`` (``message_start``, ``content_block_start``, ``ping``,
``content_block_delta``/``text_delta``, ``content_block_stop``, ``message_delta``,
``message_stop``: the shapes the official SDK parses). A wrong ``x-api-key`` gets a 401 with
an Anthropic-shaped error body; ``fail_with`` makes the next replies an API error;
``drop_connections = n`` makes the next n message requests be read, then the connection closed
without any response (a lost response: the SDK retries). Every request (headers and raw body)
is recorded.

    with FakeAnthropicServer(reply="Hi there.") as server:
        backend = AnthropicBackend(base_url=server.url, api_key=server.api_key)

Or use the ``fake_anthropic`` fixture (import it into a test module). Left out: tools, images,
thinking blocks, token counting, other endpoints (404).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeAnthropicServer:
    def __init__(
        self, reply: str = "Hello from the fake Claude.", api_key: str = "sk-ant-test-key"
    ) -> None:
        self.reply = reply
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.fail_with: tuple[int, str, str] | None = None
        """(HTTP status, error type, message) returned instead of an answer while set."""
        self.delta_delay = 0.0
        """Seconds to wait between text deltas when streaming."""
        self.drop_connections = 0
        """How many of the next message requests to read and then hang up on, unanswered."""
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeAnthropicServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        httpd = _QuietServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        serve = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        serve.start()
        self._httpd = httpd
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def next_id(self) -> str:
        return f"msg_fake{next(self._ids):04d}"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that stops reading mid-stream (a cancelled answer) is expected here.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropicServer
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, like the real API

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._record(b"")
        self._error(404, "not_found_error", f"Not found: {self.path}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self._record(body)
        fake = self.fake
        if self.path.split("?")[0] != "/v1/messages":
            return self._error(404, "not_found_error", f"Not found: {self.path}")
        if fake.drop_connections > 0:  # the request arrived; the response is lost
            fake.drop_connections -= 1
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return None
        # Older SDKs send ``x-api-key``; anthropic 2.x sends the key as ``Authorization: Bearer``.
        bearer = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        if fake.api_key not in (self.headers.get("x-api-key"), bearer):
            return self._error(401, "authentication_error", "invalid x-api-key")
        if fake.fail_with is not None:
            return self._error(*fake.fail_with)
        try:
            request = json.loads(body)
            model, max_tokens = request["model"], int(request["max_tokens"])
        except (ValueError, KeyError, TypeError):
            return self._error(400, "invalid_request_error", "malformed request body")
        words = re.findall(r"\s*\S+\s*", fake.reply)[:max_tokens]
        usage_in = max(1, len(body) // 4)
        if request.get("stream"):
            return self._stream(model, words, usage_in)
        self._send_json(200, _message(fake.next_id(), model, "".join(words), usage_in, len(words)))

    def _record(self, body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake.requests.append(RecordedRequest(self.command, self.path, headers, body))

    def _error(self, status: int, kind: str, message: str) -> None:
        body = {"type": "error", "error": {"type": kind, "message": message}}
        self._send_json(status, body)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_fake{len(self.fake.requests):04d}")
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, model: str, words: list[str], usage_in: int) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", f"req_fake{len(self.fake.requests):04d}")
        self.end_headers()
        start = _message(self.fake.next_id(), model, "", usage_in, 1)
        start["content"], start["stop_reason"] = [], None
        try:
            for event in _events(start, words, self.fake.delta_delay):
                self._chunk(event.encode())
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):  # the client stopped listening
            self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _events(start: dict[str, Any], words: list[str], delay: float) -> Iterator[str]:
    def sse(kind: str, data: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    yield sse("message_start", {"message": start})
    yield sse("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    yield sse("ping", {})
    for word in words:
        if delay:
            threading.Event().wait(delay)
        delta = {"index": 0, "delta": {"type": "text_delta", "text": word}}
        yield sse("content_block_delta", delta)
    yield sse("content_block_stop", {"index": 0})
    yield sse(
        "message_delta",
        {
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": len(words)},
        },
    )
    yield sse("message_stop", {})


def _message(msg_id: str, model: str, text: str, usage_in: int, usage_out: int) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage_in, "output_tokens": usage_out},
    }


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicServer]:
    """A running fake Anthropic API on 127.0.0.1 (``.url``, ``.api_key``, ``.requests``)."""
    with FakeAnthropicServer() as server:
        yield server
