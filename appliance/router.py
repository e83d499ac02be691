"""Routing: which backend may answer a turn, decided from its privacy verdict.

Policy: ``offline`` (default) answers everything locally and never imports the Anthropic SDK.
``hybrid`` (explicit opt-in, needs ``ANTHROPIC_API_KEY``) lets a turn go to Claude only when
nothing about it is sensitive, as judged by the one ``Classifier``:

- the question's text;
- every retrieved passage: its text, its file name as stored, the folder rules on every path
  of its file (as stored, absolute, real), and the label stored at ingest (which may come from
  a rule, a value cut by a chunk boundary, or a detector that no longer fires);
- the conversation so far: each earlier turn's question and answer text, and whether that
  turn was judged sensitive when it was asked. **A conversation that had a sensitive turn stays
  local until it is cleared**: its later turns never go to the cloud, whatever they ask (the
  earlier turn's text would travel as history, and a local answer may hold what it read).

One sensitive element keeps the whole turn local. Fail closed: an error while classifying
means local. With ``privacy.redact`` on, a sensitive turn may go to Claude with detected values
replaced by placeholders, but only when every reason is a value found *now* in text that is
sent (so redaction removes it): a folder rule, a file name, a stored label the detectors do not
confirm, or an earlier sensitive turn keeps it local.

``gate_text`` is the last check before anything leaves: it runs the detectors and the folder
rules (on every path-like word) over the exact text of a request; the assistant refuses to send
when it finds anything.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from appliance.config import PrivacySettings
from appliance.privacy import Classifier, Detector, Verdict, combine
from appliance.prompting import Turn
from appliance.retrieve import Hit

log = logging.getLogger("appliance.router")
Route = Literal["local", "cloud"]

EARLIER_TURN = "earlier sensitive turn"
STORED_LABEL = "ingest label"
# Words of a request, and which of them may name a file or folder ("hr/review.md", "*.eml").
_WORDS = re.compile(r"[^\s()\[\]{}<>\"'`,;]+")
_PATHLIKE = re.compile(r"[/\\]|\.[A-Za-z0-9]{1,6}$")


@dataclass
class Decision:
    route: Route
    sensitive: bool
    reasons: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    redact: bool = False


@dataclass
class _Part:
    where: str
    verdict: Verdict
    redactable: bool
    """True when redacting the detected values of the sent text removes every reason."""


class Router:
    def __init__(self, privacy: PrivacySettings, classifier: Classifier | None = None) -> None:
        self.privacy = privacy
        self.classifier = classifier or Classifier(privacy)

    @property
    def detector(self) -> Detector:
        return self.classifier.detector

    # -- the verdict -------------------------------------------------------------------------
    def _passage(self, hit: Hit) -> _Part:
        c = self.classifier
        text = c.text(hit.text)
        whole = c.file(hit.file, hit.path)
        parts = [text, whole]
        # The label stored at ingest counts unless what is found now accounts for all of it:
        # it may come from a value cut by the chunk boundary, a key block's BEGIN line in
        # another chunk, or settings that have changed since.
        now = combine([text, whole]).reasons
        stored = dict(hit.detectors or {})
        unconfirmed = hit.sensitive and (
            not stored or any(n > now.get(name, 0) for name, n in stored.items())
        )
        if unconfirmed:
            extra = {
                f"{STORED_LABEL}:{k}": n - now.get(k, 0)
                for k, n in stored.items()
                if n > now.get(k, 0)
            }
            parts.append(Verdict(True, extra or {STORED_LABEL: 1}))
        verdict = combine(parts)
        return _Part("passages", verdict, not whole.sensitive and not unconfirmed)

    def _history(self, history: Sequence[Turn]) -> list[_Part]:
        c = self.classifier
        parts: list[_Part] = []
        earlier = sum(1 for t in history if t.sensitive)
        if earlier:
            parts.append(_Part("history", Verdict(True, {EARLIER_TURN: earlier}), False))
        for turn in history:
            parts.append(_Part("history", c.text(turn.question), True))
            parts.append(_Part("history", c.text(turn.answer), True))
        return parts

    def _parts(self, question: str, hits: Sequence[Hit], history: Sequence[Turn]) -> list[_Part]:
        parts = [_Part("question", self.classifier.text(question), True)]
        parts += self._history(history)
        parts += [self._passage(hit) for hit in hits]
        return parts

    def verdict(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn]
    ) -> tuple[Verdict, list[str]]:
        """The combined verdict and its reasons, per place (``email ×1 in question``)."""
        verdict, reasons, _ = self._judge(self._parts(question, hits, history))
        return verdict, reasons

    @staticmethod
    def _judge(parts: Sequence[_Part]) -> tuple[Verdict, list[str], bool]:
        reasons: list[str] = []
        for where in ("question", "history", "passages"):
            v = combine(p.verdict for p in parts if p.where == where)
            reasons += [f"{name} ×{n} in {where}" for name, n in sorted(v.reasons.items())]
        redactable = all(p.redactable for p in parts if p.verdict.sensitive)
        return combine(p.verdict for p in parts), reasons, redactable

    def decide(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn], *, mode: str
    ) -> Decision:
        try:
            verdict, reasons, redactable = self._judge(self._parts(question, hits, history))
        except Exception:  # fail closed: never let a classifier bug send data out
            log.exception("privacy classification failed; answering locally")
            return Decision("local", True, ["classification failed: kept local"])
        if mode != "hybrid":
            return Decision("local", verdict.sensitive, ["offline mode", *reasons], verdict.reasons)
        if not verdict.sensitive:
            return Decision("cloud", False, ["hybrid mode", "nothing sensitive found"], {})
        if self.privacy.redact and redactable:
            return Decision(
                "cloud", True, ["hybrid mode", "redacted", *reasons], verdict.reasons, True
            )
        return Decision("local", True, ["sensitive: kept local", *reasons], verdict.reasons)

    # -- the last gate -----------------------------------------------------------------------
    def gate_text(self, texts: Iterable[str]) -> Verdict:
        """The verdict on text about to leave the machine: detectors on each text and on all of
        them joined, folder rules on every path-like word. Anything found blocks the send.

        >>> r = Router(PrivacySettings(sensitive_paths=["hr/**"]))
        >>> r.gate_text(["[1] (hr/review.md p.2)\\nThe review is due."]).reasons
        {'rule:hr/**': 1}
        """
        texts = list(texts)
        c = self.classifier
        found = combine(c.text(t) for t in texts)
        if not found.sensitive and len(texts) > 1:
            found = c.text("\n".join(texts))  # a value split across two messages
        rules: dict[str, int] = {}
        if c.rules.globs:
            for text in texts:
                for m in _WORDS.finditer(text):
                    word = m.group().strip(".:!?")
                    if not _PATHLIKE.search(word):
                        continue
                    rule = c.rules.match(word)
                    if rule is not None:
                        rules[f"rule:{rule}"] = rules.get(f"rule:{rule}", 0) + 1
        return combine([found, Verdict(bool(rules), rules)])


def request_strings(body: bytes) -> list[str]:
    """Every string in a JSON request body (keys and values), decoded: what the gate reads.

    >>> request_strings(b'{"messages": [{"role": "user", "content": "a\\\\u00a0b"}]}')
    ['messages', 'role', 'user', 'content', 'a\\xa0b']
    """
    import json

    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [body.decode("utf-8", "replace")]
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                out.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return out
