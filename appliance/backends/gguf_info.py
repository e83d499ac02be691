"""What a GGUF model file is, read from its header without loading the weights.

GGUF (llama.cpp's format) starts with the magic ``GGUF``, a version, the tensor count and the
key/value count, then typed key/value pairs; only that key/value section is read here (the file
is memory-mapped, so tokenizer arrays are skipped without being read). Versions 2 and 3, either
byte order, are understood. Reported: name, architecture, quantisation, trained context length,
whether a chat template is embedded, size label and size on disk.

Left out: tensor metadata, the tokenizer itself, and checking that the weights are intact (the
sha256 manifest written at install does that).
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ModelError

MAGIC = b"GGUF"

# llama.cpp's ``llama_ftype`` enum (``general.file_type``); gaps are formats since removed.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}  # fmt: skip

# Scalar value types: type id -> struct code (string = 8 and array = 9 are handled apart).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
            10: "Q", 11: "q", 12: "d"}  # fmt: skip
_STRING, _ARRAY = 8, 9
_SPLIT_PART = re.compile(r"-(\d{5})-of-\d{5}$")


class GGUFError(ModelError):
    """The file is not a readable GGUF model."""


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    """``general.name``, else the file name without ``.gguf``."""
    architecture: str | None
    """``general.architecture`` (llama, qwen2, …)."""
    file_type: str | None
    """Quantisation (``Q4_1``, ``Q4_K_M``, ``F16``), from the header or else the file name."""
    context_length: int | None
    """Context the model was trained with (``<arch>.context_length``)."""
    has_chat_template: bool
    size_bytes: int
    size_label: str | None = None
    """``general.size_label`` (``135M``, ``7B``) when the file records it."""
    error: str | None = None
    """Why the file could not be read (``list_models`` only; ``read_info`` raises instead)."""

    @property
    def stem(self) -> str:
        """The file name without ``.gguf``: how models are named in settings and the audit log."""
        return self.path.name.removesuffix(".gguf")


def read_metadata(path: Path) -> dict[str, Any]:
    """All header key/values, with strings decoded and arrays summarised as their length.

    Raises ``GGUFError`` for a missing, non-GGUF, unsupported or truncated file.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            if head != MAGIC:
                shown = head.hex() if head else "an empty file"
                raise GGUFError(f"{path.name} is not a GGUF model file (starts with {shown})")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _Reader(buf, path.name).metadata()
    except OSError as exc:
        raise GGUFError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_info(path: Path) -> ModelInfo:
    """Describe one GGUF file; raises ``GGUFError`` when it is not one."""
    meta = read_metadata(path)
    arch = meta.get("general.architecture")
    ftype = meta.get("general.file_type")
    ctx = meta.get(f"{arch}.context_length") if isinstance(arch, str) else None
    return ModelInfo(
        path=path,
        name=str(meta.get("general.name") or path.name.removesuffix(".gguf")),
        architecture=arch if isinstance(arch, str) else None,
        file_type=FILE_TYPES.get(ftype) if isinstance(ftype, int) else quant_from_name(path.name),
        context_length=int(ctx) if isinstance(ctx, int) else None,
        has_chat_template=bool(meta.get("tokenizer.chat_template")),
        size_bytes=path.stat().st_size,
        size_label=meta.get("general.size_label") or None,
    )


def list_models(models_dir: Path) -> list[ModelInfo]:
    """Every ``*.gguf`` in ``models_dir`` (sorted; later parts of split models left out).

    A file that cannot be read is listed with ``error`` set rather than raising.
    """
    infos: list[ModelInfo] = []
    for path in sorted(models_dir.glob("*.gguf")):
        part = _SPLIT_PART.search(path.name.removesuffix(".gguf"))
        if part and int(part.group(1)) > 1:
            continue
        try:
            infos.append(read_info(path))
        except GGUFError as exc:
            size = path.stat().st_size if path.exists() else 0
            quant = quant_from_name(path.name)
            infos.append(ModelInfo(path, path.stem, None, quant, None, False, size, error=str(exc)))
    return infos


def quant_from_name(filename: str) -> str | None:
    """Guess the quantisation from a file name: ``"x.Q4_K_M.gguf"`` → ``"Q4_K_M"``."""
    stem = filename.upper().removesuffix(".GGUF")
    for quant in sorted(FILE_TYPES.values(), key=len, reverse=True):
        if re.search(rf"(?:^|[^A-Z0-9]){quant}(?:$|[^A-Z0-9])", stem):
            return quant
    return None


class _Reader:
    """Walks the key/value section of a mapped GGUF file."""

    def __init__(self, buf: mmap.mmap, filename: str) -> None:
        self.buf = buf
        self.filename = filename
        self.pos = 4
        self.order = "<"

    def metadata(self) -> dict[str, Any]:
        try:
            version = self._scalar("I")
            if version > 0xFFFF:  # written on a big-endian machine
                self.order, self.pos = ">", 4
                version = self._scalar("I")
            if version not in (2, 3):
                raise GGUFError(
                    f"{self.filename}: GGUF version {version} is not supported (2 and 3 are)",
                    hint="convert the model again with a current llama.cpp",
                )
            self._scalar("Q")  # tensor count
            count = self._scalar("Q")
            if count > len(self.buf) // 13:  # each pair takes at least 13 bytes
                raise struct.error("implausible key/value count")
            meta: dict[str, Any] = {}
            for _ in range(count):
                key = self._string()
                meta[key] = self._value(self._scalar("I"))
            return meta
        except (struct.error, UnicodeDecodeError, IndexError, ValueError) as exc:
            raise GGUFError(
                f"{self.filename} is truncated or damaged (GGUF header unreadable at byte "
                f"{self.pos}: {exc})",
                hint="download or copy the model again",
            ) from None

    def _scalar(self, code: str) -> Any:
        fmt = self.order + code
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def _string(self) -> str:
        size = self._scalar("Q")
        end = self.pos + size
        if end > len(self.buf):
            raise ValueError("string runs past the end of the file")
        text = self.buf[self.pos : end].decode("utf-8")
        self.pos = end
        return text

    def _value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self._scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self._string()
        if vtype == _ARRAY:
            return self._skip_array()
        raise ValueError(f"unknown value type {vtype}")

    def _skip_array(self) -> int:
        """Skip an array's items without decoding them; returns its length."""
        itype, count = self._scalar("I"), self._scalar("Q")
        if itype in _SCALARS:
            self.pos += count * struct.calcsize(_SCALARS[itype])
        elif itype == _STRING:
            for _ in range(count):
                (size,) = struct.unpack_from(self.order + "Q", self.buf, self.pos)
                self.pos += 8 + size
        else:  # arrays of arrays: rare, walk them
            for _ in range(count):
                self._value(itype)
        if self.pos > len(self.buf):
            raise ValueError("array runs past the end of the file")
        return int(count)
