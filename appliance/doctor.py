"""``appliance doctor``: check the installation and say what to fix.

Checks: the models in ``models/`` against the sha256 manifest written at install, the
llama.cpp build (AMX kernels that crash on some CPUs, GPU offload support), the model server
when ``llm.backend = "openai"`` (a trusted one must answer; an untrusted one is never contacted
here), that the embedder
loads offline, and that the index opens with the configured embedder and agrees with its
vector file (intact and in step), and that the index folder is private to its owner. Each check
is independent: one failure never hides the others. Doctor only reads: it never repairs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def llama_build_info() -> dict[str, Any]:
    """What the installed llama.cpp was built with, for ``appliance doctor``.

    ``features`` maps the flags in llama.cpp's system info to their values
    (``{"AVX2": 1, "AVX512": 1, …}``); ``amx`` is True when AMX kernels are compiled in
    (they crash on some CPUs that advertise AMX).
    """
    import llama_cpp

    from appliance.backends.llama import cpu_count

    text = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    features = {k: int(v) for k, v in re.findall(r"([A-Za-z0-9_]+)\s*=\s*(\d+)", text)}
    return {
        "llama_cpp_python": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "mmap": bool(llama_cpp.llama_supports_mmap()),
        "features": features,
        "amx": any(k.startswith("AMX") and v for k, v in features.items()),
        "cpus": cpu_count(),
        "system_info": text,
    }


def _llama(settings: Settings) -> Check:
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
    from appliance.store import Store, index_exists
    from appliance.vectors import VectorIndex

    model_id, _ = resolve_model(settings.embedding.model_dir)
    if not index_exists(settings.index_dir):
        return Check("index", True, f"no index yet in {settings.index_dir} (run `make ingest`)")
    with Store.open(settings.index_dir, embedding_model=model_id) as store:
        stats = store.stats()
        problem = VectorIndex.problem(store)
    detail = f"{stats['files']} files, {stats['chunks']} chunks"
    if problem is not None:
        return Check(
            "index",
            False,
            detail + f"; the vector file is {problem} (each question rebuilds it in memory)",
            "run `appliance ingest` on your folders again (unless one is running): it rewrites "
            "the vector file; questions never write the index",
        )
    return Check("index", True, detail)


def _index_modes(settings: Settings) -> Check:
    from appliance.store import loose_modes

    index_dir = settings.index_dir
    if not index_dir.exists():
        return Check("index files", True, f"no index folder yet ({index_dir})")
    loose = loose_modes(index_dir)
    if not loose:
        return Check("index files", True, f"{index_dir} is private (folders 0700, files 0600)")
    shown = ", ".join(_mode_of(p, index_dir) for p in loose[:5])
    more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
    return Check(
        "index files",
        False,
        f"{len(loose)} path(s) in {index_dir} readable by other users: {shown}{more}",
        f"run `appliance ingest` (it tightens the folder) or `chmod -R go-rwx {index_dir}`",
    )


def _mode_of(path: Path, index_dir: Path) -> str:
    try:
        mode = f"{os.lstat(path).st_mode & 0o777:04o}"
    except OSError:
        mode = "?"
    return f"{path.relative_to(index_dir)} {mode}"


def _model_server(settings: Settings) -> Check:
    """``llm.backend = "openai"``: where answers come from, and whether it is trusted."""
    from appliance.backends.openai import (
        OpenAIBackend,
        allow_server,
        check_server_url,
        server_trust,
    )

    trusted = server_trust(settings.llm, settings.privacy)
    if trusted is None:
        return Check("model server", True, "none: answers come from llama.cpp in this process")
    url = settings.llm.base_url or ""
    if not trusted:
        check_server_url(url, trusted=False)
        return Check(
            "model server",
            True,
            f"{url} is not in privacy.trusted_hosts: it answers only non-sensitive turns in "
            "hybrid mode (in Claude's place), sensitive ones stay in this process; not contacted",
        )
    allow_server(url, trusted=True)
    backend = OpenAIBackend.from_settings(settings.llm, settings.privacy)
    return Check(
        "model server",
        True,
        f"{backend.server} serves {backend.name} (context {backend.context_length} tokens); "
        "it answers every turn",
    )


def _ocr(settings: Settings) -> Check:
    """The bundled OCR model: where it comes from, and that it reads a line drawn here."""
    if not settings.ocr.enabled:
        return Check("ocr", True, "off (ocr.enabled = false): scans and images are not read")
    from PIL import Image, ImageDraw, ImageFont

    from appliance import ocr

    info = ocr.model_info()
    models = ", ".join(info["models"])  # type: ignore[arg-type]
    image = Image.new("L", (320, 80), 255)
    ImageDraw.Draw(image).text((16, 20), "Doctor 4471", fill=0, font=ImageFont.load_default(30))
    try:
        page = ocr.read_page(image)
    except ocr.OcrUnavailable as exc:
        return Check("ocr", False, str(exc), "run `make install`")
    detail = f"{info['package']} (onnxruntime {info['onnxruntime']}): {models}"
    if "4471" not in page.text:
        return Check("ocr", False, f"{detail}; a test line read as {page.text!r}")
    langs = ", ".join(settings.ocr.languages)
    return Check("ocr", True, f"{detail}; reads offline, languages {langs}")


def _network_guard(settings: Settings) -> Check:
    """Informational: what the in-process egress guard covers, and the OS-level option."""
    from appliance.egress import guard_summary

    return Check("network guard", True, guard_summary())


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    steps: list[tuple[str, Callable[[Settings], Check]]] = [
        ("models", _models),
        ("llama.cpp", _llama),
        ("model server", _model_server),
        ("embedder", _embedder),
        ("index", _index),
        ("ocr", _ocr),
        ("network guard", _network_guard),
        ("index files", _index_modes),
    ]
    for name, fn in steps:
        try:
            checks.append(fn(settings))
        except ApplianceError as exc:
            checks.append(Check(name, False, exc.message, exc.hint))
        except Exception as exc:  # doctor must report, never crash
            checks.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
    return checks
