"""Saved conversations: each one a JSON file under ``index/conversations/``, private to the user.

``appliance ask QUESTION --chat NAME`` continues (or starts) a conversation, and the chat app
saves every conversation and can reopen recent ones. A saved turn keeps its question, its
answer, the route it took and whether it was judged sensitive, so a reopened conversation that
had a sensitive turn still stays local (see ``appliance.router``).

Files are written whole to a temporary file (mode 0600, in a 0700 folder) and renamed over the
old one, so a crash never leaves half a conversation. A file that cannot be read is reported
with its path and left as it is, never overwritten. Names are short and plain
(``[A-Za-z0-9._-]``, at most 64 characters) so a name can never point outside the folder.

Left out: searching conversations, and sharing them between indexes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError
from appliance.prompting import Turn

FOLDER = "conversations"
VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(name: str) -> str:
    """``name`` if it can name a conversation, else a ``ConfigError`` that says why.

    >>> check_name("lease-questions")
    'lease-questions'
    """
    if not _NAME.fullmatch(name) or name.endswith(".json") or ".." in name:
        raise ConfigError(
            f"{name!r} cannot name a conversation",
            hint="use letters, digits, '.', '_' and '-' (at most 64), e.g. --chat lease",
        )
    return name


def new_name(now: float | None = None) -> str:
    """A fresh name from the time: ``chat-20261201-061502``."""
    stamp = dt.datetime.fromtimestamp(now if now is not None else time.time())
    return stamp.strftime("chat-%Y%m%d-%H%M%S")


@dataclass
class Conversation:
    name: str
    turns: list[Turn] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @property
    def local_only(self) -> bool:
        """True once a turn was judged sensitive: the rest of the conversation stays local."""
        return any(t.sensitive for t in self.turns)

    def add(self, turn: Turn) -> None:
        self.turns.append(turn)
        self.updated = time.time()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "name": self.name,
            "created": self.created,
            "updated": self.updated,
            "turns": [
                {
                    "question": t.question,
                    "answer": t.answer,
                    "route": t.route,
                    "sensitive": t.sensitive,
                }
                for t in self.turns
            ],
        }


@dataclass(frozen=True)
class Summary:
    """One line of the list of saved conversations."""

    name: str
    updated: float
    turns: int
    local_only: bool
    first_question: str


class Conversations:
    """The saved conversations of one index folder."""

    def __init__(self, index_dir: Path) -> None:
        self.folder = Path(index_dir) / FOLDER

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def fresh_name(self) -> str:
        """A name from the time that no saved conversation has (``chat-…-2`` if needed)."""
        base = new_name()
        name, n = base, 1
        while self.exists(name):
            n += 1
            name = f"{base}-{n}"
        return name

    def load(self, name: str, *, create: bool = True) -> Conversation:
        """The conversation called ``name``; a new, empty one when there is none yet."""
        path = self.path(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            if create:
                return Conversation(name)
            raise ConfigError(
                f"no saved conversation {name!r}", hint="`appliance chats` lists them"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read conversation {path}: {exc.strerror or exc}") from None
        return _parse(name, path, raw)

    def save(self, conversation: Conversation) -> Path:
        """Write ``conversation`` whole (temporary file, then rename); returns its path."""
        path = self.path(conversation.name)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        data = json.dumps(conversation.to_json(), ensure_ascii=False, indent=1).encode()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    def delete(self, name: str) -> bool:
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def recent(self, limit: int = 20) -> list[Summary]:
        """Saved conversations, most recently updated first; unreadable files are skipped."""
        if not self.folder.is_dir():
            return []
        out: list[Summary] = []
        for path in self.folder.glob("*.json"):
            name = path.stem
            try:
                conv = _parse(name, path, path.read_bytes())
            except (ConfigError, OSError):
                continue
            first = conv.turns[0].question if conv.turns else ""
            out.append(Summary(name, conv.updated, len(conv.turns), conv.local_only, first))
        out.sort(key=lambda s: s.updated, reverse=True)
        return out[:limit]


def _parse(name: str, path: Path, raw: bytes) -> Conversation:
    def damaged(why: str) -> ConfigError:
        return ConfigError(
            f"conversation file {path} is damaged ({why})",
            hint="move it away, or continue under another name",
        )

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise damaged(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
        raise damaged("no list of turns")
    if data.get("version") != VERSION:
        raise damaged(f"unknown version {data.get('version')!r}")
    turns: list[Turn] = []
    for i, t in enumerate(data["turns"], 1):
        if not isinstance(t, dict):
            raise damaged(f"turn {i} is not an object")
        question, answer = t.get("question"), t.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str):
            raise damaged(f"turn {i} has no question or answer")
        route = t.get("route") if t.get("route") in ("local", "cloud") else "local"
        # A missing or odd flag counts as sensitive: the safe reading.
        sensitive = t.get("sensitive") is not False
        turns.append(Turn(question, answer, str(route), sensitive))
    created = data.get("created")
    updated = data.get("updated")
    return Conversation(
        name,
        turns,
        float(created) if isinstance(created, (int, float)) else 0.0,
        float(updated) if isinstance(updated, (int, float)) else 0.0,
    )
