"""Pages: handwritten numbers among printed words, ruled lines, printed boxes and pen marks (layouts.py's `pages` family).

Every part comes in sets: `tune` (looked at while building the segmenter's
page rules and the model's rejection), `scratch` (a second set to look at,
with faces and words tune does not have: what tune's own faces do not show)
and `holdout` (only for the figures). Holdout shares no typeface family, no
word and no way of drawing a mark with the others, and no set shares a
typeface with training (train/negatives.py draws its letters in
matplotlib's and OpenCV's fonts).
The typefaces are Debian's font packages: `bash scripts/bench-fonts.sh`
installs them.

A page is 640x480: on 60% of pages ruled lines 28-60 px apart (light, thin,
sometimes a margin rule), 2-5 printed words, 1-3 handwritten numbers of 1-4
digits (each sitting on a rule when the page is ruled, some right after a
word), a printed box around each digit of 30% of the numbers, and on half
of the pages a pen mark (a tick or a scribble). Then the camera
(`synth.photograph`).
"""

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.runtime.segment import Box
from digit_cnn_edge.train.synth import photograph, place, text_ink

FONT_DIRS = (Path("/usr/share/fonts"),)


@dataclass(frozen=True)
class Parts:
    fonts: tuple[str, ...]  # font file names, found under FONT_DIRS
    words: tuple[str, ...]
    marks: tuple[str, ...]  # names in MARKS


TUNE = Parts(
    fonts=("LiberationSans-Regular.ttf", "LiberationSerif-Bold.ttf", "FreeMono.ttf", "Humor-Sans.ttf", "dkg.ttf",
           "NimbusSansNarrow-Regular.otf"),
    words=("Name", "Date", "Total", "Amount", "Invoice", "Box", "Page", "Item", "Price", "Qty", "Ref", "Account",
           "Order", "Phone", "Room", "Floor", "Seat", "Code", "Year", "Paid"),
    marks=("tick", "zigzag"),
)
HOLDOUT = Parts(
    fonts=("NimbusRoman-Regular.otf", "URWBookman-Light.otf", "ComicNeue-Regular.otf", "Breip.ttf", "femkeklaver.ttf",
           "URWGothic-Book.otf", "C059-Roman.otf", "P052-Italic.otf", "FreeSansBold.ttf", "BecauseWeBuild-Regular.otf"),
    words=("Number", "Sum", "Balance", "Receipt", "Level", "Grade", "Score", "Weight", "Height", "Serial", "Batch",
           "Lot", "Unit", "Zone", "Block", "Station", "Ticket", "Visitor", "Signed", "Checked"),
    marks=("curved tick", "loops", "cross-out"),
)
SCRATCH = Parts(
    fonts=("LiberationMono-Regular.ttf", "FreeSerifItalic.ttf", "NimbusSans-Bold.otf", "NimbusMonoPS-Regular.otf",
           "Z003-MediumItalic.otf", "dkgIt.ttf", "dkgBd.ttf", "LiberationSerif-Italic.ttf"),
    words=("Client", "Street", "City", "Count", "Hours", "Rate", "Tax", "Due", "Class", "Group", "Line", "Week",
           "Day", "Time", "Gate", "Cost", "Part", "Size", "Age", "Note", "Bus", "Dept", "Loan", "Fee"),
    marks=TUNE.marks,
)
PARTS = {"tune": TUNE, "scratch": SCRATCH, "holdout": HOLDOUT}


@cache
def font_path(name: str) -> Path:
    for root in FONT_DIRS:
        found = sorted(root.rglob(name))
        if found:
            return found[0]
    raise SystemExit(f"font {name} not found under {', '.join(map(str, FONT_DIRS))}: bash scripts/bench-fonts.sh installs them")


@cache
def _font(name: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(font_path(name)), size)


def word_ink(text: str, font: str, size: int) -> np.ndarray:
    """A printed word as float ink, cropped to its ink."""
    return text_ink(text, _font(font, size))


def _curve(points: np.ndarray, size: tuple[int, int], thickness: int) -> np.ndarray:
    image = np.zeros(size, np.uint8)
    cv2.polylines(image, [np.round(points).astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
    return image.astype(np.float32) / 255


def mark(kind: str, rng: np.random.Generator, height: int) -> np.ndarray:
    """A pen mark about `height` px tall, as float ink."""
    s, pen = height, max(2, round(height * rng.uniform(0.06, 0.12)))
    pad = 2 * pen
    if kind == "tick":  # two straight strokes
        pts = np.array([[0, 0.55 * s], [0.3 * s, s], [0.9 * s, 0]]) + pad
    elif kind == "curved tick":  # one stroke bending from a short dip into a long sweep
        t = np.linspace(0, 1, 40)
        pts = np.stack([t * s, s * (1 - (1.6 * t - 0.5) ** 2 / 1.2) * (t > 0.3) + s * (0.6 + t) * (t <= 0.3)], 1) + pad
    elif kind == "zigzag":
        n = int(rng.integers(5, 11))
        pts = np.stack([np.linspace(0, 1.6 * s, n), np.where(np.arange(n) % 2, 0.1 * s, 0.9 * s)], 1) + pad
    elif kind == "loops":  # a coil drawn left to right
        t = np.linspace(0, rng.uniform(3, 5) * 2 * math.pi, 200)
        pts = np.stack([0.8 * s + 0.3 * s * np.cos(t) + np.linspace(-0.6 * s, 0.6 * s, t.size),
                        0.5 * s + 0.4 * s * np.sin(t)], 1) + pad
    else:  # cross-out: a few heavy strokes back and forth over one spot
        n = int(rng.integers(3, 6))
        pts = np.stack([np.where(np.arange(2 * n) % 2, 1.4 * s, 0), np.linspace(0.1 * s, 0.9 * s, 2 * n)], 1) + pad
    pts = pts + rng.normal(0, 0.02 * s, pts.shape)
    w, h = int(pts[:, 0].max() + pad + 2), int(pts[:, 1].max() + pad + 2)
    return _curve(pts, (h, w), pen)


@dataclass
class Page:
    image: np.ndarray
    boxes: list[Box]
    labels: list[int]


class Layout:
    """Ink placed on a 640x480 page without overlaps, with the truth boxes of the digits."""

    def __init__(self, w: int = 640, h: int = 480) -> None:
        self.w, self.h = w, h
        self.ink = np.zeros((h, w), np.float32)
        self.taken: list[Box] = []
        self.boxes: list[Box] = []
        self.labels: list[int] = []

    def free(self, box: Box, gap: int = 8) -> bool:
        x, y, w, h = box
        if x < 10 or y < 10 or x + w > self.w - 10 or y + h > self.h - 10:
            return False
        return all(x + w + gap <= bx or bx + bw + gap <= x or y + h + gap <= by or by + bh + gap <= y
                   for bx, by, bw, bh in self.taken)

    def put(self, ink: np.ndarray, x: int, y: int, level: float = 1.0) -> None:
        region = self.ink[y : y + ink.shape[0], x : x + ink.shape[1]]
        np.maximum(region, ink[: region.shape[0], : region.shape[1]] * level, out=region)


def number_tiles(pool, rng: np.random.Generator, height: int) -> list[tuple[np.ndarray, int]]:
    digits, labels = pool
    out = []
    for i in rng.integers(len(digits), size=int(rng.integers(1, 5))):
        tile = place(digits[i], int(height * rng.uniform(0.9, 1.1)), float(rng.uniform(-6, 6)))
        x, y, w, h = cv2.boundingRect((tile > 0.25).astype(np.uint8))
        out.append((tile[y : y + h, x : x + w], int(labels[i])))
    return out


def page(pool, rng: np.random.Generator, parts: Parts = TUNE) -> Page:
    """One photographed page (see the module's docstring)."""
    for _ in range(50):
        made = _try_page(pool, rng, parts)
        if made is not None:
            return made
    raise RuntimeError("no page fits")


def _try_page(pool, rng: np.random.Generator, parts: Parts) -> Page | None:
    lay = Layout()
    ruled = rng.random() < 0.6
    rules: list[int] = []
    if ruled:
        spacing = int(rng.uniform(28, 60)) if rng.random() < 0.5 else int(rng.uniform(70, 110))
        rules = list(range(int(rng.uniform(40, 90)), lay.h - 20, spacing))
    words = [word_ink(str(rng.choice(parts.words)), str(rng.choice(parts.fonts)), int(rng.uniform(18, 42)))
             for _ in range(int(rng.integers(2, 6)))]
    placed_words: list[Box] = []
    for ink in words:
        h, w = ink.shape
        for _ in range(100):
            x = int(rng.integers(10, max(11, lay.w - w - 10)))
            y = (int(rng.choice(rules)) - h - int(rng.integers(2, 6))) if rules else int(rng.integers(10, max(11, lay.h - h - 10)))
            if lay.free((x, y, w, h)):
                lay.put(ink, x, y)
                lay.taken.append((x, y, w, h))
                placed_words.append((x, y, w, h))
                break
    for n in range(int(rng.integers(1, 4))):
        height = int(rng.uniform(36, 90))
        tiles = number_tiles(pool, rng, height)
        boxed = rng.random() < 0.3
        pad = int(rng.uniform(5, 12)) if boxed else 0
        gaps = [int(height * rng.uniform(0.15, 0.5)) + 2 * pad for _ in tiles]
        width = sum(t.shape[1] for t, _ in tiles) + sum(gaps[:-1])
        tallest = max(t.shape[0] for t, _ in tiles)
        for attempt in range(100):
            if placed_words and attempt < 30 and rng.random() < 0.5:  # right after a word, on its baseline
                wx, wy, ww, wh = placed_words[int(rng.integers(len(placed_words)))]
                x, bottom = wx + ww + int(rng.uniform(0.6, 1.5) * wh) + pad, wy + wh
            else:
                x = int(rng.integers(10 + pad, max(11 + pad, lay.w - width - 10 - pad)))
                bottom = int(rng.choice(rules)) + int(rng.integers(-3, 3)) if rules else int(rng.integers(tallest + 10, lay.h - 10))
            area = (x - pad, bottom - tallest - pad, width + 2 * pad, tallest + 2 * pad)
            if lay.free(area):
                break
        else:
            continue
        lay.taken.append(area)
        for (tile, label), gap in zip(tiles, gaps):
            h, w = tile.shape
            y = bottom - h
            lay.put(tile, x, y)
            lay.boxes.append((x, y, w, h))
            lay.labels.append(label)
            if boxed:
                cv2.rectangle(lay.ink, (x - pad, bottom - tallest - pad), (x + w + pad, bottom + pad), 1.0,
                              int(rng.integers(1, 3)))
            x += w + gap
    if not lay.boxes:
        return None
    if rng.random() < 0.5:
        ink = mark(str(rng.choice(parts.marks)), rng, int(rng.uniform(25, 70)))
        for _ in range(100):
            x, y = int(rng.integers(10, lay.w - ink.shape[1] - 10)), int(rng.integers(10, lay.h - ink.shape[0] - 10))
            if lay.free((x, y, ink.shape[1], ink.shape[0])):
                lay.put(ink, x, y)
                break
    rule_ink = np.zeros_like(lay.ink)
    level, thick = float(rng.uniform(0.35, 0.8)), int(rng.integers(1, 3))
    for y in rules:
        cv2.line(rule_ink, (0, y), (lay.w - 1, y), level, thick)
    if rules and rng.random() < 0.3:
        margin = int(rng.uniform(40, 80))
        cv2.line(rule_ink, (margin, 0), (margin, lay.h - 1), level, thick)
    ink = np.maximum(lay.ink, rule_ink)
    return Page(photograph(ink, rng), lay.boxes, lay.labels)
