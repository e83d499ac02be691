"""The backend interface: stream an answer to chat messages, and say whether it stays local.

A backend is one class with one abstract method, ``stream``, which yields pieces of text as
they are produced and stops early when a ``threading.Event`` is set. Capabilities are class
attributes (``is_local``); the model's name and context window are instance attributes. Token
counting defaults to a rough estimate that backends with a tokenizer override.

Left out: choosing a backend (the router's job), prompt building and retrieval, and retries.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        """``Message("user", "hi").as_dict()`` → ``{"role": "user", "content": "hi"}``."""
        return {"role": self.role, "content": self.content}


class Backend(ABC):
    """Something that turns chat messages into a stream of text."""

    is_local: ClassVar[bool]
    """True when no byte of the conversation leaves the machine."""

    name: str
    """Model name for display and the audit log (``SmolLM2-135M-Instruct.Q4_1``)."""
    context_length: int
    """Tokens the backend can take, prompt and answer together."""

    @abstractmethod
    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer in pieces; end early (without error) once ``stop`` is set.

        Expected failures (no model, no key, network down) raise ``ModelError``.
        """

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text``; this default is an estimate (``"abcdefgh"`` → 3)."""
        return len(text) // 4 + 1

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float) -> str:
        """The whole answer as one string."""
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature))

    def __repr__(self) -> str:
        where = "local" if self.is_local else "remote"
        return f"<{type(self).__name__} {self.name!r} ({where})>"
