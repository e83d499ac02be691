"""The one privacy classifier: ingest labels, the router and the last gate all ask it.

``Classifier(settings)`` judges three kinds of thing, always the same way:

- **text** (``text``/``findings``): the detectors, on the folded text (see ``normalize``), plus
  the user's terms and patterns;
- **a file** (``file``): the folder rules, matched against the path as stored and against
  every tail of the file's absolute path and of its real path (symlinks resolved), so ``hr/**``
  covers ``hr/review.md`` whether ``docs/`` or ``docs/hr`` or the single file was ingested, and
  a link ``public/notes.md -> ../hr/review.md`` is judged by its target; and the detectors on
  the file's name as stored (a file named after a person's SSN is sensitive whatever it says);
- **a page before chunking** (``section_findings`` + ``label_chunk``): a page or section is
  scanned once, whole, and every chunk that overlaps a finding carries its label. A value cut in
  two by a chunk boundary, or the middle of a private key block that holds neither its BEGIN nor
  its END line, is labelled in every chunk it touches.

Matching every tail of the absolute path over-matches by design: with ``hr/**`` a home folder
named ``hr`` makes everything in it sensitive. For a privacy rule a match too many is the safe
mistake. Routing on verdicts is the router's job; this module only judges.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from appliance.config import PrivacySettings
from appliance.privacy.detectors import Detector, Finding
from appliance.privacy.rules import PathRules
from appliance.privacy.verdict import Verdict, combine

# File names use "_", "-" and "." where prose uses spaces: "Maria_Lopez_SSN_536-90-4399.md".
_NAME_SEPARATORS = re.compile(r"[_/\\]+|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


@dataclass
class FileVerdict:
    """The verdict on a file as a whole, and the paths that were judged (for messages)."""

    verdict: Verdict
    paths: list[str] = field(default_factory=list)


class Classifier:
    """Detectors and folder rules from the privacy settings, compiled once; thread-safe."""

    def __init__(self, privacy: PrivacySettings) -> None:
        self.privacy = privacy
        self.detector = Detector.from_settings(privacy)
        self.rules = PathRules(list(privacy.sensitive_paths))

    # -- text ----------------------------------------------------------------------------------
    def findings(self, text: str) -> list[Finding]:
        return self.detector.scan(text)

    def text(self, text: str) -> Verdict:
        """The verdict on a text.

        >>> Classifier(PrivacySettings()).text("card 4111\\u202f1111\\u202f1111\\u202f1111").reasons
        {'card': 1}
        """
        return Verdict.from_findings(self.detector.scan(text))

    # -- files ---------------------------------------------------------------------------------
    def rule_for(self, stored: str, absolute: str | None = None) -> str | None:
        """The first folder rule that covers the file, by any of its paths (None: none does).

        >>> c = Classifier(PrivacySettings(sensitive_paths=["hr/**"]))
        >>> c.rule_for("review.md", "/home/ana/docs/hr/review.md")
        'hr/**'
        """
        if not self.rules.globs:
            return None
        rule = self.rules.match(stored)
        if rule is not None or absolute is None:
            return rule
        candidates = [absolute]
        try:
            real = os.path.realpath(absolute)
        except (OSError, ValueError):
            real = absolute
        if real != absolute:
            candidates.append(real)
        for path in candidates:
            rule = self.rules.match_any_tail(path)
            if rule is not None:
                return rule
        return None

    def name(self, stored: str) -> Verdict:
        """The detectors on a file's name as stored, as written and with its separators spaced;
        reasons are prefixed ``name:``.

        >>> Classifier(PrivacySettings()).name("hr/Maria_Lopez_SSN_536-90-4399.md").reasons
        {'name:us_ssn': 1}
        """
        found = self.detector.scan(stored)
        if not found:
            found = self.detector.scan(_NAME_SEPARATORS.sub(" ", stored))
        return Verdict.from_findings(Finding(f"name:{f.detector}", f.start, f.end) for f in found)

    def file(self, stored: str, absolute: str | None = None) -> Verdict:
        """The verdict on a file as a whole: its folder rule, and what its name reveals."""
        parts = [self.name(stored)]
        rule = self.rule_for(stored, absolute)
        if rule is not None:
            parts.append(Verdict(True, {f"rule:{rule}": 1}))
        return combine(parts)

    # -- pages before chunking ------------------------------------------------------------------
    def section_findings(self, text: str) -> list[Finding]:
        """Everything found in a whole page or section, to label its chunks by overlap."""
        return self.detector.scan(text)

    @staticmethod
    def overlapping(findings: Sequence[Finding], start: int, end: int) -> Verdict:
        """The verdict on ``text[start:end]`` from findings made on the whole ``text``.

        >>> f = [Finding("card", 10, 29)]
        >>> Classifier.overlapping(f, 0, 15).reasons, Classifier.overlapping(f, 29, 40).sensitive
        ({'card': 1}, False)
        """
        return Verdict.from_findings(f for f in findings if f.start < end and start < f.end)

    def combine(self, verdicts: Iterable[Verdict]) -> Verdict:
        return combine(verdicts)
