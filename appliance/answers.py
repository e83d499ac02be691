"""The answer types: a streamed ``Answer`` and the ``Citation``\\ s it points at.

An ``Answer`` is built whole by its constructor: the question, the passages given to the model,
the stream of text pieces and what to call once it has ended (the assistant writes the audit
line there). Iterating it yields the pieces and keeps the text; ``cancel`` (safe from another
thread) sets the ``stop`` event the backend watches. Evidence and claim checks are computed on
first use, locally, and never put in a prompt.

Left out: how the pieces are produced (the assistant and the backends), and any presentation
(the CLI and the TUI render these types).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.backends.base import Message
from appliance.claims import Claim, check_claims
from appliance.evidence import Evidence, select_evidence
from appliance.prompting import Turn, cited_numbers
from appliance.retrieve import Hit
from appliance.store import ChunkRecord, OfChunk

__all__ = ["Answer", "Citation"]


@dataclass(frozen=True)
class Citation(OfChunk):
    """A passage as cited: its number in the prompt, the stored chunk it is (or the exact
    span of it quoted as evidence; fields read through) and the chunk's retrieval score.

    >>> record = ChunkRecord(7, "report.pdf", "/docs/report.pdf", 3, 0, 9, "The rent")
    >>> Citation(1, record, 0.5).where
    'report.pdf p.3'
    """

    n: int
    record: ChunkRecord
    score: float

    @classmethod
    def from_hit(cls, n: int, hit: Hit) -> Citation:
        return cls(n, hit.record, hit.score)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "file": self.file,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 6),
            "text": self.text,
        }


class Answer:
    """A streamed answer. Iterate it for text pieces; afterwards ``text`` holds it all.

    >>> a = Answer("Hi?", "Hi?", "local", [], "fake", [], pieces=iter(["Hel", "lo."]))
    >>> a.read(), a.done, a.turn().answer
    ('Hello.', True, 'Hello.')
    """

    def __init__(
        self,
        question: str,
        query: str,
        route: str,
        reasons: list[str],
        model: str,
        passages: list[Hit],
        *,
        pieces: Iterator[str] | None = None,
        stop: threading.Event | None = None,
        on_done: Callable[[Answer], None] | None = None,
        started: float | None = None,
        timings: dict[str, float] | None = None,
        messages: Sequence[Message] = (),
        sensitive: bool = False,
    ) -> None:
        self.question = question
        self.query = query
        """The question as searched (rewritten to stand alone in a conversation)."""
        self.route = route
        self.reasons = reasons
        self.model = model
        self.passages = passages
        self.timings: dict[str, float] = dict(timings or {})
        self.messages: list[Message] = list(messages)
        """The prompt as sent to the backend (after redaction, if any)."""
        self.sensitive = sensitive
        """The turn was judged sensitive (whatever the mode): it and what follows stay local."""
        self.text = ""
        self.done = False
        self.cancelled = False
        self._pieces = pieces
        self._stop = stop if stop is not None else threading.Event()
        self._on_done = on_done
        self._t0 = time.perf_counter() if started is None else started
        self._checked: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<Answer {self.route} {self.model!r} {self.question!r} done={self.done}>"

    def __iter__(self) -> Iterator[str]:
        if self._pieces is None or self.done:
            if not self.done:
                self._finish()
            return
        try:
            for piece in self._pieces:
                if not self.text and "first_token_ms" not in self.timings:
                    self.timings["first_token_ms"] = (time.perf_counter() - self._t0) * 1000
                self.text += piece
                yield piece
                if self._stop.is_set():
                    self.cancelled = True
                    break
        finally:
            if self._stop.is_set():
                self.cancelled = True
                close = getattr(self._pieces, "close", None)
                if close is not None:  # let the backend drop its connection or model lock now
                    close()
            self._finish()

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.timings["total_ms"] = (time.perf_counter() - self._t0) * 1000
        if self._on_done is not None:
            self._on_done(self)

    def read(self) -> str:
        """Consume the whole stream; returns the text."""
        for _ in self:
            pass
        return self.text

    def turn(self) -> Turn:
        """This exchange as history for the next question, with the route it took."""
        return Turn(self.question, self.text, self.route, self.sensitive)

    def cancel(self) -> None:
        """Stop generating (safe from another thread); the text so far is kept."""
        self._stop.set()

    @property
    def cited(self) -> list[int]:
        return cited_numbers(self.text, len(self.passages))

    @property
    def citations(self) -> list[Citation]:
        """The passages the answer cites, in order; all passages given if it cites none."""
        numbers = self.cited or list(range(1, len(self.passages) + 1))
        return [Citation.from_hit(n, self.passages[n - 1]) for n in numbers]

    @property
    def sources(self) -> list[Citation]:
        """Every passage given to the model, numbered as in the prompt."""
        return [Citation.from_hit(i, h) for i, h in enumerate(self.passages, 1)]

    @property
    def evidence(self) -> list[Evidence]:
        """The passage sentences that best answer the question, best first (computed once, on
        first use; shown locally only, never put in a prompt)."""
        if "evidence" not in self._checked:
            t = time.perf_counter()
            self._checked["evidence"] = select_evidence(self.query, self.passages)
            self.timings["evidence_ms"] = (time.perf_counter() - t) * 1000
        return list(self._checked["evidence"])

    @property
    def claims(self) -> list[Claim]:
        """Each sentence of the answer, checked against the passages it cites (once done)."""
        if "claims" not in self._checked:
            t = time.perf_counter()
            texts, files = [h.text for h in self.passages], [h.file for h in self.passages]
            claims = check_claims(self.text, texts, self.query, files)
            if not self.done:
                return claims  # the text is still growing: do not keep this
            self._checked["claims"] = claims
            self.timings["claims_ms"] = (time.perf_counter() - t) * 1000
        return list(self._checked["claims"])

    def to_json(self) -> dict[str, Any]:
        evidence, claims = self.evidence, self.claims
        return {
            "answer": self.text,
            "evidence": [e.to_json() for e in evidence],
            "claims": [c.to_json() for c in claims],
            "citations": [c.to_json() for c in self.citations],
            "model": self.model,
            "route": self.route,
            "reasons": self.reasons,
            "query": self.query,
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
        }
