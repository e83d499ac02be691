"""The question input, with shell-like history: up/down recall earlier entries.

An entry being typed is kept as a draft while browsing and comes back past the newest one.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class PromptInput(Input):
    """An ``Input`` that remembers what was submitted."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Earlier entry", show=False),
        Binding("down", "history(1)", "Later entry", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = []
        self._pos: int | None = None
        self._draft = ""

    def remember(self, text: str) -> None:
        """Add ``text`` to the history (not twice in a row) and stop browsing."""
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._pos = None
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._pos is None:
            if step > 0:
                return
            self._draft = self.value
            self._pos = len(self.history)
        pos = self._pos + step
        if pos < 0:
            return
        if pos >= len(self.history):
            self._pos = None
            self.value = self._draft
        else:
            self._pos = pos
            self.value = self.history[pos]
        self.cursor_position = len(self.value)
