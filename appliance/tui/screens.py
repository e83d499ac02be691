"""Modal screens: help, model picker, yes/no confirmation, and a path prompt for ingest.

Each returns its result through ``dismiss`` (the picked model's file name, True/False, the
path) and closes on Esc with nothing chosen. They only present; the app acts on the result.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from appliance.backends.gguf_info import ModelInfo
from appliance.safetext import clean, name

KEYS: list[tuple[str, str]] = [
    ("Enter", "ask the question (or run a /command)"),
    ("Esc", "stop the answer being written, or the ingest"),
    ("↑ ↓", "in the input: earlier questions"),
    ("Tab", "move between input, conversation and sources"),
    ("↑ ↓", "in the conversation: pick an answer, see its sources"),
    ("Enter", "on a source: read it in its surrounding text"),
    ("Ctrl+N", "new conversation (forget the earlier turns)"),
    ("Ctrl+T", "switch OFFLINE / HYBRID (asks first; needs a key)"),
    ("F2", "choose the local model"),
    ("Ctrl+P", "command palette (ingest, model, mode, …)"),
    ("F1  ?", "this help (Ctrl+Q quits the app)"),
]
COMMANDS: list[tuple[str, str]] = [
    ("/ingest PATH", "add or update a file or folder in the index"),
    ("/new", "new conversation"),
    ("/chats", "list saved conversations"),
    ("/open [NAME]", "reopen a saved conversation (the latest without NAME)"),
    ("/model", "choose the local model"),
    ("/mode", "switch OFFLINE / HYBRID (/help: this help)"),
]


def _table(rows: list[tuple[str, str]], width: int) -> Content:
    return Content("\n").join(
        Content.assemble((key.ljust(width), "bold $accent"), " ", text) for key, text in rows
    )


class HelpScreen(ModalScreen[None]):
    """The key bindings and slash commands."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("f1", "dismiss", show=False),
        Binding("q", "dismiss", show=False),
        Binding("question_mark", "dismiss", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="modal-box"):
            yield Label("Keys", classes="modal-title", id="help-title")
            with VerticalScroll(id="help-text"):
                yield Static(_table(KEYS, 8))
                yield Label("Commands (type them in the input)", classes="modal-subtitle")
                yield Static(_table(COMMANDS, 13))
            yield Label("Esc closes", classes="modal-hint")


def model_prompt(info: ModelInfo, current: bool) -> Content:
    """Two lines: name (● when in use), then size, quantisation, context and template."""
    facts = [
        info.size_label,
        info.file_type,
        f"ctx {info.context_length}" if info.context_length else None,
        f"{info.size_bytes / 1e6:.0f} MB",
        "chat template" if info.has_chat_template else "no chat template (ChatML)",
    ]
    second = clean(info.error or " · ".join(f for f in facts if f))
    return Content.assemble(
        ("● " if current else "  ", "bold $success"),
        (name(info.path.name), "bold"),
        "\n  ",
        (second, "$text-error" if info.error else "dim"),
    )


class ModelPicker(ModalScreen[str | None]):
    """The GGUF files in ``models/``; returns the chosen file name."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    def __init__(self, models: list[ModelInfo], current: str | None, models_dir: str) -> None:
        super().__init__()
        self.models = models
        self.current = current
        self.models_dir = models_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="model-box", classes="modal-box"):
            yield Label("Local model", classes="modal-title")
            if not self.models:
                yield Static(
                    f"No .gguf model files in {name(self.models_dir)}/. Copy one there (or run "
                    "`make install`) and open this again.",
                    markup=False,
                )
            options: list[Option | None] = []
            for m in self.models:
                options += [None] if options else []  # separator
                current = m.path.name == self.current
                options.append(Option(model_prompt(m, current), m.path.name, m.error is not None))
            yield OptionList(*options, id="model-list")
            yield Label(
                f"From {name(self.models_dir)}/ · Enter chooses · Esc closes",
                classes="modal-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        listing.display = bool(self.models)
        if self.current is not None:
            with contextlib.suppress(OptionDoesNotExist):
                listing.highlighted = listing.get_option_index(self.current)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ConfirmScreen(ModalScreen[bool]):
    """A question with two buttons; the safe answer (no) has the focus."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer(False)", "Cancel"),
        Binding("n", "answer(False)", show=False),
        Binding("y", "answer(True)", show=False),
    ]

    def __init__(self, title: str, body: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.title_text, self.body, self.yes, self.no = title, body, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="modal-box"):
            yield Label(self.title_text, classes="modal-title", markup=False)
            yield Static(self.body, id="confirm-body", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(self.yes, id="yes", variant="warning")
                yield Button(self.no, id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PathPrompt(ModalScreen[str | None]):
    """Asks for a file or folder to ingest."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="path-box", classes="modal-box"):
            yield Label("Ingest a file or folder", classes="modal-title")
            yield Input(placeholder="path, e.g. ~/Documents/contracts", id="path-input")
            yield Label("Enter starts · Esc cancels", classes="modal-hint")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
