"""Test hook for crash-safety tests: kill this process at a named point.

``APPLIANCE_CRASH_AT=name[:n]`` makes the n-th call of ``crash_point(name)`` SIGKILL the
process, so tests can kill a real ingest subprocess at exact moments (mid-file, after a
commit, between writing and renaming the vector file; ``audit-line-written`` between an audit
line and its head, ``audit-head-written`` between the head and the copy outside the index).
Unset (always, for users) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("APPLIANCE_CRASH_AT")
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
