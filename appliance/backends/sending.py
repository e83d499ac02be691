"""What a remote backend hands to the network: the last privacy gate and the per-attempt record.

``GatedSender`` is mixed into the backends that send text off the machine (``anthropic``, the
untrusted ``openai`` server). Their HTTP client calls ``_before_send`` with every request just
before it goes out and ``_record`` with every response: the ``gate`` (set by the assistant)
sees the exact bytes the client serialised and raises to stop the send; ``attempts`` keeps
every body handed to the network this turn (retries included, so a lost response or a retry is
still counted in the audit log); ``last_request_bytes`` is the body that got an answer.

Left out: what the gate checks (the router) and what is written about it (the audit log).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any


class GatedSender:
    """The gate and the record of request bodies, for a backend whose requests leave."""

    gate: Callable[[bytes], None] | None
    """Called with each request body just before it is sent; raising stops the send (the
    privacy router's last check of the exact bytes on the wire)."""
    attempts: list[bytes]
    """Every request body of the current turn handed to the network, retries included,
    recorded just before it is sent."""
    last_request_bytes: bytes
    """The JSON body of the last request, exactly as sent; set once the endpoint answers
    (empty when the request never got through)."""

    def _init_sending(self) -> None:
        self.gate = None
        self.attempts = []
        self.last_request_bytes = b""

    def _new_turn(self) -> None:
        """Forget the previous turn's requests (also for a turn that sends nothing)."""
        self.attempts = []
        self.last_request_bytes = b""

    def _event_hooks(self) -> dict[str, list[Callable[[Any], None]]]:
        """The ``event_hooks`` for an httpx-style client."""
        return {"request": [self._before_send], "response": [self._record]}

    @property
    def last_request_sha256(self) -> str:
        return hashlib.sha256(self.last_request_bytes).hexdigest()

    def _before_send(self, request: Any) -> None:
        if request.method != "POST":
            return
        body = bytes(request.content)
        if self.gate is not None:
            self.gate(body)  # raises to stop the send; nothing is recorded as sent
        self.attempts.append(body)

    def _record(self, response: Any) -> None:
        # On the response, not the request: a request the egress guard or a dead network
        # stopped never left, and is not recorded.
        if response.request.method == "POST":
            self.last_request_bytes = bytes(response.request.content)
