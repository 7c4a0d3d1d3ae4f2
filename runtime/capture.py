"""Live capture that never lags: a thread grabs camera frames and keeps only the newest.

A camera delivers frames at its own pace whether or not anyone reads them; OpenCV
buffers the ones not yet read. When reading digits is slower than the camera, a
plain read loop works through that backlog and the window shows the past, later
and later. Here a thread reads the camera as fast as it delivers and the
consumer always gets the newest frame; frames it had no time for are dropped.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Capture(Protocol):
    """What is used of a cv2.VideoCapture (tests pass a stand-in)."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...


@dataclass(frozen=True)
class Grabbed:
    sequence: int  # 1, 2, ...: every frame the capture delivered, so gaps are the dropped frames
    captured: float  # time.perf_counter() when it came out of the capture
    image: np.ndarray


@dataclass
class _Slot:
    """The newest frame and the reader thread's state, guarded by `changed`."""

    changed: threading.Condition
    newest: Grabbed | None = None
    ended: bool = False
    error: Exception | None = None


def latest_frames(cap: Capture) -> Iterator[Grabbed]:
    """The newest frame each time the consumer asks, until the capture ends; never one it already had.

    The capture is read on a thread of its own, which is stopped and joined when
    the stream ends or the consumer stops (closes the generator, or leaves it by an
    exception such as Ctrl-C); only then may the caller release the capture, so it
    is never released while being read. An error raised by the capture is raised here.
    """
    slot = _Slot(threading.Condition())
    stop = threading.Event()
    reader = threading.Thread(target=_read_until_stopped, args=(cap, slot, stop), name="camera-reader", daemon=True)
    reader.start()
    taken = 0
    try:
        while (grabbed := _newer_than(slot, taken)) is not None:
            taken = grabbed.sequence
            yield grabbed
    finally:
        stop.set()
        reader.join()


def _newer_than(slot: _Slot, taken: int) -> Grabbed | None:
    """The newest frame once it is newer than `taken`; None when the capture ended with nothing newer."""
    with slot.changed:
        slot.changed.wait_for(lambda: slot.ended or (slot.newest is not None and slot.newest.sequence > taken))
        if slot.newest is not None and slot.newest.sequence > taken:
            return slot.newest
        if slot.error is not None:
            raise slot.error
        return None


def _read_until_stopped(cap: Capture, slot: _Slot, stop: threading.Event) -> None:
    sequence = 0
    try:
        while not stop.is_set():
            ok, image = cap.read()
            if not ok or image is None:
                break
            sequence += 1
            with slot.changed:
                slot.newest = Grabbed(sequence, time.perf_counter(), image)
                slot.changed.notify_all()
    except Exception as e:  # noqa: BLE001 - not hidden: handed to the consumer's thread, which raises it
        slot.error = e
    finally:
        with slot.changed:
            slot.ended = True
            slot.changed.notify_all()
