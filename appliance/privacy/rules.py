"""Folder and file-name rules: "everything matching these globs is sensitive".

Globs are matched against a path relative to the ingested root, ``/``-separated, one path
segment at a time, in the spirit of ``.gitignore``:

- a pattern without a slash (``*.eml``, ``payroll*``) matches a file or folder name at any
  depth; a matching folder makes everything under it match (``payroll*`` covers
  ``2024/payroll_q1/june.pdf``);
- a pattern with a slash before its last character is anchored at the root
  (``hr/reviews/*.docx``, ``/hr``, ``./hr``); a matching folder again covers everything under
  it, so ``hr/**`` and ``/hr`` mean "everything under the top-level hr/", while ``hr`` and
  ``hr/`` mean "everything under any folder named hr";
- ``**`` as a whole segment matches any number of folders, none included (``**/payroll*``);
  ``*``, ``?`` and ``[...]`` never cross a ``/``.

Matching ignores case, so ``HR/**`` also catches ``hr/``, and paths are folded like text before
detection (full-width letters, Cyrillic look-alikes, invisible characters): for a privacy rule a
match too many is the safe mistake. Negated patterns (``!keep.txt``) are not supported;
they are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache

from appliance.config import PrivacySettings
from appliance.errors import ConfigError
from appliance.privacy.normalize import normalize


def _segments(path: str) -> list[str]:
    parts = path.replace("\\", "/").strip().split("/")
    return [p for p in parts if p not in ("", ".")]


@lru_cache(maxsize=4096)
def _match_from(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether ``pattern`` matches ``parts`` or a leading run of it (a folder holding it).

    >>> _match_from(("hr", "**"), ("hr", "a", "b.txt")), _match_from(("hr",), ("hrx", "b"))
    (True, False)
    """
    if not pattern:
        return True  # the pattern named a folder above the file
    if not parts:
        return all(p == "**" for p in pattern)
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_from(rest, parts[i:]) for i in range(len(parts) + 1))
    return fnmatchcase(parts[0], head) and _match_from(rest, parts[1:])


@dataclass(frozen=True)
class PathRules:
    """Compiled globs; ``match(relpath)`` returns the first glob that covers the path.

    >>> PathRules(["hr/**", "*.eml"]).match("mail/2024/offer.EML")
    '*.eml'
    """

    globs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for glob in self.globs:
            if not _segments(glob):
                raise ConfigError(f"privacy.sensitive_paths has an empty pattern: {glob!r}")
            if glob.startswith("!"):
                raise ConfigError(
                    f"privacy.sensitive_paths: negated patterns are not supported: {glob!r}",
                    hint="list only what is sensitive; everything else is not",
                )

    @classmethod
    def from_settings(cls, settings: PrivacySettings) -> PathRules:
        return cls(list(settings.sensitive_paths))

    def match(self, relpath: str) -> str | None:
        return self._match(relpath, anywhere=False)

    def match_any_tail(self, path: str) -> str | None:
        """Like ``match``, with every folder above the file taken as a possible root, so an
        anchored rule matches wherever its folder sits in an absolute path.

        >>> PathRules(["hr/**"]).match_any_tail("/home/ana/docs/hr/2024/review.md")
        'hr/**'
        """
        return self._match(path, anywhere=True)

    def _match(self, path: str, *, anywhere: bool) -> str | None:
        # Folded like text before detection: a folder "һr" with a Cyrillic "һ" is still "hr".
        parts = tuple(s.lower() for s in _segments(normalize(path).text))
        if not parts:
            return None
        for glob in self.globs:
            segments = tuple(s.lower() for s in _segments(glob))
            anchored = "/" in glob.strip().rstrip("/") and not anywhere
            if anchored:
                if _match_from(segments, parts):
                    return glob
            elif any(_match_from(segments, parts[i:]) for i in range(len(parts))):
                return glob
        return None
