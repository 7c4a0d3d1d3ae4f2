"""`cnn-run --workers`: many files, or a video's frames, read in worker processes, every result taken in input order.

Decoding a frame and finding its digits take far longer than the model, so ONNX
Runtime's threads do not speed up a folder and one process per core does. Each
worker builds its own reader once, when it starts. A still image crosses to a
worker as its path and the worker decodes it, so no pixels cross; a video is
decoded here, in order, and its frames cross as pixels. Only a few tasks per
worker are in flight, so memory stays flat however long the folder or the
video, and results are taken in the order the tasks were made, so the output is
the one a single process prints.

Workers are forked from the command while that is safe (`may_fork`), else
started by forkserver where there is one, else by spawn. Workers write nothing:
the command prints every line and writes every --save copy, whole, so stopping
a worker never leaves half a file. They ignore Ctrl-C, which is the command's
to handle: it stops handing out tasks, ends the workers (what they were reading
is no longer wanted) and says it was interrupted.
"""

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from digit_cnn_edge.common.errors import BadInput
from digit_cnn_edge.runtime.classifier import DigitClassifier
from digit_cnn_edge.runtime.copies import EncodedImage, copy_name, encode_image
from digit_cnn_edge.runtime.decode import read_gray, read_image
from digit_cnn_edge.runtime.draw import annotate
from digit_cnn_edge.runtime.reader import DigitReader, Reading
from digit_cnn_edge.runtime.segment import Params
from digit_cnn_edge.runtime.sources import Frame, Source, frames

TASKS_PER_WORKER = 3
"""Tasks in flight per worker: enough that a worker never waits for its next one, few enough that memory stays flat."""
CHUNK = 8
"""Still images a worker is handed at once: one takes milliseconds, and one task per image spends a share of that
on passing tasks and results between processes. A video's frames go one at a time: they cross as pixels, and a
chunk of them would multiply the memory in flight."""
WARM_UP_SECONDS = 0.1
"""Reading done in the command before workers it cannot fork start: a run over by then (a few files) never starts
them. Forked workers are ready in milliseconds and start at once."""
JOIN_SECONDS = 1.0
"""How long the command waits for a stopped worker to end."""


def cores() -> int:
    """The cores this process may run on: a container's or `taskset`'s share, not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def workers_for(files: list[Source], requested: int | None) -> int:
    """How many processes read `files`: as asked, else the cores when there are several files or a video, else one.

    Never more than there are files when all of them are still images: a worker with nothing to read costs a start.
    """
    has_video = any(s.kind == "video" for s in files)
    wanted = requested if requested is not None else cores() if len(files) > 1 or has_video else 1
    return wanted if has_video else max(1, min(wanted, len(files)))


@dataclass(frozen=True)
class ReaderSpec:
    """How a worker builds its own reader: a DigitReader holds an ONNX Runtime session, which cannot cross processes."""

    model: Path | None
    threads: int
    min_confidence: float
    params: Params = field(default_factory=Params)

    def build(self) -> DigitReader:
        return DigitReader(DigitClassifier(self.model, threads=self.threads), self.min_confidence, self.params)


@dataclass(frozen=True)
class Read:
    """What a task gives back: the reading, and for a still image under --save its annotated copy, encoded."""

    reading: Reading
    copy: EncodedImage | None = None


@dataclass(frozen=True)
class ReadStill:
    """A still image, decoded by whoever reads it, so only its path crosses to a worker."""

    path: str
    mode: str
    max_pixels: int
    copy_suffix: str | None = None  # --save: the copy's format; None: nothing to draw, so JPEGs decode to grey

    def run(self, reader: DigitReader) -> Read:
        if self.copy_suffix is None:  # nothing to draw: grey, and a large JPEG decoded straight to the working size
            image, scale = read_gray(self.path, self.max_pixels, reader.params.work_side)
            return Read(reader.read(image, self.mode, scale))
        image = read_image(self.path, self.max_pixels)
        reading = reader.read(image, self.mode)
        return Read(reading, encode_image(annotate(image, reading), self.copy_suffix))


@dataclass(frozen=True)
class ReadFrame:
    """A video frame, decoded in order by the command and read by whichever worker is free."""

    image: np.ndarray
    mode: str

    def run(self, reader: DigitReader) -> Read:
        return Read(reader.read(self.image, self.mode))


@dataclass(frozen=True)
class Job:
    """One task in input order, with what the command needs to print and save its result."""

    number: int  # the source's place in the list it came from
    source: Source
    task: ReadStill | ReadFrame | None
    frame: Frame | None = None  # a video frame, kept to draw its annotated copy
    error: BadInput | None = None  # why the source could not be opened or read


def jobs(files: list[Source], mode: str, max_pixels: int, copies: bool, dropped: Container[int]) -> Iterator[Job]:
    """The tasks that read `files`, in order: one per still image, one per video frame.

    A video whose number is in `dropped` (it failed part-way, say its copy could not be written) is decoded no further.
    """
    for number, source in enumerate(files):
        if source.kind == "image":
            suffix = Path(copy_name(source.name)).suffix if copies else None
            yield Job(number, source, ReadStill(source.name, mode, max_pixels, suffix))
            continue
        try:
            with closing(frames(source, max_pixels)) as stream:
                for frame in stream:
                    if number in dropped:
                        break
                    yield Job(number, source, ReadFrame(frame.image, mode), frame)
        except BadInput as e:
            yield Job(number, source, None, error=e)


class Started(Protocol):
    """A task on its way: a Future from a worker, or one run here when its result is taken."""

    def result(self) -> Read: ...


class _Chunk:
    """Tasks handed to a worker together, once `CHUNK` of them are there or one of their results is wanted."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.tasks: list[ReadStill | ReadFrame] = []
        self.future: Future[list[Read | BadInput]] | None = None
        self._pool = pool

    def submit(self) -> None:
        if self.future is None:
            self.future = self._pool.submit(_run, self.tasks)


class _InChunk:
    """One task of a chunk: taking its result sends the chunk off if it has not gone yet."""

    def __init__(self, chunk: _Chunk, index: int) -> None:
        self._chunk, self._index = chunk, index

    def result(self) -> Read:
        self._chunk.submit()
        read = self._chunk.future.result()[self._index]
        if isinstance(read, BadInput):
            raise read
        return read


class _InProcess:
    """The one-worker case: a task run here when its result is taken, so frames are decoded and read as they come."""

    def __init__(self, task: ReadStill | ReadFrame, reader: DigitReader) -> None:
        self._task, self._reader = task, reader

    def result(self) -> Read:
        return self._task.run(self._reader)


_reader: DigitReader | None = None
"""A worker process's own reader, built once by `_start_worker`."""


def _end_with_the_command() -> None:
    """Have this worker end when the command that started it ends, however that ends.

    A command killed (SIGTERM from `kill` or `timeout`, SIGKILL, out of
    memory) cannot end its workers, and each would wait for its next task
    for good: it holds both ends of the task queue's pipe, so it never reads
    an end of file (and one started by the fork server keeps that server
    alive too). The command's sentinel is ready once it has ended: a thread
    waits for it.
    """
    command = multiprocessing.parent_process()
    if command is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([command.sentinel])
        os._exit(1)  # the command is gone: nothing this worker holds is wanted

    threading.Thread(target=watch, name="cnn-run watch", daemon=True).start()


def _start_worker(spec: ReaderSpec) -> None:
    global _reader
    _end_with_the_command()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle: it ends the workers
    cv2.setNumThreads(1)  # one core per worker; OpenCV's own threads would only compete with the other workers
    _reader = spec.build()


def _run(tasks: list[ReadStill | ReadFrame]) -> list[Read | BadInput]:
    """Read a chunk; a file that cannot be read is its own result, so the rest of its chunk is still read."""
    done: list[Read | BadInput] = []
    for task in tasks:
        try:
            done.append(task.run(_reader))
        except BadInput as e:
            done.append(e)
    return done


def _started() -> None:
    """A worker's first task: done once that worker has built its reader, so the pool can take the reading over."""


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # imported once by the server, not once per worker
    return context


def _threads() -> frozenset[str] | None:
    """The ids of the threads this process runs, where the system says (Linux's /proc); None elsewhere."""
    try:
        return frozenset(os.listdir("/proc/self/task"))
    except OSError:
        return None


_THREADS_AT_IMPORT = _threads()
"""The threads this process ran once the runtime's libraries were imported: numpy's and OpenCV's OpenBLAS pools, one
of ONNX Runtime's."""


def may_fork() -> bool:
    """Whether workers may be forked from this process now: on Linux, while it runs no thread it did not run at import.

    A fork copies only the thread that forks; a lock another thread held
    stays locked in the copy for good. The fork server forks its workers
    from a process that has imported this module and done nothing else,
    whose only other threads are the libraries' own: OpenBLAS's, which it
    stops before a fork (and starts again when next used), and an ONNX
    Runtime thread in a timed wait. This process is in that state as long
    as no thread has been started since: no OpenCV thread pool (started by
    the first frame it reads), no ONNX Runtime pool (`--threads` over 1), no
    thread of ours. A worker forked then is ready in milliseconds, where the
    fork server first imports the runtime (a third of a second of a core),
    which on a folder of a few hundred files is a large part of the run.
    Only a caller that knows it ran no thread before it imported this module
    may ask (`Readers(fork=True)`: cnn-run).
    """
    if sys.platform != "linux" or _THREADS_AT_IMPORT is None:
        return False
    now = _threads()
    return now is not None and now <= _THREADS_AT_IMPORT  # OpenBLAS's may have stopped at an earlier fork


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def in_background(work: Callable[[], None]) -> threading.Thread:
    """Run `work` in a thread of its own, started."""
    thread = threading.Thread(target=work, name="cnn-run workers", daemon=True)
    thread.start()
    return thread


class Readers:
    """Runs read tasks here with `reader` or in `workers` processes; a context manager that stops them.

    With `fork` (the caller ran no thread before it imported this module),
    where workers may be forked (`may_fork`), they are, as the with-block is
    entered, before this process reads anything. Otherwise they start once
    reading here has taken `warm_up` seconds (a run of a few files never
    starts them), the pool being made in a thread of its own: starting it
    blocks until the first worker has imported the runtime. Either way this
    process reads until the first worker is ready, so no run waits idle for
    a pool.
    """

    def __init__(self, reader: DigitReader, spec: ReaderSpec, workers: int, warm_up: float = WARM_UP_SECONDS,
                 fork: bool = False) -> None:
        self._reader, self._spec, self._workers, self._warm_up = reader, spec, workers, warm_up
        self._pool: ProcessPoolExecutor | None = None
        self._probes: list[Future[None]] = []
        self._launcher: threading.Thread | None = None
        self._first: float | None = None  # when the first task was started
        self._ready = False
        self._chunk: _Chunk | None = None  # the chunk being filled
        self._chunk_size = CHUNK  # tasks a chunk holds: CHUNK for still images, 1 for a video's frames
        self._processes: list[multiprocessing.process.BaseProcess] = []  # the pool's workers, once started
        self.failed_start: OSError | None = None  # why no worker could be started, if so: all was read here
        self.forked = fork and workers > 1 and _main_thread() and may_fork()

    @property
    def window(self) -> int:
        """How many tasks may be started ahead of the one being taken."""
        return self._workers * TASKS_PER_WORKER * self._chunk_size if self._ready else 1

    def start(self, task: ReadStill | ReadFrame) -> Started:
        self._ready = self._ready or any(probe.done() for probe in self._probes)
        if self._ready:
            self._chunk_size = CHUNK if isinstance(task, ReadStill) else 1
            if self._chunk is None or self._chunk.future is not None:
                self._chunk = _Chunk(self._pool)
            self._chunk.tasks.append(task)
            if len(self._chunk.tasks) >= self._chunk_size:
                self._chunk.submit()
            return _InChunk(self._chunk, len(self._chunk.tasks) - 1)
        now = time.perf_counter()
        self._first = self._first if self._first is not None else now
        if self._workers > 1 and not self.forked and self._launcher is None and now - self._first >= self._warm_up:
            self._launcher = in_background(lambda: self._launch(_context()))
        return _InProcess(task, self._reader)

    def _fork_workers(self) -> None:
        """Fork the workers, in the main thread; a Ctrl-C meanwhile is taken once every worker is recorded.

        Blocking SIGINT in this thread does not hold it back from this
        process: the libraries' threads take it, and Python would raise
        KeyboardInterrupt here mid-way, leaving workers it had not yet
        recorded to wait for tasks for good (and the command for them).
        """
        wanted: list[bool] = []
        previous = signal.signal(signal.SIGINT, lambda *_: wanted.append(True))
        try:
            with warnings.catch_warnings():  # Python 3.12+ warns of any thread; `may_fork` has judged these
                warnings.filterwarnings("ignore", r"This process .* is multi-threaded", DeprecationWarning)
                self._launch(multiprocessing.get_context("fork"))
        finally:
            signal.signal(signal.SIGINT, previous)
        if wanted and previous is not signal.SIG_IGN:
            signal.raise_signal(signal.SIGINT)  # as the command would have taken it: KeyboardInterrupt, by default

    def _launch(self, context: multiprocessing.context.BaseContext) -> None:
        # Processes started while this thread blocks SIGINT inherit it blocked, so a Ctrl-C that arrives before a
        # worker has set it aside (`_start_worker`) cannot kill it half-started.
        masks = hasattr(signal, "pthread_sigmask")
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if masks else None
        before = set(multiprocessing.active_children())
        try:
            try:
                pool = ProcessPoolExecutor(self._workers, mp_context=context, initializer=_start_worker,
                                           initargs=(self._spec,))
                self._pool = pool
                self._probes = [pool.submit(_started) for _ in range(self._workers)]  # each starts a worker
            except OSError as e:  # no semaphores, no socket for the fork server: this process reads on alone
                self.failed_start = e
            self._processes = [p for p in multiprocessing.active_children() if p not in before]
        finally:
            if masks:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _stop_workers(self) -> None:
        """End the workers at once, whether the run finished or was stopped: they hold nothing the command needs.

        Not by the pool's own shutdown, which waits for each worker to take a
        stop message from the task queue: a second Ctrl-C during that wait (a
        terminal's user, `timeout` signalling the process and then its group)
        left workers that never got theirs, and the command waited for them
        without end. Ctrl-C is set aside meanwhile: a second a worker at most.
        """
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
        try:
            if self._launcher is not None:
                self._launcher.join()
            if self._pool is None:
                return
            # the pool's queues and thread, which it forgets on shutdown (private names: looked up, not relied on)
            results, calls = getattr(self._pool, "_result_queue", None), getattr(self._pool, "_call_queue", None)
            manager = getattr(self._pool, "_executor_manager_thread", None)
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in self._processes:
                process.terminate()
            for process in self._processes:
                process.join(JOIN_SECONDS)
            if not any(process.is_alive() for process in self._processes):
                # A worker ended while sending its results (a chunk's --save copies fill the pipe) leaves half a
                # message in the result pipe, and the pool's thread waited for the rest for good, the command's
                # exit waiting for that thread. With the workers gone, this process holds the pipe's last write
                # end: closed, that wait reads an end of file, and the thread ends as for a worker that died.
                if results is not None:
                    results._writer.close()
                # The other way round, a video frame half written to a worker that ended leaves the task queue's
                # thread waiting to write the rest; Python 3.11 and later close that pipe's read end as the pool
                # breaks (gh-94777), 3.10 does not, so it is closed here (later, it would race the pool's close).
                if calls is not None and sys.version_info < (3, 11):
                    calls._reader.close()
                # The pool's thread then ends, closing its wake-up pipe. Left running, it could close that pipe while
                # the interpreter's exit wrote to it (the standard library's pool guards that pipe with no lock of its
                # own before CPython's gh-125451 fix): "Exception ignored ... Bad file descriptor" after "cnn-run:
                # interrupted", once in the local suite's Ctrl-C test under load (none in 130 runs by hand).
                if manager is not None:
                    manager.join(JOIN_SECONDS)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def flush(self) -> None:
        """Hand out the chunk being filled: nothing more is coming."""
        if self._chunk is not None:
            self._chunk.submit()

    def __enter__(self) -> "Readers":
        if self.forked:
            try:
                self._fork_workers()
            except BaseException:  # Ctrl-C as they started: the with-block that would end them is not entered
                self._stop_workers()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_workers()


def in_order(todo: Iterable[Job], readers: Readers) -> Iterator[tuple[Job, Started | None]]:
    """Each job with its started task, in the order of `todo`, while up to `readers.window` jobs are started ahead.

    Taking a job's result waits for that job alone; the others run meanwhile. A job without a task (a source that
    could not be opened) keeps its place. Jobs started but never taken are the pool's to cancel as `Readers` ends: a
    future cancelled here, with a worker ended mid-way, made the pool's own thread raise on Python 3.10 and 3.11.
    """
    pending: deque[tuple[Job, Started | None]] = deque()
    for job in todo:
        pending.append((job, readers.start(job.task) if job.task is not None else None))
        while len(pending) >= readers.window:  # the window shrinks when a video follows still images
            yield pending.popleft()
    readers.flush()
    while pending:
        yield pending.popleft()
