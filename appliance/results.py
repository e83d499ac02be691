"""What each CLI command produces: one result type per command, as JSON and for people.

Every result has ``to_json()`` (what ``--json`` prints: the shapes scripts rely on), a
``render()`` that prints it for a person (through ``appliance.render``), and an ``exit_code``.
``cli.emit`` is the one place that chooses between the two. Results whose JSON is a list of
records printed one per line (``audit show --json``) say so with ``json_lines``.

Left out: computing the results (the library: ingest, store, doctor, evaluate, audit) and the
streamed answer text of ``ask`` (written as it arrives, before its result).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from appliance.answers import Answer
    from appliance.audit import VerifyResult
    from appliance.backends.gguf_info import ModelInfo
    from appliance.conversations import Summary
    from appliance.doctor import Check
    from appliance.evaluate import EvalScore
    from appliance.ingest import IngestReport
    from appliance.privacy.evaluate import Score


class Result(Protocol):
    json_lines: ClassVar[bool]

    @property
    def exit_code(self) -> int: ...

    def to_json(self) -> Any: ...

    def render(self) -> None: ...


class _Result:
    json_lines: ClassVar[bool] = False

    @property
    def exit_code(self) -> int:
        return 0


@dataclass(frozen=True)
class IngestSummary(_Result):
    report: IngestReport

    @property
    def exit_code(self) -> int:
        return 1 if self.report.failed else 0

    def to_json(self) -> dict[str, Any]:
        return self.report.to_json()

    def render(self) -> None:
        from appliance.render import print_ingest_summary

        print_ingest_summary(self.report)


@dataclass(frozen=True)
class IndexStatus(_Result):
    """What ``Store.stats()`` says, and where the index is."""

    files: int
    chunks: int
    sensitive_chunks: int
    embedding_model: str | None
    dimension: int | None
    schema_version: int
    generation: int
    roots: list[str]
    size_bytes: int
    last_ingest: float | None
    index_dir: str
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else the store reports, passed through to the JSON."""

    @classmethod
    def from_stats(cls, stats: dict[str, Any], index_dir: Path) -> IndexStatus:
        known = {f for f in cls.__dataclass_fields__ if f not in ("index_dir", "extra")}
        extra = {k: v for k, v in stats.items() if k not in known}
        return cls(
            **{k: v for k, v in stats.items() if k in known},
            index_dir=str(index_dir),
            extra=extra,
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        extra, index_dir = out.pop("extra"), out.pop("index_dir")
        return {**out, **extra, "index_dir": index_dir}

    def render(self) -> None:
        from appliance.render import print_status

        print_status(self)


@dataclass(frozen=True)
class ModelRow:
    """One GGUF file in ``models/``."""

    name: str
    size_bytes: int
    quantisation: str | None
    context_length: int | None
    chat_template: bool
    default: bool
    error: str | None

    @classmethod
    def from_info(cls, info: ModelInfo, default: Path | None) -> ModelRow:
        is_default = default is not None and info.path.resolve() == default.resolve()
        return cls(
            info.path.name,
            info.size_bytes,
            info.file_type,
            info.context_length,
            info.has_chat_template,
            is_default,
            info.error,
        )


@dataclass(frozen=True)
class ModelList(_Result):
    rows: list[ModelRow]
    models_dir: Path

    @property
    def exit_code(self) -> int:
        return 0 if self.rows else 2

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rows]

    def render(self) -> None:
        from appliance.render import print_models

        print_models(self)


@dataclass(frozen=True)
class DoctorReport(_Result):
    checks: list[Check]

    @property
    def exit_code(self) -> int:
        return 0 if all(c.ok for c in self.checks) else 2

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.checks]

    def render(self) -> None:
        from appliance.render import print_checks

        print_checks(self.checks)


@dataclass(frozen=True)
class ChatList(_Result):
    chats: list[Summary]

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.chats]

    def render(self) -> None:
        from appliance.render import print_chats

        print_chats(self.chats)


@dataclass(frozen=True)
class ChatDeleted(_Result):
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"deleted": self.name}

    def render(self) -> None:
        print(f"deleted conversation {self.name}")


@dataclass(frozen=True)
class ChatState:
    """A saved conversation after a turn: what ``ask --chat NAME --json`` adds."""

    name: str
    turns: int
    local_only: bool


@dataclass(frozen=True)
class AskResult(_Result):
    """A finished answer (its text already streamed for a person), and its conversation."""

    answer: Answer
    chat: ChatState | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.answer.to_json()
        if self.chat is not None:
            out["chat"] = asdict(self.chat)
        return out

    def render(self) -> None:
        from appliance.render import print_answer_footer, print_local_only

        print_answer_footer(self.answer)
        if self.chat is not None and self.chat.local_only:
            print_local_only(self.chat.name)


@dataclass(frozen=True)
class EvalReport(_Result):
    """``appliance.evaluate.evaluate``'s result (per-question rows are left out of the JSON)."""

    result: EvalScore

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json(per_question=False)

    def render(self) -> None:
        from appliance.render import print_eval

        print_eval(self.result)


@dataclass(frozen=True)
class PrivacyReport(_Result):
    """``appliance.privacy.evaluate``'s precision, recall and misjudged texts."""

    result: Score

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json()

    def render(self) -> None:
        from appliance.render import print_privacy_eval

        print_privacy_eval(self.result)


@dataclass(frozen=True)
class AuditRecords(_Result):
    """The last audit lines, oldest first (JSON: one record per line)."""

    json_lines: ClassVar[bool] = True
    records: list[dict[str, Any]]

    def to_json(self) -> list[dict[str, Any]]:
        return self.records

    def render(self) -> None:
        from appliance.render import print_audit

        print_audit(self.records)


@dataclass(frozen=True)
class AuditCheck(_Result):
    """What ``AuditLog.verify`` found."""

    result: VerifyResult

    @property
    def exit_code(self) -> int:
        return 0 if self.result.ok else 1

    def to_json(self) -> dict[str, Any]:
        return dict(self.result.__dict__)

    def render(self) -> None:
        from appliance.render import print_verify

        print_verify(self.result)
