"""Things that are not digits, cut out of photos the way `cnn-run` cuts them: what the classifier learns to reject.

A page carries printed words, check marks, scribbles, ruled lines and boxes
besides the digits, and the segmenter hands the classifier every piece of
them. A classifier that has only seen digits reads a printed letter or a
check mark as its nearest digit, confidently. So training shows it such
pieces too, with a uniform target (outlier exposure, `loop.Config.negatives`):
their top probability falls towards 1/10 while digits' stays high, and the
runtime's rejection threshold separates the two.

The pieces are drawn from parts that ship with the training extra, so a
rerun makes the same kinds everywhere: letters and symbols in matplotlib's
fonts (DejaVu, STIX, Computer Modern) and OpenCV's Hershey fonts (script ones
included, for handwriting); check marks, crosses, scribbles, straight strokes
20-40 degrees off the horizontal (a steep stroke is a 1), corners and
pieces of boxes, and two real digits fused side by side; given a folder of
fonts (`cnn-train --fonts`, handwriting-like ones from `scripts/train-fonts.sh`),
letters in those too, since a label written in a handwriting face is nearer
a handwritten digit than any printed letter is. Fragments of real
digits are left to the segmenter's grouping (`runtime.segment.grouping`):
cut from a digit, a piece is often a digit shape itself (a 9's loop is a 0,
a 4's stem a 1), so rejecting them would teach the model to doubt those
digits. Letters that are digit shapes in print (O, I, l, S, Z, B, g, q) are
in too: printed, they differ from a handwritten digit in their even strokes
and serifs; on validation digits a model that learned them read digits as
well as one that did not, and it kept fewer of a page's letters
(benchmarks/RESULTS-levers.md).

Each piece is drawn at 24-140 px, photographed like the digits
(`photos.LOOK`) and cut out by `runtime.segment.segment`, so the
classifier sees what the runtime would give it.
"""

import math
from collections.abc import Sequence
from functools import cache, partial
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.common.errors import UserError
from digit_cnn_edge.runtime.convention import INPUT_SIZE
from digit_cnn_edge.runtime.segment import segment
from digit_cnn_edge.train.photos import HEIGHTS, LOOK, in_chunks
from digit_cnn_edge.train.synth import photograph

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SYMBOLS = "#%&@?+*=$<>~^"
HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
           cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX, cv2.FONT_HERSHEY_PLAIN)
MPL_FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique", "DejaVuSansMono",
             "DejaVuSansMono-Bold", "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "STIXGeneral",
             "STIXGeneralBol", "STIXGeneralItalic", "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10")
HANDWRITTEN = "".join(c for c in LETTERS if c not in "OoQIlijJSsZzBbgqG")
"""Letters drawn in the handwriting-like fonts: not those a hand writes as a digit (an l is a 1, a g a 9, a Z a 2)."""
KINDS = ("printed", "hershey", "check", "cross", "scribble", "stroke", "corner", "fused")
"""What the pieces are, in turn: piece i is of kind kinds[i % len(kinds)], so every kind is equally common; with
fonts given, "handwritten" is one more kind (`kinds`)."""
FONT_SUFFIXES = (".ttf", ".otf")


def kinds(fonts: Sequence[Path | str] = ()) -> tuple[str, ...]:
    return (*KINDS, "handwritten") if fonts else KINDS


@cache
def _truetype(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def _font(name: str, size: int):
    import matplotlib

    return _truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{name}.ttf"), size)


def font_files(folder: Path) -> list[Path]:
    """The fonts in `folder` (.ttf, .otf), each checked to load, in name order; a one-line error otherwise."""
    if not folder.is_dir():
        raise UserError(f"--fonts {folder}: not a folder")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in FONT_SUFFIXES and p.is_file())
    if not found:
        raise UserError(f"--fonts {folder}: no .ttf or .otf file in it (bash scripts/train-fonts.sh {folder} gets some)")
    for path in found:
        try:
            _truetype(str(path), 64)
        except OSError as e:
            raise UserError(f"--fonts: {path} is not a font that can be read ({e})") from None
    return found


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    x, y, w, h = cv2.boundingRect((ink > 0.1).astype(np.uint8))
    return ink[y : y + h, x : x + w] if w and h else ink


def _text(rng: np.random.Generator, pool: str = LETTERS + SYMBOLS) -> str:
    return "".join(pool[int(i)] for i in rng.integers(len(pool), size=1 if rng.random() < 0.8 else 2))


def _drawn(text: str, font) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.new("L", (320, 200), 0)  # room for a script face's swashes
    ImageDraw.Draw(image).text((20, 20), text, font=font, fill=255)
    return np.asarray(image, np.float32) / 255


def printed(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """One or two letters or symbols in one of matplotlib's fonts, as float ink."""
    return _drawn(_text(rng), _font(MPL_FONTS[int(rng.integers(len(MPL_FONTS)))], 64))


def handwritten(rng: np.random.Generator, digits: np.ndarray, fonts: Sequence[str]) -> np.ndarray:
    """One or two letters (`HANDWRITTEN`) in one of `fonts`, font files' paths, as float ink."""
    return _drawn(_text(rng, HANDWRITTEN), _truetype(fonts[int(rng.integers(len(fonts)))], 64))


def hershey(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """One or two letters or symbols in one of OpenCV's stroke fonts (the script ones look handwritten)."""
    font = HERSHEY[int(rng.integers(len(HERSHEY)))] | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    image = np.zeros((160, 260), np.uint8)
    cv2.putText(image, _text(rng), (20, 110), font, 2.5, 255, int(rng.integers(2, 7)), cv2.LINE_AA)
    return image.astype(np.float32) / 255


def _pen(rng: np.random.Generator) -> int:
    return int(rng.integers(3, 9))  # on a canvas of about 100 px, like a pen on a digit's height


def _polyline(points: np.ndarray, thickness: int, size: int = 140) -> np.ndarray:
    image = np.zeros((size, size), np.uint8)
    cv2.polylines(image, [np.round(points).astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
    return image.astype(np.float32) / 255


def check(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """A tick: a short stroke down, a long one up, at the writer's own angles."""
    low = np.array([60.0, 100.0])
    a = rng.uniform(-0.5, 0.5)
    short, long = rng.uniform(15, 35), rng.uniform(45, 80)
    start = low + short * np.array([-math.cos(0.9 + a), -math.sin(0.9 + a)])
    end = low + long * np.array([math.cos(1.0 + a), -math.sin(1.0 + a)])
    return _polyline(np.stack([start, low, end]), _pen(rng))


def cross(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """An x: two strokes crossing near their middles."""
    image = np.zeros((140, 140), np.float32)
    for angle in rng.uniform(20, 70) + np.array([0.0, rng.uniform(70, 110)]):
        d = rng.uniform(25, 45) * np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
        image = np.maximum(image, _polyline(np.stack([70 - d, 70 + d]) + rng.uniform(-5, 5, 2), _pen(rng)))
    return image


def scribble(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """A pen scribble: a dense zigzag or a coil of at least three loops (one loop would be a 0)."""
    n = int(rng.integers(6, 16))
    if rng.random() < 0.5:
        x = np.linspace(20, 120, n) + rng.normal(0, 4, n)
        y = np.where(np.arange(n) % 2, 40.0, 100.0) + rng.normal(0, 8, n)
    else:
        t = np.linspace(0, rng.uniform(3, 6) * 2 * math.pi, 12 * n)
        x = 70 + rng.uniform(12, 25) * np.cos(t) + np.linspace(-45, 45, t.size)
        y = 70 + rng.uniform(15, 35) * np.sin(t * rng.uniform(0.8, 1.2))
    return _polyline(np.stack([x, y], 1), _pen(rng) - 1)


def stroke(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """A straight or gently bent stroke 20-40 degrees off the horizontal: flatter ones are dropped as lines, steeper are 1s."""
    angle = math.radians(rng.uniform(20, 40) * rng.choice([-1, 1]))
    half = rng.uniform(25, 60) * np.array([math.cos(angle), math.sin(angle)])
    bend = rng.normal(0, 6) * np.array([-math.sin(angle), math.cos(angle)])
    return _polyline(np.stack([70 - half, 70 + bend, 70 + half]), _pen(rng))


def corner(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """A corner or a T of printed rules: what is left of a box or a table when the rest is elsewhere."""
    thin = int(rng.integers(1, 4))
    a, b = rng.uniform(30, 100, 2)
    x0, y0 = 20, 20
    shapes = [
        [(x0, y0 + b), (x0, y0), (x0 + a, y0)],  # a box's corner
        [(x0, y0), (x0 + a, y0), (x0 + a, y0 + b)],
        [(x0 + a / 2, y0), (x0 + a / 2, y0 + b), (x0, y0 + b), (x0 + a, y0 + b)],  # an inverted T, drawn as one line
        [(x0, y0), (x0, y0 + b), (x0 + a, y0 + b), (x0 + a, y0 + b / 3)],  # a bracket, a box's side
    ]
    return _polyline(np.array(shapes[int(rng.integers(len(shapes)))], np.float64), thin)


def fused(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """Two real digits written into each other, side by side: one piece, not one digit."""
    a, b = (digits[int(i)].astype(np.float32) / 255 for i in rng.integers(len(digits), size=2))
    a, b = crop_to_ink(a), crop_to_ink(b)
    h = max(a.shape[0], b.shape[0])
    overlap = int(rng.uniform(0.1, 0.35) * min(a.shape[1], b.shape[1]))
    out = np.zeros((h, a.shape[1] + b.shape[1] - overlap), np.float32)
    out[: a.shape[0], : a.shape[1]] = a
    region = out[: b.shape[0], a.shape[1] - overlap :]
    np.maximum(region, b, out=region)
    return out


DRAW = {"printed": printed, "hershey": hershey, "check": check, "cross": cross,
        "scribble": scribble, "stroke": stroke, "corner": corner, "fused": fused}  # fmt: skip


def place_ink(ink: np.ndarray, height: int, angle: float) -> np.ndarray:
    """Float ink scaled so its larger side is about `height` px, rotated by `angle` degrees, with room around it."""
    ink = crop_to_ink(ink)
    scale = height / max(ink.shape)
    side = math.ceil(max(ink.shape) * scale * 1.5) + 4
    m = cv2.getRotationMatrix2D((ink.shape[1] / 2, ink.shape[0] / 2), angle, scale)
    m[:, 2] += side / 2 - np.array([ink.shape[1] / 2, ink.shape[0] / 2])
    return cv2.warpAffine(ink, m, (side, side), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def cut_out(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What the runtime's segmenter cuts out of a photo of `ink`: float32 [K, 28, 28], K >= 0 pieces."""
    height = int(np.exp(rng.uniform(*np.log(HEIGHTS))))
    tile = place_ink(ink, height, float(rng.uniform(-8, 8)))
    margin = int(rng.integers(24, 64))
    paper = cv2.copyMakeBorder(tile, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=0)
    return segment(photograph(paper, rng, LOOK, channels=1)).crops


def _negatives_chunk(task: tuple[int, int, np.ndarray, tuple[str, ...]], seed: np.random.SeedSequence) -> np.ndarray:
    first, count, digits, fonts = task  # digits: a few for this chunk's fused pairs
    rng = np.random.default_rng(seed)
    draw = dict(DRAW, handwritten=partial(handwritten, fonts=fonts))
    order = kinds(fonts)
    crops = [cut_out(draw[order[i % len(order)]](rng, digits), rng) for i in range(first, first + count)]
    return np.concatenate([c for c in crops if len(c)] or [np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.float32)])


def default_count(n_digits: int) -> int:
    """Non-digits to make for a training set: half as many as digits, at least 1,000 and at most 30,000.

    Each batch adds a quarter of its size in non-digits drawn from these, warped
    like the digits, so they are seen several times each, in other shapes.
    """
    return min(30_000, max(1_000, n_digits // 2))


def negative_crops(n: int, digits: np.ndarray, seed: int, workers: int = 1, progress=None,
                   fonts: Sequence[Path] = ()) -> np.ndarray:
    """About `n` non-digit crops float32 [M, 28, 28] (a drawn thing may give no piece, or several), all kinds alike.

    `digits` (uint8 [N, 28, 28], training digits) are what fused pairs are made of; `fonts` (`font_files`), if any,
    what handwritten letters are drawn in. The same `seed` gives the same crops for any `workers`.
    """
    chunk = 250
    pick = np.random.default_rng(seed).integers(len(digits), size=(math.ceil(n / chunk), 64))
    paths = tuple(str(p) for p in fonts)
    tasks = [(first, min(chunk, n - first), digits[pick[k]], paths) for k, first in enumerate(range(0, n, chunk))]
    return np.concatenate(in_chunks(_negatives_chunk, tasks, seed, workers, progress))
