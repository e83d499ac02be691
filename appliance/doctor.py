"""``appliance doctor``: check the installation and say what to fix.

Checks: the models in ``models/`` against the sha256 manifest written at install, the
llama.cpp build (AMX kernels that crash on some CPUs, GPU offload support), that the embedder
loads offline, and that the index opens with the configured embedder and agrees with its
vector file. Each check is independent: one failure never hides the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from appliance.config import Settings
from appliance.errors import ApplianceError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def _models(settings: Settings) -> Check:
    from appliance.setup_models import MANIFEST, sha256_file

    mdir = settings.models_dir
    ggufs = sorted(mdir.glob("*.gguf"))
    if not ggufs:
        return Check("models", False, f"no .gguf files in {mdir}", "run `make install`")
    try:
        manifest = json.loads((mdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return Check("models", False, f"{mdir / MANIFEST} is missing", "run `make install`")
    bad, unknown = [], []
    for g in ggufs:
        entry = manifest.get(g.name)
        if entry is None:
            unknown.append(g.name)
        elif sha256_file(g) != entry["sha256"]:
            bad.append(g.name)
    if bad:
        return Check(
            "models",
            False,
            f"checksum mismatch: {', '.join(bad)}",
            "the file changed since install; re-copy it, then `python -m appliance.setup_models`",
        )
    detail = f"{len(ggufs)} model(s), sha256 verified"
    if unknown:
        detail += (
            f"; not in manifest: {', '.join(unknown)} (run `python -m appliance.setup_models`)"
        )
    return Check("models", True, detail)


def _llama(settings: Settings) -> Check:
    from appliance.backends.llama import llama_build_info

    info = llama_build_info()
    gpu = "GPU offload available" if info["gpu_offload"] else "CPU only (no GPU offload)"
    if info["amx"]:
        return Check(
            "llama.cpp",
            False,
            f"{info['llama_cpp_python']} built with AMX kernels, which crash on some CPUs",
            "rebuild: `rm -rf .venv .cache && make install` (builds without AMX)",
        )
    detail = f"llama-cpp-python {info['llama_cpp_python']}, {gpu}, {info['cpus']} threads"
    if settings.llm.n_gpu_layers and not info["gpu_offload"]:
        return Check(
            "llama.cpp",
            False,
            detail + f"; n_gpu_layers={settings.llm.n_gpu_layers} will be ignored",
            'rebuild with LLAMA_CMAKE_ARGS="-DGGML_CUDA=on" make install (see README)',
        )
    return Check("llama.cpp", True, detail)


def _embedder(settings: Settings) -> Check:
    from appliance.embedding import Embedder

    emb = Embedder(settings.embedding.model_dir, settings.embedding.device)
    vec = emb.encode(["doctor check"])
    return Check("embedder", True, f"{emb.model_id} loads offline ({vec.shape[1]} dims)")


def _index(settings: Settings) -> Check:
    from appliance.embedding import resolve_model
    from appliance.store import Store
    from appliance.vectors import VectorIndex

    model_id, _ = resolve_model(settings.embedding.model_dir)
    if not (settings.index_dir / "index.sqlite").exists():
        return Check("index", True, f"no index yet in {settings.index_dir} (run `make ingest`)")
    with Store.open(settings.index_dir, embedding_model=model_id) as store:
        stats = store.stats()
        in_step = VectorIndex.in_step(store) or stats["chunks"] == 0
    detail = f"{stats['files']} files, {stats['chunks']} chunks"
    if not in_step:
        return Check("index", True, detail + "; vector file behind SQLite (rebuilt on next use)")
    return Check("index", True, detail)


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    steps: list[tuple[str, Callable[[Settings], Check]]] = [
        ("models", _models),
        ("llama.cpp", _llama),
        ("embedder", _embedder),
        ("index", _index),
    ]
    for name, fn in steps:
        try:
            checks.append(fn(settings))
        except ApplianceError as exc:
            checks.append(Check(name, False, exc.message, exc.hint))
        except Exception as exc:  # doctor must report, never crash
            checks.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
    return checks
