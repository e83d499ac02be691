"""Measure the detectors on a labelled set: precision, recall and the texts they got wrong.

The set is JSON lines, one object per line: ``{"text": "...", "sensitive": true}`` (other
keys, such as ``"kind"``, are ignored; blank lines are skipped). The shipped set,
``appliance/data/privacy_eval.jsonl``, labels what the detectors are meant to catch, so a
sensitive text there always holds a detectable value; it says nothing about what no detector
looks for (names, addresses). ``main([FILE])`` prints the result as JSON, for the CLI or
``make eval``. Folder rules are not measured here: they are plain configuration.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from appliance.config import PrivacySettings
from appliance.errors import ConfigError
from appliance.evalsets import read_items
from appliance.privacy.detectors import Detector

DEFAULT_SET = Path(__file__).resolve().parent.parent / "data" / "privacy_eval.jsonl"
EXAMPLE = '{"text": "call me at +44 20 7946 0958", "sensitive": true}'


def load_items(path: Path) -> list[tuple[str, bool]]:
    """The ``(text, sensitive)`` pairs of a JSON-lines file; a bad line is a ``ConfigError``."""
    return read_items(path, _item, example=EXAMPLE)


def _item(obj: dict[str, Any]) -> tuple[str, bool]:
    text, sensitive = obj.get("text"), obj.get("sensitive")
    if not isinstance(text, str) or not isinstance(sensitive, bool):
        raise TypeError("needs 'text' (a string) and 'sensitive' (true or false)")
    return text, sensitive


def evaluate(path: Path, detector: Detector) -> dict[str, Any]:
    """Precision and recall of ``detector`` on the labelled set at ``path``.

    Returns ``items``, ``precision``, ``recall``, the counts ``true_positives``,
    ``false_positives``/``false_negatives`` as lists of the texts concerned. A ratio with
    nothing to divide by is 1.0 (no positives predicted: no false alarm).
    """
    tp, false_pos, false_neg = 0, [], []
    items = load_items(path)
    for text, sensitive in items:
        flagged = bool(detector.scan(text))
        if flagged and sensitive:
            tp += 1
        elif flagged:
            false_pos.append(text)
        elif sensitive:
            false_neg.append(text)
    return {
        "items": len(items),
        "precision": tp / (tp + len(false_pos)) if tp + len(false_pos) else 1.0,
        "recall": tp / (tp + len(false_neg)) if tp + len(false_neg) else 1.0,
        "true_positives": tp,
        "false_positives": false_pos,
        "false_negatives": false_neg,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_SET
    try:
        result = evaluate(path, Detector.from_settings(PrivacySettings()))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
