"""Shared fixtures: a deterministic fake embedder for fast unit tests, settings on tmp folders,
and the real bundled embedder (loaded once per session) for integration tests."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from appliance.chunking import WordCounter
from appliance.config import Settings, load_settings
from appliance.embedding import Embedder, TextEmbedder
from appliance.offline import ensure_offline

ensure_offline()

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


class FakeEmbedder:
    """Bag-of-words hashing into 256 dims, normalised: shared words, similar vectors.
    A ``TextEmbedder`` like the real one (checked below), so it goes where that goes."""

    model_id = "test:fake-embedder"
    dimension = 256
    stopwords = frozenset(
        "a an and are as at be by for from in is it of on or the to was what when where which "
        "who how with does do did this that about".split()
    )

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word in self.stopwords:
                    continue
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dimension] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out

    def token_counter(self) -> WordCounter:
        return WordCounter()


def _fake_is_an_embedder() -> TextEmbedder:
    return FakeEmbedder()  # mypy checks the fake against the protocol here


@pytest.fixture(autouse=True)
def _audit_key_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit key (and its per-index records) in a temporary folder, never ~/.config."""
    key = tmp_path_factory.getbasetemp() / "audit-key" / "audit.key"
    monkeypatch.setenv("APPLIANCE_AUDIT_KEY_FILE", str(key))


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        index_dir=tmp_path / "index",
        models_dir=ROOT / "models",
        ingest={"chunk_tokens": 60, "chunk_overlap": 10, "batch_size": 8},
    )


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    emb = Embedder()
    emb.encode(["warm up"])
    return emb
