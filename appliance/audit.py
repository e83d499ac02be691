"""The audit log: one hash-chained JSON line per question, in ``index/audit.jsonl``.

Each record says when, in which mode, what was decided and why (detector and rule names with
counts, never the values), which backend and model answered, and the sha256 and byte size of
exactly what was sent off the machine (nothing for local answers). Every line carries the hash
of the line before it and its own hash, and ``audit.head`` holds the count and last hash, so
``verify`` detects an edited, removed, inserted, reordered or truncated log. Appends are
serialised with a file lock. The question text itself is never written, only its hash.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    lines: int
    problem: str | None = None


class AuditLog:
    def __init__(self, index_dir: Path) -> None:
        self.path = index_dir / LOG_NAME
        self.head = index_dir / HEAD_NAME

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Add one record (``time``, ``seq``, ``prev`` and ``hash`` are filled in)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                seq, prev = self._read_head()
                record = {
                    "seq": seq + 1,
                    "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                    **entry,
                    "prev": prev,
                }
                record["hash"] = _digest(record)
                fh.write(json.dumps(record, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
                tmp = self.head.with_suffix(".tmp")
                tmp.write_text(f"{record['seq']} {record['hash']}\n")
                os.replace(tmp, self.head)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return record

    def _read_head(self) -> tuple[int, str]:
        try:
            seq, last = self.head.read_text().split()
            return int(seq), last
        except (OSError, ValueError):
            # No head yet (first line) or lost: continue from the log itself.
            records = list(self.records())
            return (records[-1]["seq"], records[-1]["hash"]) if records else (0, GENESIS)

    def records(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"_malformed": line})
        return out

    def verify(self) -> VerifyResult:
        prev, seq = GENESIS, 0
        records = self.records()
        for i, rec in enumerate(records, 1):
            if "_malformed" in rec:
                return VerifyResult(False, i, f"line {i} is not valid JSON")
            if rec.get("prev") != prev:
                return VerifyResult(
                    False, i, f"line {i} does not follow line {i - 1} (removed, inserted or moved)"
                )
            if rec.get("hash") != _digest(rec):
                return VerifyResult(False, i, f"line {i} was edited (its hash does not match)")
            if rec.get("seq") != seq + 1:
                return VerifyResult(False, i, f"line {i} has sequence {rec.get('seq')}")
            prev, seq = rec["hash"], rec["seq"]
        try:
            head_seq, head_hash = self.head.read_text().split()
        except (OSError, ValueError):
            if records:
                return VerifyResult(False, len(records), f"{HEAD_NAME} is missing")
            return VerifyResult(True, 0)
        if int(head_seq) != seq or head_hash != prev:
            return VerifyResult(
                False,
                len(records),
                f"the log ends at line {seq} but {int(head_seq)} were written (lines removed "
                "from the end)",
            )
        return VerifyResult(True, len(records))
