"""Annotated copies for `cnn-run --save`: names in the folder, images in the format the name says, videos as MPEG-4.

Encoding an image and writing it are two steps, so a worker process can encode
the copy of the image it read while `cnn-run` itself picks the name in input
order and writes it; every copy is moved into place only when complete.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.common.errors import CannotWrite, shortened
from digit_cnn_edge.common.files import atomic_path, discard, move_into_place, temp_sibling
from digit_cnn_edge.runtime.decode import library_messages, quietly
from digit_cnn_edge.runtime.sources import Source

DEFAULT_FPS = 25.0  # for annotated copies of captures that do not report a frame rate


class OutputNames:
    """Names in the --save folder, one per source: a second `a.png` from another folder becomes `a-2.png`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._taken: set[str] = set()

    def claim(self, name: str) -> Path:
        stem, suffix = Path(name).stem, Path(name).suffix
        candidate, n = name, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{stem}-{n}{suffix}"
        self._taken.add(candidate)
        return self.folder / candidate


def overwritten_source(sources: list[Source], folder: Path) -> Source | None:
    """The first of `sources` whose annotated copy in `folder` would be that very file: --save into the folder read."""
    for source in sources:
        if source.kind == "camera":
            continue
        name = copy_name(source.name) if source.kind == "image" else video_name(source)
        target = folder / name
        if target.exists() and Path(source.name).exists() and target.samefile(source.name):  # links, any case
            return source
    return None


def image_name(name: str) -> str:
    """The name an annotated copy is saved under: the source's, or a .png one where OpenCV cannot write that format."""
    return name if cv2.haveImageWriter(name) else f"{Path(name).stem}.png"


def copy_name(source: str) -> str:
    """The file name of a still image's annotated copy, from the source's path."""
    return image_name(Path(source).name)


@dataclass(frozen=True)
class EncodedImage:
    """An annotated copy ready to be written, or the encoder's reason for refusing it."""

    data: bytes | None
    reason: str | None = None


def encode_image(image: np.ndarray, suffix: str) -> EncodedImage:
    """`image` in the format `suffix` names (PGM is grey by definition)."""
    if suffix.lower() == ".pgm" and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    encoded, reason = quietly(lambda: cv2.imencode(suffix, image))
    if encoded is None or not encoded[0]:
        return EncodedImage(None, shortened(reason or "the encoder failed"))
    return EncodedImage(encoded[1].tobytes())


def write_image(encoded: EncodedImage, path: Path) -> None:
    """Put an encoded copy at `path` whole, or raise CannotWrite naming it."""
    if encoded.data is None:
        raise CannotWrite(f"cannot write {path}: {encoded.reason}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.data)


def save_image(image: np.ndarray, path: Path) -> None:
    """Write `image` in the format its name says."""
    write_image(encode_image(image, path.suffix), path)


class VideoSink:
    """Annotated copy of one video or camera stream, moved into place only when the stream ends well."""

    def __init__(self, path: Path, fps: float, first: np.ndarray) -> None:
        self.path, self._tmp = path, temp_sibling(path)
        h, w = first.shape[:2]
        with library_messages() as said:
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not self._writer.isOpened():
            discard(self._tmp)
            raise CannotWrite(f"cannot write {path}: no MPEG-4 video writer opens there"
                              + (f" ({shortened(said[-1])})" if said else ""))

    def write(self, image: np.ndarray) -> None:
        self._writer.write(image)

    def close(self, ok: bool) -> None:
        self._writer.release()
        try:
            if ok:
                move_into_place(self._tmp, self.path)
        finally:
            discard(self._tmp)


def video_name(source: Source) -> str:
    """The name of a video's or camera's annotated copy."""
    stem = f"camera{source.camera}" if source.kind == "camera" else Path(source.name).stem
    return f"{stem}.annotated.mp4"
