"""The live window for real: `cnn-run --show` in a virtual X display, its pixels read back off the screen.

Xvfb keeps its screen in a file (-fbdir) in X's own dump format, so a screenshot
needs no other tool. Skipped where Xvfb or xdotool is missing, except in CI
(env CI set), where .ci/run installs them (scripts/ci-system.sh) and a skip would
hide a broken window.
"""

import os
import random
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_cnn_edge.runtime.draw import BANNER_COLOUR, BOX_COLOUR, LABEL_COLOUR

TOOLS = ("Xvfb", "xdotool")
FRAMES = 200  # in the clip, which is passed several times so the window stays up until q
PASSES = 10
RUN_CNN = "from digit_cnn_edge.runtime.cli import run_main; run_main()"


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI must have {', '.join(missing)}: .ci/run installs them with scripts/ci-system.sh")
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: apt-get install xvfb xdotool (or bash scripts/ci-system.sh)")


def unused_displays() -> list[int]:
    """Display numbers in random order that no X server here holds: no lock file and no socket.

    Xvfb's own choice (-displayfd alone) starts at :0, where other X servers on a
    shared machine come and go (a run here once found :0 refusing its client).
    """
    sockets = set(Path("/proc/net/unix").read_text().split()) if Path("/proc/net/unix").exists() else set()
    free = [n for n in range(100, 1000) if not Path(f"/tmp/.X{n}-lock").exists()
            and not {f"/tmp/.X11-unix/X{n}", f"@/tmp/.X11-unix/X{n}"} & sockets]  # fmt: skip
    return random.sample(free, len(free))


def start_xvfb(number: int, fb: Path) -> subprocess.Popen | None:
    """Xvfb on display `number`, once it accepts clients; None if it could not take that display."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-fbdir", str(fb),
         "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        if ready.readline().strip() == str(number):  # written once the server is up; nothing if it gave up
            return server
    server.wait(timeout=10)
    return None


@pytest.fixture
def display(tmp_path):
    """(DISPLAY value, the file holding the screen) of a fresh 1280x1024 X server."""
    require_tools()
    fb = tmp_path / "fb"
    fb.mkdir()
    for number in unused_displays()[:5]:
        server = start_xvfb(number, fb)
        if server is not None:
            break
    else:
        pytest.fail("Xvfb did not start on any of 5 free displays")
    try:
        yield f":{number}", fb / "Xvfb_screen0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def screenshot(screen: Path) -> np.ndarray:
    """The whole screen as BGR, from Xvfb's XWD file (big-endian header, then colour map, then pixels)."""
    data = screen.read_bytes()
    header = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order, bits_per_pixel, bytes_per_line, colours = (
        header[0], header[4], header[5], header[7], header[11], header[12], header[19])  # fmt: skip
    assert (bits_per_pixel, byte_order) == (32, 0), "expected 32-bit little-endian pixels (-screen ...x24)"
    pixels = np.frombuffer(data, np.uint8, bytes_per_line * height, header_size + 12 * colours)
    return pixels.reshape(height, bytes_per_line // 4, 4)[:, :width, :3]  # B, G, R, unused


def xdotool(display: str, *args: str) -> str:
    done = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    return done.stdout


def window_of(display: str, run: subprocess.Popen, wait: float = 60) -> tuple[str, tuple[int, int, int, int]]:
    """The id and (x, y, w, h) of cnn-run's window, once it is on the screen.

    With no window manager, OpenCV's Qt window sometimes misses its first Expose
    and never paints (about 1 start in 3 here, with a bare imshow loop too); mapping
    it again sends a fresh one, as a window manager would.
    """
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        assert run.poll() is None, "cnn-run ended before its window appeared"
        ids = xdotool(display, "search", "--onlyvisible", "--name", "cnn-run").split()
        if ids:
            xdotool(display, "windowunmap", "--sync", ids[0])
            xdotool(display, "windowmap", "--sync", ids[0])
            shell = dict(line.split("=", 1) for line in xdotool(display, "getwindowgeometry", "--shell", ids[0]).split())
            return ids[0], (int(shell["X"]), int(shell["Y"]), int(shell["WIDTH"]), int(shell["HEIGHT"]))
        time.sleep(0.2)
    pytest.fail("no cnn-run window appeared on the screen")


def overlay_seen(window: np.ndarray) -> dict[str, int]:
    """Pixels of each overlay colour in the window (exact colours: the scenes have none of them)."""
    def count(colour, part=window):
        return int(np.all(part == colour, axis=2).sum())

    half = window.shape[1] // 2
    return {"boxes": count(BOX_COLOUR), "labels": count(LABEL_COLOUR),
            "read text (bottom left)": count(BANNER_COLOUR, window[:, :half]),
            "fps and latency (bottom right)": count(BANNER_COLOUR, window[:, half:])}  # fmt: skip


@pytest.fixture
def clip(scenes, tmp_path) -> Path:
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
    for i in range(FRAMES):
        writer.write(scenes[i % len(scenes)].image)
    writer.release()
    cap = cv2.VideoCapture(str(path))
    for _ in range(len(scenes)):
        ok, frame = cap.read()
        assert ok and not any(overlay_seen(frame).values()), "the frames themselves must not hold the overlay's colours"
    cap.release()
    return path


def test_show_draws_boxes_labels_and_frame_rate_and_q_quits_cleanly(display, onnx_model, clip, tmp_path):
    name, screen = display
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("w") as out, stderr.open("w") as err:  # files, not pipes: a full pipe would stall the window
        run = subprocess.Popen([sys.executable, "-c", RUN_CNN, "--model", str(onnx_model), *[str(clip)] * PASSES, "--show"],
                               env={**os.environ, "DISPLAY": name}, stdout=out, stderr=err)  # fmt: skip
    try:
        wid, (x, y, w, h) = window_of(name, run)
        deadline, seen = time.monotonic() + 30, {}
        while not (seen and all(v >= 20 for v in seen.values())):
            assert run.poll() is None and time.monotonic() < deadline, f"the overlay never showed whole: {seen}"
            seen = overlay_seen(screenshot(screen)[y : y + h, x : x + w])
            time.sleep(0.1)
        xdotool(name, "key", "--window", wid, "q")
        run.wait(timeout=20)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    err = stderr.read_text()
    assert run.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    lines = stdout.read_text().splitlines()
    assert 0 < len(lines) < FRAMES * PASSES, "q ended the run before the clips did"
    assert all(line.startswith(str(clip)) for line in lines)
