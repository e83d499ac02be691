"""The local backend: a GGUF model from ``models/`` run by llama-cpp-python.

The model's own chat template (embedded in the GGUF) renders the messages; models without one
fall back to ChatML. A model is loaded once per process (cache keyed by path, context size, GPU
layers and threads) and shared by every ``LlamaBackend`` with the same settings; a lock
serialises generation on it. llama.cpp's log output is routed to the ``appliance.llama`` logger
instead of the terminal. ``llama_cpp`` is imported only when a model is loaded or inspected.

Note that llama-cpp-python reuses the KV cache for the longest shared prompt prefix between
calls; benchmarks call ``reset()`` before a timed run, and time the bare model inside
``exclusive()``.

Left out: which file a setting names (``appliance.models``), prompt construction and context
budgeting (callers use ``prompt_tokens``), model download (models arrive by install or by the
user copying a file), what the llama.cpp build supports (``appliance.doctor``), embeddings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from appliance.backends.base import Backend, Message
from appliance.backends.gguf_info import ModelInfo, read_info
from appliance.errors import ModelError
from appliance.models import resolve_model

if TYPE_CHECKING:
    from llama_cpp import Llama

    from appliance.config import LLMSettings

log = logging.getLogger("appliance.llama")


class LlamaOptions(BaseModel):
    """How to load a GGUF (mirrors ``LLMSettings``; see there)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    models_dir: Path = Path("models")
    n_ctx: int = Field(default=4096, ge=16)
    n_gpu_layers: int = 0
    n_threads: int | None = Field(default=None, ge=1)
    repeat_penalty: float = Field(default=1.1, ge=1.0, le=2.0)
    stop: list[str] = Field(default_factory=list)


@dataclass
class _Loaded:
    llm: Llama
    formatter: Callable[..., Any]
    """Renders messages to a ChatFormatterResponse; the same one generation uses."""
    lock: threading.Lock


BUSY_TIMEOUT_S = 120.0
"""How long a stream waits for another stream on the same model to finish."""

_cache: dict[tuple[str, int, int, int], _Loaded] = {}
_cache_lock = threading.Lock()


class LlamaBackend(Backend):
    """Chat with a local GGUF model."""

    is_local: ClassVar[bool] = True
    Options: ClassVar[type[LlamaOptions]] = LlamaOptions

    def __init__(self, options: LlamaOptions | None = None, **kwargs: Any) -> None:
        self.options = options or LlamaOptions(**kwargs)
        self.path = resolve_model(self.options.model, self.options.models_dir)
        self.info: ModelInfo = read_info(self.path)  # rejects non-GGUF files before loading
        self.name = self.path.name.removesuffix(".gguf")
        trained = self.info.context_length or self.options.n_ctx
        threads = self.options.n_threads or cpu_count()
        self._loaded = _load(self.path, min(self.options.n_ctx, trained),
                             self.options.n_gpu_layers, threads)  # fmt: skip
        self.llm = self._loaded.llm
        self.context_length = self.llm.n_ctx()
        self.n_threads = threads

    @classmethod
    def from_settings(cls, llm: LLMSettings, models_dir: Path) -> LlamaBackend:
        return cls(
            LlamaOptions(
                model=llm.model,
                models_dir=models_dir,
                n_ctx=llm.n_ctx,
                n_gpu_layers=llm.n_gpu_layers,
                n_threads=llm.n_threads,
                repeat_penalty=llm.repeat_penalty,
                stop=list(llm.stop),
            )
        )

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        # One answer at a time per loaded model; a stream holds the lock until it ends, is
        # closed or is garbage-collected, so a forgotten one cannot block forever.
        if not self._loaded.lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise ModelError(f"{self.name} is still busy with another answer")
        try:
            used = self.prompt_tokens(messages)
            if used >= self.context_length:
                raise ModelError(
                    f"the prompt is {used} tokens but {self.name} takes {self.context_length}",
                    hint="use fewer passages (retrieval.k) or a larger llm.n_ctx",
                )
            chunks: Any = self.llm.create_chat_completion(
                messages=[m.as_dict() for m in messages],  # type: ignore[misc]
                max_tokens=max_tokens,
                temperature=temperature,
                repeat_penalty=self.options.repeat_penalty,
                stop=self.options.stop or None,
                stream=True,
            )
            try:
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
                    if stop is not None and stop.is_set():
                        break
            except (RuntimeError, ValueError) as exc:  # llama.cpp decode failures
                raise ModelError(f"{self.name} failed while generating: {exc}") from None
            finally:
                chunks.close()
        finally:
            self._loaded.lock.release()

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_token_ids(self, messages: list[Message]) -> list[int]:
        """The tokens the chat template makes of ``messages`` (with the assistant cue)."""
        result = self._loaded.formatter(messages=[m.as_dict() for m in messages])
        return self.llm.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )

    def prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens the prompt takes: budget so that this + passages + answer ≤ context_length."""
        return len(self.prompt_token_ids(messages))

    def reset(self) -> None:
        """Forget the cached prompt, so the next call evaluates its prompt from scratch."""
        with self._loaded.lock:
            self.llm.reset()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Llama]:
        """The loaded ``Llama``, held against every stream on it until the block ends (for
        benchmarks that time the bare model)."""
        with self._loaded.lock:
            yield self.llm


def cpu_count() -> int:
    """CPUs this process may run on (affinity-aware where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _load(path: Path, n_ctx: int, n_gpu_layers: int, n_threads: int) -> _Loaded:
    key = (str(path.resolve()), n_ctx, n_gpu_layers, n_threads)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _load_uncached(path, n_ctx, n_gpu_layers, n_threads)
        return _cache[key]


def _load_uncached(path: Path, n_ctx: int, n_gpu_layers: int, n_threads: int) -> _Loaded:
    import llama_cpp
    from llama_cpp import Llama

    _route_llama_logs()
    if n_gpu_layers and not llama_cpp.llama_supports_gpu_offload():
        log.warning("llm.n_gpu_layers=%s ignored: this llama.cpp has no GPU support", n_gpu_layers)
    _recent_errors.clear()
    started = time.perf_counter()
    try:
        llm = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        # "llama_model_load: error loading model: tensor … is corrupted" → the part after the
        # function name
        reasons = dict.fromkeys(m.split(": ", 1)[-1] for m in _recent_errors)
        reason = "; ".join(list(reasons)[:2]) or str(exc)
        raise ModelError(
            f"cannot load {path.name}: {reason}",
            hint="the file may be damaged, or need a newer llama-cpp-python",
        ) from None
    log.info("loaded %s in %.2fs (n_ctx=%d, threads=%d)", path.name,
             time.perf_counter() - started, n_ctx, n_threads)  # fmt: skip
    return _Loaded(llm, _chat_formatter(llm), threading.Lock())


def _chat_formatter(llm: Llama) -> Callable[..., Any]:
    """The GGUF's chat template as a formatter, installed as ``llm``'s chat handler so that
    ``prompt_tokens`` and generation render identically."""
    from llama_cpp import llama_chat_format

    template = llm.metadata.get("tokenizer.chat_template")
    formatter: Callable[..., Any]
    if template:
        eos, bos = llm.token_eos(), llm.token_bos()
        formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
    else:
        log.warning("%s has no chat template; using ChatML", llm.model_path)
        formatter = llama_chat_format.format_chatml
    llm.chat_handler = llama_chat_format.chat_formatter_to_chat_completion_handler(formatter)
    return formatter


# llama.cpp logs through one process-wide C callback; keep it (and a reference, so ctypes does
# not free it) here, forwarding to Python logging and remembering errors for load failures.
_recent_errors: list[str] = []
_log_callback: Any = None
_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}  # ggml.h
_last_level = logging.DEBUG


def _route_llama_logs() -> None:
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        global _last_level
        py_level = _LEVELS.get(level, _last_level)  # 5 = continuation of the previous line
        _last_level = py_level
        message = text.decode("utf-8", "replace").rstrip()
        if py_level >= logging.ERROR and message:
            _recent_errors.append(message)
            del _recent_errors[:-20]
        log.log(logging.WARNING if py_level >= logging.ERROR else logging.DEBUG, message)

    _log_callback = forward
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))
