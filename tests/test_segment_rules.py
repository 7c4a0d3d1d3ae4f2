"""Step 2b of the segmenter on its own: what counts as a printed rule."""

import numpy as np

from digit_cnn_edge.runtime.segment.rules import thin_runs


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
