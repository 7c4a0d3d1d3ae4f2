"""`cnn-run --workers`: the output of many processes is the output of one, in input order, and Ctrl-C stops cleanly.

Scenes are rendered here from the offline sample's validation digits and read
with the model the runtime ships. In-process runs start the worker pool at once
and wait for it (`pool_at_once`), so a small folder is read by the workers and
not by the command while they start; the tests check that they were. They start
it by the fork server: this process has read with OpenCV and runs threads, so
it may not fork; `cnn-run` as a command forks its workers, tested in a child.
"""

import contextlib
import json
import multiprocessing
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_cnn_edge.runtime import workers
from digit_cnn_edge.runtime.cli import run_command
from digit_cnn_edge.runtime.sources import Source
from tests.conftest import CTRL_C, invoke

RUN_CNN = "from digit_cnn_edge.runtime.cli import run_main; run_main()"


@pytest.fixture(scope="module")
def folder(tmp_path_factory, sample) -> Path:
    """Scenes with 1-6 digits among broken files, single digits, a video and a video that is not one."""
    from digit_cnn_edge.train.synth import render_scene

    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(23)
    for i in range(14):
        cv2.imwrite(str(root / f"scene{i:02d}.jpg"), render_scene(sample.val.images, sample.val.labels, rng).image)
    for i in range(3):
        cv2.imwrite(str(root / f"digit{i}.png"), sample.val.images[i])
    (root / "scene03b.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (root / "empty.png").write_bytes(b"")
    (root / "zz-broken.mp4").write_bytes(b"not a video")
    video = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for _ in range(9):
        video.write(render_scene(sample.val.images, sample.val.labels, rng).image)
    video.release()
    return root


class Submissions:
    count = 0


@pytest.fixture
def pool_at_once(monkeypatch) -> type[Submissions]:
    """Workers start with the first task and are waited for; how many images or frames they were given to read."""
    Submissions.count = 0

    class ReadyPool(ProcessPoolExecutor):
        def __init__(self, max_workers: int, **kwargs) -> None:
            super().__init__(max_workers, **kwargs)
            wait([super(ReadyPool, self).submit(workers._started) for _ in range(max_workers)])

        def submit(self, fn, /, *args, **kwargs):
            Submissions.count += len(args[0]) if fn is workers._run else 0  # a chunk of tasks
            return super().submit(fn, *args, **kwargs)

    def at_once(work):  # the pool is made here, not in a thread, so the command waits for it
        done = threading.Thread(target=lambda: None)
        work()
        done.start()
        return done

    monkeypatch.setattr(workers, "ProcessPoolExecutor", ReadyPool)
    monkeypatch.setattr(workers, "in_background", at_once)
    monkeypatch.setattr(workers, "may_fork", lambda: False)
    return Submissions


def names(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir())


@pytest.mark.parametrize("form", [["--json"], []], ids=["json", "text"])
def test_two_workers_print_what_one_prints_in_input_order(folder, form, pool_at_once, capsys):
    one = invoke(run_command, "cnn-run", [folder, *form, "--workers", "1"], capsys)
    assert pool_at_once.count == 0
    two = invoke(run_command, "cnn-run", [folder, *form, "--workers", "2"], capsys)
    assert pool_at_once.count >= 20, "the workers read most of the frames"
    assert two == one  # exit code, stdout byte for byte, the same error lines in the same order
    code, out, err = two
    assert code == 1 and "Traceback" not in err
    failed = [line.split(": ")[2] for line in err.splitlines()]
    assert failed == [str(folder / n) for n in ("empty.png", "scene03b.jpg", "zz-broken.mp4")]
    if form:
        records = [json.loads(line) for line in out.splitlines()]
        good = [n for n in names(folder) if not n.endswith(("empty.png", "scene03b.jpg", "zz-broken.mp4"))]
        assert [r["source"] for r in records if r["frame"] in (None, 0)] == good
        assert [r["frame"] for r in records if r["source"].endswith("clip.mp4")] == list(range(9))
        assert sum(len(r["digits"]) for r in records) > 14 + 3 + 9


def test_two_workers_save_the_copies_one_saves(folder, tmp_path, pool_at_once, capsys):
    (tmp_path / "again").mkdir()
    for name in ("scene00.jpg", "scene01.jpg", "digit0.png"):  # same names from a second folder: scene00-2.jpg, ...
        (tmp_path / "again" / name).write_bytes((folder / name).read_bytes())
    sources = [folder / "scene03b.jpg", folder / "scene00.jpg", folder / "clip.mp4", folder / "digit0.png",
               tmp_path / "again", folder / "scene01.jpg"]
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        runs[n] = invoke(run_command, "cnn-run", [*sources, "--save", out, "--workers", n], capsys)
    assert pool_at_once.count > 0
    assert runs[1] == runs[2] and runs[1][0] == 1
    saved = sorted(p.name for p in (tmp_path / "out1").iterdir())
    assert saved == sorted(p.name for p in (tmp_path / "out2").iterdir())
    assert saved == sorted(["scene00.jpg", "clip.annotated.mp4", "digit0.png", "digit0-2.png", "scene00-2.jpg",
                            "scene01.jpg", "scene01-2.jpg"])
    for name in saved:
        if name.endswith(".mp4"):
            assert np.array_equal(video_frames(tmp_path / "out1" / name), video_frames(tmp_path / "out2" / name))
        else:
            assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes(), name


def video_frames(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    return np.stack(frames)


def test_default_workers_are_the_cores_for_several_files_or_a_video():
    image, video = Source("image", "a.jpg"), Source("video", "v.mp4")
    assert workers.workers_for([image], None) == 1
    assert workers.workers_for([video], None) == workers.cores()
    assert workers.workers_for([image] * 50, None) == workers.cores()
    assert workers.workers_for([image] * 3, 8) == 3  # no more workers than images
    assert workers.workers_for([image] * 50, 1) == 1


FORKED = """
import atexit, sys
from digit_cnn_edge.runtime import workers
built, handed = [], []
init, submit = workers.Readers.__init__, workers._Chunk.submit
workers.Readers.__init__ = lambda self, *a, **k: (init(self, *a, **k), built.append(self))[0]
workers._Chunk.submit = lambda self: (handed.append(len(self.tasks)) if self.future is None else None, submit(self))[1]
atexit.register(lambda: print("forked:", [r.forked for r in built], sum(handed), file=sys.stderr))
"""


def state_and_parent(pid: int | str) -> tuple[str, int] | None:
    """A process's state letter and parent (Linux's /proc); None if there is no such process."""
    try:
        state, ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    except OSError:  # gone, or not a process
        return None
    return state, int(ppid)


def alive(pid: int) -> bool:
    found = state_and_parent(pid)
    return found is not None and found[0] != "Z"


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`, zombies left out."""
    found = ((int(e.name), state_and_parent(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit())
    return [child for child, seen in found if seen is not None and seen[0] != "Z" and seen[1] == pid]


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_cnn_run_forks_its_workers_and_prints_what_one_prints(folder):
    """The command forks its workers: it has started no thread and read nothing with OpenCV when it makes them."""
    runs = {n: subprocess.run([sys.executable, "-c", FORKED + RUN_CNN, str(folder), "--json", "--workers", str(n)],
                              capture_output=True, text=True, timeout=120, check=False) for n in (1, 2)}
    forked, handed = runs[2].stderr.splitlines()[-1].rsplit(" ", 1)
    assert forked == "forked: [True]" and int(handed) >= 10, "the forked workers read most of the files"
    assert runs[1].stderr.splitlines()[-1] == "forked: [False] 0"
    assert (runs[2].returncode, runs[2].stdout) == (runs[1].returncode, runs[1].stdout) == (1, runs[1].stdout)
    assert len(runs[1].stdout.splitlines()) == 14 + 3 + 9


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_ctrl_c_while_the_workers_are_forked_leaves_none_behind():
    """SIGINT, blocked in the forking thread, is taken by a library's thread, and Python raised KeyboardInterrupt
    mid-way: workers forked but not yet recorded were never ended, and the command waited for them at exit."""
    check = """
import multiprocessing.context, os, signal
from digit_cnn_edge.runtime import workers
start = multiprocessing.context.ForkProcess.start
def interrupted_start(self):  # Ctrl-C once the first worker is forked, before the second is
    start(self)
    multiprocessing.context.ForkProcess.start = start
    os.kill(os.getpid(), signal.SIGINT)
multiprocessing.context.ForkProcess.start = interrupted_start
spec = workers.ReaderSpec(None, 1, 0.5)
reader = spec.build()
try:
    with workers.Readers(reader, spec, 2, fork=True):
        print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
"""
    run = subprocess.Popen([sys.executable, "-c", CTRL_C + check], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert out == "interrupted\n" and run.returncode == 0, err


HALF_SENT = """
class Task:  # sends half a result, as a worker SIGTERMed while it sends its chunk's --save copies leaves it
    def run(self, reader):
        results = next(o for o in gc.get_objects() if isinstance(o, multiprocessing.queues.SimpleQueue))
        os.write(results._writer.fileno(), struct.pack("!i", 1 << 20) + bytes(100))  # 100 bytes of a 1 MB message
        time.sleep(60)
tasks = [Task()]
"""
HALF_TAKEN = """
class Task:  # keeps its worker busy, so the video frames after it are still being written to the task pipe
    def run(self, reader):
        time.sleep(60)
tasks = [Task(), Task(), *[workers.ReadFrame(np.zeros((4000, 4000), np.uint8), "auto")] * 2]
"""


@pytest.mark.parametrize("tasks", [HALF_SENT, HALF_TAKEN], ids=["results half sent", "frames half taken"])
def test_workers_ended_mid_message_do_not_hold_the_command(tasks):
    """A worker ended while its results were half sent left the pool's thread waiting for the rest, and the command
    waited for that thread at exit (a Ctrl-C that printed its line, then hung); on Python 3.10, frames half
    written to workers that ended held it the same way. Here the workers are ended so, and the with-block ends."""
    check = """
import gc, multiprocessing.queues, os, struct, time
import numpy as np
from digit_cnn_edge.runtime import workers
""" + tasks + """
spec = workers.ReaderSpec(None, 1, 0.5)
with workers.Readers(spec.build(), spec, 2, fork=True) as readers:
    assert readers.forked
    while not any(probe.done() for probe in readers._probes):  # a worker is ready: tasks go to the workers
        time.sleep(0.05)
    for task in tasks:
        readers.start(task)
        readers.flush()
    time.sleep(1)
print("ended")
"""
    run = subprocess.Popen([sys.executable, "-c", check], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = run.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        for pid in [*descendants_of(run.pid), run.pid]:
            os.kill(pid, signal.SIGKILL)
        pytest.fail("the command did not end")
    assert (out, err, run.returncode) == ("ended\n", "", 0)


def descendants_of(pid: int) -> list[int]:
    """`pid`'s children, theirs, and so on (Linux's /proc)."""
    found, todo = [], [pid]
    while todo:
        children = children_of(todo.pop())
        found += children
        todo += children
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="processes are looked for in Linux's /proc")
@pytest.mark.parametrize("threads", ["1", "2"], ids=["forked", "by the fork server"])
def test_workers_end_when_the_command_is_killed(folder, threads):
    """SIGKILL (or SIGTERM, out of memory) ends the command without a word to its workers, which held both ends of
    their task queue's pipe and waited for tasks for good, and kept the fork server alive."""
    scenes = [str(p) for p in sorted(folder.glob("scene??.jpg"))]
    run = subprocess.Popen([sys.executable, "-c", RUN_CNN, *(scenes * 50), "--json", "--workers", "2",
                            "--threads", threads], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    started: list[int] = []
    try:
        for _ in range(60):  # well after the workers took over
            run.stdout.readline()
        started = descendants_of(run.pid)
        assert len(started) >= 2
        run.kill()
        run.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in started if alive(pid)]
    finally:
        run.kill()
        for pid in started:  # on failure: not left running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
@pytest.mark.parametrize("then, forks", [
    ("kept = DigitClassifier(None, threads=1)", "True"),  # the command's own reader, built before it forks
    ("kept = DigitClassifier(None, threads=2)", "False"),  # ONNX Runtime starts a thread pool for the session
    ("threading.Thread(target=threading.Event().wait, daemon=True).start()", "False"),
], ids=["a session", "a session's threads", "a thread"])
def test_workers_are_not_forked_once_a_thread_has_started(then, forks):
    """A thread started since the runtime was imported may hold a lock that a fork would keep locked for good."""
    check = ("import threading; from digit_cnn_edge.runtime import workers; "
             "from digit_cnn_edge.runtime.classifier import DigitClassifier; "
             f"print(workers.may_fork()); {then}; print(workers.may_fork())")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", forks]


def test_ctrl_c_stops_cleanly_with_no_half_written_copy(folder, tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it, while two workers read and save."""
    out = tmp_path / "out"
    scenes = [str(p) for p in sorted(folder.glob("scene??.jpg"))]
    run = subprocess.Popen([sys.executable, "-c", CTRL_C + RUN_CNN, *(scenes * 30), "--json", "--save", str(out),
                            "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True, text=True)
    lines = []
    for line in run.stdout:
        lines.append(line)
        if len(lines) == 120:  # well after the workers took over
            os.killpg(run.pid, signal.SIGINT)
            break
    rest, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert err.strip() == "cnn-run: interrupted"  # click starts a new line first
    assert len(lines) + len(rest.splitlines()) < len(scenes) * 30 - 1  # it stopped early
    for line in lines + rest.splitlines():
        json.loads(line)  # every line whole
    copies = list(out.iterdir())
    assert copies and not [p.name for p in copies if p.name.startswith(".")]  # no temporary file left
    for copy in copies:
        assert cv2.imread(str(copy)) is not None, copy.name


def test_a_second_ctrl_c_while_stopping_still_ends_every_worker(tmp_path, pool_at_once):
    """The pool's own shutdown waited for each worker to take a stop message; a second Ctrl-C during that wait (a
    terminal's user, or `timeout` signalling the process and then its group) left workers that never got theirs,
    and cnn-run waited for them without end. Here the first Ctrl-C has ended the reading while workers are busy
    with large images (seconds a chunk), and the second comes while the command stops them."""
    bystander = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    bystander.start()  # an application's own process, started before the workers: not theirs to end
    others = set(multiprocessing.active_children())
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.tile(np.arange(6000, dtype=np.uint16) % 251, (6000, 1)).astype(np.uint8))
    spec = workers.ReaderSpec(None, 1, 0.5)
    readers = workers.Readers(spec.build(), spec, 2, warm_up=0.0)
    deadline = time.monotonic() + 30
    while pool_at_once.count < 48 and time.monotonic() < deadline:  # tasks started before the workers were ready
        readers.start(workers.ReadStill(str(big), "segment", 10**8))  # are read here when taken: none is taken
    time.sleep(0.5)  # the workers are decoding
    assert pool_at_once.count >= 48

    stopping = threading.Event()

    def second_ctrl_c(*_: object) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, second_ctrl_c)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    interrupted = False
    try:
        stopping.set()
        timer.start()
        start = time.monotonic()
        try:
            readers.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)  # as the with-block leaves on Ctrl-C
        except KeyboardInterrupt:
            interrupted = True
        took = time.monotonic() - start
    finally:
        stopping.clear()
        timer.join()
        signal.signal(signal.SIGINT, previous)
        left = [process for process in multiprocessing.active_children() if process not in others]
        for process in left:
            process.kill()
    assert not interrupted and not left and took < 5
    assert bystander.is_alive()
    bystander.kill()


def test_workers_that_cannot_start_leave_the_reading_to_the_command(folder, monkeypatch, capsys):
    """No semaphores or no socket for the fork server (a sandbox, another user): one note, the same output."""
    scenes = sorted(folder.glob("scene0?.jpg"))
    one = invoke(run_command, "cnn-run", [*scenes, "--workers", "1"], capsys)

    def no_pool(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(workers, "ProcessPoolExecutor", no_pool)
    code, out, err = invoke(run_command, "cnn-run", [*scenes, "--workers", "2"], capsys)
    assert (code, out) == one[:2] and code == 0
    assert err.strip() == ("cnn-run: note: no worker process could start ([Errno 13] Permission denied); "
                           "all was read in this process")


def test_progress_shows_on_a_terminal_and_stays_out_of_the_output(folder):
    """stderr on a terminal, stdout in a pipe: a bar on stderr; the JSON lines and the error lines untouched."""
    primary, secondary = pty.openpty()
    screen: list[bytes] = []
    reader = threading.Thread(target=read_terminal, args=(primary, screen))
    reader.start()
    run = subprocess.Popen([sys.executable, "-c", RUN_CNN, str(folder), "--json", "--workers", "2"],
                           stdout=subprocess.PIPE, stderr=secondary, text=True)
    os.close(secondary)
    out, _ = run.communicate(timeout=120)
    reader.join(timeout=30)
    os.close(primary)
    seen = b"".join(screen).decode(errors="replace")
    files = len(list(folder.iterdir()))
    assert run.returncode == 1
    assert f"{files}/{files}" in seen  # the bar, finished
    assert seen.count("\x1b[2Kcnn-run: error: ") == 3  # each error line clears the bar and takes a line of its own
    assert [json.loads(line)["source"] for line in out.splitlines()]  # the output is JSON lines alone


def read_terminal(fd: int, into: list[bytes]) -> None:
    """What is written to a terminal, until its other end is closed (Linux then says EIO)."""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            return
        if not chunk:
            return
        into.append(chunk)
