"""`cnn-run`: read digits from images, folders, globs, videos and webcams with an exported ONNX model."""

import json
import sys
import time
from contextlib import closing
from pathlib import Path

import click
import cv2
import numpy as np

from digit_cnn_edge.common.cli import entry_point, report
from digit_cnn_edge.common.errors import BadInput, CannotWrite, UserError
from digit_cnn_edge.common.files import atomic_path, discard, move_into_place, temp_sibling, writable_dir
from digit_cnn_edge.runtime.classifier import DigitClassifier
from digit_cnn_edge.runtime.decode import MAX_PIXELS, library_messages, quietly
from digit_cnn_edge.runtime.draw import annotate
from digit_cnn_edge.runtime.reader import MIN_CONFIDENCE, MODES, DigitReader
from digit_cnn_edge.runtime.sources import Source, expand, frames

QUIT_KEYS = (ord("q"), ord("Q"), 27)
DEFAULT_FPS = 25.0  # for annotated copies of captures that do not report a frame rate


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
                              + (f" ({said[-1][:160]})" if said else ""))

    def write(self, image: np.ndarray) -> None:
        self._writer.write(image)

    def close(self, ok: bool) -> None:
        self._writer.release()
        try:
            if ok:
                move_into_place(self._tmp, self.path)
        finally:
            discard(self._tmp)


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


def image_name(name: str) -> str:
    """The name an annotated copy is saved under: the source's, or a .png one where OpenCV cannot write that format."""
    return name if cv2.haveImageWriter(name) else f"{Path(name).stem}.png"


def save_image(image: np.ndarray, path: Path) -> None:
    """Write `image` in the format its name says (PGM is grey by definition)."""
    if path.suffix.lower() == ".pgm" and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    encoded, reason = quietly(lambda: cv2.imencode(path.suffix, image))
    if encoded is None or not encoded[0]:
        raise CannotWrite(f"cannot write {path}: {(reason or 'the encoder failed')[:160]}")
    data = encoded[1]
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def describe(source: str, index: int | None, text: str, confidences: list[float]) -> str:
    where = source if index is None else f"{source}#{index}"
    if not confidences:
        return f"{where}: (no digits)"
    conf = " ".join(f"{c:.2f}" for c in confidences)
    return f"{where}: {text}  ({len(confidences)} digit{'s' * (len(confidences) != 1)}, confidence {conf})"


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("sources", nargs=-1, required=True)
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="An .onnx file from cnn-export. Default: the model shipped with the runtime.")
@click.option("--mode", type=click.Choice(MODES), default="auto",
              help="single: the whole image is one digit; segment: find every digit; "
                   "auto: single for images up to 64 px a side, else segment.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image or frame on stdout.")
@click.option("--save", type=click.Path(path_type=Path), default=None,
              help="Folder for annotated copies (images as images, videos and webcams as .mp4).")
@click.option("--show", is_flag=True, help="Live window with the overlay, frame rate and latency; q or Esc quits.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=MIN_CONFIDENCE,
              help="Drop digits read with less confidence. The default keeps every digit found: confidence separates "
                   "digits from letters and scribbles poorly (benchmarks/RESULTS-rejection.md).")
@click.option("--threads", type=click.IntRange(min=1), default=1, help="ONNX Runtime threads.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=MAX_PIXELS,
              help="Refuse images and video frames with more pixels, read from the file's header before "
                   "decoding, so a hostile or corrupt file cannot claim the memory (Pillow's limit by default).")
def run_command(sources, model, mode, as_json, save, show, min_confidence, threads, max_pixels):
    """Read the digits in SOURCES, with the shipped model or --model.

    A source is an image file, a folder, a glob ('scans/*.png'), a video file, or a webcam index (0).

    \b
    Examples:
      cnn-run photo.jpg
      cnn-run 'scans/*.png' --json
      cnn-run 0 --show
      cnn-run --model runs/train/model.onnx clip.mp4 --save out/
    """
    models_given_as_sources = [s for s in sources if s.lower().endswith(".onnx")]
    if models_given_as_sources:
        raise click.UsageError(f"{models_given_as_sources[0]} is a model, not an image: pass it as --model")
    reader = DigitReader(DigitClassifier(model, threads=threads), min_confidence)
    names = OutputNames(writable_dir(save)) if save is not None else None

    failed = 0
    expanded: list[Source] = []
    for arg in sources:
        try:
            expanded.extend(expand(arg))
        except BadInput as e:
            report(e)
            failed += 1
    try:
        for source in expanded:
            try:
                if not process(source, reader, mode, as_json, names, show, max_pixels):
                    break
            except (BadInput, CannotWrite) as e:  # this source's input or its --save copy; the others go on
                report(e)
                failed += 1
    finally:
        if show:
            cv2.destroyAllWindows()
    if failed:
        raise click.exceptions.Exit(1)


def process(source: Source, reader: DigitReader, mode: str, as_json: bool, save: OutputNames | None, show: bool,
            max_pixels: int = MAX_PIXELS) -> bool:
    """Read every frame of one source; False when the user asked to quit."""
    sink = None
    ok, keep_going = False, True
    last = time.perf_counter()
    fps = None
    live = source.kind == "camera" or show
    try:
        # Nothing to draw on: JPEGs decode straight to grey, 3x faster than colour with libjpeg-turbo.
        with closing(frames(source, max_pixels, gray=save is None and not show)) as stream:
            for frame in stream:
                started = frame.captured if frame.captured is not None else time.perf_counter()
                reading = reader.read(frame.image, mode)
                latency_ms = 1000 * (time.perf_counter() - started)
                if as_json:
                    record = {"source": frame.source, "frame": frame.index, **reading.as_dict()}
                    click.echo(json.dumps(record))
                else:
                    click.echo(describe(frame.source, frame.index, reading.text, [d.confidence for d in reading.digits]))
                sys.stdout.flush()
                now = time.perf_counter()
                if frame.index is not None:
                    fps = 1 / max(now - last, 1e-6) if fps is None else 0.9 * fps + 0.1 / max(now - last, 1e-6)
                last = now
                if save is not None or show:
                    overlay = annotate(frame.image, reading, fps if live else None, latency_ms if live else None)
                    if save is not None and source.kind != "image":
                        if sink is None:
                            stem = f"camera{source.camera}" if source.kind == "camera" else Path(source.name).stem
                            sink = VideoSink(save.claim(f"{stem}.annotated.mp4"), frame.fps or DEFAULT_FPS, overlay)
                        for _ in range(1 + frame.dropped):  # a dropped camera frame keeps its time in the copy
                            sink.write(overlay)
                    elif save is not None:
                        save_image(overlay, save.claim(image_name(Path(frame.source).name)))
                    if show and not show_frame(overlay, still=frame.index is None):
                        keep_going = False
                        break
        ok = True
    except KeyboardInterrupt:
        ok = source.kind == "camera"  # Ctrl-C is how a camera stream ends: keep what was recorded
        raise
    finally:
        if sink is not None:
            sink.close(ok)
    return keep_going


def show_frame(image: np.ndarray, still: bool) -> bool:
    """Show one frame; still images wait for a key. False when the user pressed q or Esc."""
    try:
        cv2.imshow("cnn-run (q to quit)", image)
        key = cv2.waitKey(0 if still else 1) & 0xFF
    except cv2.error:
        raise UserError("--show needs a display, and none is available here") from None
    return key not in QUIT_KEYS


run_main = entry_point(run_command, "cnn-run")
