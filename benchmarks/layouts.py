"""Reading digits in layouts the project's own scene renderer does not make: the segmenter's evaluation.

    python benchmarks/layouts.py --data-dir DIR --part holdout --digits test   # the figures: MNIST's test digits
    python benchmarks/layouts.py --data-dir DIR --part tune --digits validation # what tuning looks at

Families: neat rows (today's `synth.render_scene`), digits scattered in 2-D with
small gaps, stacked pairs, blocks of 2-3 lines (numbers on a form, slight slant),
light digits on a dark board, 1280x720 / 1920x1080 frames with 90-320 px
digits, and pages (numbers among printed words, ruled lines, printed boxes and
pen marks: pages.py). Every frame is photographed with uneven light, noise,
blur and JPEG. Frames come in parts by seed: `tune` (looked at while
tuning the segmenter), `scratch` (a second set to look at while tuning; its
pages have faces and words tune's do not) and `holdout` (only for the
figures); the pages' fonts, words and marks differ between the parts too. The digits come from an MNIST
folder (`--data-dir`, as `cnn-train --data mnist` reads it): `test`, MNIST's
test digits, by writers no model trained on MNIST's training set has seen,
or `validation`, the default split's validation digits (training-set
writers, never trained on: for tuning). Without an MNIST folder, `validation`
takes the offline sample's. Per family: box recall and precision (IoU >=
0.5), label accuracy of the matched boxes, frames read exactly (on line families
the text with its line breaks; scattered frames, which have no reading order,
count when every digit is found and read right with nothing extra) and frames
per second of `DigitReader.read` on one core. The last row times 640x480 frames
with 6 digits from JPEG bytes to digits, decoding included.
"""

import argparse
import datetime
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pages
from digit_sets import DIGIT_SETS, digit_set

from digit_cnn_edge.runtime import DigitClassifier, DigitReader
from digit_cnn_edge.runtime.segment import Box
from digit_cnn_edge.train.synth import Look, Score, iou, photograph, place, render_scene

HERE = Path(__file__).resolve().parent
PAPER = Look()
DARK = Look(paper=(15, 80), pen=(170, 250))
SEEDS = {"tune": 1000, "scratch": 3000, "holdout": 2000}


@dataclass
class Frame:
    image: np.ndarray
    boxes: list[Box]
    labels: list[int]
    lines: list[int] | None  # truth line of each digit; None where the layout has no reading order
    flat: str | None = None  # the text without line breaks, where only that is scored (today's scenes)

    def text(self) -> str:
        if self.flat is not None:
            return self.flat
        if self.lines is None:
            return "".join(map(str, self.labels))
        return " ".join(
            "".join(str(lab) for lab, _ in sorted(((lab, b[0]) for lab, b, li in zip(self.labels, self.boxes, self.lines)
                                                   if li == k), key=lambda t: t[1]))
            for k in sorted(set(self.lines))
        )


@dataclass
class Canvas:
    """Ink being laid out: tiles pasted at chosen places, with their truth boxes."""

    w: int
    h: int
    ink: np.ndarray = field(init=False)
    boxes: list[Box] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ink = np.zeros((self.h, self.w), np.float32)

    def fits(self, box: Box, gap: float) -> bool:
        x, y, w, h = box
        if x < 8 or y < 8 or x + w > self.w - 8 or y + h > self.h - 8:
            return False
        return all(x + w + gap <= bx or bx + bw + gap <= x or y + h + gap <= by or by + bh + gap <= y
                   for bx, by, bw, bh in self.boxes)

    def paste(self, tile: np.ndarray, x0: int, y0: int, label: int, line: int = 0) -> None:
        """Tile at (x0, y0); its empty margins may hang over the edge (`fits` checked the ink)."""
        th, tw = tile.shape
        cx, cy = max(0, -x0), max(0, -y0)
        region = self.ink[y0 + cy : y0 + th, x0 + cx : x0 + tw]
        np.maximum(region, tile[cy : cy + region.shape[0], cx : cx + region.shape[1]], out=region)
        bx, by, bw, bh = cv2.boundingRect((tile > 0.25).astype(np.uint8))
        self.boxes.append((x0 + bx, y0 + by, bw, bh))
        self.labels.append(label)
        self.lines.append(line)


def ink_box(tile: np.ndarray) -> Box:
    return cv2.boundingRect((tile > 0.25).astype(np.uint8))


def scattered(pool, rng, size=(640, 480), count=(1, 6), heights=(36, 130), gap=(12, 40), look=PAPER) -> Frame:
    """Digits anywhere on the page, each its own size and tilt, at least `gap[0]` px apart."""
    digits, labels = pool
    c = Canvas(*size)
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        i = int(rng.integers(len(digits)))
        tile = place(digits[i], int(np.exp(rng.uniform(*np.log(heights)))), float(rng.uniform(-10, 10)))
        bx, by, bw, bh = ink_box(tile)
        th, tw = tile.shape
        g = float(rng.uniform(*gap))
        for _ in range(200):
            x0, y0 = int(rng.integers(-bx, c.w - tw + 1)), int(rng.integers(-by, c.h - th + 1))
            if x0 >= 0 and y0 >= 0 and c.fits((x0 + bx, y0 + by, bw, bh), g):
                c.paste(tile, x0, y0, int(labels[i]))
                break
    return Frame(photograph(c.ink, rng, look), c.boxes, c.labels, None)


def rows_of(pool, rng, c: Canvas, lines: int, per_line: tuple[int, int], height: int, gap_x: tuple[float, float],
            gap_y: tuple[float, float], slant: float, top: int, left: int) -> bool:
    """Lines of digits starting at (left, top): each line a number, digits `gap_x` heights apart; False if it does not fit."""
    digits, labels = pool
    y = top
    for li in range(lines):
        x = left
        h_line = height * rng.uniform(0.9, 1.1)
        tilt = np.tan(np.radians(rng.uniform(-slant, slant)))
        for _ in range(int(rng.integers(per_line[0], per_line[1] + 1))):
            i = int(rng.integers(len(digits)))
            tile = place(digits[i], int(h_line * rng.uniform(0.85, 1.15)), float(rng.uniform(-6, 6)))
            bx, by, bw, bh = ink_box(tile)
            yy = int(y + tilt * (x - left) + (h_line - bh) * rng.uniform(0.3, 0.7))
            if not c.fits((x, yy, bw, bh), 0):
                return False
            c.paste(tile, x - bx, yy - by, int(labels[i]), li)
            x += bw + int(h_line * rng.uniform(*gap_x))
        y += int(h_line * (1 + rng.uniform(*gap_y)))
    return True


def block(pool, rng, size=(640, 480)) -> Frame:
    """2-3 lines of 2-7 digits, as numbers on a form: tight gaps, lines 0.35-0.9 of a digit height apart, slight slant."""
    for _ in range(100):
        c = Canvas(*size)
        lines = int(rng.integers(2, 4))
        height = int(rng.uniform(30, min(90, 0.8 * (size[1] - 40) / (lines * 1.9))))
        if rows_of(pool, rng, c, lines, (2, 7), height, (0.15, 0.6), (0.35, 0.9), 3.0,
                   int(rng.integers(10, max(11, size[1] - lines * 1.9 * height - 10))), int(rng.integers(10, 120))):
            return Frame(photograph(c.ink, rng), c.boxes, c.labels, c.lines)
    raise RuntimeError("no block fits")


def stacked(pool, rng, size=(640, 480)) -> Frame:
    """1-3 columns of two digits, one written above the other (a 4 over a 9), 0.1-0.5 of a height apart.

    The columns stand side by side, so the top digits read as one line and the bottom ones as the next.
    """
    digits, labels = pool
    for _ in range(100):
        c = Canvas(*size)
        height = int(rng.uniform(40, 130))
        pairs = int(rng.integers(1, 4))
        tiles = [[place(digits[i], int(height * rng.uniform(0.85, 1.15)), float(rng.uniform(-6, 6))), int(labels[i])]
                 for i in rng.integers(len(digits), size=2 * pairs)]
        top = int(rng.integers(10, max(11, size[1] - 2.8 * height)))
        second = top + max(ink_box(t)[3] for t, _ in tiles[::2]) + int(height * rng.uniform(0.1, 0.5))
        x, ok = int(rng.integers(10, 200)), True
        for k in range(pairs):
            widest = 0
            for li, y in enumerate((top, second)):
                tile, label = tiles[2 * k + li]
                bx, by, bw, bh = ink_box(tile)
                xx = x + int(rng.uniform(-0.1, 0.1) * height)
                yy = y + int(rng.uniform(-0.05, 0.05) * height)
                if not c.fits((xx, yy, bw, bh), 0):
                    ok = False
                    break
                c.paste(tile, xx - bx, yy - by, label, li)
                widest = max(widest, bw)
            x += widest + int(height * rng.uniform(0.4, 1.2))
        if ok:
            return Frame(photograph(c.ink, rng), c.boxes, c.labels, c.lines)
    raise RuntimeError("no stack fits")


def rows(pool, rng) -> Frame:
    """Today's scenes (`synth.render_scene`): one or two neat rows, scored as one string as before."""
    s = render_scene(*pool, rng)
    return Frame(s.image, s.boxes, s.labels, [0] * len(s.labels), flat=s.text)


def large(size: tuple[int, int]) -> Callable:
    def make(pool, rng) -> Frame:
        if rng.random() < 0.5:
            return scattered(pool, rng, size, (1, 5), (90, 320), (12, 60))
        for _ in range(100):
            c = Canvas(*size)
            height = int(rng.uniform(90, min(320, size[0] / 6)))
            if rows_of(pool, rng, c, 1, (1, 5), height, (0.15, 0.6), (0.5, 0.5), 3.0,
                       int(rng.integers(10, size[1] - 1.3 * height)), int(rng.integers(10, 200))):
                return Frame(photograph(c.ink, rng), c.boxes, c.labels, c.lines)
        raise RuntimeError("no row fits")

    return make


def pages_family(part: str) -> Callable:
    def make(pool, rng) -> Frame:
        p = pages.page(pool, rng, pages.PARTS[part])
        return Frame(p.image, p.boxes, p.labels, None)

    return make


FAMILIES: dict[str, Callable] = {
    "neat rows (synth)": rows,
    "scattered": lambda pool, rng: scattered(pool, rng),
    "stacked pairs": stacked,
    "blocks of 2-3 lines": block,
    "light on dark, scattered": lambda pool, rng: scattered(pool, rng, look=DARK),
    "1280x720, 90-320 px": large((1280, 720)),
    "1920x1080, 90-320 px": large((1920, 1080)),
}


@dataclass
class Tally(Score):
    """synth's Score, plus the time spent reading and the frames read wrong."""

    seconds: float = 0.0
    misses: list[str] = field(default_factory=list)

    def row(self) -> list[str]:
        rates = (self.recall, self.precision, self.label_accuracy, self.exact_frames)
        return [f"{100 * r:.2f}%" for r in rates] + [f"{self.frames / max(self.seconds, 1e-9):.0f}"]


def score(t: Tally, truth: Frame, digits: list, text: str) -> None:
    t.frames += 1
    t.truths += len(truth.boxes)
    t.found += len(digits)
    used: set[int] = set()
    right = 0
    for tb, tl in zip(truth.boxes, truth.labels):
        best, best_j = 0.5, -1
        for j, d in enumerate(digits):
            if j not in used and (v := iou(tb, d.box)) >= best:
                best, best_j = v, j
        if best_j >= 0:
            used.add(best_j)
            t.matched += 1
            right += int(digits[best_j].label == tl)
    t.correct += right
    if truth.lines is None:
        exact = right == len(truth.boxes) == len(digits)
    else:
        exact = text == truth.text()
    t.exact += int(exact)
    if not exact:
        t.misses.append(f"{truth.text()!r} read {text!r}")


def evaluate(reader: DigitReader, pool, family: Callable, n: int, seed: int) -> Tally:
    rng = np.random.default_rng(seed)
    t = Tally()
    for _ in range(n):
        frame = family(pool, rng)
        start = time.perf_counter()
        reading = reader.read(frame.image, "segment")
        t.seconds += time.perf_counter() - start
        score(t, frame, reading.digits, reading.text.replace(" ", "") if frame.flat is not None else reading.text)
    return t


def decode_fps(reader: DigitReader, pool, n: int = 100, seed: int = 5) -> float:
    """640x480 frames with 6 digits, from JPEG bytes to digits: what a camera or a folder of photos costs."""
    rng = np.random.default_rng(seed)
    jpegs = [cv2.imencode(".jpg", render_scene(*pool, rng, count=6).image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for _ in range(n)]
    passes = []
    for _ in range(5):  # the median of 5 passes: one pass of 100 frames takes 0.2-0.3 s, short enough to catch a hiccup
        start = time.perf_counter()
        for data in jpegs:
            reader.read(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE), "segment")
        passes.append(time.perf_counter() - start)
    return n / float(np.median(passes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped one)")
    ap.add_argument("--frames", type=int, default=200, help="frames per family")
    ap.add_argument("--part", choices=list(SEEDS), default="holdout")
    names = [*FAMILIES, "pages"]  # a family's frames are seeded by its place here, whichever --families are asked for
    ap.add_argument("--families", nargs="*", choices=names, default=names, metavar="FAMILY",
                    help=f"families to read (default: all): {', '.join(repr(n) for n in names)}")
    ap.add_argument("--show-misses", type=int, default=0, help="print this many misread frames per family")
    ap.add_argument("--digits", choices=DIGIT_SETS, default="test",
                    help="test: MNIST's test digits in --data-dir; validation: the default split's validation digits")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="an MNIST folder, as cnn-train --data mnist reads it")
    ap.add_argument("--min-confidence", type=float, default=None, help="the reader's threshold (default: cnn-run's)")
    ap.add_argument("--write", action="store_true", help="append the table to benchmarks/RESULTS-layouts.md")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    reader = DigitReader(DigitClassifier(args.model, threads=1))
    if args.min_confidence is not None:
        reader.min_confidence = args.min_confidence
    pool = digit_set(args.digits, args.data_dir)
    families = dict(FAMILIES, pages=pages_family(args.part))
    lines = ["| family | box recall | precision | labels | frames read exactly | frames/s |", "|---|---:|---:|---:|---:|---:|"]
    for name in args.families:
        t = evaluate(reader, pool, families[name], args.frames, SEEDS[args.part] + 100 * names.index(name))
        lines.append(f"| {name} | " + " | ".join(t.row()) + " |")
        print(lines[-1], flush=True)
        for miss in t.misses[: args.show_misses]:
            print("   ", miss)
    fps = decode_fps(reader, pool)
    lines.append(f"| 640x480, 6 digits, JPEG decode included | | | | | {fps:.0f} |")
    print(lines[-1])
    if args.write:
        header = (f"\n## {args.part} frames, {args.frames} per family, {datetime.date.today()}\n\n"
                  f"`python benchmarks/layouts.py --model {args.model or '(shipped)'} --frames {args.frames} --part {args.part} "
                  f"--digits {args.digits}" + (f" --min-confidence {args.min_confidence}" if args.min_confidence is not None
                                                else "") + f"` ({len(pool[1]):,} digits) "
                  f"on {platform.processor() or platform.machine()}, one core\n\n")
        with open(HERE / "RESULTS-layouts.md", "a") as f:
            f.write(header + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
