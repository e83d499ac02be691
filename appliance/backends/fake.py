"""A backend for fast tests: replays queued replies word by word and records what it was sent.

``FakeBackend`` is local; ``FakeRemoteBackend`` is the same thing claiming to be remote, for
router tests. Neither counts real tokens or honours ``max_tokens`` beyond cutting words.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from appliance.backends.base import Backend, Message


@dataclass(frozen=True)
class FakeCall:
    """What one ``stream`` call received."""

    messages: list[Message]
    max_tokens: int
    temperature: float


class FakeBackend(Backend):
    """Replies from a queue (then ``default_reply``); one word per yielded piece.

    >>> b = FakeBackend(["Paris is nice."])
    >>> list(b.stream([Message("user", "hi")], max_tokens=16, temperature=0))
    ['Paris ', 'is ', 'nice.']
    """

    is_local: ClassVar[bool] = True

    def __init__(
        self,
        replies: Iterable[str] = (),
        *,
        default_reply: str = "This is a fake answer.",
        name: str = "fake",
        context_length: int = 4096,
    ) -> None:
        self.replies: deque[str] = deque(replies)
        self.default_reply = default_reply
        self.name = name
        self.context_length = context_length
        self.calls: list[FakeCall] = []
        self.error: Exception | None = None
        """When set, the next stream raises it (once) when first iterated."""

    def queue(self, *replies: str) -> None:
        self.replies.extend(replies)

    @property
    def last_messages(self) -> list[Message]:
        return self.calls[-1].messages if self.calls else []

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        self.calls.append(FakeCall(list(messages), max_tokens, temperature))
        error, self.error = self.error, None
        reply = self.replies.popleft() if self.replies else self.default_reply
        return self._words(reply, max_tokens, stop, error)

    @staticmethod
    def _words(
        reply: str, max_tokens: int, stop: threading.Event | None, error: Exception | None
    ) -> Iterator[str]:
        if error is not None:  # raised on first iteration, like a real backend
            raise error
        for piece in re.findall(r"\s*\S+\s*", reply)[:max_tokens]:
            if stop is not None and stop.is_set():
                return
            yield piece


class FakeRemoteBackend(FakeBackend):
    """A fake that says it is not local (stands in for Claude in router tests)."""

    is_local: ClassVar[bool] = False
