"""Step 2b of the segmenter on its own: what counts as a printed rule."""

import cv2
import numpy as np

from digit_cnn_edge.runtime.segment import Params, segment
from digit_cnn_edge.runtime.segment.rules import frame_sides, joined_box, rule_tail, thin_runs


def test_a_run_is_as_long_as_asked_even_where_it_spans_the_whole_piece():
    """A printed box's side as tall as the ruled piece it stands in was taken for a rule: nothing is ink past the edge."""
    piece = np.zeros((80, 300), np.uint8)
    piece[:, 40:43] = 1  # a box's side, 80 px from the piece's top to its bottom
    piece[20:23, :] = 1  # a rule, 300 px
    assert not thin_runs(piece, 128, 6, horizontal=False).any()
    assert thin_runs(piece, 128, 6, horizontal=True)[20:23].all()
    tall = np.zeros((200, 80), np.uint8)
    tall[:, 40:43] = 1  # a margin line 200 px long
    assert thin_runs(tall, 128, 6, horizontal=False)[:, 40:43].all()


def test_a_rule_running_off_the_frame_counts_at_half_the_length():
    """Past the frame's edge a rule goes on out of sight: the piece of it in the frame may be short."""
    piece = np.zeros((40, 100), np.uint8)
    piece[10:12, 20:] = 1  # 80 px, up to the piece's right side
    assert not thin_runs(piece, 128, 6, horizontal=True).any()  # a side inside the frame: too short
    assert thin_runs(piece, 128, 6, horizontal=True, open_ends=(False, True))[10:12, 20:].all()  # the frame's edge
    assert not thin_runs(piece, 128, 6, horizontal=True, open_ends=(True, False)).any()  # the other end is not


def box_without_top(width: int, height: int = 100) -> np.ndarray:
    """A box whose top side went with the rule it hung from: left, right and bottom sides, 3 px each."""
    box = np.zeros((height, width), np.uint8)
    box[:, :3] = box[:, -3:] = box[-3:, :] = 1
    return box


def test_a_side_behind_a_rules_stub_is_a_side_and_the_stub_goes_with_it():
    """A faint rule in dashes leaves a stub past a box's side: the side stands in from the piece's edge."""
    p = Params()
    piece = np.zeros((100, 111), np.uint8)
    piece[:, 15:] = box_without_top(96)
    piece[88:90, :15] = 1  # a dash 15 px past the left side
    top, bottom, left, right = frame_sides(piece, p)
    assert top == 0 and bottom >= 3 and right >= 3 and left >= 18  # the stub inside the left side's width
    piece[60:90, :15] = 1  # no stub: ink 30 px across, outside the side
    assert frame_sides(piece, p) == (0, 0, 0, 0)


def test_two_boxes_a_rules_stub_joins_are_not_one_box():
    """Seen as one piece, two boxes side by side joined by a rule's remnant have three sides, one behind a stub;
    the sides between them, lines across inside, say they are two."""
    piece = np.zeros((100, 215), np.uint8)
    piece[:, 15:111] = box_without_top(96)
    piece[:, 119:] = box_without_top(96)
    piece[0:2, 15:] = 1  # what is left of the rule they hung from
    piece[88:90, :] = 1  # the faint rule's dashes, one past the left side
    assert frame_sides(piece, Params()) == (0, 0, 0, 0)


def test_a_side_behind_the_stubs_of_two_rules_is_a_side():
    """Two faint rules through a row of boxes leave a stub each past a box's side, at two heights: each stub is one
    rule's thickness across, the two together are not, and the box was lost with the digit it held."""
    p = Params()
    piece = np.zeros((100, 111), np.uint8)
    piece[:, :96] = box_without_top(96)
    piece[:3, :96] = 1  # its top side too
    piece[40:42, 96:] = piece[88:90, 96:] = 1  # the two rules' dashes, 15 px past the right side
    top, bottom, left, right = frame_sides(piece, p)
    assert top >= 3 and bottom >= 3 and left >= 3 and right >= 18  # the stubs inside the right side's width
    piece[40:70, 96:] = 1  # ink 30 px across outside the side: no stub
    assert frame_sides(piece, p) == (0, 0, 0, 0)


def test_a_side_behind_a_long_stub_of_a_rule_through_the_box_is_a_side():
    """A faint rule through a boxed digit comes out in dashes: one 23 px past the box's side (more than three rule
    thicknesses), the others across the box's inside. A line inside along the rule whose stub it is says nothing
    of two boxes (their sides between would run across it): the box and the digit in it were lost."""
    p = Params()
    piece = np.zeros((100, 119), np.uint8)
    piece[:, 23:] = box_without_top(96)
    piece[:3, 23:] = 1  # its top side too
    piece[50:53, :] = 1  # the rule's dashes: 23 px past the left side, and across the inside
    top, bottom, left, right = frame_sides(piece, p)
    assert top >= 3 and bottom >= 3 and right >= 3 and left >= 26  # the stub inside the left side's width
    piece[:, 60:63] = 1  # a line across the rule inside: two boxes it joins
    assert frame_sides(piece, p) == (0, 0, 0, 0)


def test_a_box_a_rules_dash_widens_by_a_few_pixels_is_a_box_a_letter_with_serifs_is_not():
    """A faint rule in dashes under a row of bold boxes leaves dashes 2 and 4 px past a box's sides, 2 px tall: its
    top and bottom sides then cover under 0.9 of the piece's width, and the box and the digit it held were lost (tune
    pages). A side counts from where the one beside it begins when what lies before that is one rule's stub; a
    letter's stem with serifs at its top and foot is no side with a stub before it ("Ref" in a bold serif face)."""
    p = Params()
    piece = np.zeros((59, 53), np.uint8)
    piece[:, 2:49] = box_without_top(47, 59)
    piece[:5, 2:49] = 1  # its top side too
    piece[50:52, :2] = piece[50:52, 49:] = 1  # the rule's dashes, 2 px past the left side and 4 px past the right
    top, bottom, left, right = frame_sides(piece, p)
    assert min(top, bottom) >= 3 and left >= 5 and right >= 7  # the dashes inside the sides' widths
    serifs = np.zeros((59, 53), np.uint8)
    serifs[:, 4:49] = box_without_top(45, 59)
    serifs[:5, 4:49] = 1
    assert frame_sides(serifs[:, 4:49], p) != (0, 0, 0, 0)  # a box where it has no margin
    serifs[5:9, :4] = serifs[-9:-5, :4] = 1  # ink before the left side under its top and over its foot: 8 lines
    assert frame_sides(serifs, p) == (0, 0, 0, 0)  # the top and bottom cover under 0.9 of the width


def test_a_rules_remnant_broken_by_a_pixel_is_cleared_as_if_whole():
    """A faint rule's remnant that widens a piece comes out of the threshold with gaps of a pixel or two in it (the
    3 of a boxed "Ref 3" with 99 px of rule beside it, under the piece's 107 px): each stretch alone is shorter than
    the piece is tall, and the remnant stayed."""
    p = Params()
    piece = np.zeros((60, 120), np.uint8)
    piece[:, 70:80] = 1  # a stroke, 10 px wide and as tall as the piece
    piece[30, :70] = 1  # a thin run 70 px long up to it ...
    contour = max(cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0], key=cv2.contourArea)
    assert rule_tail(piece, contour, p)[30, :68].all()  # ... is a rule's remnant: 80 px with the stroke
    piece[30, 40] = 0  # broken a pixel wide: 40 and 29 px (39 and 40 with the stroke)
    contour = max(cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0], key=cv2.contourArea)
    gone = rule_tail(piece, contour, p)
    assert gone[30, :40].all() and gone[30, 41:68].all() and not gone[:, 72:78].any()


def test_a_digit_tied_to_the_frames_side_by_a_rules_remnant_is_read():
    """A faint rule's remnant from a digit on to the frame's side made one piece with it, which the edge cut off,
    and the digit was dropped unread (a 1 with 39 px of rule to the right side, on pages of other printed faces).
    The rule goes on past the side: half a run counts there, in a piece narrower than tall."""
    image = np.full((480, 640), 220, np.uint8)
    cv2.line(image, (600, 200), (596, 262), 40, 8)  # a 1, 63 px tall, 36 px from the right side
    image[230:232, 600:] = 120  # a faint rule's remnant from it on to the side
    boxes = segment(image).boxes
    assert len(boxes) == 1 and 590 <= boxes[0][0] and boxes[0][0] + boxes[0][2] < 610  # the 1, without the remnant
    image[230:232, :] = 120  # a whole rule: the 1 on it, as before
    assert len(segment(image).boxes) == 1


def test_the_sides_of_boxes_whose_tops_and_bottoms_are_rules_in_dashes_go_with_those_rules():
    """A row of boxes whose tops and bottoms came out as faint rules' dashes: with the dashes cleared, each upright
    side stood alone between them and read as a 1 (five false 1s on one scratch page)."""
    image = np.full((480, 640), 220, np.uint8)
    for y in (150, 250):
        for x in range(0, 640, 26):
            image[y : y + 2, x : x + 20] = 150  # faint dashes across the frame
    for x in (150, 210, 300, 360, 450, 510):
        image[150:252, x : x + 3] = 40  # the boxes' sides, from rule to rule
    assert segment(image).boxes == []


def test_a_box_a_word_touches_is_found_by_its_lines_a_thick_loop_between_two_rules_is_not_a_box():
    """A word written onto a box's top side makes one piece of both, no box on its own look (`frame_sides`); the
    box is found inside it by its top and bottom lines. A thick 0 crossed by two rules' remnants (kept where its
    strokes cross them) has such lines too, and straight, inked sides between them, but no paper inside them."""
    p = Params()
    piece = np.zeros((130, 100), np.uint8)
    piece[30:, :] = 1
    piece[34:126, 4:96] = 0  # a box 100 x 100, sides 4 px
    piece[5:32, 10:22] = piece[12:32, 28:60] = 1  # a word's letters, standing on its top side
    assert frame_sides(piece, p) == (0, 0, 0, 0)
    assert joined_box(piece, p) == (0, 30, 100, 100)
    loop = np.zeros((70, 60), np.uint8)
    cv2.ellipse(loop, (30, 35), (24, 30), 0, 0, 360, 1, 14)  # a 0, strokes 14 px thick
    loop[20:24, :] = loop[58:62, :] = 1  # two rules' remnants across it
    assert joined_box(loop, p) is None
