"""Images: PNG, JPEG and TIFF (each page of a multi-page TIFF) read by OCR, one section a page.

The format is told by content (magic bytes), not the suffix, so a PNG named ``.jpg`` is still
read. Decoding is bounded: the size in the header is checked before any pixel is decoded; a
JPEG larger than ``ocr.max_megapixels`` is decoded reduced (libjpeg's DCT scaling), any other
image that large is reported, not decoded; at most ``ocr.max_pages`` pages of a TIFF are read.
A damaged page (truncated data, an unknown compression) is reported with its reason and the
other pages still count. Each page's outcome is in the file's notes; a file where no page gave
text fails with the reason.

Left out: GIF, WebP, HEIC, PDF-like multi-image formats other than TIFF.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.loaders.base import LoadError, Section

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"II+\x00": "TIFF",  # BigTIFF
    b"MM\x00+": "TIFF",
}


def image_format(head: bytes) -> str | None:
    """``b"\\x89PNG\\r\\n\\x1a\\n..."`` → ``"PNG"``; None for anything else."""
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def _short(e: BaseException) -> str:
    detail = " ".join(str(e).split()) or type(e).__name__
    return detail if len(detail) <= 100 else detail[:97] + "..."


def _open(path: Path, max_pixels: int) -> Any:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bomb warnings, "Corrupt EXIF data": checked below
        try:
            return Image.open(path)
        except Image.DecompressionBombError:
            raise LoadError(
                f"image too large to decode (over {max_pixels // 1_000_000} MP)"
            ) from None
        except Exception as e:  # UnidentifiedImageError, OSError, struct errors on bad headers
            raise LoadError(f"damaged image: {_short(e)}") from None


def _decode(im: Any, max_pixels: int) -> tuple[Any, str | None]:
    """The current frame decoded within the pixel cap, or (None, reason)."""

    w, h = im.size
    if w <= 0 or h <= 0:
        return None, "image has no pixels"
    if w * h > max_pixels:
        if im.format != "JPEG":
            return None, f"image too large ({w}×{h} pixels > {max_pixels // 1_000_000} MP limit)"
        scale = (max_pixels / (w * h)) ** 0.5
        im.draft("L", (max(1, int(w * scale)), max(1, int(h * scale))))
        if im.size[0] * im.size[1] > max_pixels:
            return None, f"image too large ({w}×{h} pixels > {max_pixels // 1_000_000} MP limit)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im.load()
            frame = im.copy()
        except Exception as e:  # truncated data, unsupported compression, decoder errors
            return None, f"damaged image: {_short(e)}"
    try:
        from PIL import ImageOps

        frame = ImageOps.exif_transpose(frame)  # photos taken sideways carry it in EXIF
    except Exception:
        pass
    return frame, None


class ImageLoader:
    """PNG, JPEG, TIFF via Pillow; text by OCR (``appliance.ocr``); ``page`` is 1-based."""

    kind = "image"
    suffixes: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

    def sniff(self, head: bytes) -> bool:
        return image_format(head) is not None

    def load(self, path: Path, notes: list[str]) -> Iterator[Section]:
        from appliance import ocr

        cfg = ocr.settings()
        if not cfg.enabled:
            raise LoadError("image needs OCR, which is off (ocr.enabled = false)")
        max_pixels = cfg.max_megapixels * 1_000_000
        log = ocr.PageNotes()
        indexed = 0
        im = _open(path, max_pixels)
        try:
            number = 0
            while True:
                number += 1
                if number > cfg.max_pages:
                    last = number
                    try:
                        frames = int(getattr(im, "n_frames", 1))
                    except Exception:
                        frames = number
                    last = max(last, frames)
                    if frames >= number:
                        log.over_cap.extend(range(number, last + 1))
                    break
                if number > 1:
                    try:
                        im.seek(number - 1)
                    except EOFError:
                        break
                    except Exception as e:
                        log.add(None, f"page {number}: damaged image: {_short(e)}")
                        break
                frame, reason = _decode(im, max_pixels)
                section = None
                if frame is not None:
                    try:
                        section, reason = ocr.page_section(frame, number)
                    except ocr.OcrUnavailable as e:
                        raise LoadError(f"image needs OCR: {e}") from None
                    del frame
                elif reason:
                    reason = f"page {number}: {reason}"
                log.add(section, reason)
                if section is not None:
                    indexed += 1
                    yield section
                if not getattr(im, "is_animated", False):
                    break
        finally:
            im.close()
        if indexed == 0:
            if len(log.skipped) == 1:
                raise LoadError(log.skipped[0].removeprefix("page 1: "))
            raise LoadError(
                f"no text found: {len(log.skipped)} pages unread ({log.skipped[0]}, ...)"
                if log.skipped
                else "no text found"
            )
        log.write(notes)
