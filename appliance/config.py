"""One settings object for the whole appliance.

Read, highest priority first, from: keyword overrides (the CLI's flags), ``APPLIANCE_*``
environment variables (nested sections with ``__``: ``APPLIANCE_LLM__N_GPU_LAYERS=-1``),
then ``appliance.toml`` (``--config FILE``, ``$APPLIANCE_CONFIG``, the current directory, or
``~/.config/appliance/appliance.toml``). ``APPLIANCE_INDEX_DIR`` and ``APPLIANCE_MODELS_DIR``
set the two data folders. Secrets (``ANTHROPIC_API_KEY``, ``APPLIANCE_OPENAI_API_KEY``) are
read from the environment by the backends that use them, never stored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from appliance.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestSettings(_Section):
    chunk_tokens: int = Field(200, ge=16, le=2048)
    """Target chunk size in embedder tokens."""
    chunk_overlap: int = Field(40, ge=0, le=512)
    """Tokens shared between neighbouring chunks of the same page."""
    batch_size: int = Field(32, ge=1, le=1024)
    """Chunks embedded per batch."""
    max_file_mb: int = Field(512, ge=1)
    """Files larger than this are skipped with a reason."""
    ray_address: str | None = None
    """Load, chunk, label and embed on a Ray cluster (``pip install 'appliance[ray]'``): the
    head's ``host:port``, ``auto`` (the cluster this machine joined with ``ray start``) or
    ``local`` (a one-machine cluster on loopback for this run). This process still writes."""
    ray_shared_fs: bool = False
    """With ``ray_address``: workers open files by path (every node mounts them at the same
    path) instead of receiving their bytes through Ray's object store."""
    ray_cpus_per_actor: int = Field(4, ge=1)
    """With ``ray_address`` on CPUs: one embedder actor per this many cores of the cluster
    (at least one), using that many threads; with GPUs, one actor per GPU."""


class OcrSettings(_Section):
    enabled: bool = True
    """Read scanned PDF pages and images (PNG, JPEG, TIFF) with the bundled offline OCR model."""
    languages: tuple[Literal["en", "zh"], ...] = ("en",)
    """Scripts to keep: the bundled model reads English (Latin letters, digits) and Chinese;
    without ``zh``, lines read as Chinese characters (noise on Latin pages) are dropped."""
    min_confidence: float = Field(0.6, ge=0.0, le=1.0)
    """Pages whose mean OCR confidence is lower are reported per file, not indexed."""
    dpi: int = Field(200, ge=72, le=400)
    """Resolution scanned PDF pages are rendered at before OCR."""
    max_pages: int = Field(500, ge=1)
    """Pages OCR'd per file at most; the rest are reported, not read."""
    max_megapixels: int = Field(64, ge=1, le=1024)
    """Images larger than this are reduced while decoding (JPEG) or refused with a reason."""


class EmbeddingSettings(_Section):
    model_dir: Path | None = None
    """A local sentence-transformers model folder; default: the bundled all-MiniLM-L6-v2."""
    device: str | None = None
    """Torch device (``cpu``, ``cuda``); default picks CUDA when available."""


class LLMSettings(_Section):
    backend: Literal["llama", "openai"] = "llama"
    """``llama``: a GGUF run in this process; ``openai``: an OpenAI-compatible server (vLLM,
    llama.cpp's server, TGI) at ``base_url``, local only if ``privacy.trusted_hosts`` lists it."""
    base_url: str | None = None
    """The server's API root for ``backend = "openai"``: ``http://gpu-box.lan:8000/v1``."""
    model: str | None = None
    """GGUF file name in ``models/`` (or a path); default: the bundled SmolLM2. With
    ``backend = "openai"``: the served model name (default: the first the server lists)."""
    timeout: float = Field(120.0, gt=0)
    """``openai``: seconds to wait for the server's next bytes before giving up."""
    connect_timeout: float = Field(5.0, gt=0)
    """``openai``: seconds to wait for a connection to the server."""
    n_gpu_layers: int = 0
    """Layers offloaded to the GPU (-1 = all); needs a CUDA/Metal build of llama.cpp."""
    n_ctx: int = Field(4096, ge=512)
    """Context window in tokens (capped at the model's own)."""
    max_tokens: int = Field(384, ge=16)
    """Longest answer in tokens."""
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    repeat_penalty: float = Field(1.1, ge=1.0, le=2.0)
    """Discourages small models from repeating themselves (1.0 = off)."""
    stop: list[str] = Field(default_factory=list)
    """``llama``: text that ends an answer where it appears (not shown)."""
    n_threads: int | None = None
    """CPU threads; default all cores."""


class RetrievalSettings(_Section):
    k: int = Field(5, ge=1, le=100)
    """Passages given to the model."""
    candidates: int = Field(40, ge=1, le=1000)
    """Hits taken from each method before fusion."""
    rrf_k: int = Field(60, ge=1)
    """Reciprocal-rank-fusion constant."""
    dense_weight: float = Field(1.0, ge=0.0)
    """Weight of the dense (meaning) ranking in the fusion."""
    lexical_weight: float = Field(1.0, ge=0.0)
    """Weight of the lexical (exact words, bm25) ranking in the fusion."""
    lexical_candidates: int = Field(20, ge=1, le=1000)
    """Lexical hits that join the fusion (on annual reports 20 found more evidence pages than
    5; bm25 also indexes document context and expands financial terms)."""
    min_score: float = Field(0.2, ge=-1.0, le=1.0)
    """Passages less similar than this (cosine) count as not relevant; none left means the
    answer says the documents do not cover the question instead of guessing."""
    scope_weight: float = Field(1.0, ge=0.0)
    """Weight of the extra rankings restricted to the documents a question names (a company,
    title or file-name word that only a few documents carry); 0 turns naming scopes off."""
    context_weight: float = Field(2.0, ge=0.0)
    """bm25 weight of a chunk's document context (title, headings) beside its text (1.0)."""
    page_scoring: bool = True
    """Give the best passage of each page before a second passage of the same page (the
    evidence is a page: five passages then cover five pages)."""
    reranker_dir: Path | None = None
    """A local cross-encoder model folder; off when unset (none is bundled)."""


class PrivacySettings(_Section):
    mode: Literal["offline", "hybrid"] = "offline"
    """``offline`` (default): no network at all; ``hybrid``: non-sensitive turns may use Claude."""
    sensitive_paths: list[str] = Field(default_factory=list)
    """Globs, relative to an ingested root: everything matching is sensitive (``hr/**``)."""
    terms: list[str] = Field(default_factory=list)
    """Words or phrases that make a text sensitive (case-insensitive)."""
    patterns: list[str] = Field(default_factory=list)
    """Regular expressions that make a text sensitive."""
    phone_regions: list[str] = Field(default_factory=lambda: ["US", "GB"])
    """Countries whose national phone formats are recognised without a +country prefix
    (two-letter codes); international numbers are recognised whatever this says."""
    redact: bool = False
    """Stricter tier: send sensitive turns to Claude with detected values as placeholders."""
    trusted_hosts: list[str] = Field(default_factory=list)
    """Model servers inside your trust boundary (``gpu-box.lan`` or ``gpu-box.lan:8000``): an
    ``llm.base_url`` there answers every turn, sensitive ones included, in any mode; a server
    not listed is treated like Claude (hybrid mode, non-sensitive turns only)."""
    claude_model: str = "claude-sonnet-4-6"
    anthropic_base_url: str | None = None
    """Default: ``$ANTHROPIC_BASE_URL`` or Anthropic's API."""


class Settings(BaseSettings):
    """Everything configurable; see the README's configuration section."""

    model_config = SettingsConfigDict(
        env_prefix="APPLIANCE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    index_dir: Path = Path("index")
    """Where the index lives (SQLite, FAISS, audit log)."""
    models_dir: Path = Path("models")
    """Where GGUF models live."""
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    ocr: OcrSettings = Field(default_factory=OcrSettings)

    _toml_files: ClassVar[list[Path]] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        sources += [TomlConfigSettingsSource(settings_cls, toml_file=p) for p in cls._toml_files]
        return tuple(sources)


def config_files(explicit: Path | None = None) -> list[Path]:
    """The TOML file to read, if any (first found wins)."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return [explicit]
    env = os.environ.get("APPLIANCE_CONFIG")
    if env:
        return config_files(Path(env))
    for candidate in (
        Path.cwd() / "appliance.toml",
        Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
        / "appliance"
        / "appliance.toml",
    ):
        if candidate.is_file():
            return [candidate]
    return []


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (None values ignored) win over everything else."""
    Settings._toml_files = config_files(config)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ConfigError(f"invalid setting {where or '?'}: {first.get('msg')}") from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read configuration: {exc}") from None
