"""A JBIG2 encoder for tests: one page, one immediate lossless generic region, either coded
with the MQ arithmetic coder (template 0, the form jbig2enc and scanners write for generic
regions) or MMR-coded (the G4 code, lifted from libtiff's output). Written from ITU-T T.88
(Annex E: the MQ coder; 6.2.5.3: template 0's context) so that tests can make real JBIG2
streams without an encoder package; symbol dictionaries and text regions are left out.

Streams are "embedded" ones, as PDF wants: no file header, no end-of-page segment.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from PIL import Image, ImageOps, TiffImagePlugin

QE = [
    (0x5601, 1, 1, 1),
    (0x3401, 2, 6, 0),
    (0x1801, 3, 9, 0),
    (0x0AC1, 4, 12, 0),
    (0x0521, 5, 29, 0),
    (0x0221, 38, 33, 0),
    (0x5601, 7, 6, 1),
    (0x5401, 8, 14, 0),
    (0x4801, 9, 14, 0),
    (0x3801, 10, 14, 0),
    (0x3001, 11, 17, 0),
    (0x2401, 12, 18, 0),
    (0x1C01, 13, 20, 0),
    (0x1601, 29, 21, 0),
    (0x5601, 15, 14, 1),
    (0x5401, 16, 14, 0),
    (0x5101, 17, 15, 0),
    (0x4801, 18, 16, 0),
    (0x3801, 19, 17, 0),
    (0x3401, 20, 18, 0),
    (0x3001, 21, 19, 0),
    (0x2801, 22, 19, 0),
    (0x2401, 23, 20, 0),
    (0x2201, 24, 21, 0),
    (0x1C01, 25, 22, 0),
    (0x1801, 26, 23, 0),
    (0x1601, 27, 24, 0),
    (0x1401, 28, 25, 0),
    (0x1201, 29, 26, 0),
    (0x1101, 30, 27, 0),
    (0x0AC1, 31, 28, 0),
    (0x09C1, 32, 29, 0),
    (0x08A1, 33, 30, 0),
    (0x0521, 34, 31, 0),
    (0x0441, 35, 32, 0),
    (0x02A1, 36, 33, 0),
    (0x0221, 37, 34, 0),
    (0x0141, 38, 35, 0),
    (0x0111, 39, 36, 0),
    (0x0085, 40, 37, 0),
    (0x0049, 41, 38, 0),
    (0x0025, 42, 39, 0),
    (0x0015, 43, 40, 0),
    (0x0009, 44, 41, 0),
    (0x0005, 45, 42, 0),
    (0x0001, 45, 43, 0),
    (0x5601, 46, 46, 0),
]


class MQ:
    """The MQ arithmetic encoder of T.88 E.2 (the same coder as JPEG 2000's)."""

    def __init__(self, contexts: int) -> None:
        self.a, self.c, self.ct, self.b, self.started = 0x8000, 0, 12, 0, False
        self.out = bytearray()
        self.index = [0] * contexts
        self.mps = [0] * contexts

    def _byteout(self) -> None:
        if self.b == 0xFF:
            self._emit()
            self.b, self.c, self.ct = (self.c >> 20) & 0xFF, self.c & 0xFFFFF, 7
        elif self.c < 0x8000000:
            self._emit()
            self.b, self.c, self.ct = (self.c >> 19) & 0xFF, self.c & 0x7FFFF, 8
        else:
            self.b += 1
            if self.b == 0xFF:
                self.c &= 0x7FFFFFF
                self._emit()
                self.b, self.c, self.ct = (self.c >> 20) & 0xFF, self.c & 0xFFFFF, 7
            else:
                self._emit()
                self.b, self.c, self.ct = (self.c >> 19) & 0xFF, self.c & 0x7FFFF, 8

    def _emit(self) -> None:
        if self.started:
            self.out.append(self.b)
        self.started = True

    def _renorm(self) -> None:
        while True:
            self.a <<= 1
            self.c <<= 1
            self.ct -= 1
            if self.ct == 0:
                self._byteout()
            if self.a & 0x8000:
                break

    def encode(self, cx: int, d: int) -> None:
        qe, nmps, nlps, switch = QE[self.index[cx]]
        self.a -= qe
        if d == self.mps[cx]:
            if self.a & 0x8000 == 0:
                if self.a < qe:
                    self.a = qe
                else:
                    self.c += qe
                self.index[cx] = nmps
                self._renorm()
            else:
                self.c += qe
        else:
            if self.a < qe:
                self.c += qe
            else:
                self.a = qe
            if switch:
                self.mps[cx] = 1 - self.mps[cx]
            self.index[cx] = nlps
            self._renorm()

    def flush(self) -> bytes:
        temp = self.c + self.a
        self.c |= 0xFFFF
        if self.c >= temp:
            self.c -= 0x8000
        self.c <<= self.ct
        self._byteout()
        self.c <<= self.ct
        self._byteout()
        if self.b != 0xFF:
            self._emit()
        return bytes(self.out) + b"\xff\xac"


AT = ((3, -1), (-3, -1), (2, -2), (-2, -2))


def generic_template0(bits: list[list[int]], w: int, h: int) -> bytes:
    """``bits[y][x]`` (1 = black) as arithmetic-coded generic region data, template 0 with
    the nominal AT pixels; out-of-image pixels count as 0."""

    def px(x: int, y: int) -> int:
        return bits[y][x] if 0 <= x < w and 0 <= y < h else 0

    mq = MQ(1 << 16)
    for y in range(h):
        for x in range(w):
            cx = (
                px(x - 1, y)
                | px(x - 2, y) << 1
                | px(x - 3, y) << 2
                | px(x - 4, y) << 3
                | px(x + 3, y - 1) << 4
                | px(x + 2, y - 1) << 5
                | px(x + 1, y - 1) << 6
                | px(x, y - 1) << 7
                | px(x - 1, y - 1) << 8
                | px(x - 2, y - 1) << 9
                | px(x - 3, y - 1) << 10
                | px(x + 2, y - 2) << 11
                | px(x + 1, y - 2) << 12
                | px(x, y - 2) << 13
                | px(x - 1, y - 2) << 14
                | px(x - 2, y - 2) << 15
            )
            mq.encode(cx, bits[y][x])
    return mq.flush()


def tiff_tags(data: bytes) -> Any:
    tiff = Image.open(io.BytesIO(data))
    assert isinstance(tiff, TiffImagePlugin.TiffImageFile)
    return tiff.tag_v2


def fax_strip(im: Image.Image, compression: str = "group4", two_d: bool = False) -> bytes:
    """The CCITT-coded data of a 1-bit image (``"group4"``: T.6; ``"group3"``: T.4, 1-D or,
    with ``two_d``, 2-D: TIFF's T4Options bit 0).

    Pillow writes mode "1" as PhotometricInterpretation 1 (0 is black) and libtiff codes 0 bits
    as the fax code's "white" runs: in the code, the black text is white. So a PDF decodes it
    right side up with ``/BlackIs1 true`` (coded black → 1 → white in DeviceGray).
    """
    buf = io.BytesIO()
    strip = (im.width + 7) // 8 * im.height
    extra = {"tiffinfo": {292: 1}} if two_d else {}
    im.save(buf, "TIFF", compression=compression, strip_size=strip, **extra)
    data = buf.getvalue()
    tags = tiff_tags(data)
    assert tags[262] == 1  # BlackIsZero, as said above
    offsets, counts = tags[273], tags[279]
    offsets = offsets if isinstance(offsets, tuple) else (offsets,)
    counts = counts if isinstance(counts, tuple) else (counts,)
    assert len(offsets) == 1  # one strip: the whole page is one fax stream
    return bytes(data[offsets[0] : offsets[0] + counts[0]])


def segment(number: int, kind: int, data: bytes) -> bytes:
    """A segment of page 1: number, type (1-byte page association), no referred-to segments."""
    return struct.pack(">IBBBI", number, kind, 0, 1, len(data)) + data


def page_info(w: int, h: int) -> bytes:
    """Segment 0: the page information (size, resolution unknown, default pixel white)."""
    return segment(0, 48, struct.pack(">IIIIBH", w, h, 0, 0, 0, 0))


def jbig2(im: Image.Image, mmr: bool = False) -> bytes:
    """An embedded JBIG2 stream showing ``im`` (black where it is dark)."""
    w, h = im.size
    region = struct.pack(">IIIIB", w, h, 0, 0, 0)  # at (0, 0), combined by OR
    if mmr:
        # JBIG2 has 1 = black and its MMR decoder takes the code's white runs as 0, while
        # libtiff codes Pillow's 0 (black) as white: code the negative.
        data = fax_strip(ImageOps.invert(im.convert("L")).convert("1"))
        region += b"\x01" + data  # MMR = 1
    else:
        grey = im.convert("L").tobytes()
        bits = [[1 if grey[y * w + x] < 128 else 0 for x in range(w)] for y in range(h)]
        at = b"".join(struct.pack(">bb", x, y) for x, y in AT)
        region += b"\x00" + at + generic_template0(bits, w, h)  # template 0, no TPGDON
    return page_info(w, h) + segment(1, 38, region)
