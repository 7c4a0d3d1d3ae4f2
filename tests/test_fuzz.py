"""Hostile and broken image files through `cnn-run`, in child processes, within bounds of time and memory.

The corpus is built here from real small images: valid but unusual encodings
(which must read as the plain PNG does), seeded bit flips, truncations, chunk
and segment lengths that claim more than the file holds, and headers edited to
claim 40000x40000 or 65000x65000 pixels. Every file must give one result or one
error line naming it, never a traceback; the exit code is 0 when every file was
read and 1 when any was not. Peak memory is getrusage(RUSAGE_CHILDREN), taken in
a small parent process of cnn-run's own (MEASURE).
"""

import json
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

MAX_RSS_MB = 600
MAX_SECONDS = 5.0  # per child, beyond the start-up of a child that reads one small image
OVERSIZED_SECONDS = 1.0
TIMEOUT = 60
RUN = "from digit_cnn_edge.runtime.cli import run_main; run_main()"
MEASURE = f"""
import resource, subprocess, sys
try:
    code = subprocess.run(sys.argv[2:], timeout={TIMEOUT}).returncode
except subprocess.TimeoutExpired:
    code = "timeout"
open(sys.argv[1], "w").write(f"{{code}} {{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}")
"""
"""A small parent for cnn-run that reports its peak memory: Linux carries the peak of the process that
forks into the child's ru_maxrss, and this test process, with torch loaded, is over 1 GB."""


def run_cnn(args: list[str]) -> dict:
    """cnn-run in a child process: exit code, stdout, stderr, wall seconds, the child's peak RSS in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        usage = Path(tmp) / "usage"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MEASURE, str(usage), sys.executable, "-c", RUN, *args],
                              capture_output=True, text=True, errors="replace", check=True)
        seconds = time.perf_counter() - start
        code, rss_kb = usage.read_text().split()
    assert code != "timeout", f"no answer in {TIMEOUT} s"
    return {"code": int(code), "out": done.stdout, "err": done.stderr, "seconds": seconds, "rss_mb": int(rss_kb) / 1024}


def png_chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of each chunk."""
    pos, chunks = 8, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.append((pos, kind))
        pos += 12 + length
    return chunks


def png_claiming(data: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR edited to claim width x height, checksum and all: only the size is a lie."""
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    return data[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


def jpeg_sof(data: bytes) -> int:
    return next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2))


def tiff_claiming(data: bytes, width: int, height: int) -> bytes:
    """OpenCV's little-endian TIFF with ImageWidth and ImageLength edited."""
    out = bytearray(data)
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, at)
        if tag in (256, 257):
            value = width if tag == 256 else height
            out[at + 8 : at + 12] = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    return bytes(out)


def webp_claiming(data: bytes, width: int, height: int) -> bytes:
    """A simple-format WebP (one VP8 or VP8L chunk at byte 12) with its size edited."""
    out = bytearray(data)
    if data[12:16] == b"VP8L":
        (bits,) = struct.unpack_from("<I", data, 21)
        out[21:25] = struct.pack("<I", (bits & ~0xFFFFFFF) | (width - 1) | (height - 1) << 14)
    else:
        out[26:30] = struct.pack("<HH", width, height)
    return bytes(out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, scenes) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("fuzz")
    gray = cv2.cvtColor(scenes[0].image, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (160, 120), interpolation=cv2.INTER_AREA)
    groups: dict[str, list[Path]] = {k: [] for k in ("plain", "same", "alike", "broken", "lengths", "oversized")}

    def put(group: str, name: str, data: bytes) -> None:
        (root / name).write_bytes(data)
        groups[group].append(root / name)

    def enc(suffix: str, image: np.ndarray, *params: int) -> bytes:
        return cv2.imencode(suffix, image, list(params))[1].tobytes()

    put("plain", "plain.png", enc(".png", gray))
    # Lossless 8-bit encodings decode to the same grey values: the same record.
    put("same", "bgr.png", enc(".png", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)))
    put("same", "rgba.png", enc(".png", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)))
    put("same", "gray.bmp", enc(".bmp", gray))
    put("same", "bgr.bmp", enc(".bmp", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)))
    put("same", "gray.tiff", enc(".tiff", gray))
    put("same", "lossless.webp", enc(".webp", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), cv2.IMWRITE_WEBP_QUALITY, 101))
    put("same", "gray.pgm", enc(".pgm", gray))
    put("same", "ascii.pgm", enc(".pgm", gray, cv2.IMWRITE_PXM_BINARY, 0))
    # Other depths and a lossy codec: the same digits.
    put("alike", "sixteen.png", enc(".png", gray.astype(np.uint16) * 257))
    put("alike", "float.tiff", enc(".tiff", gray.astype(np.float32) / 255))
    put("alike", "gray.jpg", enc(".jpg", gray, cv2.IMWRITE_JPEG_QUALITY, 95))
    put("alike", "progressive.jpg", enc(".jpg", gray, cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_PROGRESSIVE, 1))

    seeds = {suffix: enc(f".{suffix}", small) for suffix in ("png", "bmp", "tiff", "webp", "pgm")}
    seeds["jpg"] = enc(".jpg", cv2.cvtColor(small, cv2.COLOR_GRAY2BGR))
    rng = np.random.default_rng(17)
    for suffix, data in seeds.items():
        for k in range(8):
            flipped = bytearray(data)
            for _ in range(int(rng.integers(1, 4))):
                flipped[int(rng.integers(min(len(data), 256) if k < 4 else len(data)))] ^= 1 << int(rng.integers(8))
            put("broken", f"flip{k}.{suffix}", bytes(flipped))
        for k, share in enumerate((0.02, 0.3, 0.6, 0.9, 0.99)):
            put("broken", f"cut{k}.{suffix}", data[: max(1, int(len(data) * share))])

    png = seeds["png"]
    for k, (pos, _) in enumerate(c for c in png_chunks(png) if c[1] in (b"IHDR", b"IDAT", b"IEND")):
        for j, claim in enumerate((0xF0000000, len(png))):
            put("lengths", f"length{k}{j}.png", png[:pos] + struct.pack(">I", claim) + png[pos + 4 :])
    jpg = seeds["jpg"]
    dqt = jpg.index(b"\xff\xdb")
    put("lengths", "dqt.jpg", jpg[: dqt + 2] + b"\xff\xff" + jpg[dqt + 4 :])
    webp = seeds["webp"]
    put("lengths", "chunk.webp", webp[:16] + struct.pack("<I", 0x7FFFFFF0) + webp[20:])

    for side in (40000, 65000):
        put("oversized", f"claims{side}.png", png_claiming(png, side, side))
        sof = jpeg_sof(jpg)
        put("oversized", f"claims{side}.jpg", jpg[: sof + 5] + struct.pack(">HH", side, side) + jpg[sof + 9 :])
        bmp = bytearray(seeds["bmp"])
        bmp[18:26] = struct.pack("<ii", side, side)
        put("oversized", f"claims{side}.bmp", bytes(bmp))
        put("oversized", f"claims{side}.tiff", tiff_claiming(seeds["tiff"], side, side))
        put("oversized", f"claims{side}.pgm", f"P5\n{side} {side}\n255\n".encode() + bytes(side * 8))
    put("oversized", "claims16384.webp", webp_claiming(webp, 16384, 16384))
    put("oversized", "zeros30000.png", zeros_png(30000))
    return groups


def zeros_png(side: int) -> bytes:
    """A valid grey PNG of side x side zeros, compressed row by row (the issue's 875 KB file at 30000)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    squeeze = zlib.compressobj(9)
    row = bytes(side + 1)
    body = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def outcomes(run: dict, files: list[Path]) -> dict[Path, dict | str]:
    """Each file's JSON record or its one error line; fails if any file has neither, both, or more."""
    assert "Traceback" not in run["err"], run["err"][-3000:]
    records = [json.loads(line) for line in run["out"].splitlines()]
    errors = run["err"].splitlines()
    result: dict[Path, dict | str] = {}
    for path in files:
        mine = [r for r in records if r["source"] == str(path)]
        said = [e for e in errors if e.startswith(f"cnn-run: error: {path}: ")]
        assert len(mine) + len(said) == 1, (path, mine, said)
        result[path] = mine[0] if mine else said[0]
    assert len(records) + len(errors) == len(files), run["err"][-3000:]
    assert run["code"] == (1 if errors else 0)
    return result


@pytest.fixture(scope="module")
def start_up(onnx_model, corpus) -> float:
    """Seconds for a child that reads one small image: what the per-child bound does not count."""
    plain = corpus["plain"][0]
    return min(run_cnn(["--model", str(onnx_model), "--json", str(plain)])["seconds"] for _ in range(2))


def check_bounds(run: dict, start_up: float, seconds: float) -> None:
    assert run["rss_mb"] < MAX_RSS_MB, f"peak {run['rss_mb']:.0f} MB"
    assert run["seconds"] < start_up + seconds, f"{run['seconds']:.1f} s (start-up {start_up:.1f} s)"


def test_unusual_encodings_read_as_the_plain_png_does(onnx_model, corpus, start_up):
    files = corpus["plain"] + corpus["same"] + corpus["alike"]
    run = run_cnn(["--model", str(onnx_model), "--json", *map(str, files)])
    check_bounds(run, start_up, MAX_SECONDS)
    got = outcomes(run, files)
    assert run["code"] == 0, run["err"]
    plain = got[corpus["plain"][0]]
    assert plain["digits"], "the scene has digits to compare"
    for path in corpus["same"]:
        assert {k: got[path][k] for k in ("digits", "text")} == {k: plain[k] for k in ("digits", "text")}, path.name
    for path in corpus["alike"]:
        assert got[path]["text"] == plain["text"], path.name


def test_bit_flips_and_truncations_give_a_result_or_one_line(onnx_model, corpus, start_up):
    files = corpus["broken"]
    half = len(files) // 2
    for batch in (files[:half], files[half:]):
        run = run_cnn(["--model", str(onnx_model), "--json", *map(str, batch)])
        check_bounds(run, start_up, MAX_SECONDS)
        outcomes(run, batch)


def test_lengths_that_claim_more_than_the_file_holds_are_refused(onnx_model, corpus, start_up):
    files = corpus["lengths"]
    run = run_cnn(["--model", str(onnx_model), "--json", *map(str, files)])
    check_bounds(run, start_up, MAX_SECONDS)
    got = outcomes(run, files)
    assert all(isinstance(r, str) and "not a readable image" in r for r in got.values()), got


def test_oversized_headers_are_refused_from_the_header(onnx_model, corpus, start_up):
    files = corpus["oversized"]
    run = run_cnn(["--model", str(onnx_model), "--json", *map(str, files)])
    check_bounds(run, start_up, OVERSIZED_SECONDS)
    got = outcomes(run, files)
    assert all(isinstance(r, str) and "over the limit" in r for r in got.values()), got
    alone = run_cnn(["--model", str(onnx_model), "--json", str(files[0])])
    check_bounds(alone, start_up, OVERSIZED_SECONDS)
    outcomes(alone, files[:1])
    assert alone["code"] == 1


def test_max_pixels_moves_the_limit(onnx_model, corpus, start_up):
    plain = corpus["plain"][0]
    run = run_cnn(["--model", str(onnx_model), "--max-pixels", "1000", "--json", str(plain)])
    assert run["code"] == 1 and "over the limit of 1,000 pixels" in outcomes(run, [plain])[plain]
