"""Decode image files within a pixel limit that the file itself cannot talk us out of.

OpenCV sizes its buffers from what a file's header and chunks claim: a 3.5 KB
PNG whose IDAT length field is corrupted made it allocate 3.9 GB, and an 875 KB
PNG of 30000x30000 zeros took 4.5 GB. So before any decoding, the header is
read here, in Python, for every format we accept: the image is refused if it
has more pixels than the limit, and the file is refused if its structure claims
more bytes than it holds. Memory then depends on the limit, never on a claim.
"""

import os
import re
import stat
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from digit_cnn_edge.common.errors import BadInput, shortened

MAX_PIXELS = 89_478_485
"""Pillow's limit (its DecompressionBombWarning), so the refusals match what users know."""

MAX_BYTES_PER_PIXEL = 16
"""Float32 RGBA TIFF, the widest pixel OpenCV decodes: a larger file cannot be an image within the limit ..."""
METADATA_BYTES = 16 << 20
"""... beyond this much room for colour profiles, Exif thumbnails and the like."""

FORMATS = "PNG, JPEG, BMP, TIFF, WebP, PGM/PPM"

Size = tuple[int, int]  # width, height
T = TypeVar("T")


class Refused(ValueError):
    """A file refused before or while decoding; `read_image` adds the file name."""


class Corrupt(Refused):
    """A structure that contradicts itself or the file's length; `decode` says it is not a readable image."""


def declared_sizes(data: bytes) -> tuple[list[Size], int]:
    """What the header declares, after checking the file's structure against its length.

    (width, height) of the image, then of anything else the decoder allocates whole
    (APNG frames, TIFF tiles); and the length the file must have to hold its pixels,
    where the format says (uncompressed BMP, PGM/PPM), else 0. That one is checked
    after the pixel limit, so a header claiming 40000x40000 is refused as that.
    """
    for magic, parse in _PARSERS:
        if data.startswith(magic):
            return parse(data)
    raise Refused(f"not a supported image ({FORMATS})")


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise Corrupt(f"corrupt header: {width}x{height} pixels")
    if width * height > max_pixels:
        raise Refused(f"{width}x{height} pixels, over the limit of {max_pixels:,} pixels")


@contextmanager
def library_messages() -> Iterator[list[str]]:
    """The lines C libraries write to the process's stderr (fd 2) while the block runs, kept from the user.

    libpng, libjpeg and OpenCV's log print their complaints straight to fd 2, which
    would break the one-line-per-error contract; the last of them becomes the reason
    in our own error. Process-wide while the block runs, so keep the block short.
    """
    lines: list[str] = []
    level = cv2.utils.logging.getLogLevel()  # cnn-run silences OpenCV's log; here its warnings are the reasons
    cv2.utils.logging.setLogLevel(max(level, cv2.utils.logging.LOG_LEVEL_WARNING))
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)  # past the pipe's 64 KiB, messages are dropped rather than block
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield lines
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        cv2.utils.logging.setLogLevel(level)
        said = b""
        while chunk := _read_available(read_end):
            said += chunk
        os.close(read_end)
        lines.extend(line.strip() for line in said.decode(errors="replace").splitlines() if line.strip())


def quietly(call: Callable[[], T]) -> tuple[T | None, str | None]:
    """`call()` with what the C libraries print kept from the user: its result (None if OpenCV raised) and the reason it gave.

    The reason is OpenCV's exception, else the last line a library printed, else None.
    """
    result, failure = None, None
    with library_messages() as said:
        try:
            result = call()
        except cv2.error as e:
            failure = opencv_reason(e)
    return result, failure or (_readable(said[-1]) if said else None)


_NOISE = re.compile(r"^\[\s*[A-Z]+:[^\]]*\]\s*(?:global\s+)?\S+:\d+\s+\S+\s+|^.*error: \(-?\d+:[^)]*\)\s*")
"""What OpenCV puts before a reason: its log's "[ WARN:0@0.12] global grfmt_png.cpp:793 readFromStreamOrBuffer ",
and an exception's "OpenCV(5.0.0) /io/.../grfmt_pxm.cpp:176: error: (-2:Unspecified error) "."""


def _readable(line: str) -> str:
    return _NOISE.sub("", _NOISE.sub("", line)) or line


def opencv_reason(error: cv2.error) -> str:
    """The part of an OpenCV exception a user can read: what failed, without the source file and line."""
    return str(error).split("error: ", 1)[-1].strip().splitlines()[0]


def _read_available(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def decode(data: bytes, max_pixels: int = MAX_PIXELS, gray: bool = False) -> np.ndarray:
    """The image as OpenCV reads it (IMREAD_UNCHANGED), only after its header passed the checks.

    With `gray`, a JPEG comes back as its grey (luma) plane, which libjpeg-turbo
    decodes about 3x faster than colour; other formats are read as they are, so
    16-bit and alpha images keep what `to_gray` needs.
    """
    return decode_smaller(data, max_pixels, gray)[0]


def decode_smaller(data: bytes, max_pixels: int = MAX_PIXELS, gray: bool = False, short_side: int = 0) -> tuple[np.ndarray, int]:
    """`decode`, and with `gray` a JPEG whose short side is at least 2, 4 or 8 times `short_side` decoded that many
    times smaller by libjpeg itself (its DCT scaling: far cheaper than a full decode and a resize); the image and
    how many of the file's pixels one of its pixels stands for, across.
    """
    try:
        sizes, needed = declared_sizes(data)
        for width, height in sizes:
            check_pixels(width, height, max_pixels)
        if needed > len(data):
            raise Corrupt(f"truncated or corrupt: its pixels need a file of {needed:,} bytes, "
                          f"this one has {len(data):,}")
    except Corrupt as e:
        raise Refused(f"not a readable image ({e})") from None
    jpeg = data[:2] == b"\xff\xd8"
    factor = max((f for f in _REDUCED if short_side and min(sizes[0]) >= f * short_side), default=1) if gray and jpeg else 1
    flags = _REDUCED[factor] if factor > 1 else cv2.IMREAD_GRAYSCALE if gray and jpeg else cv2.IMREAD_UNCHANGED
    image, reason = quietly(lambda: cv2.imdecode(np.frombuffer(data, np.uint8), flags))
    if image is None or image.size == 0:
        raise Refused("not a readable image" + (f" ({shortened(reason)})" if reason else ""))
    return image, factor


_REDUCED = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def read_bytes(path: str | Path, max_pixels: int = MAX_PIXELS) -> bytes:
    """An image file's bytes, refused if no image within `max_pixels` could be that long; BadInput naming the file."""
    most = MAX_BYTES_PER_PIXEL * max_pixels + METADATA_BYTES
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):  # a device or a pipe: no size to check, endless or blocking
            raise BadInput(f"{path}: not a regular file")
        size, data = status.st_size, b""
        if size <= most:  # a huge file is not read; one that grows meanwhile is read no further than the limit
            with open(path, "rb") as file:
                data = file.read(most + 1)
            size = len(data)
        if size > most:
            raise BadInput(f"{path}: {size:,} bytes, more than any image within the limit of {max_pixels:,} pixels")
        return data
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror or e})") from None


def decode_file(name: str | Path, data: bytes, max_pixels: int = MAX_PIXELS, gray: bool = False,
                short_side: int = 0) -> tuple[np.ndarray, int]:
    """`decode_smaller` of a file's bytes, its problems as BadInput naming the file."""
    if not data:
        raise BadInput(f"{name}: empty file")
    try:
        return decode_smaller(data, max_pixels, gray, short_side)
    except Refused as e:
        raise BadInput(f"{name}: {e}") from None


def read_gray(path: str | Path, max_pixels: int = MAX_PIXELS, short_side: int = 0,
              data: bytes | None = None) -> tuple[np.ndarray, int]:
    """A file (or its bytes, if already read) as grey for reading where nothing is drawn: a large JPEG decoded
    straight to about `short_side` (`decode_smaller`); the image and its scale."""
    data = read_bytes(path, max_pixels) if data is None else data
    return decode_file(path, data, max_pixels, gray=True, short_side=short_side)


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS, gray: bool = False) -> np.ndarray:
    """Decode an image file within `max_pixels`; BadInput naming the file and the problem otherwise."""
    return decode_file(path, read_bytes(path, max_pixels), max_pixels, gray)[0]


def _fits(data: bytes, start: int, length: int, what: str) -> None:
    """Refuse a structure that claims bytes past the end of the file."""
    if start + length > len(data):
        left = max(len(data) - start, 0)
        raise Corrupt(f"truncated or corrupt: {what} claims {length:,} bytes, the file has {left:,} left")


def _name(kind: bytes) -> str:
    """A chunk type for a message: its letters, or its bytes in hex when a corruption made it unprintable."""
    return kind.decode("ascii") if kind.isalnum() or kind.strip().isalnum() else f"0x{kind.hex()}"


def _unpack(fmt: str, data: bytes, offset: int) -> tuple:
    _fits(data, offset, struct.calcsize(fmt), "the header")
    return struct.unpack_from(fmt, data, offset)


def _png(data: bytes) -> tuple[list[Size], int]:
    length, kind = _unpack(">I4s", data, 8)
    if kind != b"IHDR" or length != 13:
        raise Corrupt("corrupt PNG: no IHDR chunk first")
    ihdr = data[12:29]
    (crc,) = _unpack(">I", data, 29)
    if zlib.crc32(ihdr) != crc:
        raise Corrupt("corrupt PNG: the IHDR checksum does not match")
    sizes = [struct.unpack_from(">II", data, 16)]
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        _fits(data, pos + 8, length, f"chunk {_name(kind)}")
        if kind == b"fcTL" and length >= 12:  # an APNG frame: its own size, checked like the image's
            sizes.append(struct.unpack_from(">II", data, pos + 12))
        if kind == b"IEND":
            break
        pos += 12 + length
    return sizes, 0


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> tuple[list[Size], int]:
    pos, size = 2, None
    while True:
        marker, kind = _unpack(">BB", data, pos)
        if marker != 0xFF:
            raise Corrupt(f"corrupt JPEG: no marker at byte {pos}")
        if kind == 0xFF:  # fill byte
            pos += 1
            continue
        if kind == 0x01 or 0xD0 <= kind <= 0xD7:  # markers without a length
            pos += 2
            continue
        if kind in (0xD9, 0xDA):  # end of image, start of scan: the header is over
            break
        (length,) = _unpack(">H", data, pos + 2)
        if length < 2:
            raise Corrupt(f"corrupt JPEG: segment length {length} at byte {pos}")
        _fits(data, pos + 2, length, f"segment 0x{kind:02X}")
        if kind in _SOF and size is None:
            if length < 8:
                raise Corrupt("corrupt JPEG: short frame header")
            height, width = struct.unpack_from(">HH", data, pos + 5)
            size = (width, height)
        pos += 2 + length
    if size is None or kind != 0xDA:
        raise Corrupt("corrupt JPEG: no frame header before the image data")
    return [size], 0


def _bmp(data: bytes) -> tuple[list[Size], int]:
    offset, header = _unpack("<II", data, 10)
    if header == 12:
        width, height, _, bits = _unpack("<HHHH", data, 18)
        compression = 0
    elif header >= 40:
        width, height, _, bits, compression = _unpack("<iiHHI", data, 18)
    else:
        raise Corrupt(f"corrupt BMP: header of {header} bytes")
    height = abs(height)
    needed = 0
    if width > 0 and height > 0 and compression in (0, 3, 6):  # uncompressed: every row is in the file
        needed = offset + (width * bits + 31) // 32 * 4 * (height - 1) + (width * bits + 7) // 8
    return [(width, height)], needed


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8,
                    18: 8}
_TIFF_INTS = {3: "H", 4: "I", 16: "Q"}


def _tiff(data: bytes) -> tuple[list[Size], int]:
    order = "<" if data[:2] == b"II" else ">"
    (version,) = _unpack(order + "H", data, 2)
    if version == 42:
        (ifd,) = _unpack(order + "I", data, 4)
        count_fmt, entry_fmt, inline = "H", "HHII", 4
    else:
        (ifd,) = _unpack(order + "Q", data, 8)
        count_fmt, entry_fmt, inline = "Q", "HHQQ", 8
    (entries,) = _unpack(order + count_fmt, data, ifd)
    if entries > 0xFFFF:
        raise Corrupt(f"corrupt TIFF: {entries:,} tags in the first directory")
    start = ifd + struct.calcsize(order + count_fmt)
    entry_size = struct.calcsize(order + entry_fmt)
    _fits(data, start, entries * entry_size, "the first directory")
    tags: dict[int, np.ndarray] = {}
    for i in range(entries):
        where = start + i * entry_size
        tag, kind, count, value = struct.unpack_from(order + entry_fmt, data, where)
        nbytes = count * _TIFF_TYPE_SIZES.get(kind, 1)
        at = where + struct.calcsize(order + "HH" + entry_fmt[2]) if nbytes <= inline else value
        _fits(data, at, nbytes, f"TIFF tag {tag}")
        if kind in _TIFF_INTS:
            tags[tag] = np.frombuffer(data, np.dtype(order + _TIFF_INTS[kind]), count, at).astype(np.uint64)
    if 256 not in tags or 257 not in tags or not len(tags[256]) or not len(tags[257]):
        raise Corrupt("corrupt TIFF: no image width or length")
    for offsets, counts in ((273, 279), (324, 325)):  # strips, tiles
        if offsets in tags and counts in tags and len(tags[offsets]) == len(tags[counts]):
            ends = tags[offsets] + tags[counts]
            if len(ends) and int(ends.max()) > len(data):
                raise Corrupt("truncated or corrupt TIFF: image data past the end of the file")
    sizes = [(int(tags[256][0]), int(tags[257][0]))]
    if len(tags.get(322, ())) and len(tags.get(323, ())):  # tiles
        sizes.append((int(tags[322][0]), int(tags[323][0])))
    return sizes, 0


def _webp(data: bytes) -> tuple[list[Size], int]:
    (riff,) = _unpack("<I", data, 4)
    if data[8:12] != b"WEBP":
        raise Refused("not a supported image (a RIFF file, not WebP)")
    _fits(data, 8, riff, "the RIFF header")
    pos, size = 12, None
    while pos + 8 <= 8 + riff:
        kind, length = struct.unpack_from("<4sI", data, pos)
        _fits(data, pos + 8, length, f"chunk {_name(kind)}")
        body = pos + 8
        if size is None and kind == b"VP8X":
            w, h = _unpack("<I", data, body + 4)[0] & 0xFFFFFF, _unpack("<I", data, body + 7)[0] & 0xFFFFFF
            size = (w + 1, h + 1)
        elif size is None and kind == b"VP8L":
            signature, bits = _unpack("<BI", data, body)
            if signature != 0x2F:
                raise Corrupt("corrupt WebP: bad lossless signature")
            size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        elif size is None and kind == b"VP8 ":
            start, w, h = _unpack("<3sHH", data, body + 3)
            if start != b"\x9d\x01\x2a":
                raise Corrupt("corrupt WebP: bad frame start code")
            size = (w & 0x3FFF, h & 0x3FFF)
        pos = body + length + (length & 1)
    if size is None:
        raise Corrupt("corrupt WebP: no image chunk")
    return [size], 0


def _pnm(data: bytes) -> tuple[list[Size], int]:
    kind = data[1] - ord("0")
    fields, pos = [], 2
    wanted = 2 if kind in (1, 4) else 3
    while len(fields) < wanted:
        while pos < len(data) and (data[pos : pos + 1].isspace() or data[pos] == ord("#")):
            if data[pos] == ord("#"):
                end = data.find(b"\n", pos)
                pos = len(data) if end < 0 else end
            pos += 1
        start = pos
        while pos < len(data) and data[pos : pos + 1].isdigit():
            pos += 1
        if pos == start or pos - start > 10:
            raise Corrupt("corrupt PGM/PPM header")
        fields.append(int(data[start:pos]))
    width, height = fields[:2]
    channels = 3 if kind in (3, 6) else 1
    depth = 2 if wanted == 3 and fields[2] > 255 else 1
    pos += 1  # the one whitespace byte before the samples
    if kind == 4:
        need = (width + 7) // 8 * height
    elif kind in (5, 6):
        need = width * height * channels * depth
    else:  # ASCII: at least one byte per sample
        need = width * height * channels
    return [(width, height)], pos + need


_PARSERS = (
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"\xff\xd8", _jpeg),
    (b"BM", _bmp),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
    (b"II+\x00", _tiff),
    (b"MM\x00+", _tiff),
    (b"RIFF", _webp),
    *((f"P{k}".encode(), _pnm) for k in range(1, 7)),
)
