"""Digits on real pages: in printed boxes, on ruled lines, beside printed words. Read with the shipped model."""

import cv2
import numpy as np
import pytest

from digit_cnn_edge.runtime.segment import segment
from digit_cnn_edge.runtime.words import not_digits, words, words_of
from digit_cnn_edge.train.synth import iou, photograph
from tests.drawing import ink_tile, matched, put


@pytest.fixture(scope="module")
def digits(sample):
    """One validation digit of each class, then ten more."""
    first = [int(np.flatnonzero(sample.val.labels == c)[0]) for c in range(10)]
    pick = first + list(np.random.default_rng(5).choice(len(sample.val.labels), 10, replace=False))
    return sample.val.images[pick], sample.val.labels[pick]


def printed(text: str, height: int) -> np.ndarray:
    """A word printed in DejaVu Sans Bold (matplotlib's font), its capitals about `height` px tall, as float ink."""
    from pathlib import Path

    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans-Bold.ttf"), round(height / 0.73))
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(image).text((2 - left, 2 - top), text, font=font, fill=255)
    return np.asarray(image, np.float32) / 255


def page_with(digits: np.ndarray, heights: list[int], y: int, rules: list[int] = (), boxes: bool = False,
              word: str | None = None, seed: int = 0, dashed: bool = False,
              on_boxes: str | None = None) -> tuple[np.ndarray, list[tuple[int, int, int, int]], list]:
    """A 640x480 photo: digits in a row whose ink ends at `y`, each in a printed box if asked (with a printed word
    touching its top side, `on_boxes`), on ruled lines (in dashes, as a faint rule binarizes, if asked), after a
    printed word; the photo, the digits' ink boxes and the printed boxes."""
    ink = np.zeros((480, 640), np.float32)
    x, truth, frames = 40, [], []
    if word:
        letters = printed(word, 34)
        ink[y - 34 : y - 34 + letters.shape[0], x : x + letters.shape[1]] = letters
        x += letters.shape[1] + 45  # a word space and a half
    for digit, height in zip(digits, heights):
        tile = ink_tile(digit, height)
        th, tw = tile.shape
        np.maximum(ink[y - th : y, x : x + tw], tile, out=ink[y - th : y, x : x + tw])
        truth.append((x, y - th, tw, th))
        if boxes:
            frame = (x - 15, y - th - 15, tw + 30, th + 30)
            cv2.rectangle(ink, frame[:2], (frame[0] + frame[2], frame[1] + frame[3]), 1.0, 2)
            frames.append(frame)
            if on_boxes:  # its foot 2 px into the top side, from 8 px in
                letters = printed(on_boxes, 18)
                put(ink, letters, frame[0] + 8, frame[1] - letters.shape[0] + 4)
        x += tw + (40 if boxes else 25)
    for r in rules:
        for start in range(0, 640, 36) if dashed else (0,):
            cv2.line(ink, (start, r), (start + 23 if dashed else 639, r), 0.6, 2)
    return photograph(ink, np.random.default_rng(seed)), truth, frames


def read_four(reader, image: np.ndarray, truth: list, labels: np.ndarray) -> tuple[list, int]:
    """The digits read in `image`, which must be the four drawn, each at its box; and how many read right."""
    found = reader.read(image).digits
    assert len(found) == 4 and matched([d.box for d in found], truth) == 4
    return found, sum(d.label == label for d, label in zip(found, labels))


def test_a_digit_in_a_printed_box_gets_the_digits_box(reader, digits):
    images, labels = digits
    right = 0
    for k in range(0, 20, 4):
        image, truth, frames = page_with(images[k : k + 4], [70, 90, 60, 80], 300, boxes=True, seed=k)
        found, read_right = read_four(reader, image, truth, labels[k : k + 4])
        # its own box: the printed one, 15 px wider each way, is under 0.6 of the way to the digit's (IoU)
        assert all(max(iou(d.box, t) for t in truth) >= 0.75 > max(iou(t, f) for t, f in zip(truth, frames)) for d in found)
        right += read_right
    assert right >= 18  # of 20


def test_digits_in_boxes_that_touch_are_read_and_the_sides_between_the_boxes_are_not(reader, digits):
    """A row of boxes sharing their sides is one piece: its frame is one box, the sides between are cleared too."""
    images, labels = digits
    right = 0
    for k in range(0, 20, 4):
        ink, truth, (left, top, cell, height) = np.zeros((480, 640), np.float32), [], (120, 200, 80, 100)
        for n, digit in enumerate(images[k : k + 4]):
            tile = ink_tile(digit, 64)
            th, tw = tile.shape
            truth.append(put(ink, tile, left + n * cell + (cell - tw) // 2, top + (height - th) // 2))
        cv2.rectangle(ink, (left, top), (left + 4 * cell, top + height), 1.0, 2)
        for n in range(1, 4):
            cv2.line(ink, (left + n * cell, top), (left + n * cell, top + height), 1.0, 2)
        right += read_four(reader, photograph(ink, np.random.default_rng(k)), truth, labels[k : k + 4])[1]
    assert right >= 18  # of 20


def test_a_digit_touching_its_box_is_read_where_a_rule_runs_through_the_boxes(reader, digits):
    """A rule through a row of boxes is one piece with them, as tall as the boxes: their sides, which run from that
    piece's top to its bottom, were taken for rules (an erosion saw ink past the piece's edges) and cleared with it,
    so the boxes were no longer boxes and a digit touching one's bottom side was read with a piece of that side
    (on photographed pages, often not read at all)."""
    images, labels = digits
    right = 0
    for k in range(0, 20, 4):
        ink, truth, (left, top, width, height) = np.zeros((480, 640), np.float32), [], (100, 180, 90, 110)
        for n, digit in enumerate(images[k : k + 4]):
            tile = ink_tile(digit, 80)
            th, tw = tile.shape
            x0 = left + n * (width + 30)
            truth.append(put(ink, tile, x0 + (width - tw) // 2, top + height - 3 - th))  # on the box's bottom side
            cv2.rectangle(ink, (x0, top), (x0 + width, top + height), 1.0, 3)
        cv2.line(ink, (0, top + height // 2), (639, top + height // 2), 0.6, 2)
        found, read_right = read_four(reader, photograph(ink, np.random.default_rng(k)), truth, labels[k : k + 4])
        assert all(max(iou(d.box, t) for t in truth) >= 0.9 for d in found)  # without a piece of the box's side
        right += read_right
    assert right >= 18  # of 20


def test_a_digit_standing_on_a_faint_rule_in_dashes_is_read_in_a_box_hanging_from_a_rule(reader, digits):
    """Boxes hanging from a rule lose their top side with it; a faint rule through them comes out in dashes, one
    sticking out past a box's side, and a digit standing on it made one piece with the box: the box's side stood in
    from that piece's edge, so it was no box, and the digit was read with it or not at all. A side may now stand in
    from the edge behind a rule's stub."""
    images, labels = digits
    right = 0
    for k in range(0, 20, 4):
        ink, truth, (top, width, height) = np.zeros((480, 640), np.float32), [], (150, 84, 100)
        for n, digit in enumerate(images[k : k + 4]):
            tile = ink_tile(digit, 64)
            th, tw = tile.shape
            x0 = 90 + n * (width + 40)
            truth.append(put(ink, tile, x0 + (width - tw) // 2, top + height - 9 - th))  # on the dashed rule
            cv2.rectangle(ink, (x0, top), (x0 + width, top + height), 1.0, 1)
        cv2.line(ink, (0, top), (639, top), 0.6, 2)
        for start in range(3, 640, 30):
            cv2.line(ink, (start, top + height - 10), (start + 16, top + height - 10), 0.35, 1)
        found, read_right = read_four(reader, photograph(ink, np.random.default_rng(k)), truth, labels[k : k + 4])
        assert all(max(iou(d.box, t) for t in truth) >= 0.7 for d in found)  # its own box, not the printed one
        right += read_right
    assert right >= 18  # of 20


def boxed_digits_found(reader, images: np.ndarray, start: int, dash: int, gap: int) -> int:
    """How many of 20 boxed digits are found, each at its own box, where a faint rule in `dash`-px dashes with
    `gap`-px gaps runs from x = `start` through the digit and its box (x 305-405) to the box's right side."""
    found_right = 0
    for k in range(20):
        ink = np.zeros((480, 640), np.float32)
        tile = ink_tile(images[k], 70)
        th, tw = tile.shape
        truth = [put(ink, tile, 320 + (70 - tw) // 2, 200)]
        cv2.rectangle(ink, (305, 185), (405, 215 + th), 1.0, 1)
        for x in range(start, 405, dash + gap):
            cv2.line(ink, (x, 200 + th // 2), (x + dash - 1, 200 + th // 2), 0.5, 1)
        found = reader.read(photograph(ink, np.random.default_rng(k))).digits
        found_right += len(found) == 1 and matched([d.box for d in found], truth) == 1
    return found_right


def test_a_boxed_digit_is_read_where_a_faint_rule_in_dashes_runs_through_its_box(reader, digits):
    """A faint rule through a box comes out in dashes, one of them sticking out past the box's side further than
    three rule thicknesses: the box with its stub was no box (its side too far in, and the dashes inside taken
    for a line between two boxes), and the digit was read with the box or not at all (6 of these 20 found)."""
    assert boxed_digits_found(reader, digits[0], start=215, dash=30, gap=3) >= 17  # of 20


def test_a_boxed_digit_is_read_beside_a_faint_rules_long_remnant(reader, digits):
    """What is left of a faint rule, 110 px of it in 60-px dashes with 2-px gaps, runs through a boxed digit and out
    past the box's side: the piece is as wide as a rule is long, but no stretch of the remnant is, and it held the
    box (5 of these 20 digits found). The remnant is cleared where it widens the piece, not the box's top and
    bottom, which are as long."""
    assert boxed_digits_found(reader, digits[0], start=195, dash=60, gap=2) >= 16  # of 20


def test_digits_in_a_tables_cells_are_read_and_the_cells_sides_are_not(reader, digits):
    """A table's cells whose tops and bottoms are the page's rules: with the rules cleared, each upright side
    between them was a piece of its own, thin and straight, and read as a 1 (five false 1s in each of these rows)."""
    images, labels = digits
    exact = right = 0
    for k in range(0, 20, 4):
        ink, truth = np.zeros((480, 640), np.float32), []
        for y in range(60, 480, 90):
            cv2.line(ink, (0, y), (639, y), 0.7, 2)
        for n, digit in enumerate(images[k : k + 4]):
            tile = ink_tile(digit, 60)
            truth.append(put(ink, tile, 120 + n * 100 + (100 - tile.shape[1]) // 2, 240 + (90 - tile.shape[0]) // 2))
        for x in range(120, 521, 100):
            cv2.line(ink, (x, 240), (x, 330), 0.7, 2)  # the cells' sides, from the rule at 240 to the one at 330
        found = reader.read(photograph(ink, np.random.default_rng(k))).digits
        if len(found) == 4 and matched([d.box for d in found], truth) == 4:
            exact += 1
            right += sum(d.label == label for d, label in zip(found, labels[k : k + 4]))
    assert exact >= 4 and right >= 17  # rows of 5, digits of 20


def test_a_faint_margin_rule_in_dashes_adds_no_digit(reader, digits):
    """A faint margin rule comes out in dashes that the ruled lines it crosses cut into pieces too short for a rule:
    each was a hairline 1 (7 false digits in a page), or joined the letter it ran through."""
    images, _ = digits
    exact = 0
    for k in range(0, 20, 4):
        ink, truth = np.zeros((480, 640), np.float32), []
        word = printed("Cost", 30)
        ink[250 - word.shape[0] : 250, 40 : 40 + word.shape[1]] = word
        x = 40 + word.shape[1] + 45
        for digit in images[k : k + 4]:
            tile = ink_tile(digit, 60)
            truth.append(put(ink, tile, x, 250 - tile.shape[0]))
            x += tile.shape[1] + 25
        for y in range(35, 480, 55):
            cv2.line(ink, (0, y), (639, y), 0.6, 1)
        for y in range(0, 480, 44):  # the margin rule, through the word's o
            cv2.line(ink, (62, y), (62, y + 39), 0.5, 1)
        found = reader.read(photograph(ink, np.random.default_rng(k))).digits
        exact += len(found) == 4 and matched([d.box for d in found], truth) == 4
    assert exact >= 4  # of 5 (1 before)


def test_a_bold_digit_touching_its_box_is_read_whole(reader, digits):
    """Clearing a box's sides, with a margin, cut a digit written from its top side to its bottom one into pieces
    too far apart to group (a stroke of it even passed for the divider of a row of boxes); the pieces inside one
    box now join where the whole reads better than each piece."""
    images, labels = digits
    found_whole = right = 0
    for k in range(20):
        ink = np.zeros((480, 640), np.float32)
        tile = cv2.dilate(ink_tile(images[k], 70), np.ones((5, 5), np.uint8))  # a bold pen
        th, tw = tile.shape
        truth = [put(ink, tile, 200 + (150 - tw) // 2, 153)]
        cv2.rectangle(ink, (200, 150), (350, 156 + th), 1.0, 3)  # a wide box, its sides touching the digit
        found = reader.read(photograph(ink, np.random.default_rng(k))).digits
        whole = len(found) == 1 and matched([d.box for d in found], truth) == 1
        found_whole += whole
        right += whole and found[0].label == labels[k]
    assert found_whole >= 12 and right >= 12  # of 20 (9 and 8 without the join)


def test_a_digit_on_a_ruled_line_is_read(reader, digits):
    images, labels = digits
    right = 0
    for k in range(0, 20, 4):
        rules = list(range(60, 480, 55))  # the digits stand on the rule at 335 and cross the one at 280
        image, truth, _ = page_with(images[k : k + 4], [70, 90, 60, 80], 336, rules=rules, seed=k)
        right += read_four(reader, image, truth, labels[k : k + 4])[1]
    assert right >= 18  # of 20


def test_digits_on_a_rule_in_dashes_are_read(reader, digits):
    """A faint rule binarizes in dashes, none a rule's length; one under the gap between two digits joins them."""
    images, labels = digits
    right = 0
    for k in range(0, 20, 4):
        rules = list(range(60, 480, 55))
        image, truth, _ = page_with(images[k : k + 4], [70, 90, 60, 80], 336, rules=rules, seed=k, dashed=True)
        right += read_four(reader, image, truth, labels[k : k + 4])[1]
    assert right >= 18  # of 20


def test_what_is_left_of_a_faint_rule_under_two_digits_joins_neither(reader, digits):
    """A faint rule binarizes only beside the digits it runs under: a remnant too short for a rule, thin beside
    their strokes, joined the 6 of "36" and read as one wide digit (the old code found 5 of these 10 pairs). A thin
    tail that widens a piece is a rule's."""
    images, _ = digits
    found_right = 0
    for k in range(0, 20, 2):
        ink = np.zeros((480, 640), np.float32)
        x, truth = 200, []
        for digit in images[k : k + 2]:
            tile = ink_tile(digit, 70)
            put(ink, tile, x, 300 - tile.shape[0])
            truth.append((x, 300 - tile.shape[0], tile.shape[1], tile.shape[0]))
            x += tile.shape[1] + 25
        cv2.line(ink, (truth[1][0] - 20, 299), (x + 25, 299), 0.6, 2)  # under the second only, 50 px past it
        found = reader.read(photograph(ink, np.random.default_rng(k))).digits
        found_right += len(found) == 2 and matched([d.box for d in found], truth) == 2
    assert found_right >= 9  # of 10


@pytest.mark.parametrize("word", ["Box", "Total", "Sum", "No", "Year"])
def test_a_printed_word_beside_a_number_adds_no_digit(reader, digits, word):
    images, _ = digits
    image, truth, _ = page_with(images[:3], [70, 70, 70], 300, word=word, seed=len(word))
    found = reader.read(image).digits
    assert len(found) == 3 and matched([d.box for d in found], truth) == 3


def test_a_word_goes_whole_with_two_rejected_letters_and_a_number_keeps_its_other_digits():
    room = [(100, 100, 20, 30), (123, 108, 18, 22), (144, 108, 18, 22), (165, 108, 26, 22)]  # R, o, o, m
    number = [(240, 90, 30, 45), (274, 92, 30, 44), (308, 91, 30, 45)]  # a word space to the right
    sure = [0.9] * 7
    assert words(room + number) == [[0, 1, 2, 3], [4, 5, 6]]
    assert words_of(room + number, {0, 3}, sure) == {0, 1, 2, 3}  # R and m rejected: the o's go with them
    assert words_of(room + number, {0, 3, 5}, sure) == {0, 1, 2, 3, 5}  # one unreadable digit of three takes no other
    assert words_of(room, {3}, sure[:4]) == {3}  # one rejected letter is not evidence enough for sure pieces ...
    assert words_of(room, {3}, [0.9, 0.5, 0.9, 0.2]) == {1, 3}  # ... but takes a doubtful one
    assert words_of(room + number, {3}, sure) == {1, 2, 3}  # ... and those smaller than the frame's digits (R is not)
    assert words_of(room + number, set(), sure) == set()


def test_a_word_with_a_rejected_and_a_doubtful_letter_goes_whole_a_longer_number_does_not():
    box = [(100, 100, 20, 30), (123, 108, 18, 22), (144, 108, 18, 22)]  # B, o, x
    assert words_of(box, {0}, [0.1, 0.95, 0.5]) == {0, 1, 2}  # B rejected and x doubtful: two of three
    number = [(240, 90, 30, 45), (274, 92, 30, 44), (308, 91, 30, 45), (342, 90, 30, 45)]
    assert words_of(number, {0}, [0.1, 0.5, 0.9, 0.9]) == {0, 1}  # two of four: the sure digits stay


def test_a_word_in_a_handwriting_face_goes_whole_when_most_of_it_is_doubtful_though_no_letter_is_rejected():
    """ "Bus" in dkg Italic reads 8, 6 and 5 at 0.41, 0.51 and 0.92: no letter under the threshold, two of three
    doubtful. A number as tall as the frame's digits keeps its doubtful digits: it is no label."""
    bus = [(100, 100, 30, 40), (133, 112, 22, 28), (158, 112, 20, 28)]
    number = [(240, 60, 40, 60), (284, 62, 40, 58), (328, 61, 40, 60)]  # 60 px tall, read surely
    doubted = [(440, 60, 40, 60), (484, 62, 40, 58), (528, 61, 40, 60)]
    assert words_of(bus + number, set(), [0.41, 0.51, 0.92, 0.95, 0.95, 0.95]) == {0, 1, 2}
    assert words_of(number + doubted, set(), [0.95, 0.95, 0.95, 0.95, 0.5, 0.45]) == set()
    assert words_of(number, set(), [0.95, 0.5, 0.9]) == set()  # one doubtful digit of three
    assert words_of(doubted[:2], set(), [0.5, 0.45]) == set()  # no sure digit to measure the frame's by: kept


def test_a_capital_and_small_letters_with_one_doubtful_go_whole_a_number_of_one_height_does_not():
    """ "Bus" in a handwriting face: B 28 px, u 16 px, s 19 px, read 8, 6 and 5 at 0.67, 0.57 and 0.89, no letter
    rejected and one doubtful, on a page of 50 px digits. Three digits of one height with one doubtful stay."""
    bus = [(235, 90, 26, 28), (257, 99, 13, 16), (267, 97, 15, 19)]
    frame = [(100, 300, 30, 50), (140, 300, 30, 50)]
    assert [0, 1, 2] in words([*bus, *frame])
    assert words_of([*bus, *frame], set(), [0.67, 0.57, 0.89, 0.95, 0.95]) == {0, 1, 2}
    small_number = [(235, 90, 18, 28), (257, 91, 18, 27), (279, 90, 18, 28)]  # a number smaller than the frame's
    assert words_of([*small_number, *frame], set(), [0.67, 0.57, 0.89, 0.95, 0.95]) == set()
    assert words_of([*bus, *frame], set(), [0.67, 0.75, 0.89, 0.95, 0.95]) == set()  # none doubtful
    block = [(106, 29, 26, 41), (148, 31, 21, 36), (176, 27, 26, 43),  # a frame of blocks, a flat 0 on its second line
             (106, 83, 33, 38), (149, 81, 20, 39), (181, 92, 34, 19), (219, 84, 36, 29), (261, 71, 38, 45),
             (106, 142, 42, 46), (199, 144, 27, 37), (248, 140, 39, 43), (332, 141, 28, 38)]
    read = [0.92, 0.85, 0.89, 0.93, 0.86, 0.58, 0.9, 0.9, 0.94, 0.94, 0.92, 0.91]
    assert words_of(block, set(), read) == set()  # "057" is a word of mixed heights, but near the frame's digits


def test_a_capital_much_taller_than_the_letters_beside_it_is_of_their_word_only_when_nearly_touching():
    t, ax = (100, 100, 30, 47), (128, 122, 40, 21)  # "Tax" in dkg Italic: T 2.24x as tall as "ax", boxes overlapping
    assert words([t, ax]) == [[0, 1]]
    rder, one = (300, 327, 53, 39), (363, 284, 48, 86)  # a 1 written 10 px after "Order", 2.21x as tall as its "rder":
    assert sorted(words([rder, one])) == [[0], [1]]  # just over HEIGHT_RATIO, so only the close rule could join them
    l, oo = (224, 390, 7, 51), (234, 419, 30, 17)  # the "l" of "Floor" in a handwriting face, 3x as tall as "oo"
    assert words([l, oo]) == [[0, 1]]  # 3 px before them
    six, loop = (32, 40, 35, 60), (55, 63, 24, 21)  # a 6 and a piece of its loop the grouping left apart, 12 px into it
    assert sorted(words([six, loop])) == [[0], [1]]


def test_a_capital_a_little_over_a_close_gap_before_its_small_letters_goes_with_them():
    """ "Loan" in Z003 italic: its L 38 px, 4 px before "o" 17 px (2.24x), read 6 at 0.32; "o" read 0 at 0.93, "an"
    rejected. A capital leads its word, so it may stand a little further off than a piece coming after the others."""
    loan = [(66, 338, 34, 38), (104, 355, 20, 17), (116, 351, 41, 26)]
    assert words(loan) == [[0, 1, 2]]
    assert not_digits(loan[:2], [0.32, 0.93], loan[2:], 0.3) == {0, 1}
    assert sorted(words([loan[1], (128, 338, 34, 38)])) == [[0], [1]]  # an L 4 px after the "o" would be too far off


def test_a_number_whose_last_digit_came_apart_is_no_capital_and_its_small_letters():
    """ "725" on a page of 87 px digits, its 5's body (18 px, read at 0.42) 6 px after the 2 (44 px) and its bar among
    the pieces that are no digit: the body is of the number's word, but two of its pieces are tall, so the number is
    not a capital with small letters (`MIXED`) and its 7 and 2 stay; a word that begins with one goes."""
    number, bar = [(114, 13, 29, 40), (149, 15, 30, 44), (185, 35, 17, 18)], [(196, 30, 26, 9)]
    frame = [(300, 300, 50, 87), (360, 300, 50, 87)]
    assert [0, 1, 2] in words(number + frame)
    assert not_digits(number + frame, [0.89, 0.85, 0.42, 0.95, 0.95], bar, 0.3) == {2}
    flat = [(467, 255, 27, 37), (500, 268, 37, 24), (545, 255, 37, 37)]  # "824", its 2 flat, its 8 doubtful: all stay
    assert not_digits(flat + frame, [0.41, 0.89, 0.95, 0.95, 0.95], [], 0.3) == set()
    day = [(200, 212, 48, 41), (235, 235, 27, 17), (255, 235, 24, 29)]  # "Day" in Z003 italic: its y reaches down
    assert not_digits(day + frame, [0.62, 0.39, 0.61, 0.95, 0.95], [], 0.3) == {0, 1, 2}


def test_a_digit_a_word_space_after_a_smaller_word_is_not_one_of_its_letters():
    e, six = (100, 100, 20, 26), (133, 80, 34, 48)  # "AGE" 26 px tall, a 6 48 px tall 13 px after its E
    assert sorted(words([e, six])) == [[0], [1]]
    assert words([(100, 100, 22, 30), (127, 108, 18, 22)]) == [[0, 1]]  # a capital beside a small letter still is


def test_small_print_four_pixels_apart_is_one_word():
    """ "Ref" in print 13 px tall: "Re" and its f stand 4 px apart, 0.1 px over 0.3 of the height; the f alone read
    as a 5 at 0.32. A pixel of rounding keeps them one word; a digit a word space after a small word stays apart."""
    re, f = (557, 121, 20, 12), (581, 120, 8, 13)
    assert words([re, f]) == [[0, 1]]
    assert words_of([re, f, (300, 300, 36, 60)], {0}, [0.1, 0.32, 0.95]) == {0, 1}
    assert sorted(words([re, (590, 110, 20, 30)])) == [[0], [1]]  # a 3 30 px tall 13 px after "Re"


def test_a_letter_smaller_than_the_frames_digits_goes_with_a_rejected_letter_of_its_word():
    """The Y of "Year" read as a sure 8 beside "ear", rejected: a printed label is smaller than the handwriting."""
    year, sure = [(100, 100, 24, 36), (126, 112, 40, 24)], [0.9, 0.1, 0.95, 0.95]
    assert words_of([*year, (240, 90, 30, 60), (274, 92, 30, 58)], {1}, sure) == {0, 1}  # digits 59 px tall
    assert words_of([*year, (240, 90, 30, 40), (274, 92, 30, 38)], {1}, sure) == {1}  # 39 px: Y is their size
    assert words_of([*year, (240, 90, 30, 60)], {1}, sure[:3]) == {0, 1}  # one sure digit is the frame's measure


def test_a_sure_digit_as_tall_as_the_frames_written_just_before_a_word_stays_when_the_word_goes():
    """A 0 written 12 px before "Account", read surely, chained into the word (the gap under a word space for its
    height), went with the word's rejected letters. A letter read surely but smaller than the frame's digits goes."""
    zero, a, ccount = (260, 259, 64, 69), (336, 276, 38, 42), (377, 291, 63, 24)
    number = [(219, 341, 41, 51), (269, 332, 57, 60), (337, 334, 53, 58), (403, 338, 35, 54)]  # read surely
    assert [0, 1, 2] in words([zero, a, ccount, *number])
    assert words_of([zero, a, ccount, *number], {1, 2}, [0.94, 0.1, 0.0, 0.95, 0.96, 0.92, 0.96]) == {1, 2}
    code = [(100, 100, 26, 36), (128, 110, 22, 26), (152, 102, 40, 34)]  # "C", "o", "de": the C read as a sure 6,
    assert words_of([*code, *number], {1, 2}, [0.92, 0.1, 0.1, 0.95, 0.96, 0.92, 0.96]) == {0, 1, 2}  # 36 px, not 56


def test_a_capital_joined_to_rejected_letters_goes_with_them_a_digit_beside_a_boxs_side_stays():
    """A handwriting face joins its capital to the letters after it: the Y of "Year", 51 px beside digits 60 px
    tall, read as an 8 at 0.79, touches "ear", rejected. Read surely, it would stay. Two boxed 1s, read at 0.84 and
    0.75, nearly touch the sides between their boxes, rejected: a stroke, not letters, so they stay; so does a 6
    beside its own loop, rejected: under half its height, a fragment of it, not letters."""
    y, ear, digits = (502, 144, 28, 51), (528, 159, 56, 30), [(300, 300, 36, 60), (340, 301, 36, 60)]
    assert [0, 1] in words([y, ear, *digits])
    assert words_of([y, ear, *digits], {1}, [0.79, 0.1, 0.95, 0.95]) == {0, 1}
    assert words_of([y, ear, *digits], {1}, [0.92, 0.1, 0.95, 0.95]) == {1}
    ones = [(93, 283, 25, 42), (121, 278, 10, 47), (134, 283, 22, 42)]  # a 1, the sides between two boxes, a 1
    assert [0, 1, 2] in words([*ones, *digits])
    assert words_of([*ones, *digits], {1}, [0.84, 0.26, 0.75, 0.95, 0.95]) == {1}
    six, loop = (183, 196, 55, 116), (227, 238, 47, 41)  # a 6's stem, and its loop the grouping left apart, rejected
    assert words_of([six, loop, *digits], {1}, [0.61, 0.12, 0.95, 0.95]) == {1}


def test_a_small_digit_beside_a_boxs_side_stays_a_small_letter_beside_a_letter_goes():
    """A boxed 1 34 px tall, on a page whose digits are 71 px, chained to what is left of its box's side (rejected),
    went as a small letter of a word: a stroke is no letter. Beside a rejected letter, it goes, as does the "Ce" of a
"Cell" whose "ll" is one narrow piece."""
    one, side, three = (336, 103, 10, 34), (352, 91, 11, 46), (368, 94, 30, 47)
    tall = [(100, 300, 40, 71), (150, 300, 40, 71)]
    assert [0, 1, 2] in words([one, side, three, *tall])
    assert words_of([one, side, three, *tall], {1}, [0.89, 0.11, 0.9, 0.95, 0.95]) == {1}
    letter = (352, 101, 24, 36)
    assert words_of([one, letter, *tall], {1}, [0.89, 0.11, 0.95, 0.95]) == {0, 1}
    ce, ll = (33, 214, 36, 28), (70, 211, 15, 35)  # "Cell" in a handwriting face: "ll" joined, rejected, narrow
    assert words_of([ce, ll, *tall], {1}, [0.92, 0.14, 0.95, 0.95]) == {0, 1}  # but letters, not a stroke


def test_the_segmenter_reports_the_pieces_that_are_no_digit(digits):
    """Letters too small for a digit come back as `others` (the word rule's evidence); digits do not, and
    neither does a piece the frame's edge cuts off, whose shape nobody knows."""
    images, _ = digits
    ink = np.zeros((480, 640), np.float32)
    for x in range(200, 320, 15):  # a row of eight small letters, under `Params.min_height` tall
        cv2.circle(ink, (x, 100), 3, 1.0, 2)
    cut = ink_tile(images[3], 70)[:, -20:]  # a digit cut by the left edge
    ink[300 : 300 + cut.shape[0], : cut.shape[1]] = cut
    tile = ink_tile(images[5], 70)
    ink[300 : 300 + tile.shape[0], 300 : 300 + tile.shape[1]] = tile
    found = segment(photograph(ink, np.random.default_rng(0)))
    assert matched(found.boxes, [(300, 300, tile.shape[1], tile.shape[0])]) == 1 and len(found.boxes) == 1
    assert sum(90 <= y <= 100 and 190 <= x <= 320 for x, y, _, _ in found.others) == 8  # the letters
    assert all(x > 10 for x, _, _, _ in found.others)  # not the cut-off digit


def test_a_letter_before_letters_too_small_for_digits_goes_with_them():
    """The I of "Invoice" read as a 1: its neighbours on the line are pieces too small to be digits (`others`)."""
    i_box, letters = (100, 100, 6, 20), [(109, 108, 10, 12), (121, 108, 9, 12), (132, 108, 10, 12)]  # I, n, v, o
    number = [(200, 95, 14, 30), (220, 96, 16, 29)]  # a word space and more to the right
    sure = [0.9, 0.9, 0.9]
    assert not_digits([i_box, *number], sure, letters, 0.3) == {0}
    assert not_digits([i_box, *number], sure, [], 0.3) == set()  # alone, a confident 1 is a digit
    assert not_digits([i_box, *number], sure, letters[:1], 0.3) == set()  # one small piece is not a word


def test_a_doubtful_piece_far_smaller_than_the_frames_digits_is_no_digit():
    """The t of "Account" left out of its word, 8 x 13 px, read as a 6 at 0.49 on a page of digits 76 px tall.
    Read surely it stays, and so does a doubtful digit 0.4 of the frame's digits on its longest side."""
    digits = [(300, 300, 40, 76), (350, 302, 40, 76), (400, 301, 40, 76)]
    sure = [0.95, 0.95, 0.95]
    assert words_of([(150, 49, 8, 13), *digits], set(), [0.49, *sure]) == {0}
    assert words_of([(150, 49, 8, 13), *digits], set(), [0.92, *sure]) == set()
    assert words_of([(150, 49, 20, 31), *digits], set(), [0.49, *sure]) == set()
    assert words_of([(150, 49, 8, 13)], set(), [0.49]) == set()  # no sure digit to measure the frame's by


def test_a_digit_written_just_after_a_word_stays_when_the_word_goes():
    """A 6 of 58 px written 9 px after "Total" (its "To" and "tal" 30 px, rejected), read at 0.88, went with the
    word. The last piece of a word 1.6x as tall as each of its others is a digit, unless read doubtfully: a handwriting
    face's "ef" reaching below the line, 1.6x its R."""
    total, six = [(422, 406, 21, 30), (439, 406, 49, 30)], (497, 377, 43, 58)
    digits = [(106, 177, 67, 69), (195, 172, 76, 74), (284, 179, 44, 68)]
    sure = [0.95, 0.96, 0.94]
    assert [0, 1, 2] in words([*total, six, *digits])
    assert words_of([*total, six, *digits], {0, 1}, [0.1, 0.1, 0.88, *sure]) == {0, 1}
    assert words_of([*total, (497, 390, 43, 45), *digits], {0, 1}, [0.1, 0.1, 0.88, *sure]) == {0, 1, 2}  # 1.5x
    r, ef = (30, 357, 36, 45), (67, 357, 43, 73)
    assert words_of([r, ef, *digits], {0}, [0.1, 0.45, *sure]) == {0, 1}


def test_letters_of_an_italic_face_leaning_into_each_other_are_no_digits():
    """ "Age" in an italic face: its A and "ge" read as 1 and 8 at 0.44 and 0.63, no piece rejected, the A's box
    two thirds across the "ge"'s. Two digits of a number, one doubtful, stand apart; read surely, leaning ones stay."""
    age, number = [(43, 128, 18, 25), (49, 135, 33, 35)], [(300, 300, 40, 60), (350, 302, 40, 60)]
    assert [0, 1] in words([*age, *number])
    assert words_of([*age, *number], set(), [0.44, 0.63, 0.95, 0.95]) == {0, 1}
    assert words_of([*age, *number], set(), [0.92, 0.95, 0.95, 0.95]) == set()
    assert words_of(number, set(), [0.44, 0.63]) == set()


def test_a_digit_is_read_in_a_printed_box_a_word_is_written_onto(reader, digits):
    """A word written so low that it touches a box's top side is one piece with the box, whose sides then run along
    under 0.9 of its height and whose top stands behind the word: no box, and the box and the digit in it were lost
    (tune pages: "Seat" on a boxed 0, "CODE" on a bold boxed 9). A box inside such a piece is found by its lines."""
    images, labels = digits
    right = 0
    for k in range(0, 20, 4):
        image, truth, _ = page_with(images[k : k + 4], [70, 90, 60, 80], 300, boxes=True, seed=k, on_boxes="No")
        right += read_four(reader, image, truth, labels[k : k + 4])[1]
    assert right >= 18  # of 20
