"""Time to first token of ``Assistant.ask`` against a bare llama.cpp prefill of the same prompt.

``samples/`` is ingested (real embedder) into a temporary index; questions come from
``samples/eval.jsonl``. For each question, timed twice: the model's KV cache is reset
(otherwise llama-cpp-python reuses the prompt prefix of the previous call and the prefill
looks impossibly fast), ``ask()`` is called and the answer streamed; its
``timings["first_token_ms"]`` runs from the ``ask()`` call to the first piece of text, so it
holds retrieval, prompt building, templating and the prefill. Then the baseline:
``bare_prefill_seconds`` on the exact messages ``ask`` sent — the raw ``Llama.generate`` from
an empty cache to the first sampled token. The ratio of the medians says what the appliance
adds on top of the model's own prefill. ``llm.max_tokens`` is set to the minimum (16): only
the first token matters.

Left out: decode speed, the cloud backend, answers that need no model (no relevant passage).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.backends.base import Message
from appliance.config import load_settings
from appliance.ingest import ingest
from bench.report import SectionResult, Stopwatch, median

if TYPE_CHECKING:
    from appliance.backends.llama import LlamaBackend

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
TARGET_RATIO = 1.2


def eval_questions(count: int) -> list[str]:
    """The first ``count`` questions of ``samples/eval.jsonl``."""
    lines = (SAMPLES / "eval.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:count]


@dataclass
class TTFTNumbers:
    ask_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    retrieve_ms: list[float] = field(default_factory=list)
    prompt_ms: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    load_s: float = 0.0
    ingest_s: float = 0.0
    model: str = ""

    @property
    def ratio(self) -> float:
        """Median over runs of ask / bare, each pair timed back to back (steady under load)."""
        return median([a / b for a, b in zip(self.ask_ms, self.bare_ms, strict=True) if b])

    @property
    def ratio_of_medians(self) -> float:
        bare = median(self.bare_ms)
        return median(self.ask_ms) / bare if bare else 0.0


def measure(
    index_dir: Path,
    embedder: Any,
    questions: list[str],
    *,
    repeats: int = 2,
    docs: Path = SAMPLES,
) -> TTFTNumbers:
    """Ingest ``docs`` into ``index_dir``; time ``ask`` and the bare prefill per question."""
    from appliance.assistant import Assistant
    from appliance.backends.llama import LlamaBackend

    models = None if "APPLIANCE_MODELS_DIR" in os.environ else ROOT / "models"
    settings = load_settings(index_dir=index_dir, models_dir=models, llm={"max_tokens": 16})
    out = TTFTNumbers()
    report = ingest([docs], settings, embedder=embedder)
    out.ingest_s = report.seconds
    assistant = Assistant(settings, embedder=embedder, audit=False)
    with Stopwatch() as sw:
        backend = assistant.local_backend()
    out.load_s = sw.wall
    assert isinstance(backend, LlamaBackend)
    out.model = backend.name
    sent = _capture_messages(backend)

    assistant.ask(questions[0]).read()  # warm-up: first-call costs (retriever, FAISS) untimed
    for _ in range(repeats):
        for q in questions:
            backend.reset()
            sent.clear()
            answer = assistant.ask(q)
            answer.read()
            messages: list[Message] = list(getattr(answer, "messages", None) or sent)
            if not messages or "first_token_ms" not in answer.timings:
                out.skipped.append(q)
                continue
            out.ask_ms.append(answer.timings["first_token_ms"])
            out.retrieve_ms.append(answer.timings.get("retrieve_ms", 0.0))
            out.prompt_ms.append(answer.timings.get("prompt_ms", 0.0))
            out.prompt_tokens.append(backend.prompt_tokens(messages))
            out.bare_ms.append(bare_prefill_seconds(backend, messages) * 1000)
    assistant.reload_index()
    return out


def bare_prefill_seconds(backend: LlamaBackend, messages: list[Message]) -> float:
    """Seconds a bare llama-cpp-python ``Llama`` takes from an empty cache to the first sampled
    token of the same prompt: the floor against which the backend's first-token time is
    compared. Leaves the model reset."""
    tokens = backend.prompt_token_ids(messages)
    with backend.exclusive() as llm:
        llm.reset()
        start = time.perf_counter()
        generator = llm.generate(tokens, temp=0.0)
        next(generator)
        elapsed = time.perf_counter() - start
        generator.close()
        llm.reset()
    return elapsed


def _capture_messages(backend: Any) -> list[Message]:
    """Record the messages given to ``backend.stream`` (for an ``Answer`` without them)."""
    seen: list[Message] = []
    original = backend.stream

    def stream(messages: list[Message], **kwargs: Any) -> Iterator[str]:
        seen[:] = messages
        return original(messages, **kwargs)

    backend.stream = stream
    return seen


def run(workdir: Path, embedder: Any, *, quick: bool = False) -> SectionResult:
    result = SectionResult("ttft", "Time to first token: ask() vs bare llama.cpp prefill")
    questions = eval_questions(3 if quick else 5)
    n = measure(workdir / "index", embedder, questions, repeats=1 if quick else 2)
    if not n.ask_ms:
        result.notes.append("no question reached the model (no relevant passages): nothing timed")
        return result
    result.add("model", "model", n.model)
    result.add("samples_ingest_s", "ingest samples/ (real embedder)", n.ingest_s, "s")
    result.add("llm_load_s", "LLM load", n.load_s, "s")
    result.add("runs", "timed runs", len(n.ask_ms), "", f"{len(questions)} questions × repeats")
    result.add(
        "prompt_tokens",
        "prompt tokens (median)",
        int(median(n.prompt_tokens)),
        "tokens",
        f"{min(n.prompt_tokens)}–{max(n.prompt_tokens)}",
    )
    result.add(
        "ask_ttft_ms",
        "ask() first token (median)",
        median(n.ask_ms),
        "ms",
        f"{min(n.ask_ms):.0f}–{max(n.ask_ms):.0f}",
    )
    result.add("retrieve_ms", "  of which retrieval (median)", median(n.retrieve_ms), "ms")
    result.add("prompt_build_ms", "  of which prompt building (median)", median(n.prompt_ms), "ms")
    result.add(
        "bare_prefill_ms",
        "bare prefill to first token (median)",
        median(n.bare_ms),
        "ms",
        f"{min(n.bare_ms):.0f}–{max(n.bare_ms):.0f}",
    )
    bare_rate = median([t / (ms / 1000) for t, ms in zip(n.prompt_tokens, n.bare_ms, strict=True)])
    result.add("bare_prefill_tokens_per_s", "bare prefill speed (median)", bare_rate, "tokens/s")
    overhead = [a - b for a, b in zip(n.ask_ms, n.bare_ms, strict=True)]
    result.add("ask_overhead_ms", "ask - bare, per pair (median)", median(overhead), "ms")
    result.add(
        "ratio_of_medians",
        "median ask / median bare",
        n.ratio_of_medians,
        "×",
        "drifts with the machine's load between runs",
    )
    result.target(
        "ttft_ratio", "ask TTFT / bare prefill (median of pairs)", n.ratio, TARGET_RATIO, "<="
    )
    if n.skipped:
        result.notes.append(f"not timed (answered without the model): {n.skipped}")
    return result
