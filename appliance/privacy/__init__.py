"""Decide whether text or a file is sensitive, and say why: the appliance's privacy promise.

``Classifier`` (``classifier``) is the one place every judgement is made: ingest labels, the
router and the last check before anything is sent all use it. ``Detector`` finds personal
data and secrets in text (``detectors``), after folding Unicode look-alikes (``normalize``),
``PathRules`` applies the configured folder globs (``rules``), ``judge``/``judge_path``/
``combine`` turn both into a ``Verdict`` with counted reasons, and ``redact``/``restore`` swap
values for placeholders (``verdict``). ``evaluate`` measures the detectors on a labelled set.
Routing on a verdict is the router's job.
"""

from appliance.privacy.classifier import Classifier
from appliance.privacy.detectors import Detector, Finding
from appliance.privacy.evaluate import evaluate
from appliance.privacy.rules import PathRules
from appliance.privacy.verdict import Verdict, combine, judge, judge_path, redact, restore

__all__ = [
    "Classifier",
    "Detector",
    "Finding",
    "PathRules",
    "Verdict",
    "combine",
    "evaluate",
    "judge",
    "judge_path",
    "redact",
    "restore",
]
