"""Live capture that never lags: a thread grabs camera frames and keeps only the newest.

A camera delivers frames at its own pace whether or not anyone reads them; OpenCV
buffers the ones not yet read. When reading digits is slower than the camera, a
plain read loop works through that backlog and the window shows the past, later
and later. Here a thread reads the camera as fast as it delivers and the
consumer always gets the newest frame; frames it had no time for are dropped.

The thread owns the capture: it releases it once it stops reading, so the
capture is never released while a read is under way, even when a read never
returns (a camera that stalls), which the consumer does not wait for.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

STALL_SECONDS = 10.0
"""A camera that delivers no new frame for this long has stalled: an error, not a wait without end."""
JOIN_SECONDS = 1.0
"""How long stopping waits for the reading thread; one stuck in a read is left to release the capture itself."""


class Capture(Protocol):
    """What is used of a cv2.VideoCapture (tests pass a stand-in)."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


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

    The capture is read, then released, on a thread of its own, which is stopped
    and joined (for up to `JOIN_SECONDS`) when the stream ends or the consumer
    stops (closes the generator, or leaves it by an exception such as Ctrl-C).
    An error raised by the capture is raised here, and a `TimeoutError` when no
    new frame came for `STALL_SECONDS`.
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
        reader.join(JOIN_SECONDS)


def _newer_than(slot: _Slot, taken: int) -> Grabbed | None:
    """The newest frame once it is newer than `taken`; None when the capture ended with nothing newer."""
    with slot.changed:
        if not slot.changed.wait_for(
            lambda: slot.ended or (slot.newest is not None and slot.newest.sequence > taken), STALL_SECONDS
        ):
            raise TimeoutError(f"no new frame for {STALL_SECONDS:g} s")
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
        cap.release()
        with slot.changed:
            slot.ended = True
            slot.changed.notify_all()
