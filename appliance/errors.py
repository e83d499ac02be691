"""Errors meant for the user: each says what went wrong and how to fix it.

The CLI turns these into a one-line message and an exit status in one place; nothing here
prints. Anything that is not an ``ApplianceError`` is a bug and may show a traceback.
"""

from __future__ import annotations

import errno


class ApplianceError(Exception):
    """An expected failure with a message written for the user."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(ApplianceError):
    """Bad settings or command-line usage."""


class IndexError_(ApplianceError):
    """The index cannot be opened or is incompatible with the configured embedder."""


class ModelError(ApplianceError):
    """A model (embedder, GGUF, cloud) is missing or cannot be loaded."""


class LoadError(ApplianceError):
    """One file could not be ingested; ``reason`` is a one-line explanation."""

    exit_code = 1

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EgressBlocked(ApplianceError, ConnectionRefusedError):
    """A connection off the machine was attempted while it is not allowed.

    Also a ``ConnectionRefusedError`` (an ``OSError``), so network libraries treat it as a
    failed connection and fail loudly instead of misreading it.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.errno = errno.ECONNREFUSED


class PrivacyBlocked(ApplianceError):
    """The last privacy check found something sensitive in a request about to leave the
    machine, and stopped it. The message names detectors and rules, never the values."""
