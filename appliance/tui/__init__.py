"""``appliance chat``: the Textual app for chatting with your documents.

``build_app(settings)`` is the one factory: the CLI's ``chat`` command and the tests both use
it. Modules, by screen area: ``app`` (wiring and workers), ``chat_log`` (the conversation),
``sources`` and ``passages`` (citations and the passage in context), ``prompt`` (the input
with history), ``status_bar``, ``ingest_view`` (progress and report), ``screens`` (help,
model picker, confirmation, path prompt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.config import Settings
from appliance.tui.app import ChatApp

if TYPE_CHECKING:
    from appliance.assistant import Assistant
    from appliance.embedding import TextEmbedder

__all__ = ["ChatApp", "build_app"]


def build_app(
    settings: Settings,
    assistant: Assistant | None = None,
    *,
    embedder: TextEmbedder | None = None,
) -> ChatApp:
    """The chat app on ``settings``; a fresh ``Assistant`` unless one is given.

    ``embedder`` is shared by the assistant (when built here) and in-app ingest, so the
    embedding model is loaded once; tests pass a fake one with a fake-backed assistant.
    """
    from appliance.assistant import Assistant

    if assistant is None:
        if embedder is None:
            embedder = _default_embedder(settings)
        assistant = Assistant(settings, embedder=embedder)
    elif not isinstance(assistant, Assistant):
        raise TypeError(f"assistant must be an Assistant, not {type(assistant).__name__}")
    return ChatApp(settings, assistant, embedder=embedder)


def _default_embedder(settings: Settings) -> TextEmbedder | None:
    """The configured embedder (loaded lazily on first use), or None if it is not installed:
    the error then surfaces as a notification at the first question or ingest."""
    from appliance.embedding import Embedder
    from appliance.errors import ApplianceError

    try:
        return Embedder(settings.embedding.model_dir, settings.embedding.device)
    except ApplianceError:
        return None
