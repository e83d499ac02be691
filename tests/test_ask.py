"""Retrieval, prompting, the assistant core and the audit log, with fakes (fast)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from appliance.assistant import Assistant
from appliance.audit import AuditLog
from appliance.backends.base import Backend, Message
from appliance.backends.fake import FakeBackend
from appliance.config import Settings, load_settings
from appliance.errors import ConfigError
from appliance.evaluate import evaluate, load_items
from appliance.ingest import ingest
from appliance.prompting import NOT_FOUND, Turn, build_messages, standalone_query
from appliance.retrieve import Retriever, fts_query

from .conftest import ROOT, SAMPLES, FakeEmbedder


@pytest.fixture
def indexed(tmp_path: Path) -> Settings:
    settings = load_settings(
        index_dir=tmp_path / "index",
        retrieval={"min_score": 0.05},
        ingest={"chunk_tokens": 80, "chunk_overlap": 16},
    )
    report = ingest([SAMPLES], settings, embedder=FakeEmbedder())
    assert not report.failed
    return settings


@pytest.fixture
def retriever(indexed: Settings):  # type: ignore[no-untyped-def]
    r = Retriever(indexed, embedder=FakeEmbedder())
    yield r
    r.close()


# -- retrieval ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "plain"),
    [
        ('lease "notice', "lease notice"),
        ("rent* -deposit", "rent deposit"),
        ("NEAR(rent deposit)", "near rent deposit"),
        ("rent: (annual) AND OR NOT", "rent annual and or not"),
    ],
)
def test_fts_syntax_is_searched_as_plain_words(
    retriever: Retriever, query: str, plain: str
) -> None:
    """FTS5 operators in a question are words, never query syntax: same hits as without."""
    hits = retriever.search(query, 5, method="lexical")
    assert hits, query
    assert [(h.path, h.start) for h in hits] == [
        (h.path, h.start) for h in retriever.search(plain, 5, method="lexical")
    ]
    assert any(word in hits[0].text.lower() for word in plain.split())


@pytest.mark.parametrize("query", ["^ $ % ; ' \" ) (", "", "  "])
def test_nothing_searchable_finds_nothing(retriever: Retriever, query: str) -> None:
    assert retriever.search(query, 5, method="lexical") == []


def test_fts_query_quotes_every_term() -> None:
    assert fts_query('say "hi" NEAR x') == '"say" OR "hi" OR "near" OR "x"'
    assert fts_query("!!! ???") is None


def test_hybrid_fuses_both_methods(retriever: Retriever) -> None:
    hits = retriever.search("annual rent deposit lease", 5)
    assert hits and hits[0].score >= hits[-1].score
    assert any(h.dense is not None and h.lexical is not None for h in hits)
    for h in hits:
        assert h.end > h.start and h.text
        assert h.page is None or h.page >= 1


def test_path_filter_applies_to_both_methods(retriever: Retriever) -> None:
    for method in ("dense", "lexical", "hybrid"):
        hits = retriever.search("policy staff leave rent", 10, path_glob="hr/*", method=method)  # type: ignore[arg-type]
        assert hits, method
        assert all(h.file.startswith("hr/") for h in hits), method
    assert retriever.search("rent", 5, path_glob="nothing/*") == []


# -- prompting ------------------------------------------------------------------
def test_prompt_always_fits_the_context(retriever: Retriever) -> None:
    """Measured in characters (one token each: more than any tokenizer makes of ASCII), not by the
    estimate the prompt builder uses: what is sent plus the answer fits, and more room lets
    more passages in."""
    hits = retriever.search("rent lease notice deposit", 10)
    history = [Turn("what is the rent? " * 20, "it is a lot " * 40)] * 3
    question = "When is rent due?" * 3
    counts = []
    for ctx in (600, 1200, 2400, 8000, 20000):
        msgs, used = build_messages(
            question, hits, history, count_tokens=len, context_length=ctx, answer_tokens=128
        )
        assert sum(len(m.content) for m in msgs) + 128 <= ctx, ctx
        assert msgs[0].role == "system" and msgs[-1].content.endswith(question)
        counts.append(len(used))
    assert counts == sorted(counts) and counts[0] < counts[-1] == len(hits)


@pytest.mark.slow
def test_prompt_fits_the_real_model_context(retriever: Retriever) -> None:
    """The bundled model's own tokenizer and chat template count the prompt."""
    from appliance.backends.llama import LlamaBackend

    if not (ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf").exists():
        pytest.skip("bundled model not installed (run `make install`)")
    hits = retriever.search("rent lease notice deposit", 10)
    history = [Turn("what is the rent? " * 20, "it is a lot " * 40)] * 3
    for ctx in (512, 1024, 2048):
        llama = LlamaBackend(models_dir=ROOT / "models", n_ctx=ctx)
        msgs, used = build_messages(
            "When is rent due?", hits, history, count_tokens=llama.count_tokens,
            context_length=llama.context_length, answer_tokens=128,
        )  # fmt: skip
        assert used, ctx
        assert llama.prompt_tokens(msgs) + 128 <= ctx, ctx


def test_follow_up_questions_become_standalone() -> None:
    history = [Turn("What is the annual rent for Calder Wharf?", "GBP 58,500 [1]")]
    assert "annual rent" in standalone_query("And when is it reviewed?", history)
    assert standalone_query("Who signs the handbook policy?", history) == (
        "Who signs the handbook policy?"
    )
    assert standalone_query("What is the rent?", []) == "What is the rent?"


# -- the assistant --------------------------------------------------------------------------------
def test_answer_streams_with_mapped_citations(indexed: Settings) -> None:
    backend = FakeBackend(["The annual rent is GBP 58,500 [2], paid quarterly [1]."])
    assistant = Assistant(indexed, embedder=FakeEmbedder(), local_backend=backend)
    answer = assistant.ask("What is the annual rent in the lease?")
    pieces = list(answer)
    assert len(pieces) > 3 and answer.text == "".join(pieces)
    assert answer.route == "local" and "offline mode" in answer.reasons
    assert [c.n for c in answer.citations] == [2, 1]
    assert answer.citations[0].text == answer.passages[1].text
    got = answer.to_json()
    assert set(got) >= {"answer", "citations", "model", "route", "timings"}
    assert set(got["citations"][0]) >= {"file", "page", "start", "end", "score", "text"}
    # the prompt numbered the passages and carried the question
    sent = backend.calls[0].messages
    assert "[1]" in sent[-1].content and "annual rent" in sent[-1].content


def test_nothing_relevant_says_so_without_calling_the_model(tmp_path: Path) -> None:
    settings = load_settings(index_dir=tmp_path / "index", retrieval={"min_score": 0.99})
    ingest([SAMPLES], settings, embedder=FakeEmbedder())
    backend = FakeBackend(["invented"])
    answer = Assistant(settings, embedder=FakeEmbedder(), local_backend=backend).ask(
        "zebra migration patterns in the serengeti"
    )
    assert answer.read() == NOT_FOUND
    assert backend.calls == [] and answer.citations == []


class _SlowBackend(Backend):
    is_local = True
    name = "slow"
    context_length = 4096

    def __init__(self) -> None:
        self.started = threading.Event()

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float,
               stop: threading.Event | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
        for i in range(1000):
            self.started.set()
            if stop is not None and stop.wait(0.01):
                return
            yield f"w{i} "


def test_cancel_stops_a_running_answer(indexed: Settings) -> None:
    backend = _SlowBackend()
    answer = Assistant(indexed, embedder=FakeEmbedder(), local_backend=backend).ask("rent?")
    t = threading.Thread(target=answer.read)
    t.start()
    assert backend.started.wait(5)
    answer.cancel()
    t.join(5)
    assert not t.is_alive() and answer.done
    assert len(answer.text.split()) < 1000


def test_empty_question_is_an_error(indexed: Settings) -> None:
    with pytest.raises(ConfigError):
        Assistant(indexed, embedder=FakeEmbedder(), local_backend=FakeBackend()).ask("   ")


# -- audit ------------------------------------------------------------------
def test_every_ask_is_audited_and_the_chain_verifies(indexed: Settings) -> None:
    assistant = Assistant(indexed, embedder=FakeEmbedder(), local_backend=FakeBackend())
    for q in ("What is the rent?", "Who is the landlord?", "zzzz qqqq"):
        assistant.ask(q).read()
    log = AuditLog(indexed.index_dir)
    records = log.records()
    assert len(records) == 3
    assert all(r["decision"] == "local" and r["sent"] is None for r in records)
    assert "What is the rent" not in log.path.read_text()  # only a hash of the question
    assert log.verify().ok


def _tamper(log: AuditLog, how: str) -> None:
    lines = log.path.read_text().splitlines()
    if how == "edit":
        rec = json.loads(lines[1])
        rec["decision"] = "cloud"
        lines[1] = json.dumps(rec, sort_keys=True)
    elif how == "remove":
        del lines[1]
    elif how == "reorder":
        lines[0], lines[1] = lines[1], lines[0]
    elif how == "truncate":
        lines = lines[:-1]
    log.path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("how", ["edit", "remove", "reorder", "truncate"])
def test_audit_verify_detects_tampering(tmp_path: Path, how: str) -> None:
    log = AuditLog(tmp_path)
    for i in range(4):
        log.append({"mode": "offline", "decision": "local", "n": i})
    assert log.verify().ok
    _tamper(log, how)
    result = log.verify()
    assert not result.ok and result.problem


# -- eval ------------------------------------------------------------------
def test_eval_reports_every_method(indexed: Settings, retriever: Retriever, tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text(
        json.dumps({"question": "annual rent deposit", "file": "contracts/lease_agreement.pdf"})
        + "\n"
        + json.dumps({"question": "zzz", "file": "nope.txt", "page": 2, "answer": "x"})
        + "\n"
    )
    result = evaluate(f, retriever, answer_fn=lambda q: "the answer is X")
    assert result.questions == 2
    assert list(result.methods) == ["dense", "lexical", "hybrid"]
    for score in result.methods.values():
        assert 0.0 <= score.hit5 <= 0.5
    assert result.methods["lexical"].hit5 == 0.5
    assert result.answer_contains == 1.0
    assert not result.checked  # plain strings carry no evidence or claims
    assert [row.ranks["lexical"] for row in result.per_question][1] is None
    as_json = result.to_json()
    assert set(as_json["hybrid"]) == {"hit@1", "hit@5", "mrr"}
    assert "evidence_contains" not in as_json and len(as_json["per_question"]) == 2


@pytest.mark.parametrize(
    "line", ["not json", '{"file": "a"}', '{"question": "q", "file": "a", "page": 0}', "[1]"]
)
def test_eval_file_errors_name_the_line(tmp_path: Path, line: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"question": "q", "file": "a"}\n' + line + "\n")
    with pytest.raises(ConfigError, match=":2:"):
        load_items(f)


def test_placeholders_split_across_stream_pieces_are_restored() -> None:
    from appliance.privacy.redaction import restoring

    pieces = ["Write to [EMA", "IL_1] or ", "[PHONE", "_1]", " today [", "1]."]
    mapping = {"[EMAIL_1]": "ana@corp.example", "[PHONE_1]": "+44 20 7946 0321"}
    out = "".join(restoring(iter(pieces), mapping))
    assert out == "Write to ana@corp.example or +44 20 7946 0321 today [1]."
