"""The audit log cannot lie: every line is authenticated with a key kept outside the index, so
someone who can edit the index folder cannot forge, cut or delete the log undetected; appends
survive crashes (a real process SIGKILLed at a crash point); garbage in any audit file is a clear
verify failure through the real CLI, never a traceback; what is sent to the cloud is counted per
attempt, retries and lost responses included (a loopback server that hangs up unanswered)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance import egress
from appliance.assistant import Assistant
from appliance.audit import KEY_ENV, AuditLog, VerifyResult, key_path
from appliance.backends.fake import FakeBackend
from appliance.cli import main
from appliance.config import load_settings
from appliance.errors import ModelError
from appliance.ingest import ingest

from .conftest import ROOT, FakeEmbedder
from .fake_anthropic import FakeAnthropicServer, fake_anthropic  # noqa: F401


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key = tmp_path / "config" / "appliance" / "audit.key"
    monkeypatch.setenv(KEY_ENV, str(key))
    return key


@pytest.fixture
def log(tmp_path: Path, key_file: Path) -> AuditLog:
    return AuditLog(tmp_path / "index")


def _fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.append({"mode": "hybrid", "decision": "cloud" if i % 2 else "local", "n": i})


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(line + "\n" for line in lines))


def _bad(result: VerifyResult, kind: str, line: int | None = None) -> str:
    assert not result.ok, result
    assert result.kind == kind, result
    if line is not None:
        assert result.line == line, result
    assert result.problem
    return result.problem


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    finally:
        egress.uninstall()  # main() installs the guard
    out, err = capsys.readouterr()
    return code, out, err


# -- the key and file modes -------------------------------------------------------------------
def test_key_outside_the_index_private_and_made_once(log: AuditLog, key_file: Path) -> None:
    _fill(log, 3)
    assert key_file.is_file() and len(key_file.read_bytes()) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert not key_file.resolve().is_relative_to(log.index_dir.resolve())
    for path in (log.path, log.head, log.state_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert log.state_file.parent.parent == key_file.parent
    key = key_file.read_bytes()
    _fill(AuditLog(log.index_dir), 2)
    assert key_file.read_bytes() == key
    records = log.records()
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert all("mac" in r and "hash" not in r for r in records)
    result = log.verify()
    assert result.ok and result.lines == 5 and result.written == 5 and not result.notes


def test_default_key_location_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert key_path() == tmp_path / "xdg" / "appliance" / "audit.key"
    (tmp_path / "xdg" / "appliance").mkdir(parents=True, mode=0o755)
    (tmp_path / "xdg" / "appliance").chmod(0o755)  # an existing, readable config folder
    log = AuditLog(tmp_path / "index")
    log.append({"mode": "offline", "decision": "local"})
    assert log.key_file == key_path() and log.verify().ok
    assert stat.S_IMODE(key_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path().parent.stat().st_mode) == 0o700  # tightened
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert key_path() == tmp_path / "home" / ".config" / "appliance" / "audit.key"


def test_question_hash_is_keyed(
    log: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin = "4711"
    keyed = log.question_hmac(pin)
    assert keyed != hashlib.sha256(pin.encode()).hexdigest()
    assert keyed == AuditLog(log.index_dir).question_hmac(pin)  # same key, same hash
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "other" / "audit.key"))
    assert AuditLog(log.index_dir).question_hmac(pin) != keyed  # no key, no brute force


# -- forging and editing ----------------------------------------------------------------------
def _rechain_plain(lines: list[str], start: int) -> list[str]:
    """What an attacker without the key does: edit, then recompute every hash from ``start``."""
    out = lines[:start]
    prev = json.loads(lines[start - 1])["mac"] if start else "0" * 64
    for line in lines[start:]:
        rec = json.loads(line)
        rec["decision"] = "local"
        rec["prev"] = prev
        body = {k: v for k, v in rec.items() if k != "mac"}
        rec["mac"] = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        prev = rec["mac"]
        out.append(json.dumps(rec, sort_keys=True))
    return out


def test_cloud_rewritten_to_local_with_recomputed_chain_fails(log: AuditLog) -> None:
    _fill(log)
    lines = _lines(log)
    assert json.loads(lines[1])["decision"] == "cloud"
    _write(log, _rechain_plain(lines, 1))
    last = json.loads(_lines(log)[-1])
    log.head.write_text(json.dumps({"count": 5, "mac": last["mac"], "auth": last["mac"]}))
    problem = _bad(log.verify(), "forged", line=2)
    assert "line 2" in problem and "without the key" in problem


def test_a_line_made_with_another_key_is_named_so(log: AuditLog, tmp_path: Path) -> None:
    _fill(log, 2)
    intruder = AuditLog(tmp_path / "elsewhere", key_file=tmp_path / "intruder" / "audit.key")
    intruder.append({"mode": "offline", "decision": "local"})
    lines = _lines(log)
    rec = json.loads(intruder.path.read_text())
    rec["seq"], rec["prev"] = 2, json.loads(lines[0])["mac"]
    _write(log, [lines[0], json.dumps(rec, sort_keys=True)])
    problem = _bad(log.verify(), "forged", line=2)
    assert "was the key file replaced" in problem


@pytest.mark.parametrize(
    ("how", "kind", "line"),
    [
        ("edit", "forged", 3),
        ("whitespace", "edited", 3),
        ("duplicate-field", "garbage", 3),
        ("remove", "removed", 3),
        ("reorder", "reordered", 2),
        ("duplicate", "reordered", 4),
        ("insert-garbage", "garbage", 3),
        ("insert-foreign", "inserted", 3),
        ("legacy", "unauthenticated", 1),
    ],
)
def test_first_bad_line_and_kind_of_damage(log: AuditLog, how: str, kind: str, line: int) -> None:
    _fill(log)
    lines = _lines(log)
    if how == "edit":
        rec = json.loads(lines[2])
        rec["decision"] = "cloud" if rec["decision"] == "local" else "local"
        lines[2] = json.dumps(rec, sort_keys=True)
    elif how == "whitespace":
        lines[2] = lines[2].replace(", ", ",")
    elif how == "duplicate-field":
        lines[2] = lines[2][:-1] + ', "decision": "local"}'
    elif how == "remove":
        del lines[2]
    elif how == "reorder":
        lines[1], lines[3] = lines[3], lines[1]
    elif how == "duplicate":
        lines.insert(3, lines[1])
    elif how == "insert-garbage":
        lines.insert(2, "rm -rf / # not a record")
    elif how == "insert-foreign":  # an authentic line 3 of another index (same key)
        other = AuditLog(log.index_dir.parent / "other-index")
        _fill(other, 3)
        lines[2] = _lines(other)[2]
    elif how == "legacy":
        rec = json.loads(lines[0])
        del rec["mac"]
        rec["hash"] = "ab" * 32
        lines[0] = json.dumps(rec, sort_keys=True)
    _write(log, lines)
    problem = _bad(log.verify(), kind, line=line)
    assert f"line {line}" in problem


# -- truncation and deletion ------------------------------------------------------------------
def test_truncation_is_detected(log: AuditLog) -> None:
    _fill(log)
    _write(log, _lines(log)[:3])
    problem = _bad(log.verify(), "truncated")
    assert "the log has 3 lines but 5 were written" in problem


def test_truncation_with_an_old_head_put_back_is_detected(log: AuditLog) -> None:
    _fill(log, 3)
    old_head = log.head.read_bytes()
    _fill(log, 2)
    _write(log, _lines(log)[:3])
    log.head.write_bytes(old_head)  # authentic, but stale
    problem = _bad(log.verify(), "truncated")
    assert "3 lines but 5 were written" in problem and "outside the index" in problem


def test_truncation_with_the_head_rewritten_without_the_key(log: AuditLog) -> None:
    _fill(log)
    lines = _lines(log)[:3]
    _write(log, lines)
    mac = json.loads(lines[-1])["mac"]
    log.head.write_text(f"3 {mac}\n")  # the old plain format
    assert "3 lines but 5 were written" in _bad(log.verify(), "truncated")
    log.state_file.unlink()  # without the outside copy, the head alone still must authenticate
    assert "old unauthenticated format" in _bad(log.verify(), "garbage")


def test_deleting_both_files_is_detected(log: AuditLog) -> None:
    _fill(log)
    log.path.unlink()
    log.head.unlink()
    problem = _bad(log.verify(), "missing")
    assert "audit.jsonl and audit.head are missing" in problem and "5 lines" in problem
    log.append({"mode": "offline", "decision": "local"})  # not healed by the next question
    problem = _bad(log.verify(), "truncated", line=1)
    assert "records 1–5 are missing" in problem
    log.append({"mode": "offline", "decision": "local"})
    assert _bad(log.verify(), "truncated", line=1)  # and not by any later one


def test_deleting_the_head_and_the_last_lines_is_not_healed_by_the_next_append(
    log: AuditLog,
) -> None:
    _fill(log)
    _write(log, _lines(log)[:3])
    log.head.unlink()
    assert "3 lines but 5 were written" in _bad(log.verify(), "truncated")
    record = log.append({"mode": "offline", "decision": "local"})
    assert record["seq"] == 6  # numbering continues from what was written
    problem = _bad(log.verify(), "truncated", line=4)
    assert "records 4–5 are missing" in problem


def test_deleting_only_the_head_loses_nothing_but_is_reported(log: AuditLog) -> None:
    _fill(log)
    log.head.unlink()
    problem = _bad(log.verify(), "missing")
    assert "none were lost" in problem
    log.append({"mode": "offline", "decision": "local"})
    assert log.verify().ok


def test_deleting_the_key_is_never_intact(log: AuditLog, key_file: Path) -> None:
    _fill(log)
    key_file.unlink()
    assert "audit key" in _bad(AuditLog(log.index_dir).verify(), "key")
    fresh = AuditLog(log.index_dir)
    fresh.append({"mode": "offline", "decision": "local"})  # a new key is made
    problem = _bad(fresh.verify(), "forged", line=1)
    assert "was the key file replaced" in problem


def test_without_an_outside_copy_verify_says_so(log: AuditLog, tmp_path: Path) -> None:
    _fill(log, 3)
    moved = tmp_path / "moved-index"
    shutil.copytree(log.index_dir, moved)
    result = AuditLog(moved).verify()
    assert result.ok and any("no record of this log outside the index" in n for n in result.notes)


# -- crashes: torn lines and interrupted appends ----------------------------------------------
def test_torn_last_line_is_set_aside_and_the_next_record_starts_fresh(log: AuditLog) -> None:
    _fill(log, 3)
    torn = b'{"decision": "cloud", "key_id": "12'
    with log.path.open("ab") as fh:
        fh.write(torn)
    result = log.verify()
    assert result.ok and result.lines == 3, result
    assert any("line 4 is torn" in n for n in result.notes)
    record = log.append({"mode": "offline", "decision": "local"})
    assert record["seq"] == 4
    lines = _lines(log)
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    aside = list(log.index_dir.glob("audit.jsonl.torn-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == torn
    assert stat.S_IMODE(aside[0].stat().st_mode) == 0o600
    result = log.verify()
    assert result.ok and result.lines == 4
    assert any("torn line set aside" in n for n in result.notes)


def test_a_committed_line_cut_in_half_is_truncation(log: AuditLog) -> None:
    _fill(log, 3)
    data = log.path.read_bytes()
    log.path.write_bytes(data[: len(data) - 40])
    problem = _bad(log.verify(), "truncated", line=3)
    assert "cut off" in problem
    record = log.append({"mode": "offline", "decision": "local"})
    assert record["seq"] == 4
    assert "record 3 is missing" in _bad(log.verify(), "truncated", line=3)


def _append_in_subprocess(index: Path, n: int, crash: str | None) -> int:
    env = dict(os.environ)
    env.pop("APPLIANCE_CRASH_AT", None)
    if crash:
        env["APPLIANCE_CRASH_AT"] = crash
    code = (
        "import sys; from pathlib import Path; from appliance.audit import AuditLog\n"
        "log = AuditLog(Path(sys.argv[1]))\n"
        "for i in range(int(sys.argv[2])): log.append({'mode': 'offline', 'n': i})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(index), str(n)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    return proc.returncode


@pytest.mark.parametrize(
    ("crash", "behind"),
    [
        ("audit-line-written:3", "the head is one line behind"),
        ("audit-head-written:3", "the record outside the index is one line behind"),
        ("audit-line-written:1", "the first line was written but not the head"),
    ],
)
def test_crash_between_line_and_head_is_an_interrupted_append(
    log: AuditLog, crash: str, behind: str
) -> None:
    n = int(crash.rsplit(":", 1)[1])
    assert _append_in_subprocess(log.index_dir, 5, crash) == -9  # SIGKILLed at that point
    assert len(_lines(log)) == n
    result = log.verify()
    assert result.ok, result
    assert any("interrupted append" in note and behind in note for note in result.notes), result
    assert _append_in_subprocess(log.index_dir, 1, None) == 0  # completes it
    result = log.verify()
    assert result.ok and result.lines == n + 1 and result.written == n + 1
    assert not result.notes
    assert [r["seq"] for r in log.records()] == list(range(1, n + 2))


def test_concurrent_appends_are_serialised(log: AuditLog) -> None:
    def worker() -> None:
        mine = AuditLog(log.index_dir)
        for i in range(10):
            mine.append({"mode": "offline", "n": i})

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _append_in_subprocess(log.index_dir, 10, None) == 0
    result = log.verify()
    assert result.ok and result.lines == 50
    assert [r["seq"] for r in log.records()] == list(range(1, 51))


def test_a_log_from_before_audit_keys_is_kept_aside(log: AuditLog) -> None:
    log.index_dir.mkdir(parents=True)
    old = json.dumps({"decision": "cloud", "hash": "a" * 64, "prev": "0" * 64, "seq": 1}) + "\n"
    log.path.write_text(old)
    log.head.write_text(f"1 {'a' * 64}\n")
    assert "written before audit keys" in _bad(log.verify(), "unauthenticated", line=1)
    log.append({"mode": "offline", "decision": "local"})
    result = log.verify()
    assert result.ok and result.lines == 1
    aside = list(log.index_dir.glob("audit.jsonl.legacy-*"))
    assert len(aside) == 1 and aside[0].read_text() == old


# -- garbage: a clear failure through the CLI, never a traceback ------------------------------
GARBAGE = [
    b"",
    b"\x00\xff\xfe garbage",
    b"{}",
    b"[1, 2]",
    b"null",
    b'{"count": -3, "mac": "00", "auth": "11"}',
    b'{"count": "5", "mac": null}',
    b"[" * 100_000,
    b"7 deadbeef\n",
    b"x" * 10_000,
]


@pytest.mark.parametrize("junk", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_head_fails_cleanly(
    capsys: pytest.CaptureFixture[str], log: AuditLog, junk: bytes
) -> None:
    _fill(log, 3)
    log.head.write_bytes(junk)
    _bad(log.verify(), "garbage")
    code, out, err = cli(capsys, "audit", "verify", "--index", str(log.index_dir))
    assert code == 1 and "TAMPERED (garbage)" in out and "audit.head" in out
    assert "Traceback" not in out + err


@pytest.mark.parametrize("junk", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_lines_fail_cleanly(
    capsys: pytest.CaptureFixture[str], log: AuditLog, junk: bytes
) -> None:
    _fill(log, 3)
    data = log.path.read_bytes().split(b"\n")
    data.insert(1, junk.replace(b"\n", b""))
    log.path.write_bytes(b"\n".join(data))
    result = log.verify()
    assert not result.ok and result.line == 2 and result.kind in ("garbage", "unauthenticated")
    code, out, err = cli(capsys, "audit", "verify", "--index", str(log.index_dir), "--json")
    assert code == 1 and json.loads(out)["line"] == 2
    assert "Traceback" not in out + err
    code, out, err = cli(capsys, "audit", "show", "--index", str(log.index_dir))
    assert code == 0 and "Traceback" not in out + err
    log.append({"mode": "offline", "decision": "local"})  # appending still works
    assert log.verify().line == 2


def test_a_whole_file_of_garbage_fails_cleanly(
    capsys: pytest.CaptureFixture[str], log: AuditLog
) -> None:
    log.index_dir.mkdir(parents=True)
    log.path.write_bytes(os.urandom(5000))
    log.head.write_bytes(os.urandom(100))
    code, out, err = cli(capsys, "audit", "verify", "--index", str(log.index_dir))
    assert code == 1 and "TAMPERED" in out and "Traceback" not in out + err


def test_garbage_outside_record_and_key(
    capsys: pytest.CaptureFixture[str], log: AuditLog, key_file: Path
) -> None:
    _fill(log, 3)
    log.state_file.write_bytes(b"\x00 nonsense")
    assert "outside the index" in _bad(log.verify(), "garbage")
    key_file.write_bytes(b"too short")
    assert "damaged" in _bad(AuditLog(log.index_dir).verify(), "key")
    code, out, err = cli(capsys, "audit", "verify", "--index", str(log.index_dir))
    assert code == 1 and "TAMPERED (key)" in out and "Traceback" not in out + err


def test_cli_verify_reports_notes_and_json(
    capsys: pytest.CaptureFixture[str], log: AuditLog
) -> None:
    _fill(log, 2)
    code, out, _ = cli(capsys, "audit", "verify", "--index", str(log.index_dir))
    assert code == 0 and "intact: 2 lines" in out
    with log.path.open("ab") as fh:
        fh.write(b'{"partial')
    code, out, _ = cli(capsys, "audit", "verify", "--index", str(log.index_dir), "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["written"] == 2
    assert any("torn" in note for note in result["notes"])
    code, out, _ = cli(capsys, "audit", "verify", "--index", str(log.index_dir))
    assert code == 0 and "note: line 3 is torn" in out


# -- what was sent: per attempt, before sending -----------------------------------------------
@pytest.fixture
def hybrid(
    tmp_path: Path, key_file: Path, fake_anthropic: FakeAnthropicServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
):  # type: ignore[no-untyped-def]  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_anthropic.api_key)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "garden.md").write_text(
        "# Garden\n\nThe herb garden on the roof terrace is watered every Tuesday by volunteers."
    )
    settings = load_settings(
        index_dir=tmp_path / "index",
        privacy={"mode": "hybrid", "anthropic_base_url": fake_anthropic.url},
        retrieval={"min_score": 0.3, "k": 2},
        ingest={"chunk_tokens": 60, "chunk_overlap": 0},
    )
    egress.install()
    try:
        ingest([docs], settings, embedder=FakeEmbedder())
        local = FakeBackend(["Answered on this machine."] * 5)
        yield Assistant(settings, embedder=FakeEmbedder(), local_backend=local), fake_anthropic
    finally:
        egress.uninstall()


QUESTION = "When is the herb garden on the roof terrace watered?"


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_lost_responses_and_retries_are_all_counted(hybrid) -> None:  # type: ignore[no-untyped-def]
    assistant, server = hybrid
    server.drop_connections = 99  # every request arrives, no response ever comes back
    answer = assistant.ask(QUESTION)
    assert answer.route == "cloud", answer.reasons
    with pytest.raises(ModelError):
        answer.read()
    assert len(server.requests) == 3  # max_retries=2: the body went out three times
    log = AuditLog(assistant.settings.index_dir)
    record = log.records()[-1]
    sent = record["sent"]
    bodies = [r.body for r in server.requests]
    assert sent["attempts"] == 3 and sent["answered"] is False
    assert sent["bytes"] == len(bodies[-1]) > 0 and sent["sha256"] == _sha(bodies[-1])
    assert sent["total_bytes"] == sum(len(b) for b in bodies)
    assert sent["per_attempt"] == [{"bytes": len(b), "sha256": _sha(b)} for b in bodies]
    assert record["question_hmac"] == log.question_hmac(QUESTION)
    assert record["question_hmac"] != _sha(QUESTION.encode()) and "question_sha256" not in record
    assert log.verify().ok


def test_a_retry_that_gets_through_counts_both_attempts(hybrid) -> None:  # type: ignore[no-untyped-def]
    assistant, server = hybrid
    server.drop_connections = 1
    answer = assistant.ask(QUESTION)
    assert answer.read() == server.reply
    sent = AuditLog(assistant.settings.index_dir).records()[-1]["sent"]
    bodies = [r.body for r in server.requests]
    assert len(bodies) == 2 and sent["attempts"] == 2 and sent["answered"] is True
    assert sent["total_bytes"] == len(bodies[0]) + len(bodies[1])
    assert sent["sha256"] == _sha(bodies[-1]) and sent["bytes"] == len(bodies[-1])


def test_audit_show_prints_attempts(capsys: pytest.CaptureFixture[str], log: AuditLog) -> None:
    sent = {"bytes": 812, "sha256": "0" * 64, "attempts": 3, "total_bytes": 2436,
            "per_attempt": [], "answered": False}  # fmt: skip
    log.append({"mode": "hybrid", "decision": "cloud", "sent": sent, "reasons": ["ok"]})
    code, out, _ = cli(capsys, "audit", "show", "--index", str(log.index_dir))
    assert code == 0 and "812 B ×3" in out and "no reply" in out
