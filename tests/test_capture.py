"""Live capture: a camera faster than the reader is shown as it is now, never as a growing backlog."""

import threading
import time

import numpy as np
import pytest

from digit_cnn_edge.runtime import capture, sources
from digit_cnn_edge.runtime.capture import latest_frames
from digit_cnn_edge.runtime.sources import Source, frames

PRODUCED = 300  # frames the fake camera makes, one a millisecond
READ_EVERY = 0.03  # the consumer's seconds per frame: 30x slower than the camera


class FastCamera:
    """A camera that makes numbered frames on its own clock, faster than they are read, then ends.

    Like a real one (and OpenCV's buffer), it keeps every frame not yet read:
    read() hands out the oldest, waiting only when none is due yet. Each image
    holds its own number, so a test sees which frames it was handed.
    """

    def __init__(self, total: int = PRODUCED, period: float = 0.001) -> None:
        self.total, self.period = total, period
        self.start: float | None = None
        self.handed = 0
        self.released = False
        self.readers: set[str] = set()

    def made(self) -> int:
        """Frames the camera has made by now, read or not."""
        return 0 if self.start is None else min(self.total, int((time.perf_counter() - self.start) / self.period))

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        assert not self.released, "read after release"
        self.readers.add(threading.current_thread().name)
        if self.start is None:
            self.start = time.perf_counter()
        if self.handed == self.total:
            return False, None
        self.handed += 1
        time.sleep(max(0.0, self.start + self.handed * self.period - time.perf_counter()))
        return True, np.array([[self.handed]], np.int64)

    def release(self) -> None:
        self.released = True


def number(image: np.ndarray) -> int:
    return int(image[0, 0])


def test_a_slow_reader_gets_the_newest_frame_and_drops_the_stale_ones():
    camera = FastCamera()
    got, behind = [], []
    for grabbed in latest_frames(camera):
        got.append(number(grabbed.image))
        behind.append(camera.made() - grabbed.sequence)  # frames the camera made after the one handed out
        assert grabbed.sequence == number(grabbed.image)
        time.sleep(READ_EVERY)
    assert got == sorted(set(got)), "every frame handed out is newer than the one before"
    assert len(got) < PRODUCED / 2, "a reader 30x slower than the camera skips most frames (a queue reads all)"
    assert got[-1] == PRODUCED, "the last frame the camera made is never lost"
    # A queue falls further behind with every frame, by the end by nearly all of PRODUCED; the
    # newest-frame slot stays a frame or two behind the camera (the bound leaves room for a loaded machine).
    assert max(behind) < PRODUCED / 2, behind
    assert camera.readers == {"camera-reader"}, "the camera is read on its own thread"


def test_stopping_early_joins_the_reader_before_the_capture_is_released(monkeypatch):
    camera = FastCamera(total=10**6)
    monkeypatch.setattr(sources, "open_capture", lambda source, *limits: camera)
    with pytest.raises(KeyboardInterrupt):
        for frame in frames(Source("camera", "0", 0)):
            if frame.index == 3:
                raise KeyboardInterrupt  # Ctrl-C in the middle of a frame
    assert camera.released
    assert not any(t.name == "camera-reader" for t in threading.enumerate())


def test_camera_frames_count_what_was_read_and_carry_their_capture_time_and_the_frames_dropped(monkeypatch):
    camera = FastCamera()
    monkeypatch.setattr(sources, "open_capture", lambda source, *limits: camera)
    seen = []
    for frame in frames(Source("camera", "0", 0)):
        assert frame.captured is not None and frame.captured <= time.perf_counter()
        seen.append((frame.index, number(frame.image), frame.dropped))
        time.sleep(READ_EVERY)
    indices, numbers, dropped = zip(*seen)
    assert list(indices) == list(range(len(seen))), "indices count the frames processed, without gaps"
    assert numbers[-1] == PRODUCED and len(numbers) < PRODUCED / 2
    assert all(n - d - 1 == before for n, d, before in zip(numbers, dropped, (0, *numbers))), "dropped: the gap before each"
    assert camera.released


def test_a_video_file_drops_no_frame_however_slow_the_reader(monkeypatch):
    video = FastCamera(total=40)
    monkeypatch.setattr(sources, "open_capture", lambda source, *limits: video)
    seen = []
    for frame in frames(Source("video", "clip.mp4")):
        seen.append(number(frame.image))
        time.sleep(0.005)
    assert seen == list(range(1, 41))
    assert video.released


def test_a_camera_that_stalls_is_a_one_line_error_and_released_once_its_read_returns(monkeypatch):
    """A read that never returns (a camera unplugged mid-read) must not hang the command, nor be released under."""
    unblock = threading.Event()

    class Stalling(FastCamera):
        reading = False

        def read(self):
            if self.handed == 5:
                self.reading = True
                unblock.wait()  # stuck until the test lets go
                self.reading = False
                return False, None
            return super().read()

        def release(self):
            assert not self.reading, "released during a read"
            super().release()

    camera = Stalling()
    monkeypatch.setattr(sources, "open_capture", lambda source, *limits: camera)
    monkeypatch.setattr(capture, "STALL_SECONDS", 0.3)
    monkeypatch.setattr(capture, "JOIN_SECONDS", 0.1)
    seen, errors = [], []

    def consume() -> None:
        try:
            seen.extend(frame.index for frame in frames(Source("camera", "0", 0)))
        except sources.SourceError as e:
            errors.append(str(e))

    consumer = threading.Thread(target=consume)
    consumer.start()
    consumer.join(10)
    stuck = consumer.is_alive()
    unblock.set()  # let the camera's read return, so nothing is left waiting
    assert not stuck, "the command waited for a camera that stalled"
    assert errors == ["camera 0: no new frame for 0.3 s"] and seen
    assert not camera.released, "not released while its read is under way"
    deadline = time.perf_counter() + 5
    while not camera.released and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert camera.released, "released by its reader once the read returned"


def test_an_error_from_the_camera_reaches_the_reader():
    class Broken(FastCamera):
        def read(self):
            if self.handed == 5:
                raise OSError("camera unplugged")
            return super().read()

    with pytest.raises(OSError, match="unplugged"):
        for _ in latest_frames(Broken()):
            pass
