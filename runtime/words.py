"""Printed words among the digits: a piece that is part of a word is not a digit, whatever its shape.

Some printed letters are digit shapes (the o and the B of "Box" read as 0 and
8), and alone no classifier can tell them from the digit they imitate. In a
word they are never alone: their neighbours on the line, as tall as they are
and closer than any two handwritten digits, are letters the classifier does
reject. So a piece chained to a rejected piece by such gaps, directly or
through other pieces of the word, goes with it. Digits written after a word
stand a word space away from it, which is wider than the gap within a word.
"""

from digit_cnn_edge.runtime.segment import Box

WORD_GAP = 0.3
"""Two pieces are letters of one word when the gap between them is under this share of the taller one's height."""
LINE_OVERLAP = 0.5
"""... they overlap vertically by at least this share of the shorter one's height ..."""
HEIGHT_RATIO = 2.2
"""... and neither is more than this many times as tall as the other (a capital beside a small letter is 1.5x)."""


def in_one_word(a: Box, b: Box) -> bool:
    (x1, y1, w1, h1), (x2, y2, w2, h2) = a, b
    taller, shorter = max(h1, h2), min(h1, h2)
    if shorter <= 0 or taller > HEIGHT_RATIO * shorter:
        return False
    overlap = min(y1 + h1, y2 + h2) - max(y1, y2)
    gap = max(x1, x2) - min(x1 + w1, x2 + w2)
    return overlap >= LINE_OVERLAP * shorter and gap < WORD_GAP * taller


def words_of(boxes: list[Box], rejected: set[int]) -> set[int]:
    """Indices of the pieces that are rejected or in a word with a rejected piece."""
    out = set(rejected)
    todo = list(rejected)
    while todo:
        i = todo.pop()
        for j, box in enumerate(boxes):
            if j not in out and in_one_word(boxes[i], box):
                out.add(j)
                todo.append(j)
    return out
