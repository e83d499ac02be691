"""Offline switches for the Hugging Face stack, set before it is imported.

``ensure_offline()`` must run before anything imports ``sentence_transformers``,
``transformers`` or ``huggingface_hub``; the CLI calls it first thing. The network egress guard
(which refuses non-loopback sockets) lives in ``appliance.egress``.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # Quiet: no download/loading progress bars or advisory warnings on the user's terminal.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def ensure_offline() -> None:
    """Force the offline flags (a user's ``HF_HUB_OFFLINE=0`` does not switch them off)."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
