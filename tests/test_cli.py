"""The CLI's contract: exit statuses, JSON shapes, and clear one-line errors (no tracebacks).
In-process calls of ``main`` for paths that load no model (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance import egress
from appliance.audit import AuditLog
from appliance.cli import main

from .conftest import ROOT


@pytest.fixture(autouse=True)
def _no_leftover_guard():  # type: ignore[no-untyped-def]
    yield
    egress.uninstall()  # main() installs the guard; keep other tests' sockets as they were


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("ingest", "ask", "chat", "status", "models", "doctor", "eval", "audit"):
        assert name in out


def test_missing_index_is_a_clear_usage_error(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, "status", "--index", str(tmp_path / "none"))
    assert code == 2 and "no index" in err and "Traceback" not in err


def test_missing_path_exits_2(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, "ingest", str(tmp_path / "nope"), "--index", str(tmp_path / "i"))
    assert code == 2 and "no such file or folder" in err


@pytest.mark.parametrize(
    "toml", ["[llm\nmodel = 1", "[llm]\nn_gpu_layerz = 3\n", "[retrieval]\nk = 0\n"]
)
def test_bad_config_is_reported(capsys, tmp_path: Path, toml: str) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(toml)
    code, _, err = run(capsys, "status", "--config", str(cfg), "--index", str(tmp_path))
    assert code == 2 and err.startswith("appliance: error:") and "Traceback" not in err


def test_failed_files_exit_1_with_reasons_in_json(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "junk.pdf").write_bytes(b"\x00garbage" * 100)
    (docs / "empty.txt").write_bytes(b"")
    code, out, _ = run(capsys, "ingest", str(docs), "--index", str(tmp_path / "i"), "--json")
    assert code == 1
    result = json.loads(out)
    assert {f["path"] for f in result["failed"]} == {"junk.pdf", "empty.txt"}
    assert result["added"] == 0 and result["chunks"] == 0


def test_eval_file_errors_exit_2(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "q", "file": "a"}\n{oops\n')
    code, _, err = run(capsys, "eval", str(bad), "--index", str(tmp_path))
    assert code == 2 and ":2:" in err


def test_audit_verify_exit_status(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(tmp_path)
    for i in range(3):
        log.append({"mode": "offline", "decision": "local", "n": i})
    code, out, _ = run(capsys, "audit", "verify", "--index", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    code, out, _ = run(capsys, "audit", "verify", "--index", str(tmp_path))
    assert code == 1 and "TAMPERED" in out


def test_privacy_eval_and_models_json(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "privacy-eval", "--json")
    result = json.loads(out)
    assert code == 0 and result["recall"] == 1.0 and "false_negatives" in result
    code, out, _ = run(capsys, "models", "--json", "--models", str(ROOT / "models"))
    rows = json.loads(out)
    assert code == 0 and any(r["default"] and r["chat_template"] for r in rows)


def test_status_json_keeps_the_store_fields_and_adds_the_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from appliance.results import IndexStatus

    stats = {
        "files": 2, "chunks": 9, "sensitive_chunks": 1, "embedding_model": "m", "dimension": 4,
        "schema_version": 3, "generation": 5, "roots": ["/docs"], "size_bytes": 2_500_000,
        "last_ingest": None, "new_field": [1],
    }  # fmt: skip
    status = IndexStatus.from_stats(stats, tmp_path)
    assert status.to_json() == {**stats, "index_dir": str(tmp_path)}
    assert list(status.to_json())[-1] == "index_dir"
    status.render()
    out = capsys.readouterr().out
    assert "9 (1 sensitive)" in out and "2.5 MB" in out and "never" in out


def test_chats_json_and_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from appliance.conversations import Conversations
    from appliance.prompting import Turn

    index = tmp_path / "index"
    code, out, _ = run(capsys, "chats", "--index", str(index), "--json")
    assert code == 0 and json.loads(out) == []
    chats = Conversations(index)
    conversation = chats.load("rent")
    conversation.add(Turn("When is rent due?", "On the 1st [1].", "local", True))
    chats.save(conversation)
    code, out, _ = run(capsys, "chats", "--index", str(index), "--json")
    (row,) = json.loads(out)
    assert row["name"] == "rent" and row["turns"] == 1 and row["local_only"] is True
    assert set(row) == {"name", "updated", "turns", "local_only", "first_question"}
    code, out, _ = run(capsys, "chats", "--index", str(index))
    assert code == 0 and "rent" in out and "local only" in out and "When is rent due?" in out
    code, out, _ = run(capsys, "chats", "--delete", "rent", "--index", str(index), "--json")
    assert code == 0 and json.loads(out) == {"deleted": "rent"}


def test_audit_show_json_is_one_record_per_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = AuditLog(tmp_path)
    for i in range(3):
        log.append({"event": "answer", "decision": "local", "reasons": [f"r{i}"]})
    code, out, _ = run(capsys, "audit", "show", "-n", "2", "--index", str(tmp_path), "--json")
    lines = out.splitlines()
    assert code == 0 and [json.loads(x)["reasons"] for x in lines] == [["r1"], ["r2"]]
    code, out, _ = run(capsys, "audit", "show", "--index", str(tmp_path))
    assert code == 0 and "r0" in out and "r2" in out
