"""Step 6 of the segmenter: digits into lines, and lines into reading order."""

from statistics import median

from digit_cnn_edge.runtime.segment.params import Box

LINE_OVERLAP = 0.3
"""Share of the smaller height two neighbours must overlap to be on one line; lines of a block are 0.35+ heights apart."""


def reading_lines(boxes: list[Box]) -> list[list[int]]:
    """Indices of boxes grouped into lines, lines top to bottom, each left to right.

    Left to right, each box joins the line whose last box overlaps it vertically
    by at least `LINE_OVERLAP` of the smaller height: a chain of neighbours, so
    a slight slant and digits of mixed heights stay on one line, while a digit
    written under another (no overlap) starts a line of its own.
    """
    lines: list[list[int]] = []
    for i in sorted(range(len(boxes)), key=lambda k: boxes[k][0]):
        _, y, _, h = boxes[i]
        best, best_overlap = None, LINE_OVERLAP
        for line in lines:
            _, ly, _, lh = boxes[line[-1]]
            overlap = (min(y + h, ly + lh) - max(y, ly)) / min(h, lh)
            if overlap >= best_overlap:
                best, best_overlap = line, overlap
        if best is None:
            lines.append([i])
        else:
            best.append(i)
    return sorted(lines, key=lambda line: median(boxes[k][1] + boxes[k][3] / 2 for k in line))


def reading_order(boxes: list[Box]) -> list[int]:
    """Indices of boxes in reading order: line by line, each left to right."""
    return [i for line in reading_lines(boxes) for i in line]
