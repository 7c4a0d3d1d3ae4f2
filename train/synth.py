"""Render real digits into photo-like frames with known truth: for tests, benchmarks and demos.

A scene is paper of some colour under uneven light, with 1-6 real MNIST
digits written in dark ink at several sizes and small rotations, in one or
two lines, then sensor noise, blur and JPEG compression. The truth boxes are
the ink's bounding boxes, so a detector can be scored by IoU.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from digit_cnn_edge.runtime.segment import Box


@dataclass
class Scene:
    image: np.ndarray  # BGR uint8 [H, W, 3]
    boxes: list[Box]  # truth, in reading order
    labels: list[int]

    @property
    def text(self) -> str:
        return "".join(map(str, self.labels))


@dataclass(frozen=True)
class Look:
    """Ranges of the camera and paper effects (8-bit levels, pixels, JPEG quality)."""

    paper: tuple[float, float] = (170, 245)
    pen: tuple[float, float] = (10, 90)
    shade: float = 0.35  # the far side of the light gradient is up to this much darker
    noise: tuple[float, float] = (2, 8)  # sensor noise sigma
    blur: float = 1.2  # largest Gaussian blur sigma
    jpeg: tuple[int, int] = (40, 90)


def photograph(ink: np.ndarray, rng: np.random.Generator, look: Look = Look(), channels: int = 3) -> np.ndarray:
    """Float32 ink coverage [H, W] in [0, 1] as a photo: coloured pen on paper, uneven light, noise, blur, JPEG.

    BGR uint8 [H, W, 3], or gray [H, W] with `channels=1` (a third of the work).
    """
    h, w = ink.shape
    paper = rng.uniform(*look.paper, size=channels)
    pen = rng.uniform(*look.pen, size=channels)
    gx, gy = rng.uniform(-1, 1, 2)
    x = gx * (np.arange(w, dtype=np.float32) / w - 0.5)
    y = gy * (np.arange(h, dtype=np.float32) / h - 0.5)
    light = 1 - np.float32(look.shade * rng.uniform(0.3, 1)) * np.clip(0.5 + x[None, :] + y[:, None], 0, 1)
    # Channel by channel and noise from OpenCV (seeded from rng): numpy's broadcasting over a
    # trailing axis of 3 and its normal sampler were most of the cost of a photo.
    image = cv2.merge([(float(p) + float(q - p) * ink) * light for p, q in zip(paper, pen)])
    noise = np.empty_like(image)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    image += cv2.randn(noise, 0.0, float(rng.uniform(*look.noise)))
    image = np.clip(image, 0, 255).astype(np.uint8)
    sigma = rng.uniform(0, look.blur)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    _, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(look.jpeg[0], look.jpeg[1] + 1))])
    return cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)


def place(digit: np.ndarray, height: int, angle: float) -> np.ndarray:
    """A 28x28 digit scaled so its ink is about `height` px tall, rotated, as float ink in [0, 1]."""
    scale = height / 20.0
    side = int(np.ceil(28 * scale * 1.2))
    m = cv2.getRotationMatrix2D((14, 14), angle, scale)
    m[:, 2] += side / 2 - 14
    return cv2.warpAffine(digit.astype(np.float32) / 255, m, (side, side), flags=cv2.INTER_LINEAR)


def text_ink(text: str, font) -> np.ndarray:
    """`text` printed in a PIL `font` as float ink in [0, 1], cropped to its ink: words on pages and example photos."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(image).text((2 - left, 2 - top), text, font=font, fill=255)
    ink = np.asarray(image, np.float32) / 255
    x, y, w, h = cv2.boundingRect((ink > 0.2).astype(np.uint8))
    return ink[y : y + h, x : x + w]


def render_scene(
    digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (640, 480), count: int | None = None
) -> Scene:
    """One scene from a pool of uint8 [N, 28, 28] white-on-black digits."""
    w, h = size
    count = int(rng.integers(1, 7)) if count is None else count
    lines = 1 if count <= 3 else int(rng.integers(1, 3))
    per_line = [count // lines + (1 if i < count % lines else 0) for i in range(lines)]
    ink = np.zeros((h, w), np.float32)
    boxes, truth = [], []
    band = h // lines
    for li, n in enumerate(per_line):
        slot = w // max(n, 1)
        height = int(rng.integers(36, max(37, min(130, band - 40, int(0.7 * slot)))))
        for k in range(n):
            i = int(rng.integers(len(digits)))
            tile = place(digits[i], int(height * rng.uniform(0.85, 1.15)), float(rng.uniform(-10, 10)))
            th, tw = tile.shape
            cx = int(slot * (k + 0.5) + rng.uniform(-0.1, 0.1) * slot)
            cy = int(band * (li + 0.5) + rng.uniform(-0.12, 0.12) * height)
            x0 = int(np.clip(cx - tw // 2, 8, w - tw - 8))
            y0 = int(np.clip(cy - th // 2, 8, h - th - 8))
            region = ink[y0 : y0 + th, x0 : x0 + tw]
            np.maximum(region, tile, out=region)
            bx, by, bw, bh = cv2.boundingRect((tile > 0.25).astype(np.uint8))
            boxes.append((x0 + bx, y0 + by, bw, bh))
            truth.append(int(labels[i]))
    return Scene(photograph(ink, rng), boxes, truth)


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


@dataclass
class Score:
    truths: int = 0
    found: int = 0
    matched: int = 0
    correct: int = 0
    frames: int = 0
    exact: int = 0

    @property
    def recall(self) -> float:
        return self.matched / max(self.truths, 1)

    @property
    def precision(self) -> float:
        return self.matched / max(self.found, 1)

    @property
    def label_accuracy(self) -> float:
        return self.correct / max(self.matched, 1)

    @property
    def exact_frames(self) -> float:
        return self.exact / max(self.frames, 1)


def score_frame(score: Score, truth: Scene, boxes: list[Box], labels: list[int], threshold: float = 0.5) -> None:
    """Greedy one-to-one IoU matching; a frame is exact when its text reads exactly right."""
    score.frames += 1
    score.truths += len(truth.boxes)
    score.found += len(boxes)
    used: set[int] = set()
    for tb, tl in zip(truth.boxes, truth.labels):
        best, best_j = threshold, -1
        for j, b in enumerate(boxes):
            if j not in used and (v := iou(tb, b)) >= best:
                best, best_j = v, j
        if best_j >= 0:
            used.add(best_j)
            score.matched += 1
            score.correct += int(labels[best_j] == tl)
    score.exact += int("".join(map(str, labels)) == truth.text)
