"""Turn ink into model input: MNIST framing, and whole-image preparation.

MNIST digits were scaled to fit a 20x20 box and then shifted so their centre
of mass sits at the centre of a 28x28 field. Any crop we feed the model must
be framed the same way, or accuracy drops by several points on real photos.
"""

import cv2
import numpy as np

from digit_cnn_edge.runtime.convention import BOX_SIZE, INPUT_SIZE


def frame_digit(ink: np.ndarray, box: int = BOX_SIZE, size: int = INPUT_SIZE) -> np.ndarray:
    """Frame white-on-black `ink` (uint8, any size) as a float32 [size, size] in [0, 1]."""
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(ink, dtype=np.uint8))
    out = np.zeros((size, size), np.float32)
    if w == 0 or h == 0:
        return out
    crop = ink[y : y + h, x : x + w]
    scale = box / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (nw, nh), interpolation=interp).astype(np.float32)
    m = cv2.moments(small)
    if m["m00"] <= 0:
        return out
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    ox = min(max(round(size / 2 - cx), 0), size - nw)
    oy = min(max(round(size / 2 - cy), 0), size - nh)
    out[oy : oy + nh, ox : ox + nw] = small
    out *= 1.0 / small.max()  # m00 > 0, so the peak is positive
    return out


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any OpenCV image (gray, BGR, BGRA; 8-bit, 16-bit, integer or float) as uint8 gray: the gray level first,
    then the stretch to 0-255 (the input convention's order)."""
    image = without_channel_axis(image)
    if image.ndim == 3:
        if image.dtype not in (np.uint8, np.uint16, np.float32):  # the depths OpenCV's colour conversion takes
            image = image.astype(np.float32)  # 32-bit integers and doubles, which TIFFs hold
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    return to_uint8(image)


def without_channel_axis(image: np.ndarray) -> np.ndarray:
    """Gray held with a channel axis (rows x columns x 1, as numpy code often holds it) as rows x columns."""
    return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image


_NORMALIZES = tuple(np.dtype(t) for t in (np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64))
"""The depths OpenCV's normalize takes in every version the runtime supports (4.8 on)."""


def to_uint8(image: np.ndarray) -> np.ndarray:
    """`image` stretched min-max to 0-255 if it is not 8-bit already; a float image's NaN and infinities become 0."""
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == "f":
        image = np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)
    if image.dtype not in _NORMALIZES:  # 64-bit and unsigned 32-bit integers, booleans: OpenCV 4 takes none
        image = image.astype(np.float64)
    return cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX, dtype=cv2.CV_8U)


def light_background(gray: np.ndarray) -> bool:
    """Whether the paper is lighter than the ink: ink is the minority, so the border shows the paper."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border)) > float(gray.mean())


MIN_CONTRAST = 32
"""8-bit levels between paper and ink below which an image holds no digit (blank paper, a flat frame, sensor noise)."""


def has_ink(gray: np.ndarray) -> bool:
    """Whether a single-digit image has any writing at all: its ink must stand out from its paper.

    The spread between the 0.5th and 99.5th percentile ignores a few hot pixels;
    blank and flat images (1x1, all black, all white, noise of a few levels)
    have none, and must read as no digit rather than as the model's favourite.
    """
    if gray.size < 4:
        return False
    lo, hi = np.percentile(gray, (0.5, 99.5))
    return float(hi) - float(lo) >= MIN_CONTRAST


def ink_of(gray: np.ndarray) -> np.ndarray:
    """White-on-black ink of a single-digit image: invert light paper, drop the background level."""
    if light_background(gray):
        gray = 255 - gray
    threshold, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = np.where(gray > threshold, gray, 0).astype(np.uint8)
    if not ink.any():
        ink = gray
    return ink


def prepare_single(image: np.ndarray, box: int = BOX_SIZE, size: int = INPUT_SIZE) -> np.ndarray:
    """A whole image holding one digit, as model input [size, size] float32."""
    return frame_digit(ink_of(to_gray(image)), box, size)
