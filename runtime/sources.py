"""One `source` argument for everything: an image, a folder, a glob, a video, or a webcam index."""

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


class SourceError(RuntimeError):
    """One input that cannot be read; the others go on."""


@dataclass(frozen=True)
class Source:
    kind: str  # image | video | camera
    name: str  # path, or the camera index as text
    camera: int | None = None


@dataclass(frozen=True)
class Frame:
    source: str
    index: int | None  # frame number for videos and cameras, None for still images
    image: np.ndarray
    fps: float | None = None  # the capture's own frame rate, where it reports one


def _is_camera(arg: str) -> bool:
    return arg.isdigit() and not Path(arg).exists()


def expand(arg: str) -> list[Source]:
    """The sources one command-line argument names; SourceError if it names none."""
    if _is_camera(arg):
        return [Source("camera", arg, int(arg))]
    path = Path(arg)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        if not files:
            raise SourceError(f"{arg}: no images or videos in this folder")
        return [_file(p) for p in files]
    if any(c in arg for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(arg, recursive=True) if Path(p).is_file())
        if not files:
            raise SourceError(f"{arg}: the pattern matches no files")
        return [_file(p) for p in files]
    if not path.exists():
        raise SourceError(f"{arg}: no such file")
    return [_file(path)]


def _file(path: Path) -> Source:
    return Source("video" if path.suffix.lower() in VIDEO_SUFFIXES else "image", str(path))


def read_image(path: str) -> np.ndarray:
    """Decode an image file; SourceError for empty, corrupt or non-image files."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror or e})") from None
    if data.size == 0:
        raise SourceError(f"{path}: empty file")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise SourceError(f"{path}: not a readable image")
    return image


def open_capture(source: Source) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(source.camera) if source.kind == "camera" else cv2.VideoCapture(source.name)
    if not cap.isOpened():
        cap.release()
        if source.kind == "camera":
            raise SourceError(f"no camera at index {source.camera}")
        raise SourceError(f"{source.name}: cannot open as a video")
    return cap


def frames(source: Source) -> Iterator[Frame]:
    """Frames of one source. Videos and cameras go through the same capture loop."""
    if source.kind == "image":
        yield Frame(source.name, None, read_image(source.name))
        return
    cap = open_capture(source)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and fps > 0 else None
        index = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            yield Frame(source.name, index, image, fps)
            index += 1
        if index == 0:
            raise SourceError(f"{source.name}: no frames could be read")
    finally:
        cap.release()
