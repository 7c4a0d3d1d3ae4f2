"""Step 3 of the segmenter on its own: which pieces make one digit."""

import cv2
import numpy as np
import pytest

from digit_cnn_edge.runtime.segment import Params, segment
from digit_cnn_edge.runtime.segment.grouping import candidates, group_pieces, join_in_boxes, split_touching
from digit_cnn_edge.runtime.segment.params import Blob


def test_broken_strokes_merge_into_one_digit():
    page = np.full((200, 200), 220, np.uint8)
    cv2.line(page, (80, 40), (130, 40), 20, 5)  # the top bar of a 7 ...
    cv2.line(page, (128, 50), (95, 150), 20, 5)  # ... and its stem, with a gap between
    boxes = segment(page).boxes
    assert len(boxes) == 1


def test_a_small_fragment_beside_a_digit_joins_it_but_a_neighbouring_digit_does_not(sample):
    from digit_cnn_edge.train.synth import place

    page = np.zeros((220, 360), np.float32)
    digit = place(sample.val.images[300], 80, 0.0)  # a real digit, 80 px tall
    h, w = digit.shape
    page[40 : 40 + h, 30 : 30 + w] = digit
    page[40 : 40 + h, 200 : 200 + w] = np.maximum(page[40 : 40 + h, 200 : 200 + w], digit)
    x, y, bw, _ = cv2.boundingRect((page[:, :180] > 0.25).astype(np.uint8))
    cv2.rectangle(page, (x + bw + 8, y + 10), (x + bw + 13, y + 26), 1.0, -1)  # a 17 px fragment 8 px from the first
    boxes = segment((230 - 200 * page).astype(np.uint8)).boxes
    assert len(boxes) == 2
    assert boxes[0][0] + boxes[0][2] >= x + bw + 13  # the fragment is part of the first digit's box


@pytest.mark.parametrize("piece, kept_apart", [((104, 104, 12, 18), False), ((70, 104, 12, 18), True)])
def test_a_stroke_the_judge_keeps_apart_is_dropped_only_inside_its_digits_box(piece, kept_apart):
    """A stray stroke within a digit's frame is never a digit of its own; beside the frame it may be one."""
    boxes = [(100, 100, 30, 34), piece]  # the piece is under half the digit's height: a fragment of it
    no_merge = lambda crops: np.array([0.95, 0.5, 0.6])  # digit alone, piece alone, merged: the merge reads worse
    blobs = group_pieces(boxes, lambda members: np.zeros((28, 28), np.float32), Params(), no_merge)
    assert sorted(b.box for b in blobs) == sorted([boxes[0], piece] if kept_apart else [boxes[0]])
    assert all(b.members == [0] for b in blobs if b.box == boxes[0])


@pytest.mark.parametrize("alone, kept", [(0.3, False), (0.7, True)])
def test_a_fragment_kept_apart_stays_only_if_it_reads_as_a_digit(alone, kept):
    """A speck beside a digit (the classifier reads it as nothing much) is not a digit; a small digit beside a big one is."""
    boxes = [(100, 100, 30, 34), (134, 110, 10, 12)]  # beside the digit's box, under half its height: a fragment of it
    no_merge = lambda crops: np.array([0.95, alone, 0.6])  # digit alone, piece alone, merged: the merge reads worse
    blobs = group_pieces(boxes, lambda members: np.zeros((28, 28), np.float32), Params(), no_merge)
    assert sorted(b.box for b in blobs) == sorted(boxes if kept else boxes[:1])


def test_two_digit_sized_pieces_never_merge_and_fragments_pick_their_nearest_digit():
    boxes = [(100, 100, 30, 40), (140, 100, 30, 40), (134, 104, 5, 10)]  # two digits and a speck between them
    found, typical = candidates(boxes, Params())
    assert typical == 40
    assert [(c.piece, c.host, c.half) for c in found] == [(2, 1, False)]  # the speck is 1 px from the second, 4 from the first
    blobs = group_pieces(boxes, lambda members: np.zeros((28, 28), np.float32), Params())
    assert len(blobs) == 2 and sorted(len(b.members) for b in blobs) == [1, 2]


@pytest.mark.parametrize("together, joined", [(0.9, True), (0.3, False)], ids=["one digit", "two digits"])
def test_blobs_inside_one_box_join_where_the_whole_reads_better(together, joined):
    """A judge that reads a crop of one piece at 0.6 and of two at `together` (crops carry their piece count)."""
    blobs = [Blob((12, 12, 10, 30), [0]), Blob((26, 14, 12, 12), [1]), Blob((100, 12, 10, 30), [2])]
    crop = lambda members: np.full((28, 28), len(members), np.float32)
    judge = lambda crops: np.where(crops[:, 0, 0] > 1, together, 0.6)
    out = join_in_boxes(blobs, [(10, 10, 40, 34)], crop, judge, Params())  # the third blob is outside the box
    if joined:
        assert out == [Blob((12, 12, 26, 30), [0, 1]), blobs[2]]
    else:
        assert out == blobs


LINE = [(100, 200, 36, 56), (140, 200, 34, 55), (240, 201, 36, 54)]  # digits 54-56 px tall ...
WORDS = [(400 + 20 * k, 40, 16, 24) for k in range(6)]  # ... and printed letters, which set the frame's median height
WAIST = [(192, 200, 18, 25), (186, 227, 24, 30)]  # a 3 broken at its faint waist: the top alone, the bowl below


@pytest.mark.parametrize(
    "top, bowl, whole, joined",
    [(0.88, 0.49, 0.64, True), (0.88, 0.7, 0.64, False), (0.6, 0.55, 0.7, True)],
    ids=["the bowl alone is no digit", "two digits", "the whole reads best"],
)
def test_a_digit_broken_at_its_waist_on_a_page_of_words_joins_where_half_of_it_is_no_digit(top, bowl, whole, joined):
    """Halves are measured against their line's digits, not the frame's median, which a page's letters pull down.

    The pair joins when the whole reads better than both halves, or when one half alone reads as no digit
    (under `Params.lone`) and the whole as one: the top of a 3 alone reads as a sure 7.
    """
    boxes = LINE + WORDS + WAIST
    found, typical = candidates(boxes, Params())
    assert typical < 30  # the letters' height: the pair (57 px) would be too tall for one digit by that
    lower, upper = len(boxes) - 1, len(boxes) - 2
    assert [(c.piece, c.host, c.half) for c in found] == [(lower, upper, True)]
    blobs = group_pieces(boxes, lambda members: np.zeros((28, 28), np.float32), Params(),
                         lambda crops: np.array([top, bowl, whole]))  # host (the top), piece (the bowl), merged
    pair = [b for b in blobs if upper in b.members or lower in b.members]
    assert [sorted(b.members) for b in pair] == ([[upper, lower]] if joined else [[upper], [lower]])


def test_a_printed_letter_above_a_digit_is_no_fragment_of_it():
    """The T of "Total" printed just above a 3 (a cleared rule between them) is small and near enough to be a
    fragment of it, and the 3 read as surely with it: its "o", a letter beside it, says it is one of a word."""
    three, t, o, tal = (383, 156, 66, 86), (449, 115, 22, 27), (468, 121, 18, 21), (487, 114, 36, 28)
    found, _ = candidates([three, t, o, tal], Params())
    assert not [c for c in found if c.host == 0]
    found, _ = candidates([three, t], Params())  # alone, it may be a pen lift of the 3's
    assert [(c.piece, c.host) for c in found] == [(1, 0)]


def test_a_5s_bar_longer_than_the_5_is_wide_joins_it_and_a_line_under_a_digit_does_not():
    """A pen lift leaves a 5's bar apart, often longer than the rest of the 5 is wide (a page's 5, 39 px tall, whose
    bar takes its box from 40 to 75 px): a flat fragment starting over a digit's columns and reaching its top rows
    may widen it that far; at its foot it may not, nor a small word printed above the digit, clear of its top."""
    body, bar, under = (209, 377, 40, 39), (244, 369, 40, 10), (209, 421, 75, 8)
    found, _ = candidates([body, bar], Params())
    assert [(c.piece, c.host, c.bar) for c in found] == [(1, 0, True)]
    blobs = group_pieces([body, bar], lambda members: np.zeros((28, 28), np.float32), Params(),
                         lambda crops: np.array([0.78, 0.1, 0.95]))  # the 5 alone, its bar alone, both
    assert [b.box for b in blobs] == [(209, 369, 75, 47)]
    assert not candidates([body, under], Params())[0]
    six, word = (276, 151, 62, 90), (231, 132, 37, 18)
    assert not candidates([six, word], Params())[0]
    eight, word = (330, 317, 35, 63), (361, 295, 36, 17)  # over the 8's last columns, 5 px clear of its top
    assert not [c for c in candidates([eight, word], Params())[0] if c.bar]


def test_a_drawn_5_whose_bar_the_pen_left_apart_is_one_digit_box():
    page = np.full((200, 260), 220, np.uint8)
    cv2.polylines(page, [np.array([[62, 62], [58, 100], [90, 98], [102, 120], [92, 142], [55, 140]])], False, 20, 5)
    cv2.line(page, (72, 58), (160, 56), 20, 5)  # the bar, 88 px long, 5 px right of the stem's top
    boxes = segment(page).boxes
    assert len(boxes) == 1
    x, _, w, _ = boxes[0]
    assert x <= 56 and x + w >= 160


@pytest.mark.parametrize(
    "lower, upper, halves",
    [((219, 407, 49, 30), (227, 363, 87, 38), True), ((564, 140, 49, 28), (559, 87, 47, 43), False),
     ((443, 184, 35, 19), (427, 168, 42, 37), False)],
    ids=["a 5 in two flat pieces", "a word 10 px under a digit", "letters within a capital's rows"],
)
def test_two_flat_pieces_one_on_the_other_are_halves_however_tall_beside_the_letters(lower, upper, halves):
    """A 5 came apart into its bar-and-stem and its hook, both wider than tall, together 74 px where the page's
    letters make the typical height 24: halves, measured on the pair itself. Not a word 10 px under a 2 (a quarter of
    the digit's height away), nor the "ax" of an italic "Tax" under its T's bar (mostly within the T's box)."""
    boxes = WORDS + [upper, lower]
    found, typical = candidates(boxes, Params())
    assert typical < 30
    assert [(c.piece, c.host, c.half) for c in found] == ([(len(boxes) - 1, len(boxes) - 2, True)] if halves else [])


@pytest.mark.parametrize("word", [False, True], ids=["alone", "a letter beside the hook"])
def test_a_flat_half_beside_a_taller_digit_is_still_a_half_unless_it_stands_in_a_word(word):
    """A 5's hook (44 x 27 px) 16 px after a 3 of 84 px is a fragment of the 3 by its size, and too far off to join
    it; its bar (40 x 34 px) sits on it. The two are the 5's halves (tune pages: the 5 was lost). A hook with a
    letter beside it, as tall and as close as a word's, is a word's piece and no half (the "aid" of "Paid" under a
    2, whose P then read as an 8)."""
    three, hook, bar = (331, 327, 76, 84), (423, 384, 44, 27), (430, 345, 40, 34)
    boxes = [three, hook, bar] + ([(471, 386, 20, 25)] if word else [])
    found, _ = candidates(boxes, Params())
    assert [(c.piece, c.host, c.half) for c in found if c.half] == ([] if word else [(1, 2, True)])


@pytest.mark.parametrize("digits, cut", [(80, False), (40, True)], ids=["among digits as tall", "among digits half as tall"])
def test_a_tall_blob_among_letters_is_cut_only_if_tall_beside_the_digits_read_surely(digits, cut):
    """A page's printed letters are most of its blobs: a 9 of 64 px among letters of 31 px passed for two stacked
    digits, and cut at its waist read as a 6 over a 1 more surely than whole (tune pages). Beside the digits the
    classifier reads surely, as tall as it, it is one digit; beside digits half as tall, two. The judge reads the
    tall blob at 0.37, its halves at 0.9, the digits at 0.95 and the letters at 0.1."""
    mask = np.zeros((300, 640), np.uint8)
    mask[20:60, 100:130] = 1  # the upper half ...
    mask[60:62, 114:116] = 1  # ... a thin bridge ...
    mask[62:100, 100:130] = 1  # ... and the lower one: 80 px in all
    for k in range(5):
        mask[150:170, 200 + 20 * k : 212 + 20 * k] = 1  # letters 20 px tall, the frame's median
    for k in range(3):
        mask[200 : 200 + digits, 350 + 70 * k : 410 + 70 * k] = 1  # digits, 60 px wide
    contours = list(cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0])
    blobs = [Blob(cv2.boundingRect(c), [i]) for i, c in enumerate(contours)]
    read = {i: 0.37 if x == 100 else 0.1 if y == 150 else 0.95 for i, (x, y, _, _) in enumerate(b.box for b in blobs)}
    crop = lambda members: np.full((28, 28), members[0], np.float32)
    judge = lambda crops: np.array([read.get(int(c[0, 0]), 0.9) for c in crops])  # a half: 0.9
    out = split_touching(blobs, contours, crop, judge, Params())
    assert len([b for b in out if b.box[0] == 100]) == (2 if cut else 1)


@pytest.mark.parametrize("waist, cut", [(40, True), (25, False)], ids=["two digits", "a loop and a stem"])
def test_a_tall_blob_is_cut_only_into_halves_about_as_tall_as_each_other(waist, cut):
    """A tall 8 among a page's small printed letters passes for two stacked digits, and cut across its upper loop
    it read as a 1 of 27 px over an 8 of 59 px, more surely than whole (tune pages). Two digits are about as tall
    as each other; the judge here reads the whole at 0.5 and each half at 0.9."""
    mask = np.zeros((200, 400), np.uint8)
    mask[20 : 20 + waist, 100:130] = 1  # the upper half ...
    mask[20 + waist : 22 + waist, 114:116] = 1  # ... a thin bridge ...
    mask[22 + waist : 100, 100:130] = 1  # ... and the lower one: 80 px in all
    for k in range(5):
        mask[150:170, 200 + 20 * k : 212 + 20 * k] = 1  # letters 20 px tall, the frame's median
    contours = list(cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0])
    blobs = [Blob(cv2.boundingRect(c), [i]) for i, c in enumerate(contours)]
    crop = lambda members: np.zeros((28, 28), np.float32)
    judge = lambda crops: np.resize([0.5, 0.9, 0.9], len(crops))
    out = split_touching(blobs, contours, crop, judge, Params())
    tall = [b.box for b in out if b.box[0] == 100]
    assert len(tall) == (2 if cut else 1)
