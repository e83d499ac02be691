"""Offline OCR of page images with the models the ``rapidocr-onnxruntime`` wheel carries.

``read_page(image)`` turns one page image (Pillow) into ``OcrPage``: the text in reading order
(boxes on one line joined by spaces, lines by newlines, a blank line where the vertical gap
says a new paragraph starts) and the mean recognition confidence weighted by characters. Pages
read sideways are detected (most text boxes taller than wide) and tried turned both ways.
The engine (PP-OCRv4 detection + recognition, ONNX Runtime on the CPU) loads once per process,
from files inside the installed package: nothing is downloaded, ever.

Loaders call ``page_section`` for every page that needs OCR: it applies ``OcrSettings`` (the
confidence floor, the script filter) and returns either a ``Section`` or the one-line reason
the page was left out. ``ocr_context`` binds the settings and a per-page progress callback to
the current thread for one ingest; ``stats`` counts pages read (tests and the bench use it).

Left out: layout analysis (columns, tables come out line by line), handwriting, languages the
bundled recognition model does not cover (it reads Latin script and Chinese).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.config import OcrSettings
from appliance.loaders.base import Section

if TYPE_CHECKING:
    from PIL.Image import Image

PACKAGE = "rapidocr-onnxruntime"
MAX_SIDE = 2000
"""Longest side handed to the engine; it reduces anything larger to this itself."""
MIN_SIDE = 8
"""Images smaller than this (either side) hold no readable text."""

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


class OcrUnavailable(Exception):
    """The OCR engine cannot be loaded (package missing or broken); ``str`` says why."""


@dataclass(frozen=True)
class OcrPage:
    text: str
    confidence: float
    """Mean recognition confidence of the text, weighted by characters (0 when none)."""
    lines: int


@dataclass
class OcrStats:
    pages: int = 0
    seconds: float = 0.0


stats = OcrStats()
_engine: Any = None
_engine_error: str | None = None
_lock = threading.Lock()
_local = threading.local()


# -- the engine ---------------------------------------------------------------------------------
def engine() -> Any:
    """The RapidOCR engine, loaded once; OcrUnavailable with a reason when it cannot be."""
    global _engine, _engine_error
    with _lock:
        if _engine is None and _engine_error is None:
            try:
                import os

                from rapidocr_onnxruntime import RapidOCR

                _no_spinning()
                cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
                threads = cpus or os.cpu_count() or 1
                _engine = RapidOCR(
                    text_score=0.3,  # weak lines are kept so the page confidence shows them
                    # Detection at the image's own size up to MAX_SIDE: the default enlarges
                    # every image to 736 pixels on its short side, slow on small ones.
                    det_limit_type="max",
                    det_limit_side_len=MAX_SIDE,
                    **{
                        f"{part}_{knob}": n
                        for part in ("det", "cls", "rec")
                        for knob, n in (
                            ("intra_op_num_threads", threads),
                            ("inter_op_num_threads", 1),
                        )
                    },
                )
            except ImportError:
                _engine_error = f"OCR unavailable: {PACKAGE} is not installed"
            except Exception as exc:  # a broken install: a model file missing, ORT failing
                _engine_error = f"OCR unavailable: {type(exc).__name__}: {exc}"[:200]
        if _engine is None:
            raise OcrUnavailable(_engine_error or "OCR unavailable")
        return _engine


def _no_spinning() -> None:
    """ONNX Runtime's idle worker threads spin by default. OCR runs beside the embedder on a
    few cores, where spinning takes the CPU the other side needs: turn it off (best effort,
    through rapidocr's session options; a rapidocr without that hook keeps the default)."""
    try:
        from rapidocr_onnxruntime.utils import infer_engine

        make = infer_engine.OrtInferSession._init_sess_opts
        if getattr(make, "_appliance", False):
            return

        def options(config: dict[str, Any]) -> Any:
            opts = make(config)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
            return opts

        options._appliance = True  # type: ignore[attr-defined]
        infer_engine.OrtInferSession._init_sess_opts = staticmethod(options)
    except Exception:
        return


def model_info() -> dict[str, object]:
    """What ``appliance doctor`` shows: package version and the bundled model files."""
    from importlib import metadata
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise OcrUnavailable(f"{PACKAGE} is not installed")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    files = sorted(models.glob("*.onnx")) if models.is_dir() else []
    return {
        "package": f"{PACKAGE} {metadata.version(PACKAGE)}",
        "onnxruntime": metadata.version("onnxruntime"),
        "models": {f.name: f.stat().st_size for f in files},
        "languages": ["en", "zh"],
    }


# -- one page -----------------------------------------------------------------------------------
def _prepare(image: Image) -> Image:
    """RGB, at most ``MAX_SIDE`` pixels on the longest side (1-bit and palette scans too)."""
    from PIL import Image as PILImage

    if image.mode not in ("RGB", "L"):
        image = image.convert("L") if image.mode in ("1", "I;16", "I", "F") else image
        image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, PILImage.Resampling.LANCZOS, reducing_gap=2.0)
    return image.convert("RGB")


def _run(image: Image, upright: bool = False) -> list[tuple[list[list[float]], str, float]]:
    """Boxes, text and scores; ``upright`` skips the 180° classifier (a wrong turn of the page
    then reads as upside-down text, with low scores)."""
    import numpy as np

    result, _ = engine()(np.asarray(image), use_cls=False if upright else None)
    return [(box, str(text), float(score)) for box, text, score in (result or [])]


def _layout(rows: list[tuple[list[list[float]], str, float]]) -> tuple[str, float, int]:
    """Boxes → text in reading order, weighted confidence and line count."""
    items = []
    for box, text, score in rows:
        text = " ".join(text.split())
        if not text:
            continue
        ys = [p[1] for p in box]
        xs = [p[0] for p in box]
        items.append((min(ys), max(ys), min(xs), text, score))
    if not items:
        return "", 0.0, 0
    items.sort(key=lambda it: (it[0] + it[1]) / 2)
    lines: list[list[tuple[float, float, float, str, float]]] = []
    for it in items:
        mid = (it[0] + it[1]) / 2
        if lines:
            last = lines[-1]
            top = sum(i[0] for i in last) / len(last)
            bottom = sum(i[1] for i in last) / len(last)
            if top <= mid <= bottom:
                last.append(it)
                continue
        lines.append([it])
    out: list[str] = []
    prev_bottom: float | None = None
    prev_height = 0.0
    for line in lines:
        line.sort(key=lambda i: i[2])
        top = min(i[0] for i in line)
        height = max(i[1] for i in line) - top
        if prev_bottom is not None:
            gap = top - prev_bottom
            out.append("\n\n" if gap > 0.9 * max(height, prev_height) else "\n")
        out.append(" ".join(i[3] for i in line))
        prev_bottom, prev_height = max(i[1] for i in line), height
    chars = sum(len(i[3]) for i in items)
    confidence = sum(len(i[3]) * i[4] for i in items) / chars if chars else 0.0
    return "".join(out), confidence, len(lines)


def _sideways(rows: list[tuple[list[list[float]], str, float]]) -> bool:
    """Most boxes taller than wide: the page lies on its side."""
    tall = 0
    for box, text, _ in rows:
        xs = [p[0] for p in box]
        ys = [p[1] for p in box]
        if len(text) > 2 and (max(ys) - min(ys)) > 1.5 * (max(xs) - min(xs)):
            tall += 1
    return len(rows) >= 2 and tall * 2 > len(rows)


def read_page(image: Image, languages: Sequence[str] = ("en",)) -> OcrPage:
    """OCR one page image; OcrUnavailable when there is no engine."""
    from PIL import Image as PILImage

    t0 = time.perf_counter()
    try:
        if min(image.size) < MIN_SIDE:
            return OcrPage("", 0.0, 0)
        image = _prepare(image)
        rows = _run(image)
        if _sideways(rows):
            # Read upright the lines come out in order; the turn that reads about as much
            # text as the sideways pass wins (the wrong one reads upside down: little text).
            best, score = rows, 0.8 * sum(len(t) * s for _, t, s in rows)
            for turn in (PILImage.Transpose.ROTATE_90, PILImage.Transpose.ROTATE_270):
                turned = _run(image.transpose(turn), upright=True)
                turned_score = sum(len(t) * s for _, t, s in turned)
                if turned_score > score and not _sideways(turned):
                    best, score = turned, turned_score
            rows = best
        if "zh" not in languages:
            # The model reads Chinese too and sometimes "finds" it in noise on a Latin page.
            rows = [r for r in rows if len(_CJK.findall(r[1])) * 2 < len(r[1])]
        text, confidence, lines = _layout(rows)
        return OcrPage(text, confidence, lines)
    finally:
        stats.pages += 1
        stats.seconds += time.perf_counter() - t0


# -- loaders' side --------------------------------------------------------------------------------
def settings() -> OcrSettings:
    """The OCR settings bound to this thread by ``ocr_context`` (defaults otherwise)."""
    bound = getattr(_local, "settings", None)
    return bound if bound is not None else OcrSettings()


@contextlib.contextmanager
def ocr_context(ocr: OcrSettings, on_page: Callable[[], None] | None = None) -> Iterator[None]:
    """Bind OCR settings and a called-per-page-read callback to this thread."""
    saved = getattr(_local, "settings", None), getattr(_local, "on_page", None)
    _local.settings, _local.on_page = ocr, on_page
    try:
        yield
    finally:
        _local.settings, _local.on_page = saved


def page_section(image: Image, page: int) -> tuple[Section | None, str | None]:
    """OCR a page: ``(Section, None)`` when it reads well enough, else ``(None, reason)``.

    The reason names the page: ``"page 3: OCR confidence 0.31, not indexed"``.
    """
    cfg = settings()
    result = read_page(image, cfg.languages)
    callback = getattr(_local, "on_page", None)
    if callback is not None:
        callback()
    if not result.text.strip():
        return None, f"page {page}: OCR found no text"
    if result.confidence < cfg.min_confidence:
        return None, f"page {page}: OCR confidence {result.confidence:.2f}, not indexed"
    return Section(page, 0, result.text, ocr=round(result.confidence, 4)), None


class PageNotes:
    """Collects per-page OCR outcomes for one file and writes them as a few notes."""

    def __init__(self) -> None:
        self.read: list[float] = []
        self.skipped: list[str] = []
        self.over_cap: list[int] = []

    def add(self, section: Section | None, reason: str | None) -> None:
        if section is not None and section.ocr is not None:
            self.read.append(section.ocr)
        elif reason:
            self.skipped.append(reason)

    def write(self, notes: list[str]) -> None:
        if self.read:
            mean = sum(self.read) / len(self.read)
            pages = "page" if len(self.read) == 1 else "pages"
            notes.append(f"OCR: {len(self.read)} {pages} read (mean confidence {mean:.2f})")
        shown = self.skipped[:20]
        notes.extend(shown)
        if len(self.skipped) > len(shown):
            notes.append(f"... and {len(self.skipped) - len(shown)} more pages not indexed")
        if self.over_cap:
            first, last = self.over_cap[0], self.over_cap[-1]
            span = f"page {first}" if first == last else f"pages {first}-{last}"
            notes.append(f"{span} not OCR'd (over ocr.max_pages = {settings().max_pages})")


def bind(ocr: OcrSettings, on_page: Callable[[], None] | None = None) -> None:
    """Bind OCR settings and a per-page callback to this thread for its lifetime (a worker)."""
    _local.settings, _local.on_page = ocr, on_page
