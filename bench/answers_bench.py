"""Answer quality, speed and memory of local GGUF models and of prompt/decoding methods.

``python -m bench answers`` (every ``*.gguf`` in ``models/``, the methods in
``SECTION_METHODS``, samples and reading) or, for chosen models, methods and sets::

    python -m bench.answers_bench --models /tmp/models --method shipped --method brief \\
        --set samples --set reading --set dev

Every model answers every question with every method in one run, from the same passages: each
question is retrieved once (hybrid, ``retrieval.k`` passages, the assistant's relevance filter)
and the methods and models take turns question by question, so a busy machine slows all of
them alike. The sets: ``samples`` (``samples/eval.jsonl``), ``reading`` (span answers over
four short articles, ``tests/data/reading``) and ``dev`` (the FinanceBench dev set beside the
repository, only the questions whose evidence page is among the passages the model gets,
unless ``--dev-all``). Indexes are cached as ``python -m bench devset`` caches them.

Per model and method: the share of answers containing the gold answer, of evidence quotes
containing it, of either (what the user is shown), the share of answer sentences the claim
check supports, sentences per answer, seconds per answer, time to first token, decode tokens
per second; per model: file size and the memory its load and first answer added (RSS).
``--show`` prints every answer. Left out: retrieval quality (``python -m bench devset``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from appliance.backends.base import Message
from appliance.claims import check_claims, contains_answer
from appliance.config import load_settings
from appliance.evaluate import is_hit, load_items
from appliance.evidence import select_evidence
from appliance.prompting import STYLES, build_messages
from appliance.retrieve import Hit, Retriever
from bench.devset_bench import DEVSET, ROOT, SAMPLES, CachedEmbedder, build, cache_dir, fingerprint
from bench.report import Grid, SectionResult, median

READING = ROOT / "tests" / "data" / "reading"
SETS: dict[str, tuple[Path, Path]] = {
    "samples": (SAMPLES, SAMPLES / "eval.jsonl"),
    "reading": (READING, READING / "eval.jsonl"),
    "dev": (DEVSET, DEVSET / "questions.jsonl"),
}
STOPS = ("\nQuestion:", "Question:", "\nPassages:", "Corrected sentence", "\nPassage")


@dataclass(frozen=True)
class Method:
    """A way of asking: prompt style, and decoding (``None``: the configured value)."""

    style: str = "default"
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    repeat_penalty: float | None = None


METHODS: dict[str, Method] = {
    "shipped": Method(),
    "greedy+stop": Method(temperature=0.0, stop=STOPS),
    "brief": Method("brief", temperature=0.0, max_tokens=160, stop=STOPS),
    "no repeat penalty": Method(repeat_penalty=1.0),
}
SECTION_METHODS = ("shipped", "brief")
"""What ``python -m bench answers`` compares (the standalone command takes any of them)."""


@dataclass
class Tally:
    answers: int = 0
    in_answer: int = 0
    in_evidence: int = 0
    in_either: int = 0
    sentences: int = 0
    supported: int = 0
    seconds: list[float] = field(default_factory=list)
    first_token: list[float] = field(default_factory=list)
    decode_tps: list[float] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        n = self.answers or 1
        return {
            "answer_contains": self.in_answer / n,
            "evidence_contains": self.in_evidence / n,
            "answer_or_evidence_contains": self.in_either / n,
            "supported_rate": self.supported / self.sentences if self.sentences else 0.0,
            "sentences_per_answer": self.sentences / n,
            "s_per_answer": median(self.seconds) if self.seconds else 0.0,
            "first_token_s": median(self.first_token) if self.first_token else 0.0,
            "decode_tokens_per_s": median(self.decode_tps) if self.decode_tps else 0.0,
        }


def relevant(hit: Hit, min_score: float) -> bool:
    """The assistant's filter: close in meaning, or sharing words and not far off."""
    if hit.dense is not None and hit.dense >= min_score:
        return True
    return hit.lexical_rank is not None and hit.dense is not None and hit.dense >= min_score / 2


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def generate(backend: Any, messages: list[Message], method: Method, llm: Any) -> dict[str, Any]:
    """One answer from an empty KV cache: text, seconds, first-token seconds, tokens."""
    backend.options.stop = list(llm.stop if method.stop is None else method.stop)
    backend.options.repeat_penalty = (
        llm.repeat_penalty if method.repeat_penalty is None else method.repeat_penalty
    )
    backend.reset()
    start = time.perf_counter()
    first = None
    pieces: list[str] = []
    for piece in backend.stream(
        messages,
        max_tokens=llm.max_tokens if method.max_tokens is None else method.max_tokens,
        temperature=llm.temperature if method.temperature is None else method.temperature,
    ):
        if first is None:
            first = time.perf_counter() - start
        pieces.append(piece)
    total = time.perf_counter() - start
    text = "".join(pieces)
    tokens = backend.count_tokens(text) if text else 0
    first = total if first is None else first
    decode = tokens / (total - first) if tokens > 1 and total > first else 0.0
    return {"text": text, "seconds": total, "first_token": first, "tokens": tokens,
            "decode_tps": decode}  # fmt: skip


def load_backends(names: list[str], models_dir: Path, llm: Any) -> dict[str, tuple[Any, float]]:
    """Each model loaded, with the RSS (MB) its load and a first short answer added."""
    from appliance.backends.llama import LlamaBackend

    out: dict[str, tuple[Any, float]] = {}
    for name in names:
        before = rss_mb()
        backend = LlamaBackend.from_settings(llm.model_copy(update={"model": name}), models_dir)
        warm = [Message("user", "Say hello.")]
        for _ in backend.stream(warm, max_tokens=8, temperature=0.0):
            pass
        out[name] = (backend, rss_mb() - before)
    return out


def run_answers(
    models_dir: Path,
    model_names: list[str],
    methods: list[str],
    sets: list[str],
    *,
    dev_all: bool = False,
    dev_index: Path | None = None,
    limit: int | None = None,
    show: bool = False,
    embedder: Any = None,
    answers: dict[str, list[dict[str, Any]]] | None = None,
    log: TextIO | None = None,
) -> SectionResult:
    """Score ``model_names`` (files in ``models_dir``) × ``methods`` on ``sets``; every answer
    goes into ``answers`` (keyed ``set|model|method``) and, as it comes, as a JSON line into
    ``log`` when given."""
    res = SectionResult("answers", "Answers per model and method (same passages for all)")
    settings = load_settings(models_dir=models_dir)
    llm = settings.llm
    if embedder is None:
        from appliance.embedding import Embedder

        embedder = Embedder()
    cached = CachedEmbedder(embedder, cache_dir() / "vectors.npz")
    root = cache_dir() / fingerprint(settings)
    root.mkdir(parents=True, exist_ok=True)
    backends = load_backends(model_names, models_dir, llm)
    for name, (backend, added) in backends.items():
        size = backend.path.stat().st_size / 1e6
        res.add(f"{name}_size_mb", f"{name}: file size", size, "MB", backend.info.file_type or "")
        res.add(f"{name}_rss_mb", f"{name}: memory added by load + first answer", added, "MB")
    grid = Grid(
        "Gold answer in answer / evidence / either; supported sentences; speed",
        ["set", "model", "method", "n", "answer", "evidence", "either", "supported",
         "sent/ans", "s/answer", "TTFT s", "tok/s"],
    )  # fmt: skip
    for set_name in sets:
        docs, questions = SETS[set_name]
        if not questions.exists():
            res.notes.append(f"{set_name}: skipped, no {questions}")
            continue
        index_dir = root / ("financebench" if set_name == "dev" else set_name)
        if set_name == "dev" and dev_index is not None:
            index_dir = dev_index
        build(docs, index_dir, cached)
        retriever = Retriever(load_settings(index_dir=index_dir), embedder=cached)
        tallies = {(m, meth): Tally() for m in backends for meth in methods}
        skipped = 0
        try:
            for item in load_items(questions)[:limit]:
                if not item.answer:
                    continue
                hits = retriever.search(item.question, settings.retrieval.k)
                hits = [h for h in hits if relevant(h, settings.retrieval.min_score)]
                if not hits or (set_name == "dev" and not dev_all and
                                not any(is_hit(h, item) for h in hits)):  # fmt: skip
                    skipped += 1
                    continue
                quoted = contains_answer(
                    item.answer, " ".join(e.text for e in select_evidence(item.question, hits))
                )
                for model, (backend, _) in backends.items():
                    for meth in methods:
                        method = METHODS[meth]
                        messages, used = build_messages(
                            item.question, hits, [],
                            count_tokens=backend.count_tokens,
                            context_length=backend.context_length,
                            answer_tokens=method.max_tokens or llm.max_tokens,
                            style=STYLES[method.style],
                        )  # fmt: skip
                        got = generate(backend, messages, method, llm)
                        claims = check_claims(
                            got["text"], [h.text for h in used], item.question,
                            [h.file for h in used],
                        )  # fmt: skip
                        ok = contains_answer(item.answer, got["text"])
                        t = tallies[(model, meth)]
                        t.answers += 1
                        t.in_answer += ok
                        t.in_evidence += quoted
                        t.in_either += ok or quoted
                        t.sentences += len(claims)
                        t.supported += sum(c.supported for c in claims)
                        t.seconds.append(got["seconds"])
                        t.first_token.append(got["first_token"])
                        if got["decode_tps"]:
                            t.decode_tps.append(got["decode_tps"])
                        row = {"set": set_name, "model": model, "method": meth,
                               "question": item.question, "gold": item.answer,
                               "answer": got["text"], "contains": ok, "quoted": quoted,
                               "supported": [c.supported for c in claims],
                               "seconds": round(got["seconds"], 3),
                               "first_token": round(got["first_token"], 3),
                               "tokens": got["tokens"]}  # fmt: skip
                        t.rows.append(row)
                        if log is not None:
                            log.write(json.dumps(row) + "\n")
                            log.flush()
                        if show:
                            mark = "✓" if ok else "✗"
                            print(f"[{set_name} {model} {meth}] {mark} {item.question}\n"
                                  f"  gold: {item.answer}\n  → {got['text'].strip()!r}",
                                  file=sys.stderr)  # fmt: skip
        finally:
            retriever.close()
        if skipped:
            res.notes.append(
                f"{set_name}: {skipped} question(s) left out (no passage given, or for dev "
                "the evidence page not among the passages)"
            )
        for (model, meth), t in tallies.items():
            s = t.summary()
            grid.rows.append([set_name, model, meth, t.answers,
                              s["answer_contains"], s["evidence_contains"],
                              s["answer_or_evidence_contains"], s["supported_rate"],
                              s["sentences_per_answer"], s["s_per_answer"],
                              s["first_token_s"], s["decode_tokens_per_s"]])  # fmt: skip
            for key, value in s.items():
                res.add(f"{set_name}_{model}_{meth}_{key}", f"{set_name} {model} {meth} {key}",
                        value, show=False)  # fmt: skip
            if answers is not None:
                answers[f"{set_name}|{model}|{meth}"] = t.rows
    res.grids.append(grid)
    res.notes.append(
        "s/answer, TTFT and tok/s are medians; TTFT from an empty KV cache; "
        + "; ".join(f"{k}: {v}" for k, v in METHODS.items() if k in methods)
    )
    return res


def run(workdir: Path, embedder: Any, *, quick: bool = False) -> SectionResult:
    """The ``python -m bench answers`` section: every GGUF in ``models/``, ``SECTION_METHODS``,
    samples and reading (the first 5 questions of each when quick)."""
    del workdir
    settings = load_settings()
    names = sorted(p.name for p in settings.models_dir.glob("*.gguf"))
    return run_answers(settings.models_dir, names, list(SECTION_METHODS), ["samples", "reading"],
                       embedder=embedder, limit=5 if quick else None)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answers_bench", description=__doc__)
    parser.add_argument("--models", type=Path, help="folder of GGUF files (default: models/)")
    parser.add_argument("--model", action="append", help="a GGUF in that folder (repeatable)")
    parser.add_argument("--method", action="append", choices=list(METHODS))
    parser.add_argument("--set", action="append", choices=list(SETS))
    parser.add_argument("--dev-all", action="store_true", help="all dev questions")
    parser.add_argument("--dev-index", type=Path, help="an index of the dev set built before")
    parser.add_argument("--limit", type=int, help="first N questions of each set")
    parser.add_argument("--show", action="store_true", help="print every answer on stderr")
    parser.add_argument("--json", type=Path, help="write numbers and answers here")
    parser.add_argument("--log", type=Path, help="append each answer here as a JSON line")
    args = parser.parse_args(argv)
    from rich.console import Console

    from appliance import egress
    from appliance.offline import ensure_offline
    from bench.report import render

    ensure_offline()
    egress.install()
    models_dir = args.models or load_settings().models_dir
    names = args.model or sorted(p.name for p in models_dir.glob("*.gguf"))
    answers: dict[str, list[dict[str, Any]]] = {}
    log = args.log.open("a", encoding="utf-8") if args.log else None
    try:
        result = run_answers(models_dir, names, args.method or list(METHODS),
                             args.set or ["samples", "reading"], dev_all=args.dev_all,
                             dev_index=args.dev_index, limit=args.limit, show=args.show,
                             answers=answers, log=log)  # fmt: skip
    finally:
        if log is not None:
            log.close()
    render(Console(highlight=False, width=None if sys.stdout.isatty() else 160), result)
    if args.json:
        payload = {**result.to_json(), "answers": answers}
        args.json.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
