"""Real digits laid out on photographed paper, with their truth boxes: what the layout and page tests read."""

import numpy as np

from digit_cnn_edge.train.synth import iou, photograph, place


def ink_tile(digit: np.ndarray, height: int) -> np.ndarray:
    """A real digit scaled so its ink is `height` px tall, cropped to its ink (float [0, 1])."""
    tile = place(digit, height, 0.0)
    ys, xs = np.nonzero(tile > 0.25)
    return tile[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def put(ink: np.ndarray, tile: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    """Draw `tile` into `ink` with its top left at (x, y), over what is there; its box."""
    th, tw = tile.shape
    np.maximum(ink[y : y + th, x : x + tw], tile, out=ink[y : y + th, x : x + tw])
    return x, y, tw, th


def compose(digits: np.ndarray, spots: list[tuple[int, int, int]], size: tuple[int, int] = (640, 480), seed: int = 0):
    """Photograph real digits whose ink starts at (x, y) with the given height; the photo and the ink boxes."""
    w, h = size
    ink = np.zeros((h, w), np.float32)
    boxes = []
    for digit, (x, y, height) in zip(digits, spots):
        boxes.append(put(ink, ink_tile(digit, height), x, y))
    return photograph(ink, np.random.default_rng(seed)), boxes


def in_a_row(digits: np.ndarray, x: int, y: int, heights: list[int], gap: int) -> list[tuple[int, int, int]]:
    """Spots for digits side by side, `gap` px of paper between their inks, tops at `y`."""
    spots = []
    for digit, height in zip(digits, heights):
        spots.append((x, y, height))
        x += ink_tile(digit, height).shape[1] + gap
    return spots


def matched(found: list, truth: list) -> int:
    """How many truth boxes some found box covers with IoU >= 0.5 (one to one)."""
    used: set[int] = set()
    for t in truth:
        best = max((j for j in range(len(found)) if j not in used), key=lambda j: iou(t, found[j]), default=None)
        if best is not None and iou(t, found[best]) >= 0.5:
            used.add(best)
    return len(used)
