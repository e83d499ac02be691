"""Benchmarks of the appliance, run with ``make bench`` (``python -m bench``).

Every section prints ratios against a baseline measured in the same run — the machine is
shared and noisy, so absolute times drift while ratios hold — plus the absolute numbers:

- ``ingest``: pipeline throughput vs bare ``SentenceTransformer.encode`` of the same chunks,
  re-ingest of an unchanged folder (in-process and through the CLI), PDF parser speed
  (``bench.ingest_bench``);
- ``retrieval``: search latency p50/p95 at 10k and 100k chunks, hybrid, dense and lexical
  (``bench.retrieval_bench``);
- ``ttft``: time to first token of ``Assistant.ask`` vs a bare llama.cpp prefill of the same
  prompt (``bench.ttft_bench``).

Inputs are synthetic and deterministic (``bench.corpus``), written to a temporary folder that
is removed afterwards; nothing is downloaded. ``bench.report`` holds the result records and
the table printing.
"""
