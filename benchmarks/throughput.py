"""Frames per second on one machine: `cnn-run --json` with 1 and N workers; Ray Data on one core, with 1 and 2 CPUs.

    python benchmarks/throughput.py                 # 360 frames (Ray: 1,440), N = this machine's cores, 3 runs each
    python benchmarks/throughput.py --frames 720 --ray-frames 2880 --workers 4 --runs 5

Renders 640x480 JPEG scenes (1-6 of the sample's validation digits each, the
scene renderer's photo look) into a temporary folder and reads them all, each
way in a process of its own, with the shipped model. Two figures per way:

* end to end: for cnn-run, frames / (wall time - the wall time of the same
  command on one of the frames); for Ray, frames / the time from the first row
  asked for to the last row read, so `ray.init` is left out and the actors'
  start is counted;
* steady: frames per second over the second half of the frames, once everything
  has started: from the time each line arrived, or for Ray the time each batch
  of 8 was read, stamped in the actor.

Ray reads more frames (--ray-frames, the first --frames of them are cnn-run's):
its second half of 360 frames lasted under a second, a few dozen batches, and
its ratio moved from 1.1x to 2.5x between runs. Ray runs three ways: on one core
(the process that starts it, and so every Ray process, pinned to one CPU),
`ray.init(num_cpus=1)` with the machine's other cores free for Ray's own
processes (the driver, the raylet, the file fetches), and `num_cpus=2`. On a
2-core machine the middle way is not one CPU: Ray's own work runs on the core
its actor leaves, for free.

Each is the median of --runs runs, the ways taken in turn within a run. Prints a markdown table with the machine and
its load, and puts it into benchmarks/RESULTS.md as the section "Throughput"
(in place of an earlier one, whose "### Notes" it keeps, the rest of the file kept), with the command.
"""

import argparse
import datetime
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import machine

from digit_cnn_edge.runtime.workers import cores
from digit_cnn_edge.train import data
from digit_cnn_edge.train.synth import render_scene

SECTION = "## Throughput: `cnn-run --workers` and Ray Data"
NOTES = "### Notes"
"""In the section, the heading of what a person wrote about the runs: kept when the section is written again."""
RUN_CNN = "from digit_cnn_edge.runtime.cli import run_main; run_main()"
RAY_RUN = '''
import json, os, sys, time
import pyarrow as pa
import ray
sys.path.insert(0, sys.argv[3])
from ray_batch import read_digits
from digit_cnn_edge.runtime.batch import ReadDigits

class Timed(ReadDigits):
    """Each row with the time its batch was read: the actors timed at work, not the driver taking rows."""

    def __call__(self, batch):
        table = super().__call__(batch)
        return table.append_column("done", pa.array([time.time()] * table.num_rows, pa.float64()))

if sys.argv[4] == "pinned":  # this process on one CPU before Ray starts: every process of Ray inherits it
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
ray.init(num_cpus=int(sys.argv[2]), include_dashboard=False, log_to_driver=False)
start = time.time()
rows = read_digits(sys.argv[1], actors=int(sys.argv[2]), batch_size=8, reader=Timed)
done = [t - start for batch in rows.iter_batches(batch_format="pyarrow") for t in batch["done"].to_pylist()]
print(json.dumps(sorted(done)))
'''
QUIET_RAY = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}


def render(folder: Path, frames: int, seed: int = 0) -> None:
    """`frames` 640x480 JPEG scenes of 1-6 validation digits each."""
    sample = data.load_sample(seed=0)
    rng = np.random.default_rng(seed)
    for i in range(frames):
        cv2.imwrite(str(folder / f"scene{i:04d}.jpg"), render_scene(sample.val.images, sample.val.labels, rng).image)


def steady(times: list[float]) -> float:
    """Frames per second over the second half of the frames, from the time each was read."""
    half = len(times) // 2
    return (len(times) - 1 - half) / max(times[-1] - times[half], 1e-9)


def cnn_run(source: Path, workers: int) -> tuple[float, list[float]]:
    """Wall seconds of `cnn-run --json --workers N` over a file or folder, and when each line arrived."""
    start = time.perf_counter()
    run = subprocess.Popen([sys.executable, "-c", RUN_CNN, str(source), "--json", "--workers", str(workers)],
                           stdout=subprocess.PIPE, text=True)
    times = [time.perf_counter() - start for _ in run.stdout]
    assert run.wait() == 0
    return time.perf_counter() - start, times


def ray_run(folder: Path, cpus: int, pinned: bool = False) -> tuple[float, list[float]]:
    """Seconds from the first row asked for to the last row read, and when each row was read; `pinned`: the driver
    and so all of Ray on one CPU."""
    done = subprocess.run([sys.executable, "-c", RAY_RUN, str(folder), str(cpus), str(HERE.parent / "examples"),
                           "pinned" if pinned else "free"],
                          capture_output=True, text=True, env={**os.environ, **QUIET_RAY}, check=True)
    printed = [line for line in done.stdout.splitlines() if line.startswith("[")]  # Ray may print lines of its own
    if not printed:
        raise SystemExit(f"the Ray run printed no times: {done.stdout[-500:]}")
    times = json.loads(printed[-1])
    return times[-1], times


RAY_WAYS = {"one core": (1, True), "1 CPU": (1, False), "2 CPUs": (2, False)}
"""Ray's ways: (CPUs given to ray.init, whether all of Ray is pinned to one CPU: Linux only, elsewhere left out)."""


def ray_way(name: str) -> str:
    cpus, pinned = RAY_WAYS[name]
    if pinned:
        return "Ray Data on one core (all its processes pinned to one CPU), 1 actor"
    return f"Ray Data, `ray.init(num_cpus={cpus})`, {cpus} actor{'s' * (cpus > 1)}"


def measure(folder: Path, frames: int, workers: int, runs: int, ray_folder: Path | None) -> list[dict]:
    """Each way `runs` times, the ways taken in turn within each run, so that a machine whose speed drifts over
    minutes (a VM's neighbours) moves all of them alike rather than the ones measured last. Ray reads `ray_folder`
    (None: Ray is not installed)."""
    first = next(folder.iterdir())
    ways = {n: [] for n in (1, workers)}
    ones = []
    for _ in range(runs):
        ones.append(cnn_run(first, 1)[0])
        for n, outcomes in ways.items():
            outcomes.append(cnn_run(folder, n))
    one = statistics.median(ones)
    rows = []
    for n, outcomes in ways.items():
        assert all(len(times) == frames for _, times in outcomes)
        rows.append({"kind": "cnn-run", "way": f"`cnn-run --json --workers {n}`", "n": n,
                     "end": statistics.median(frames / (wall - one) for wall, _ in outcomes),
                     "steady": statistics.median(steady(times) for _, times in outcomes)})
    pinning = hasattr(os, "sched_setaffinity")
    clusters = {name: [] for name in (RAY_WAYS if ray_folder else ()) if pinning or not RAY_WAYS[name][1]}
    for _ in range(runs):
        for name, outcomes in clusters.items():
            outcomes.append(ray_run(ray_folder, *RAY_WAYS[name]))
    for name, outcomes in clusters.items():
        count = sum(1 for _ in ray_folder.iterdir())
        assert all(len(times) == count for _, times in outcomes)
        rows.append({"kind": "ray", "way": ray_way(name), "n": RAY_WAYS[name][0],
                     "end": statistics.median(count / seconds for seconds, _ in outcomes),
                     "steady": statistics.median(steady(times) for _, times in outcomes)})
    return rows


def one_core(folder: Path, passes: int = 5) -> list[str]:
    """Per frame on one core, the files' bytes in memory: a grey decode, and decode + `DigitReader.read` with and without
    the page step (printed rules, rules in dashes and boxes cleared, `segment.rules`), each the median of `passes` passes,
    the three taken in turn within a pass."""
    from unittest import mock

    from digit_cnn_edge.runtime import DigitClassifier, DigitReader
    from digit_cnn_edge.runtime.decode import decode_smaller

    cv2.setNumThreads(1)
    reader = DigitReader(DigitClassifier(threads=1))
    blobs = [p.read_bytes() for p in sorted(folder.iterdir())]

    def seconds(work) -> float:
        start = time.perf_counter()
        for blob in blobs:
            work(blob)
        return (time.perf_counter() - start) / len(blobs)

    def read(blob: bytes) -> None:
        image, scale = decode_smaller(blob, gray=True, short_side=reader.params.work_side)
        reader.read(image, "auto", scale)

    def without_page_step() -> float:
        with (
            mock.patch("digit_cnn_edge.runtime.segment.find.clear_structure", return_value=False),
            mock.patch("digit_cnn_edge.runtime.segment.find.broken_rules", side_effect=lambda binary, p, horizontal=True: 0 * binary),
        ):
            return seconds(read)

    ways = {"decode": lambda: seconds(lambda blob: cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_GRAYSCALE)),
            "full": lambda: seconds(read), "plain": without_page_step}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(passes):
        for name, measure_once in ways.items():
            times[name].append(measure_once())
    decode, full, plain = (statistics.median(times[name]) for name in ways)
    return ["| one core, in memory | ms per frame | vs grey decode |", "|---|---:|---:|",
            f"| grey JPEG decode | {1e3 * decode:.2f} | 1.00x |",
            f"| decode + read, without the page step | {1e3 * plain:.2f} | {plain / decode:.2f}x |",
            f"| decode + read, as cnn-run does | {1e3 * full:.2f} | {full / decode:.2f}x |"]


def table(rows: list[dict], frames: int, ray_frames: int | None) -> str:
    lines = ["| way | processes / CPUs | frames/s end to end | vs 1 | frames/s steady | vs 1 |",
             "|---|---:|---:|---:|---:|---:|"]
    base: dict[str, dict] = {}
    for r in rows:
        b = base.setdefault(r["kind"], r)
        lines.append(f"| {r['way']} | {r['n']} | {r['end']:.0f} | {r['end'] / b['end']:.2f}x "
                     f"| {r['steady']:.0f} | {r['steady'] / b['steady']:.2f}x |")
    read = f"{frames} frames" + (f" (Ray: {ray_frames}, the same and more)" if ray_frames else "")
    return "\n".join(lines) + f"\n\n{read}, 640x480 JPEG, 1-6 digits each."


def write_section(results: Path, text: str) -> None:
    """Put the section into RESULTS.md at the end, in place of an earlier one, whose notes (`NOTES` on) follow the new
    figures; the rest of the file is kept as it is."""
    old = results.read_text() if results.exists() else ""
    notes = ""
    if SECTION in old:
        before, after = old.split(SECTION, 1)
        section, *rest = after.split("\n## ", 1)
        if NOTES in section:
            notes = "\n\n" + NOTES + section.split(NOTES, 1)[1].rstrip("\n")
        old = before.rstrip("\n") + ("\n\n## " + rest[0] if rest else "")
    results.write_text(old.rstrip("\n") + "\n\n" + text + notes + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=360)
    ap.add_argument("--ray-frames", type=int, default=1440, help="frames Ray reads (at least --frames)")
    ap.add_argument("--workers", type=int, default=cores(), help="N (default: this machine's cores)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each way; the table has the median")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    ray = importlib.util.find_spec("ray") is not None
    if args.ray_frames < args.frames:
        ap.error("--ray-frames must be at least --frames")
    with tempfile.TemporaryDirectory() as tmp:
        every, folder = Path(tmp, "every"), Path(tmp, "cnn-run")
        every.mkdir(), folder.mkdir()
        render(every, args.ray_frames if ray else args.frames)
        for path in sorted(every.iterdir())[: args.frames]:
            os.link(path, folder / path.name)
        load = os.getloadavg()
        rows = measure(folder, args.frames, args.workers, args.runs, every if ray else None)
        single = one_core(folder)
        load_after = os.getloadavg()
    text = "\n\n".join([
        SECTION,
        (f"Command: `{' '.join(['python', 'benchmarks/throughput.py', *map(shlex.quote, sys.argv[1:])])}`  \n"
         f"Date: {datetime.date.today().isoformat()}  \n"
         f"Machine: {machine()}, {cores()} cores for this process  \n"
         f"Load average (1 min) before and after: {load[0]:.2f}, {load_after[0]:.2f}"),
        table(rows, args.frames, args.ray_frames if ray else None) + ("" if ray else " Ray is not installed: pip install 'digit-cnn-edge[ray]'."),
        ("End to end: for cnn-run, frames / (wall time - the same command's wall time on one frame); for Ray, from "
         "the first row asked for to the last row read, the actors' start counted, `ray.init` left out. Steady: "
         "frames per second over the second half of the frames, from the time each line arrived (Ray: each batch of "
         f"8 was read, stamped in the actor). Median of {args.runs} runs, the ways taken in turn within each."),
        "\n".join(single),
    ])
    print(text)
    write_section(args.out, text)


if __name__ == "__main__":
    main()
