"""Routing: which backend may answer a turn, decided from its privacy verdict.

Policy: ``offline`` (default) answers everything locally and never imports the Anthropic SDK.
``hybrid`` (explicit opt-in, needs ``ANTHROPIC_API_KEY``) lets a turn go to Claude only when
the question, every retrieved passage and the conversation history are all judged
non-sensitive; one sensitive element keeps the whole turn local. The verdict combines the
detectors run now on every text, the labels stored at ingest and the folder rules. Fail
closed: an error while classifying means local. With ``privacy.redact`` on, a sensitive turn
whose reasons are all detected values (no folder rule) may go to Claude with the values
replaced by placeholders, swapped back locally in the answer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from appliance.config import PrivacySettings
from appliance.errors import ConfigError
from appliance.privacy import Detector, PathRules, Verdict, combine, judge, judge_path
from appliance.prompting import Turn
from appliance.retrieve import Hit

log = logging.getLogger("appliance.router")
Route = Literal["local", "cloud"]


@dataclass
class Decision:
    route: Route
    sensitive: bool
    reasons: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    redact: bool = False


def require_key() -> None:
    if not os.environ.get("ANTHROPIC_API_KEY"):
        raise ConfigError(
            "hybrid mode needs ANTHROPIC_API_KEY in the environment",
            hint="export ANTHROPIC_API_KEY=… or stay in offline mode (the default)",
        )


class Router:
    def __init__(self, privacy: PrivacySettings) -> None:
        self.privacy = privacy
        self.detector = Detector.from_settings(privacy)
        self.rules = PathRules(privacy.sensitive_paths)

    def verdict(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn]
    ) -> tuple[Verdict, list[str]]:
        parts: list[tuple[str, Verdict]] = [("question", judge(question, self.detector))]
        for turn in history:
            parts.append(("history", judge(turn.question, self.detector)))
            parts.append(("history", judge(turn.answer, self.detector)))
        for hit in hits:
            now = combine([judge(hit.text, self.detector), judge_path(hit.file, self.rules)])
            if not now.sensitive and hit.sensitive:  # labelled at ingest under other settings
                now = Verdict(True, dict(hit.detectors or {"ingest label": 1}))
            parts.append(("passages", now))
        reasons: list[str] = []
        for where in ("question", "history", "passages"):
            v = combine(p for w, p in parts if w == where)
            reasons += [f"{name} ×{n} in {where}" for name, n in sorted(v.reasons.items())]
        return combine(p for _, p in parts), reasons

    def decide(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn], *, mode: str
    ) -> Decision:
        try:
            verdict, reasons = self.verdict(question, hits, history)
        except Exception:  # fail closed: never let a classifier bug send data out
            log.exception("privacy classification failed; answering locally")
            return Decision("local", True, ["classification failed: kept local"])
        if mode != "hybrid":
            return Decision("local", verdict.sensitive, ["offline mode", *reasons], verdict.reasons)
        if not verdict.sensitive:
            return Decision("cloud", False, ["hybrid mode", "nothing sensitive found"], {})
        by_rule = any(
            name.startswith("rule:") or name == "ingest label" for name in verdict.reasons
        )
        if self.privacy.redact and not by_rule:
            return Decision(
                "cloud", True, ["hybrid mode", "redacted", *reasons], verdict.reasons, True
            )
        return Decision("local", True, ["sensitive: kept local", *reasons], verdict.reasons)
