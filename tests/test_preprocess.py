import cv2
import numpy as np

from digit_cnn_edge.runtime.convention import BOX_SIZE, INPUT_SIZE
from digit_cnn_edge.runtime.preprocess import frame_digit, ink_of, light_background, prepare_single, to_gray


def _stroke_image(h: int, w: int, light_paper: bool) -> np.ndarray:
    img = np.full((h, w), 230 if light_paper else 20, np.uint8)
    cv2.line(img, (w // 3, h // 5), (2 * w // 3, 4 * h // 5), 30 if light_paper else 240, max(2, w // 12))
    return img


def test_frame_fits_the_box_and_centres_the_mass():
    ink = np.zeros((300, 90), np.uint8)
    cv2.rectangle(ink, (10, 20), (60, 280), 255, -1)
    out = frame_digit(ink)
    assert out.shape == (INPUT_SIZE, INPUT_SIZE) and out.dtype == np.float32
    ys, _ = np.nonzero(out > 0.05)
    assert ys.max() - ys.min() + 1 <= BOX_SIZE + 1
    m = cv2.moments(out)
    assert abs(m["m10"] / m["m00"] - INPUT_SIZE / 2) < 1.0
    assert abs(m["m01"] / m["m00"] - INPUT_SIZE / 2) < 1.0
    assert out.max() == 1.0


def test_framing_an_mnist_digit_changes_it_little(sample):
    digit = sample.val.images[0]
    framed = frame_digit(digit)
    assert np.abs(framed - digit / 255.0).mean() < 0.06


def test_empty_ink_gives_an_empty_frame():
    assert not frame_digit(np.zeros((40, 40), np.uint8)).any()


def test_light_paper_is_inverted_and_dark_paper_is_not():
    light, dark = _stroke_image(100, 80, True), _stroke_image(100, 80, False)
    assert light_background(light) and not light_background(dark)
    a, b = prepare_single(light), prepare_single(dark)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    assert ink_of(light)[0, 0] == 0


def test_to_gray_takes_colour_alpha_and_16_bit():
    bgr = np.zeros((10, 10, 3), np.uint8)
    bgra = np.zeros((10, 10, 4), np.uint8)
    deep = (np.arange(100, dtype=np.uint16).reshape(10, 10) * 600)
    for image in (bgr, bgra, deep):
        gray = to_gray(image)
        assert gray.shape == (10, 10) and gray.dtype == np.uint8
    assert to_gray(deep).max() == 255


def test_a_16_bit_colour_image_is_made_gray_before_it_is_stretched():
    """The input convention's order (docs/contracts.md): gray level, then min-max to 0-255; the alpha plays no part."""
    rng = np.random.default_rng(0)
    bgra = rng.integers(0, 65536, (12, 16, 4)).astype(np.uint16)
    bgra[..., 3] = 65535  # an opaque alpha, far above the colours: stretched with them it would flatten the gray
    bgra[..., :3] //= 4
    gray = cv2.cvtColor(bgra, cv2.COLOR_BGRA2GRAY)
    expected = cv2.normalize(gray, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    assert np.array_equal(to_gray(bgra), expected)
    doubles = to_gray(bgra.astype(np.float64)).astype(int)  # TIFF's doubles the same way, gray levels not rounded
    assert np.abs(doubles - expected).max() <= 1
