"""`cnn-run`: read digits from images, folders, globs, videos and webcams with an exported ONNX model."""

import json
import os
import sys
import time
from pathlib import Path

import click
import cv2
import numpy as np

from digit_cnn_edge.runtime.classifier import DigitClassifier, ModelError
from digit_cnn_edge.runtime.cli_common import entry_point
from digit_cnn_edge.runtime.draw import annotate
from digit_cnn_edge.runtime.files import atomic_path, temp_sibling, writable_dir
from digit_cnn_edge.runtime.reader import MODES, DigitReader
from digit_cnn_edge.runtime.sources import Source, SourceError, expand, frames

QUIT_KEYS = (ord("q"), ord("Q"), 27)
DEFAULT_FPS = 25.0  # for annotated copies of captures that do not report a frame rate


class VideoSink:
    """Annotated copy of one video or camera stream, moved into place only when the stream ends well."""

    def __init__(self, path: Path, fps: float, first: np.ndarray) -> None:
        self.path, self._tmp = path, temp_sibling(path)
        h, w = first.shape[:2]
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))

    def write(self, image: np.ndarray) -> None:
        self._writer.write(image)

    def close(self, ok: bool) -> None:
        self._writer.release()
        if ok:
            os.replace(self._tmp, self.path)
        self._tmp.unlink(missing_ok=True)


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


def save_image(image: np.ndarray, path: Path) -> None:
    ok, data = cv2.imencode(path.suffix if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp") else ".png", image)
    if not ok:
        raise SourceError(f"cannot encode {path}")
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
@click.option("--show", is_flag=True, help="Live window with the overlay and frame rate; q or Esc quits.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.0, help="Drop digits read with less confidence.")
@click.option("--threads", type=click.IntRange(min=1), default=1, help="ONNX Runtime threads.")
def run_command(sources, model, mode, as_json, save, show, min_confidence, threads):
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
    try:
        reader = DigitReader(DigitClassifier(model, threads=threads), min_confidence)
    except ModelError as e:
        raise click.ClickException(str(e)) from None
    names = None
    if save is not None:
        try:
            names = OutputNames(writable_dir(save))
        except OSError as e:
            raise click.ClickException(f"cannot write to {save}: {e.strerror or e}") from None

    failed = 0
    expanded: list[Source] = []
    for arg in sources:
        try:
            expanded.extend(expand(arg))
        except SourceError as e:
            click.echo(f"cnn-run: {e}", err=True)
            failed += 1
    try:
        for source in expanded:
            try:
                if not process(source, reader, mode, as_json, names, show):
                    break
            except SourceError as e:
                click.echo(f"cnn-run: {e}", err=True)
                failed += 1
    finally:
        if show:
            cv2.destroyAllWindows()
    if failed:
        raise click.exceptions.Exit(1)


def process(source: Source, reader: DigitReader, mode: str, as_json: bool, save: OutputNames | None, show: bool) -> bool:
    """Read every frame of one source; False when the user asked to quit."""
    sink = None
    ok, keep_going = False, True
    last = time.perf_counter()
    fps = None
    try:
        for frame in frames(source):
            reading = reader.read(frame.image, mode)
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
                overlay = annotate(frame.image, reading, fps if source.kind == "camera" or show else None)
                if save is not None and source.kind != "image":
                    if sink is None:
                        stem = f"camera{source.camera}" if source.kind == "camera" else Path(source.name).stem
                        sink = VideoSink(save.claim(f"{stem}.annotated.mp4"), frame.fps or DEFAULT_FPS, overlay)
                    sink.write(overlay)
                elif save is not None:
                    save_image(overlay, save.claim(Path(frame.source).name))
                if show and not show_frame(overlay, still=frame.index is None):
                    keep_going = False
                    break
        ok = True
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
        raise click.ClickException("--show needs a display, and none is available here") from None
    return key not in QUIT_KEYS


run_main = entry_point(run_command, "cnn-run")
