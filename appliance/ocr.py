"""Offline OCR of page images with the models the ``rapidocr-onnxruntime`` wheel carries.

``read_page(image)`` turns one page image (Pillow) into ``OcrPage``: the text in reading order
(boxes on one line joined by spaces, lines by newlines, a blank line where the vertical gap
says a new paragraph starts) and the mean recognition confidence weighted by characters. The
engine (PP-OCRv4 detection + recognition, ONNX Runtime on the CPU) loads once per process, from
files inside the installed package: nothing is downloaded, ever. rapidocr's detector and
recogniser are driven here rather than through its one-call pipeline, for two fixes measured on
10-K pages: its per-line 180° classifier turns long lines upside down (garbage), and the
recogniser garbles very long lines and drops spaces in them, so those are cut at word gaps and
read in pieces. Orientation is decided per page instead: sideways pages (most boxes taller than
wide) are tried turned both ways, and a page read with low confidence is tried upside down.

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
MAX_SIDE = 3000
"""Longest side OCR works on (a letter page at 200 dpi is 2200): larger images are reduced."""
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


Row = tuple[list[list[float]], str, float]
LONG_LINE = 16
"""Line crops wider than this many times their height are cut at word gaps before reading:
the recognition model garbles very long lines and drops spaces in them."""
MIN_SCORE = 0.3
"""Lines read with less confidence than this are dropped as noise."""


def _pieces(crop: Any) -> list[Any]:
    """Cut a long line crop at the blank column run nearest its middle, recursively."""
    import numpy as np

    h, w = crop.shape[:2]
    if w <= LONG_LINE * h:
        return [crop]
    grey = crop.mean(axis=2) if crop.ndim == 3 else crop
    ink = (grey < (float(grey.min()) + float(grey.max())) / 2).any(axis=0)
    gap = max(2, int(0.2 * h))
    # Blank runs at least ``gap`` wide: their centres are the word gaps we may cut at.
    padded = np.concatenate(([False], ~ink, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    starts, ends = edges[::2], edges[1::2]
    wide = (ends - starts) >= gap
    if wide.any():
        centres = (starts[wide] + ends[wide]) // 2
        cut = int(centres[np.argmin(np.abs(centres - w // 2))])
    else:
        cut = w // 2
    if cut <= 0 or cut >= w:
        cut = w // 2
    return _pieces(crop[:, :cut]) + _pieces(crop[:, cut:])


def _run(image: Image) -> list[Row]:
    """Detect lines, read each (long ones in pieces joined by spaces): boxes, text, scores.

    Lines are read as they stand, without rapidocr's per-line 180° classifier: on long lines it
    turns good text upside down. A page that is upside down is handled whole (``read_page``).
    """
    import numpy as np

    eng = engine()
    arr = np.ascontiguousarray(np.asarray(image))
    h, w = arr.shape[:2]
    if w > 8 * h:  # a single wide line: detection wants some room around it
        arr = np.pad(arr, ((0, w // 8 - h), (0, 0), (0, 0)), constant_values=255)
    boxes, _ = eng.text_det(arr)
    if boxes is None or len(boxes) == 0:
        return []
    boxes = eng.sorted_boxes(boxes)
    crops = eng.get_crop_img_list(arr, boxes)
    pieces: list[Any] = []
    owner: list[int] = []
    for i, crop in enumerate(crops):
        for piece in _pieces(crop):
            pieces.append(piece)
            owner.append(i)
    read, _ = eng.text_rec(pieces)
    texts: list[list[str]] = [[] for _ in crops]
    weights: list[list[tuple[int, float]]] = [[] for _ in crops]
    for i, (text, score) in zip(owner, read, strict=True):
        texts[i].append(str(text))
        weights[i].append((len(text), float(score)))
    rows: list[Row] = []
    for box, parts, scores in zip(boxes, texts, weights, strict=True):
        chars = sum(n for n, _ in scores)
        score = sum(n * s for n, s in scores) / chars if chars else 0.0
        text = " ".join(p for p in parts if p)
        if text.strip() and score >= MIN_SCORE:
            rows.append((np.asarray(box).tolist(), text, score))
    return rows


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


UPSIDE_DOWN_BELOW = 0.75
"""A page read with less mean confidence is also tried turned upside down."""


def _score(rows: list[Row]) -> float:
    return sum(len(t) * s for _, t, s in rows)


def _confidence(rows: list[Row]) -> float:
    chars = sum(len(t) for _, t, _ in rows)
    return _score(rows) / chars if chars else 0.0


def _sideways(rows: list[tuple[list[list[float]], str, float]]) -> bool:
    """The page lies on its side: boxes taller than wide cover more of it than wide ones.

    By area, not count: on a sideways page a short line ("Dear Jo,") may be read as a
    fragment or two, and on an upright one tall single characters ("1", "l") are small.
    """
    tall = wide = 0.0
    for box, _, _ in rows:
        xs = [p[0] for p in box]
        ys = [p[1] for p in box]
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        if h > 1.5 * w:
            tall += w * h
        elif w > h:
            wide += w * h
    return tall > wide


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
            best, score = rows, 0.8 * _score(rows)
            for turn in (PILImage.Transpose.ROTATE_90, PILImage.Transpose.ROTATE_270):
                turned = _run(image.transpose(turn))
                if _score(turned) > score and not _sideways(turned):
                    best, score = turned, _score(turned)
            rows = best
        if rows and _confidence(rows) < UPSIDE_DOWN_BELOW:
            turned = _run(image.transpose(PILImage.Transpose.ROTATE_180))
            if _score(turned) > _score(rows) and _confidence(turned) > _confidence(rows):
                rows = turned
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
