"""A scripted OpenAI-compatible chat server on loopback, for the error shapes vLLM, TGI and
llama.cpp send and for the backend contract tests.

``GET /v1/models`` lists ``script.models``; ``POST /v1/chat/completions`` answers
``script.status`` with ``script.body`` (server-sent events by default: build them with
``sse`` and ``chunk``) after ``script.delay`` seconds. Request headers and the number of
posts are recorded. Use the ``scripted`` fixture (import it into a test module); it yields the
script and the API root (``http://127.0.0.1:PORT/v1``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Scripted:
    """What the scripted server answers to ``POST /v1/chat/completions``."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/event-stream"
    delay: float = 0.0
    models: list[dict[str, Any]] = field(default_factory=lambda: [{"id": "m"}])
    headers: list[dict[str, str]] = field(default_factory=list)
    """Request headers seen (lower-case names), in order."""
    posts: int = 0


def sse(*events: object) -> bytes:
    """Server-sent events: ``data: {json}`` per event (a string is sent as is)."""
    return b"".join(
        f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events
    )


def chunk(text: str | None, finish: str | None = None) -> dict[str, Any]:
    """One streamed chat completion chunk."""
    delta = {"content": text} if text is not None else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@pytest.fixture
def scripted() -> Iterator[tuple[Scripted, str]]:
    script = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            script.headers.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._reply(200, "application/json", json.dumps({"data": script.models}).encode())

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            script.posts += 1
            time.sleep(script.delay)
            self._reply(script.status, script.content_type, script.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield script, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
