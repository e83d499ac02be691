"""The core API behind ``appliance ask`` and the chat UI: ask a question, get a streamed,
cited answer and the route it took.

``Assistant(settings).ask(question, history=...)`` retrieves passages, decides the route
(``appliance.router``), builds a prompt that fits the model's context, and returns an
``Answer`` (``appliance.answers``) that streams text when iterated, can be cancelled from
another thread, and knows its citations and timings once done. Models are loaded once per
process and reused. Every answer appends one line to the audit log (``appliance.audit`` builds
it). Redaction and restoring are ``appliance.privacy.redaction``'s; the Anthropic key and
endpoint are the Anthropic backend's. No presentation here: the CLI and TUI only render.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence

from appliance.answers import Answer
from appliance.audit import AuditLog
from appliance.backends.base import Backend, Message
from appliance.backends.sending import GatedSender
from appliance.config import Settings
from appliance.embedding import TextEmbedder
from appliance.errors import ConfigError, PrivacyBlocked
from appliance.privacy.redaction import redact_messages, restoring
from appliance.prompting import NOT_FOUND, Turn, build_messages, standalone_query
from appliance.retrieve import Hit, Retriever
from appliance.router import Decision, Router, request_strings

__all__ = ["Assistant"]
log = logging.getLogger("appliance.assistant")


class Assistant:
    """Holds the loaded models and index for a process; ask as often as you like."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: TextEmbedder | None = None,
        local_backend: Backend | None = None,
        cloud_backend: Callable[[], Backend] | None = None,
        audit: bool = True,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._retriever: Retriever | None = None
        self._local: dict[str | None, Backend] = {}
        if local_backend is not None:
            self._local[None] = local_backend
        self._cloud_factory = cloud_backend
        self._cloud: Backend | None = None
        self.router = Router(settings.privacy)
        self.audit = AuditLog(settings.index_dir) if audit else None
        self.mode: str = settings.privacy.mode
        self._allow_trusted_server()
        if self.mode == "hybrid":
            self.set_mode("hybrid")

    # -- setup -------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Switch between ``offline`` and ``hybrid``; hybrid needs an API key."""
        if mode not in ("offline", "hybrid"):
            raise ConfigError(f"unknown mode {mode!r}: use offline or hybrid")
        from appliance import egress

        if mode == "hybrid":
            if self._server_trust() is False:  # an untrusted model server is the cloud side
                from appliance.backends.openai import allow_server

                allow_server(self.cloud_base_url(), trusted=False)
            else:
                from appliance.backends.anthropic import allow_endpoint

                allow_endpoint(self.settings.privacy.anthropic_base_url)
        else:
            egress.revoke_all()  # leaving hybrid: the endpoint and its proxy are closed again
            self._allow_trusted_server()  # but a trusted model server is inside the boundary
            if self._cloud_factory is None:
                self._cloud = None  # and the SDK's open connections go with its client
        self.mode = mode

    def cloud_proxy(self) -> str | None:
        """The proxy cloud requests go through (``http://proxy.corp:3128``, credentials left
        out), or None when they go direct; stated in the audit line."""
        from appliance import egress

        return egress.proxy_shown_for(self.cloud_base_url())

    def hybrid_unavailable(self) -> str | None:
        """Why hybrid mode cannot be switched on now (None when it can)."""
        if self._server_trust() is False:
            return None  # the cloud side is the configured model server: no Anthropic key
        from appliance.backends.anthropic import key_missing

        return key_missing()

    @property
    def embedder(self) -> TextEmbedder:
        """The embedder shared by retrieval (and, in the chat app, by ingest)."""
        if self._embedder is None:
            from appliance.embedding import Embedder

            emb = self.settings.embedding
            self._embedder = Embedder(emb.model_dir, emb.device)
        return self._embedder

    def cloud_base_url(self) -> str:
        """Where cloud requests go: the untrusted model server, else Claude's endpoint."""
        from appliance.backends.anthropic import endpoint

        if self._server_trust() is False and self.settings.llm.base_url:
            return self.settings.llm.base_url
        return endpoint(self.settings.privacy.anthropic_base_url)

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(self.settings, embedder=self.embedder)
        return self._retriever

    def reload_index(self) -> None:
        """Forget the open index (after an ingest into it); reopened on the next question."""
        if self._retriever is not None:
            self._retriever.close()
            self._retriever = None

    def _server_trust(self) -> bool | None:
        """None: answers come from llama.cpp in this process; else whether the configured
        model server (``llm.backend = "openai"``) is in ``privacy.trusted_hosts``."""
        from appliance.backends.openai import server_trust

        return server_trust(self.settings.llm, self.settings.privacy)

    def _allow_trusted_server(self) -> None:
        """Open the egress guard for a trusted model server: it answers in every mode."""
        from appliance.backends.openai import allow_trusted_server

        allow_trusted_server(self.settings.llm, self.settings.privacy)

    def local_backend(self, model: str | None = None) -> Backend:
        if model not in self._local:
            llm = self.settings.llm.model_copy(update={"model": model or self.settings.llm.model})
            if self._server_trust():  # a trusted model server is the local backend
                from appliance.backends.openai import OpenAIBackend

                self._local[model] = OpenAIBackend.from_settings(llm, self.settings.privacy)
            else:
                from appliance.backends.llama import LlamaBackend

                self._local[model] = LlamaBackend.from_settings(llm, self.settings.models_dir)
        return self._local[model]

    def cloud_backend(self) -> Backend:
        if self._cloud is None:
            if self._cloud_factory is not None:
                self._cloud = self._cloud_factory()
            elif self._server_trust() is False:  # an untrusted model server takes Claude's place
                from appliance.backends.openai import OpenAIBackend

                self._cloud = OpenAIBackend.from_settings(self.settings.llm, self.settings.privacy)
            else:
                from appliance.backends.anthropic import AnthropicBackend

                self._cloud = AnthropicBackend.from_settings(self.settings.privacy)
        return self._cloud

    # -- asking ------------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        k: int | None = None,
        path: str | None = None,
        model: str | None = None,
    ) -> Answer:
        question = question.strip()
        if not question:
            raise ConfigError("the question is empty")
        t0 = time.perf_counter()
        query = standalone_query(question, history)
        hits = self.retriever.search(query, k or self.settings.retrieval.k, path_glob=path)
        t_retrieved = time.perf_counter()
        relevant = [h for h in hits if _relevant(h, self.settings.retrieval.min_score)]
        decision = self.router.decide(question, relevant, history, mode=self.mode)
        timings = {"retrieve_ms": (t_retrieved - t0) * 1000}
        if not relevant:
            return Answer(
                question,
                query,
                "local",
                [*decision.reasons, "no relevant passages"],
                "none",
                [],
                pieces=iter([NOT_FOUND]),
                on_done=lambda a: self._audit(a, decision, None),
                started=t0,
                timings=timings,
                sensitive=decision.sensitive,
            )

        backend = self.cloud_backend() if decision.route == "cloud" else self.local_backend(model)
        messages, used, mapping = self._prompt(backend, decision, question, relevant, history)
        if not backend.is_local:
            # The last gate: the exact text about to leave, through the classifier once more.
            blocked = self.router.gate_text(m.content for m in messages)
            if blocked.sensitive:
                log.warning("last privacy gate stopped a cloud request; answering locally")
                found = [f"{n} ×{c} in request" for n, c in sorted(blocked.reasons.items())]
                decision = Decision("local", True, ["last gate: kept local", *found,
                                    *decision.reasons], blocked.reasons)  # fmt: skip
                backend = self.local_backend(model)
                messages, used, mapping = self._prompt(backend, decision, question, relevant,
                                                       history)  # fmt: skip
            else:
                _set_gate(backend, functools.partial(self._wire_gate, question, decision, backend))
        timings["prompt_ms"] = (time.perf_counter() - t_retrieved) * 1000
        stop = threading.Event()
        pieces = backend.stream(
            messages,
            max_tokens=self.settings.llm.max_tokens,
            temperature=self.settings.llm.temperature,
            stop=stop,
        )
        return Answer(
            question,
            query,
            decision.route,
            decision.reasons,
            backend.name,
            used,
            pieces=restoring(pieces, mapping) if mapping else pieces,
            stop=stop,
            on_done=lambda a: self._audit(a, decision, backend),
            started=t0,
            timings=timings,
            messages=messages,
            sensitive=decision.sensitive,
        )

    def _prompt(
        self,
        backend: Backend,
        decision: Decision,
        question: str,
        hits: list[Hit],
        history: Sequence[Turn],
    ) -> tuple[list[Message], list[Hit], dict[str, str]]:
        """The messages for ``backend`` (redacted when the decision says so), the passages that
        fit, and the placeholder mapping."""
        messages, used = build_messages(
            question,
            hits,
            history,
            count_tokens=backend.count_tokens,
            context_length=backend.context_length,
            answer_tokens=self.settings.llm.max_tokens,
        )
        mapping: dict[str, str] = {}
        if decision.redact and not backend.is_local:
            messages, mapping = redact_messages(messages, self.router.detector)
        return messages, used, mapping

    def _wire_gate(self, question: str, decision: Decision, backend: Backend, body: bytes) -> None:
        """Called by the cloud backend with each request body just before it is sent: the
        last privacy check of the exact bytes, then an audit line for the attempt, written
        before a byte leaves (so a retry, a lost response or a crash mid-answer is on record)."""
        verdict = self.router.gate_text(request_strings(body))
        if verdict.sensitive:
            names = ", ".join(f"{n} ×{c}" for n, c in sorted(verdict.reasons.items()))
            raise PrivacyBlocked(
                f"stopped a request to the cloud: it holds something sensitive ({names})",
                hint="nothing was sent; ask again in offline mode",
            )
        if self.audit is not None:
            self.audit.record_send(
                question, decision, backend, body, mode=self.mode, via_proxy=self.cloud_proxy()
            )

    def _audit(self, answer: Answer, decision: Decision, backend: Backend | None) -> None:
        if self.audit is None:
            return
        remote = backend is not None and not backend.is_local
        self.audit.record_answer(
            answer,
            decision,
            backend,
            mode=self.mode,
            via_proxy=self.cloud_proxy() if remote else None,
        )


def _set_gate(backend: Backend, gate: Callable[[bytes], None]) -> None:
    """Give a cloud backend the last check of its request bytes, where it supports one."""
    if isinstance(backend, GatedSender):
        backend.gate = gate


def _relevant(hit: Hit, min_score: float) -> bool:
    """A passage is worth showing the model when it is close in meaning or shares words."""
    if hit.dense is not None and hit.dense >= min_score:
        return True
    return hit.lexical_rank is not None and hit.dense is not None and hit.dense >= min_score / 2
