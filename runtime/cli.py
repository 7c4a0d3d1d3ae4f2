"""`cnn-run`: read digits from images, folders, globs, videos and webcams with an exported ONNX model."""

import errno
import json
import os
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from itertools import groupby
from pathlib import Path

import click
import cv2
import numpy as np

from digit_cnn_edge.common.cli import FiniteFloatRange, entry_point, report
from digit_cnn_edge.common.errors import BadInput, CannotWrite, UserError
from digit_cnn_edge.common.files import writable_dir
from digit_cnn_edge.runtime.copies import (
    DEFAULT_FPS,
    OutputNames,
    VideoSink,
    copy_name,
    overwritten_source,
    save_image,
    video_name,
    write_image,
)
from digit_cnn_edge.runtime.decode import MAX_PIXELS
from digit_cnn_edge.runtime.draw import annotate
from digit_cnn_edge.runtime.reader import MIN_CONFIDENCE, MODES, DigitReader, Reading
from digit_cnn_edge.runtime.records import record
from digit_cnn_edge.runtime.segment import Params
from digit_cnn_edge.runtime.sources import Source, expand, frames
from digit_cnn_edge.runtime.workers import (
    WARM_UP_SECONDS,
    Job,
    Read,
    Readers,
    ReaderSpec,
    Started,
    cores,
    in_order,
    jobs,
    workers_for,
)

QUIT_KEYS = (ord("q"), ord("Q"), 27)
MOST_PROCESSES = 256
"""Most --workers and --threads: beyond any machine's cores, short of starting processes or threads without end."""


def quiet_libraries() -> None:
    """OpenCV's and FFmpeg's own messages off, unless asked for through their variables: a camera that is not there
    or a broken video is cnn-run's one line, not a dozen of theirs before it."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's quiet level, read when OpenCV first starts it
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def describe(source: str, index: int | None, reading: Reading) -> str:
    where = source if index is None else f"{source}#{index}"
    if not reading.digits:
        return f"{where}: (no digits)"
    confidences = [d.confidence for d in reading.digits]
    conf = " ".join(f"{c:.2f}" for c in confidences)
    return f"{where}: {reading.text}  ({len(confidences)} digit{'s' * (len(confidences) != 1)}, confidence {conf})"


def echo(source: str, index: int | None, reading: Reading, as_json: bool) -> None:
    """One image's or frame's line on stdout, flushed at once so a pipe sees each frame as it is read.

    A closed stdout prints nothing (--save may be all that is wanted); one that cannot be written to (a full disk)
    ends the run in one line. A closed pipe is click's to end quietly.
    """
    if sys.stdout is None:
        return
    try:
        click.echo(json.dumps(record(source, index, reading)) if as_json else describe(source, index, reading))
        sys.stdout.flush()
    except OSError as e:
        if e.errno == errno.EPIPE:
            raise
        raise UserError(f"cannot write to stdout ({e.strerror or e})") from None


class Progress:
    """A bar on stderr over the files read, only while stderr is a terminal and stdout is not.

    So it is never in the output, nor in a log; and where stdout is the terminal,
    each file's own line already shows how far the run is. An error line clears
    the bar, takes its own line, and the bar is drawn again below it.
    """

    def __init__(self, total: int) -> None:
        self.shown = total > 1 and sys.stderr.isatty() and not sys.stdout.isatty()
        self._bar = click.progressbar(length=max(total, 1), label="cnn-run", show_pos=True, file=sys.stderr,
                                      hidden=not self.shown)

    def __enter__(self) -> "Progress":
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)

    def advance(self) -> None:
        self._bar.update(1)

    def report(self, error: UserError) -> None:
        """One source's error line, as cnn-run prints it without a bar."""
        if self.shown:
            click.echo("\r\x1b[2K", nl=False, err=True)
        report(error)
        if self.shown:
            click.echo("\r" + self._bar.format_progress_line(), nl=False, err=True)


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
@click.option("--show", is_flag=True, help="Live window with the overlay, frame rate and latency; q or Esc quits. "
                                          "Reads in one process, whatever --workers says.")
@click.option("--min-confidence", type=FiniteFloatRange(0, 1), default=MIN_CONFIDENCE,
              help="Drop pieces read with a lower top probability: the shipped model learned to be unsure of letters, "
                   "marks and pieces of rules. A printed word goes with its rejected letters. The default was chosen on "
                   "validation digits (benchmarks/RESULTS-rejection.md); raise it where a false digit "
                   "costs more than a missed one, 0 keeps everything found.")
@click.option("--workers", type=click.IntRange(1, MOST_PROCESSES), default=None, show_default=False,
              help=f"Processes that read files and a video's frames in parallel, each with its own model. Default: "
                   f"this machine's cores ({cores()} here) for several files or a video, and 1 for a single image. "
                   "On Linux they are forked at once (with --threads 1); otherwise they start once the reading "
                   "outlasts their start. "
                   "The output is in input order and the same for "
                   "any number. A camera is always read in this one process, newest frame first, so its frames "
                   "stay live; so is every source under --show.")
@click.option("--min-height", type=click.IntRange(min=4), default=Params.min_height,
              help="Smallest digit the segmenter keeps, in pixels of the working frame (see --work-side). Lower it for "
                   "tiny digits far from the camera; pieces smaller than this are specks and dots.")
@click.option("--work-side", type=click.IntRange(min=64), default=Params.work_side,
              help="Frames whose short side is longer are scaled down to this before segmenting, so a 1080p photo and "
                   "a webcam frame are read alike. Raise it for small digits on a large frame, at more time per frame.")
@click.option("--threads", type=click.IntRange(1, MOST_PROCESSES), default=1,
              help="ONNX Runtime threads per process. The model is a small part of a frame's time; for many files "
                   "--workers is what helps.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=MAX_PIXELS,
              help="Refuse images and video frames with more pixels, read from the file's header before "
                   "decoding, so a hostile or corrupt file cannot claim the memory (Pillow's limit by default).")
def run_command(sources, model, mode, as_json, save, show, min_confidence, workers, min_height, work_side, threads,
                max_pixels):
    """Read the digits in SOURCES, with the shipped model or --model.

    A source is an image file, a folder, a glob ('scans/*.png'), a video file, or a webcam index (0).

    \b
    Examples:
      cnn-run photo.jpg
      cnn-run 'scans/*.png' --json > digits.jsonl
      cnn-run 0 --show
      cnn-run --model runs/train/model.onnx clip.mp4 --save out/
    """
    models_given_as_sources = [s for s in sources if s.lower().endswith(".onnx")]
    if models_given_as_sources:
        raise click.UsageError(f"{models_given_as_sources[0]} is a model, not an image: pass it as --model")
    if show and not has_display():
        raise click.UsageError("--show needs a display, and none is available here (DISPLAY is not set)")
    quiet_libraries()
    spec = ReaderSpec(model, threads, min_confidence, Params(min_height=min_height, work_side=work_side))
    reader = spec.build()
    names = OutputNames(writable_dir(save)) if save is not None else None

    failed = 0
    expanded: list[Source] = []
    for arg in sources:
        try:
            expanded.extend(expand(arg))
        except BadInput as e:
            report(e)
            failed += 1

    if names is not None and (clash := overwritten_source(expanded, names.folder)) is not None:
        raise click.UsageError(f"--save {save}: the annotated copy of {clash.name} would overwrite it; "
                               "save into another folder")

    def live(source: Source) -> bool:
        return show or source.kind == "camera"

    files = [s for s in expanded if not live(s)]
    try:
        # Workers asked for start at once; the default ones, unless they can be forked, once the reading proves
        # longer than a few files. This command has run no thread of its own, so it may fork them.
        warm_up = WARM_UP_SECONDS if workers is None else 0.0
        with (Readers(reader, spec, workers_for(files, workers), warm_up, fork=True) as readers,
              Progress(len(files)) as progress):
            for is_live, group in groupby(expanded, key=live):
                if not is_live:
                    failed += read_files(list(group), readers, mode, as_json, names, max_pixels, progress)
                    continue
                went_wrong, stop = read_live(list(group), reader, mode, as_json, names, show, max_pixels, progress)
                failed += went_wrong
                if stop:
                    break
        if readers.failed_start is not None:
            click.echo(f"cnn-run: note: no worker process could start ({readers.failed_start}); "
                       "all was read in this process", err=True)
    except BrokenProcessPool:
        raise UserError("a worker process ended without a word (out of memory?); --workers 1 reads in this process, "
                        "where the failing file says why") from None
    finally:
        if show:
            cv2.destroyAllWindows()
    if failed:
        raise click.exceptions.Exit(1)


class FileOutput:
    """What cnn-run prints and saves for files read in order, one source after another, whichever process read them."""

    def __init__(self, as_json: bool, names: OutputNames | None, progress: Progress) -> None:
        self.as_json, self.names, self.progress = as_json, names, progress
        self.failed = 0
        self.dropped: set[int] = set()  # sources that failed: the rest of their frames is skipped
        self._number: int | None = None  # the source whose results are being taken
        self._sink: VideoSink | None = None

    def take(self, job: Job, started: Started | None) -> None:
        """Print (and save) one job's result, or report why its source failed."""
        if job.number != self._number:
            self.end(ok=True)
            self._number = job.number
        if job.number in self.dropped:
            return
        try:
            if job.error is not None:
                raise job.error
            read: Read = started.result()
            echo(job.source.name, None if job.frame is None else job.frame.index, read.reading, self.as_json)
            if self.names is not None:
                self._save(job, read)
        except (BadInput, CannotWrite) as e:  # this source's input or its --save copy; the others go on
            self._fail(e)

    def _save(self, job: Job, read: Read) -> None:
        if job.frame is None:
            write_image(read.copy, self.names.claim(copy_name(job.source.name)))
            return
        overlay = annotate(job.frame.image, read.reading)
        if self._sink is None:
            self._sink = VideoSink(self.names.claim(video_name(job.source)), job.frame.fps or DEFAULT_FPS, overlay)
        self._sink.write(overlay)

    def _fail(self, error: UserError) -> None:
        self.progress.report(error)
        self.failed += 1
        self.dropped.add(self._number)
        self._close_sink(ok=False)

    def _close_sink(self, ok: bool) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.close(ok)

    def end(self, ok: bool) -> None:
        """The source being taken is done: its video copy moved into place if it went well, one more on the bar."""
        if self._number is None:
            return
        try:
            self._close_sink(ok)
        except CannotWrite as e:
            self._fail(e)
        self._number = None
        self.progress.advance()


def read_files(files: list[Source], readers: Readers, mode: str, as_json: bool, names: OutputNames | None,
               max_pixels: int, progress: Progress) -> int:
    """Read image and video files with `readers`, printing and saving in input order; how many failed."""
    output = FileOutput(as_json, names, progress)
    ok = False
    try:
        with (closing(jobs(files, mode, max_pixels, names is not None, output.dropped)) as todo,
              closing(in_order(todo, readers)) as results):
            for job, started in results:
                output.take(job, started)
        ok = True
    finally:
        output.end(ok)  # on Ctrl-C a video's copy is discarded: it would end mid-stream
    return output.failed


def read_live(sources: list[Source], reader: DigitReader, mode: str, as_json: bool, names: OutputNames | None,
              show: bool, max_pixels: int, progress: Progress) -> tuple[int, bool]:
    """Read cameras, and every source under --show, here, one frame at a time; (how many failed, whether to quit)."""
    failed = 0
    for source in sources:
        try:
            if not process(source, reader, mode, as_json, names, show, max_pixels):
                return failed, True
        except (BadInput, CannotWrite) as e:  # this source's input or its --save copy; the others go on
            progress.report(e)
            failed += 1
        if source.kind != "camera":
            progress.advance()
    return failed, False


def process(source: Source, reader: DigitReader, mode: str, as_json: bool, save: OutputNames | None, show: bool,
            max_pixels: int = MAX_PIXELS) -> bool:
    """Read every frame of one live source (a camera, or anything under --show); False when the user asked to quit."""
    sink = None
    ok, keep_going = False, True
    last = time.perf_counter()
    fps = None
    try:
        # Nothing to draw on: JPEGs decode straight to grey, 3x faster than colour with libjpeg-turbo.
        with closing(frames(source, max_pixels, gray=save is None and not show)) as stream:
            for frame in stream:
                started = frame.captured if frame.captured is not None else time.perf_counter()
                reading = reader.read(frame.image, mode)
                latency_ms = 1000 * (time.perf_counter() - started)
                echo(frame.source, frame.index, reading, as_json)
                now = time.perf_counter()
                if frame.index is not None:
                    fps = 1 / max(now - last, 1e-6) if fps is None else 0.9 * fps + 0.1 / max(now - last, 1e-6)
                last = now
                if save is not None or show:
                    overlay = annotate(frame.image, reading, fps, latency_ms)
                    if save is not None and source.kind != "image":
                        if sink is None:
                            sink = VideoSink(save.claim(video_name(source)), frame.fps or DEFAULT_FPS, overlay)
                        for _ in range(1 + frame.dropped):  # a dropped camera frame keeps its time in the copy
                            sink.write(overlay)
                    elif save is not None:
                        save_image(overlay, save.claim(copy_name(frame.source)))
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


def has_display() -> bool:
    """Whether a window can open: on Linux, Qt aborts the whole process when there is no X or Wayland display
    (unless it is told to draw elsewhere, QT_QPA_PLATFORM: a framebuffer, EGL, VNC)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def show_frame(image: np.ndarray, still: bool) -> bool:
    """Show one frame; still images wait for a key. False when the user pressed q or Esc."""
    try:
        cv2.imshow("cnn-run (q to quit)", image)
        key = cv2.waitKey(0 if still else 1) & 0xFF
    except cv2.error:
        raise UserError("--show needs a display, and none is available here") from None
    return key not in QUIT_KEYS


run_main = entry_point(run_command, "cnn-run")
