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
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class Score:
    """How the detectors did on a labelled set. A ratio with nothing to divide by is 1.0 (no
    positives predicted: no false alarm)."""

    items: int
    precision: float
    recall: float
    true_positives: int
    false_positives: list[str]
    """The texts flagged that are labelled not sensitive."""
    false_negatives: list[str]
    """The texts labelled sensitive that nothing flagged."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(path: Path, detector: Detector) -> Score:
    """Precision and recall of ``detector`` on the labelled set at ``path``."""
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
    return Score(
        items=len(items),
        precision=tp / (tp + len(false_pos)) if tp + len(false_pos) else 1.0,
        recall=tp / (tp + len(false_neg)) if tp + len(false_neg) else 1.0,
        true_positives=tp,
        false_positives=false_pos,
        false_negatives=false_neg,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_SET
    try:
        result = evaluate(path, Detector.from_settings(PrivacySettings()))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    return 0
