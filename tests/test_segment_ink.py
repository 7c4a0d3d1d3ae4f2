"""Steps 0-2 and 5 of the segmenter on their own: the ink map, the pieces, and the framed crop."""

import cv2
import numpy as np

from digit_cnn_edge.runtime.preprocess import frame_digit
from digit_cnn_edge.runtime.segment import Params, segment
from digit_cnn_edge.runtime.segment.ink import binarize, ink_map, pieces, saturate
from digit_cnn_edge.train.synth import photograph, place


def test_ink_map_finds_the_strokes_of_one_large_digit_under_uneven_light(sample):
    # One big thick digit: its enclosed paper answers a white-hat filter about as strongly as its
    # strokes answer a black-hat, which fooled the old polarity test on about 1 frame in 20.
    shade = 1 - 0.3 * np.mgrid[0:480, 0:640][1] / 640
    for digit in sample.val.images[:40]:
        for height in (60, 90, 120):
            page, strokes = np.full((480, 640), 215.0), np.zeros((480, 640), bool)
            big = cv2.resize(digit, (height, height), interpolation=cv2.INTER_CUBIC).clip(0, 255) / 255.0
            page[200 : 200 + height, 300 : 300 + height] -= 170 * big
            strokes[200 : 200 + height, 300 : 300 + height] = big > 0.7
            gray = (page * shade).clip(0, 255).astype(np.uint8)
            for frame in (gray, 255 - gray):
                ink = ink_map(frame, Params())
                assert np.median(ink[strokes]) > 100 and np.median(ink[~strokes]) < 10


def test_crops_of_photographed_digits_look_like_the_mnist_digit(sample):
    # Two ways a crop drifted from MNIST: strokes scaled by their thin peak came out dim (2% of
    # one crop's ink at full strength, against 48% in MNIST), and the inside of a large thick
    # digit passed for paper (a crop 0.18 away from its digit on average, against 0.09 now).
    rng = np.random.default_rng(0)
    for digit in sample.val.images[:40]:
        for height in (50, 90, 140):
            ink = np.zeros((480, 640), np.float32)
            tile = place(digit, height, 0.0)
            ink[100 : 100 + tile.shape[0], 200 : 200 + tile.shape[1]] = tile
            crops = segment(photograph(ink, rng)).crops
            assert len(crops) == 1
            strokes = crops[0][crops[0] > 0.05]
            assert (strokes >= 0.9).mean() > 0.1
            assert np.abs(crops[0] - frame_digit(digit)).mean() < 0.12


def test_pieces_keep_their_faint_tails_and_faint_marks_alone_are_not_pieces():
    """Hysteresis: a stroke fading out stays one piece with its strong part; a faint mark with no strong ink is no piece."""
    ink = np.zeros((200, 300), np.uint8)
    cv2.line(ink, (40, 40), (40, 120), 200, 4)  # a strong stroke ...
    cv2.line(ink, (40, 120), (40, 160), 70, 4)  # ... that fades out: above half the strong level, below the full one
    cv2.circle(ink, (200, 100), 12, 70, 3)  # a faint ring on its own
    cv2.line(ink, (250, 20), (250, 180), 200, 4)  # a second strong stroke sets Otsu's level on the strong ink
    binary, weak, strong = binarize(ink, Params())
    _, boxes = pieces(ink, binary, strong)
    assert sorted(b[0] for b in boxes) == [38, 248]
    stroke = min(boxes)
    assert stroke[1] <= 40 and stroke[1] + stroke[3] >= 160  # the tail is part of the stroke's piece
    assert Params().noise_floor <= weak < 70


def test_saturate_brings_the_chosen_quantile_of_the_ink_to_full_white():
    ink = np.repeat(np.arange(1, 201, dtype=np.uint8), 5).reshape(-1, 25)  # levels 1-200, five pixels each
    out = saturate(ink, 0.75)
    assert (out == 255).mean() >= 0.25 - 0.01 and (out == 255).mean() <= 0.25 + 0.03
    assert np.array_equal(saturate(ink, 0.0), ink)  # 0 keeps the ink as it is
    assert not saturate(np.zeros((5, 5), np.uint8), 0.75).any()
