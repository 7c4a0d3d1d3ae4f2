"""Step 6 of the segmenter on its own: digits into lines, lines into reading order."""

from digit_cnn_edge.runtime.segment import reading_lines, reading_order


def test_reading_order_is_line_by_line():
    boxes = [(300, 210, 30, 50), (20, 20, 30, 50), (200, 30, 30, 45), (40, 200, 30, 55), (110, 15, 30, 52)]
    assert reading_order(boxes) == [1, 4, 2, 3, 0]


def test_a_slanted_line_of_mixed_heights_stays_one_line():
    # each digit 6 px lower than the one before and of its own height: over 5 digits, 24 px, half a digit's height
    boxes = [(20 + 40 * k, 100 + 6 * k, 30, 44 + (8 if k % 2 else 0)) for k in range(5)]
    assert reading_lines(boxes) == [[0, 1, 2, 3, 4]]


def test_a_digit_written_under_another_starts_a_line_of_its_own():
    boxes = [(100, 20, 30, 40), (105, 75, 30, 40), (150, 22, 30, 40)]  # a 4 over a 9, and a digit beside the 4
    assert reading_lines(boxes) == [[0, 2], [1]]
