"""Prompt styles, stop strings and the answers benchmark's bookkeeping (no model needed except
where marked)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from appliance.config import LLMSettings
from appliance.prompting import BRIEF_PROMPT, STYLES, SYSTEM_PROMPT, build_messages
from appliance.retrieve import Hit
from bench.answers_bench import METHODS, Tally, relevant

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _hit(text: str, dense: float | None = 0.5, lexical_rank: int | None = None) -> Hit:
    """What prompting and the relevance filter read of a hit."""
    hit = SimpleNamespace(text=text, where="lease.pdf p.2", dense=dense, lexical_rank=lexical_rank)
    return cast(Hit, hit)


def _words(text: str) -> int:
    return len(text.split())


def test_default_style_is_the_shipped_prompt() -> None:
    hits = [_hit("Rent is due on the 1st.")]
    msgs, used = build_messages(
        "When is rent due?", hits, [], count_tokens=_words, context_length=512, answer_tokens=64
    )
    assert msgs[0].content == SYSTEM_PROMPT and len(used) == 1
    assert msgs[-1].content.startswith("Passages:") and msgs[-1].content.endswith("rent due?")


def test_brief_style_asks_first_and_last_and_still_fits() -> None:
    question = "When is rent due?"
    hits = [_hit("word " * 300), _hit("Rent is due on the 1st.")]
    msgs, used = build_messages(question, hits, [], count_tokens=_words, context_length=420,
                                answer_tokens=64, style=STYLES["brief"])  # fmt: skip
    content = msgs[-1].content
    assert msgs[0].content == BRIEF_PROMPT
    assert content.startswith(f"Question: {question}\n\nPassages:")
    assert content.endswith(STYLES["brief"].cue)
    total = sum(_words(m.content) + 16 for m in msgs)
    assert total + 64 <= 420  # the question twice and the cue are budgeted
    assert used and used[0] is hits[0]


def test_relevance_filter_matches_the_assistant() -> None:
    assert relevant(_hit("x", dense=0.3), 0.2)
    assert not relevant(_hit("x", dense=0.15), 0.2)
    assert relevant(_hit("x", dense=0.15, lexical_rank=1), 0.2)
    assert not relevant(_hit("x", dense=0.05, lexical_rank=1), 0.2)


def test_tally_shares_and_medians() -> None:
    t = Tally(answers=4, in_answer=1, in_evidence=3, in_either=3, sentences=5, supported=2,
              seconds=[1.0, 3.0, 2.0], first_token=[0.5], decode_tps=[])  # fmt: skip
    s = t.summary()
    assert s["answer_contains"] == 0.25 and s["answer_or_evidence_contains"] == 0.75
    assert s["supported_rate"] == 0.4 and s["sentences_per_answer"] == 1.25
    assert s["s_per_answer"] == 2.0 and s["decode_tokens_per_s"] == 0.0
    assert METHODS["shipped"].temperature is None  # the configured decoding, whatever it is


def test_stop_strings_reach_the_backend_options() -> None:
    from appliance.backends.llama import LlamaOptions

    assert LlamaOptions().stop == []
    assert LLMSettings(stop=["\nQuestion:"]).stop == ["\nQuestion:"]


@pytest.mark.skipif(not BUNDLED.exists(), reason="bundled model not installed")
def test_a_stop_string_ends_the_answer_before_it() -> None:
    from appliance.backends.base import Message
    from appliance.backends.llama import LlamaBackend

    backend = LlamaBackend.from_settings(LLMSettings(), BUNDLED.parent)
    ask = [Message("user", "Count from 1 to 10, separated by commas.")]
    full = "".join(backend.stream(ask, max_tokens=40, temperature=0.0))
    assert "4" in full, full  # the model counts; now stop it at 4
    backend.options.stop = ["4"]
    cut = "".join(backend.stream(ask, max_tokens=40, temperature=0.0))
    assert "4" not in cut and full.startswith(cut.rstrip())
