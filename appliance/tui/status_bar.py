"""The status bar: privacy mode (OFFLINE/HYBRID), the local model, and what the index holds.

The mode label is always visible and coloured by mode, so sending to the cloud is never a
surprise. Values are set by the app; nothing here reads the index or the settings.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from appliance.safetext import name


def index_summary(stats: dict[str, object] | None) -> str:
    """``{"files": 3, "chunks": 40}`` → ``"3 files · 40 chunks"``; None → ``"no index yet"``."""
    if stats is None:
        return "no index yet"
    files, chunks = stats.get("files", 0), stats.get("chunks", 0)
    return f"{files} file{'s' if files != 1 else ''} · {chunks} chunk{'s' if chunks != 1 else ''}"


class StatusBar(Horizontal):
    """One line: mode badge, model, index size."""

    def compose(self) -> ComposeResult:
        yield Label("OFFLINE", id="status-mode", classes="-offline")
        yield Label("", id="status-model", markup=False)
        yield Label("", id="status-index", markup=False)

    def set_mode(self, mode: str, *, local_only: bool = False) -> None:
        """Show the mode; in hybrid mode, ``local_only`` says this conversation stays local."""
        label = self.query_one("#status-mode", Label)
        label.update(
            mode.upper() + (" · this chat stays local" if local_only and mode == "hybrid" else "")
        )
        label.set_class(mode == "hybrid", "-hybrid")
        label.set_class(mode != "hybrid", "-offline")

    def set_model(self, model: str) -> None:
        self.query_one("#status-model", Label).update(f"model {name(model)}")

    def set_index(self, stats: dict[str, object] | None) -> None:
        self.query_one("#status-index", Label).update(f"index {index_summary(stats)}")

    @property
    def mode_text(self) -> str:
        return str(self.query_one("#status-mode", Label).content)
