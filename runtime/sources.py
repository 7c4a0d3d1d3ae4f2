"""One `source` argument for everything: an image, a folder, a glob, a video, or a webcam index."""

import glob
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.common.errors import BadInput
from digit_cnn_edge.runtime.capture import latest_frames
from digit_cnn_edge.runtime.decode import MAX_PIXELS, read_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


class SourceError(BadInput):
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
    captured: float | None = None  # time.perf_counter() when a camera delivered it, for the latency shown live
    dropped: int = 0  # camera frames skipped just before this one because the reader was busy


MAX_CAMERA = 9999
"""Largest webcam index taken as one: OpenCV's index is a C int, and a longer number is a file name."""


def _is_camera(arg: str) -> bool:
    return arg.isascii() and arg.isdigit() and int(arg) <= MAX_CAMERA and not Path(arg).exists()


def expand(arg: str) -> list[Source]:
    """The sources one command-line argument names; SourceError if it names none."""
    if not arg:
        raise SourceError("an empty argument names no file")
    if _is_camera(arg):
        return [Source("camera", arg, int(arg))]
    try:
        return _expand_path(arg)
    except OSError as e:  # a folder on the way that cannot be listed, a loop of links
        raise SourceError(f"{arg}: {e.strerror or e}") from None


def _expand_path(arg: str) -> list[Source]:
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
    if not path.exists() and not path.is_symlink():
        raise SourceError(f"{arg}: no such file")
    path.stat()  # OSError names why: a loop of links, a folder on the way that cannot be searched
    if not path.is_file():  # a device, a pipe: endless or blocking, and no image
        raise SourceError(f"{arg}: not a regular file")
    return [_file(path)]


def _file(path: Path) -> Source:
    return Source("video" if path.suffix.lower() in VIDEO_SUFFIXES else "image", str(path))


def open_capture(source: Source, max_pixels: int = MAX_PIXELS) -> cv2.VideoCapture:
    """An open capture whose frames are within `max_pixels`, checked before the first frame is read."""
    cap = cv2.VideoCapture(source.camera) if source.kind == "camera" else cv2.VideoCapture(source.name)
    if not cap.isOpened():
        cap.release()
        if source.kind == "camera":
            raise SourceError(f"no camera at index {source.camera}")
        raise SourceError(f"{source.name}: cannot open as a video")
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width * height > max_pixels:
        cap.release()
        raise SourceError(f"{source.name}: {width}x{height} frames, over the limit of {max_pixels:,} pixels")
    return cap


def frames(source: Source, max_pixels: int = MAX_PIXELS, gray: bool = False) -> Iterator[Frame]:
    """Frames of one source: every frame of a video; of a camera, the newest one each time.

    A camera does not wait for the reader: frames that came while the last one was
    being read are dropped (runtime/capture.py), so a slow machine shows the present.
    `gray` lets still JPEGs decode to grey, for a reader that draws nothing.
    """
    if source.kind == "image":
        yield Frame(source.name, None, read_image(source.name, max_pixels, gray))
        return
    cap = open_capture(source, max_pixels)
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and fps > 0 else None
    index = 0
    if source.kind == "camera":
        previous = 0
        try:
            with closing(latest_frames(cap)) as live:  # its reading thread releases the capture
                for grabbed in live:
                    yield Frame(source.name, index, grabbed.image, fps, grabbed.captured, grabbed.sequence - previous - 1)
                    previous = grabbed.sequence
                    index += 1
        except (OSError, cv2.error) as e:  # raised on the camera's reader thread, handed over by latest_frames
            raise SourceError(f"camera {source.camera}: {e}") from None
    else:
        try:
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                yield Frame(source.name, index, image, fps)
                index += 1
        finally:
            cap.release()
    if index == 0:
        raise SourceError(f"{source.name}: no frames could be read")
