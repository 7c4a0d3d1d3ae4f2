"""Steps 0-2 and 5 of the segmenter: the working scale, the ink map, the pieces, and each digit framed like MNIST."""

import cv2
import numpy as np

from digit_cnn_edge.runtime.convention import BOX_SIZE, INPUT_SIZE
from digit_cnn_edge.runtime.preprocess import frame_digit
from digit_cnn_edge.runtime.segment.params import Box, Params

_CLOSE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

_PAPER_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))

_LOCAL_MEAN = (15, 15)  # at 1/downscale: a few digits wide


def working_scale(shape: tuple[int, int], p: Params) -> float:
    """Factor that brings a frame to at most `p.work_side` pixels on its short side."""
    return min(1.0, p.work_side / min(shape))


def ink_map(gray: np.ndarray, p: Params) -> np.ndarray:
    """Ink strength per pixel (uint8, high = ink), with the paper and its shading subtracted."""
    h, w = gray.shape
    small = cv2.resize(gray, (max(1, w // p.downscale), max(1, h // p.downscale)), interpolation=cv2.INTER_AREA)
    dark_ink = ink_is_dark(small)
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE if dark_ink else cv2.MORPH_OPEN, _PAPER_KERNEL)
    paper = cv2.resize(cv2.blur(paper, (5, 5)), (w, h), interpolation=cv2.INTER_LINEAR)
    smooth = cv2.GaussianBlur(gray, (3, 3), 0)
    return cv2.subtract(paper, smooth) if dark_ink else cv2.subtract(smooth, paper)


def ink_is_dark(gray: np.ndarray) -> bool:
    """Whether the ink is darker than the paper: ink is the minority, so its side of the local mean is the long tail.

    The skew of (pixel - local mean) is negative for dark ink. Subtracting the
    local mean keeps a lighting gradient from passing for ink; comparing
    black-hat against white-hat responses instead failed on large digits,
    whose enclosed paper answers the white-hat as strongly as their strokes
    answer the black-hat.
    """
    f = gray.astype(np.float32)
    r = f - cv2.blur(f, _LOCAL_MEAN)
    return cv2.sumElems(r * r * r)[0] < 0


def binarize(ink: np.ndarray, p: Params) -> tuple[np.ndarray, int, int]:
    """The binary map of the ink (uint8 0/1), the weak level it was cut at and the strong level a piece must reach.

    Hysteresis: pieces are grown at half the Otsu level, so faint tails and thin
    strokes stay attached, but only pieces that reach the full level count.
    """
    # Otsu's level from every other pixel of every other row: the same histogram's shape, a quarter of the work
    otsu, _ = cv2.threshold(np.ascontiguousarray(ink[::2, ::2]), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    strong = int(max(otsu, p.noise_floor))
    weak = int(max(strong / 2, p.noise_floor))
    _, binary = cv2.threshold(ink, weak, 1, cv2.THRESH_BINARY)
    return cv2.morphologyEx(binary, cv2.MORPH_CLOSE, _CLOSE_KERNEL), weak, strong


def pieces(ink: np.ndarray, binary: np.ndarray, strong: int) -> tuple[list[np.ndarray], list[Box]]:
    """Outer contours of the binary map's pieces that reach the strong level somewhere, and their boxes."""
    # External contours, not connected-component stats: the same pieces, several times faster in OpenCV.
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    kept = [c for c in contours if _strong_enough(ink, cv2.boundingRect(c), strong)]
    return kept, [cv2.boundingRect(c) for c in kept]


def _strong_enough(ink: np.ndarray, box: Box, strong: float) -> bool:
    x, y, w, h = box
    return w * h >= 9 and ink[y : y + h, x : x + w].max() > strong


def frame_piece(
    ink: np.ndarray,
    contours: list[np.ndarray],
    weak: int,
    p: Params,
    box_size: int = BOX_SIZE,
    input_size: int = INPUT_SIZE,
) -> np.ndarray:
    """The ink inside these contours, saturated and framed like MNIST: float32 [size, size]."""
    x, y, w, h = cv2.boundingRect(np.concatenate(contours))
    mask = np.zeros((h, w), np.uint8)
    cv2.drawContours(mask, contours, -1, 1, cv2.FILLED, offset=(-x, -y))
    mask = cv2.dilate(mask, _CLOSE_KERNEL)
    # Ink below the blob's own level is the blur halo of a photo, which MNIST strokes do not have.
    digit = saturate(cv2.subtract(ink[y : y + h, x : x + w], weak) * mask, p.ink_level)
    return frame_digit(digit, box_size, input_size)


def saturate(ink: np.ndarray, level: float) -> np.ndarray:
    """Scale ink so its `level` quantile becomes 255, clipping above: the saturated stroke cores of MNIST.

    About half of an MNIST digit's ink pixels are near full white; a
    photographed stroke peaks along a thin ridge, so scaling by the peak alone
    left the model a thinner, dimmer digit than it was trained on, and gains
    on MNIST did not carry over to photos until the crops looked like MNIST
    (benchmarks/RESULTS-crossval.md).
    """
    if level <= 0:
        return ink
    counts = np.cumsum(cv2.calcHist([ink], [0], None, [255], [1, 256]).ravel())
    if counts[-1] == 0:
        return ink
    # a histogram's quantile: several times faster than np.quantile
    top = 1 + int(np.searchsorted(counts, level * counts[-1]))
    return cv2.convertScaleAbs(ink, alpha=255.0 / top)
