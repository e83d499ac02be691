"""Reading an evaluation set: a JSON-lines file, one object per line, blank lines skipped.

``read_items`` is the one loader behind ``appliance eval`` (questions with their gold file,
page and answer: ``appliance.evaluate``) and ``appliance privacy-eval`` (texts labelled
sensitive or not: ``appliance.privacy.evaluate``); each passes the function that turns one
line's object into an item. Every problem is a ``ConfigError`` that names the file and the
line (``eval.jsonl:2: not valid JSON``), before any model is loaded.

Left out: what the items mean and how they are scored (the two ``evaluate`` modules).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from appliance.errors import ConfigError

T = TypeVar("T")


def read_items(
    path: Path,
    parse: Callable[[dict[str, Any]], T],
    *,
    what: str = "evaluation set",
    example: str | None = None,
) -> list[T]:
    """The items of the JSON-lines file at ``path``, one per non-blank line, each made by
    ``parse`` from the line's object (``parse`` raises ``ValueError``, ``KeyError`` or
    ``TypeError`` on a bad one; ``example`` is shown as the hint then).

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "set.jsonl"
    >>> _ = f.write_text('{"text": "a"}\\n\\n{"text": "b"}\\n')
    >>> read_items(f, lambda obj: obj["text"])
    ['a', 'b']
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None
    items: list[T] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise ConfigError(f"{where}: expected a JSON object", hint=example)
        try:
            items.append(parse(obj))
        except (ValueError, KeyError, TypeError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ConfigError(f"{where}: not a valid line ({detail})", hint=example) from None
    if not items:
        raise ConfigError(f"{what} {path} has no items")
    return items
