"""Step 2b of the segmenter: printed rules and boxes taken out of the pieces they carry, so the digits come apart.

A digit written on a ruled line touches it and becomes one piece with the
whole line, which is no digit's shape; a digit in a printed box is hidden
inside the box's outline (pieces are outer contours). Both are printed:
straight and thin, where pen strokes are curved and, at any length a rule
has, thicker. So in a piece longer than `p.rule_length` of the frame the
straight runs at least that long and at most `p.rule_thickness` thick are
cleared, except where a stroke crosses them (ink right on both sides of the
rule); of a piece framed like a box, the lines along its sides, and in a
row of boxes that touch, the sides between them; and the frame's pieces are
found again. Last, what is left of rules that came out in dashes (`broken_rules`), margin
rules too. A faint rule may come out only beside the digits it runs under: a thin run that
widens a piece is cleared too (`rule_tail`); a box's side between two rules that were its top
and bottom is left alone once they are gone, and goes with them (`cell_sides`). A box that a
word written onto it joins is found inside that piece by its lines (`joined_box`).
"""

from collections.abc import Callable

import cv2
import numpy as np

from digit_cnn_edge.runtime.segment.params import Box, Params


def thin_runs(mask: np.ndarray, length: int, thickness: int, horizontal: bool,
              open_ends: tuple[bool, bool] = (False, False)) -> np.ndarray:
    """Pixels of `mask` on straight runs at least `length` long that are on average at most `thickness` thick (0/1).

    On average, so that a rule a blur made a little thicker here and there goes
    whole; a pen stroke that long is thicker all along. `open_ends`: whether
    the mask's first and last columns (rows, for vertical runs) are the
    frame's edges, past which a rule goes on out of sight: there a run half
    as long counts. Elsewhere nothing outside the mask is ink: a printed box's
    sides, as tall as the ruled piece they stand in, are no rule.
    """
    length = (length - 1) | 1  # odd, so the kernel is centred and an opening keeps a run whole; `length` long counts
    before, after = (length // 2 * bool(end) for end in open_ends)  # the open ends go on, as their last line
    pads = (0, 0, before, after) if horizontal else (before, after, 0, 0)
    padded = cv2.copyMakeBorder(mask, *pads, cv2.BORDER_REPLICATE) if before or after else mask
    along = (length, 1) if horizontal else (1, length)
    runs = cv2.morphologyEx(padded, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, along),
                            borderType=cv2.BORDER_CONSTANT, borderValue=0)
    if before or after:
        h, w = mask.shape
        runs = np.ascontiguousarray(runs[:, before : before + w] if horizontal else runs[before : before + h])
    if not runs.any():
        return runs
    _, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
    extent = stats[:, cv2.CC_STAT_WIDTH if horizontal else cv2.CC_STAT_HEIGHT]
    thin = stats[:, cv2.CC_STAT_AREA] <= thickness * np.maximum(extent, 1)
    thin[0] = False  # the background
    return thin[labels].astype(np.uint8)


def without_lines(mask: np.ndarray, lines: np.ndarray, thickness: int, horizontal: bool) -> np.ndarray:
    """`mask` without the rule pixels `lines`, except where a stroke crosses them."""
    # with the ragged edges a photo gives a rule: the pixels beside it, across, are part of it
    across = (1, 3) if horizontal else (3, 1)
    lines = cv2.bitwise_and(cv2.dilate(lines, cv2.getStructuringElement(cv2.MORPH_RECT, across)), mask)
    kept = cv2.subtract(mask, lines)
    # A stroke crossing the rule has ink on both sides of it: a closing across the rule bridges exactly those.
    bridge = (1, thickness + 5) if horizontal else (thickness + 5, 1)
    bridged = cv2.morphologyEx(kept, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, bridge))
    return cv2.bitwise_or(kept, cv2.bitwise_and(bridged, lines))


def clear_runs(mask: np.ndarray, length: int, thickness: int,
               at_edge: tuple[bool, bool, bool, bool] = (False,) * 4) -> np.ndarray:
    """`mask` without its thin straight runs `length` long, horizontal and vertical, where no stroke crosses them.

    `at_edge`: whether its top, bottom, left and right are the frame's edges (`thin_runs`' open ends).
    """
    top, bottom, left, right = at_edge
    out = mask.copy()
    for horizontal in (True, False):
        lines = thin_runs(out, length, thickness, horizontal, (left, right) if horizontal else (top, bottom))
        if lines.any():
            out = without_lines(out, lines, thickness, horizontal)
    return out


def broken_rules(binary: np.ndarray, p: Params, horizontal: bool = True) -> np.ndarray:
    """Pixels of rules in dashes (0/1): thin runs in one row (column: `horizontal` False) that together span most
    of the frame.

    A faint rule comes out of the threshold as dashes, and a rule through a row
    of boxes or digits is cut by them into pieces, none a rule's length: each
    is one piece with whatever digit it touches (two digits joined by a dash
    read as one wide piece, no digit). Thin dashes of at least `p.dash` pixels,
    with gaps under `p.dash_gap`, that together span `p.dash_span` of the frame
    are one rule. Looked for on the frame as binarized, where a rule still runs
    across the page; the top sides of a row of boxes are such dashes too, but
    span less. Only rows with enough ink for such a span are looked at.
    Upright, a margin rule: between the ruled lines it crosses it is cut into
    pieces too short for a rule, and one joined a letter it ran through ("Cost":
    its o with a stem read as a 6).
    """
    frame_h, frame_w = binary.shape
    span = max(p.rule_min, round(p.dash_span * max(frame_h, frame_w)))
    out = np.zeros_like(binary)
    if not horizontal:  # the frame turned only where a column has the ink: most frames have no margin rule
        return cv2.transpose(broken_rules(cv2.transpose(binary), p)) if _rows_to_span(binary, span, p, 0).size else out
    rows = _rows_to_span(binary, span, p)
    if not rows.size:
        return out
    along = cv2.getStructuringElement(cv2.MORPH_RECT, (p.dash, 1))
    block = cv2.getStructuringElement(cv2.MORPH_RECT, (p.dash, p.rule_thickness + 1))
    gaps = cv2.getStructuringElement(cv2.MORPH_RECT, (p.dash_gap, 1))
    whole = cv2.getStructuringElement(cv2.MORPH_RECT, (span, 1))
    # bands of such rows, with room above and below to tell a thin rule from a pen stroke's bar
    breaks = np.flatnonzero(np.diff(rows) > 2 * p.rule_thickness)
    for first, last in zip(rows[np.r_[0, breaks + 1]], rows[np.r_[breaks, -1]]):
        top, bottom = max(0, first - p.rule_thickness), min(frame_h, last + p.rule_thickness + 1)
        dashes = cv2.morphologyEx(binary[top:bottom], cv2.MORPH_OPEN, along)
        thin = cv2.subtract(dashes, cv2.morphologyEx(dashes, cv2.MORPH_OPEN, block))
        if not _rows_to_span(thin, span, p).size:
            continue
        spans = cv2.morphologyEx(cv2.morphologyEx(thin, cv2.MORPH_CLOSE, gaps), cv2.MORPH_OPEN, whole)
        out[top:bottom] = cv2.bitwise_and(spans, thin)
    return out


def _rows_to_span(mask: np.ndarray, span: int, p: Params, axis: int = 1) -> np.ndarray:
    """Rows of `mask` (columns: `axis` 0) with enough ink for dashes with gaps under `p.dash_gap` to span `span` px."""
    per_line = cv2.reduce(mask, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    return np.flatnonzero(per_line * (p.dash + p.dash_gap) >= span * p.dash)


def clear_lines(ink: np.ndarray, binary: np.ndarray, lines: np.ndarray, p: Params, horizontal: bool = True) -> bool:
    """Clear the rule pixels `lines` (upright: `horizontal` False) from `ink` and `binary`, in place, where no
    stroke crosses them, and the upright sides of boxes left standing between the rules cleared (`cell_sides`: a
    row of boxes whose tops and bottoms came out as dashes with the rules beside them, their sides read as 1s).

    True if any pixel was cleared.
    """
    lines = cv2.bitwise_and(lines, binary)
    if not lines.any():
        return False
    gone = cv2.subtract(binary, without_lines(binary, lines, p.rule_thickness, horizontal))
    if horizontal and gone.any():
        gone |= cell_sides(cv2.subtract(binary, gone), gone, p)
    binary[gone > 0] = 0
    ink[gone > 0] = 0
    return bool(gone.any())


def least_side(p: Params) -> int:
    """A printed box's least side: room for the smallest digit, and four times a rule's thickness."""
    return max(p.min_height, 4 * p.rule_thickness)


def frame_sides(mask: np.ndarray, p: Params) -> tuple[int, int, int, int]:
    """How thick the printed line along each side is (top, bottom, left, right; 0: none) if the piece is a box.

    A box has ink along nearly all of three of its sides or four (three: a box
    standing on a ruled line loses that side with the rule) and room inside.
    A side may stand in from the piece's edge where what lies outside it is
    rules' stubs (ink in bands each within one rule's thickness across: a faint
    rule that came out in dashes leaves one on the box's side, and two rules
    two); its thickness then counts from the edge, so that the stubs go with
    the side. Such a piece with a line inside across the stubs' rule (upright
    for stubs beside it) is two boxes that rule's remnant joins, not one; a
    line along it is that rule's dashes through the box. Not a box: all zeros.
    """
    h, w = mask.shape
    band = p.rule_thickness
    if min(h, w) < least_side(p):
        return 0, 0, 0, 0
    cols = mask.mean(0)  # coverage of each line parallel to a side; which lines across hold the ink outside it
    left = _side_start(cols, lambda d: mask[:, :d].any(1), band, p)
    right = _side_start(cols[::-1], lambda d: mask[:, w - d :].any(1), band, p)
    # the top and bottom sides run between the left and right ones, from where those begin: a side at the edge may
    # stand a few lines in, past a rule's dash that widens the piece
    x0 = _begins(cols, left, lambda d: mask[:, :d].any(1), band, p)
    x1 = w - _begins(cols[::-1], right, lambda d: mask[:, w - d :].any(1), band, p)
    rows = mask[:, x0:x1].mean(1)
    top = _side_start(rows, lambda d: mask[:d, x0:x1].any(0), band, p)
    bottom = _side_start(rows[::-1], lambda d: mask[h - d :, x0:x1].any(0), band, p)
    starts, profiles = (top, bottom, left, right), (rows, rows[::-1], cols, cols[::-1])
    if sum(start is not None for start in starts) < 3 or float(mask[band:-band, band:-band].mean()) >= 0.75:
        return 0, 0, 0, 0
    # a side's line reaches from the edge to its last covered line, and on while lines are mostly ink
    sides = []
    for start, prof in zip(starts, profiles):
        if start is None:
            sides.append(0)
            continue
        last = start + int(np.flatnonzero(prof[start : start + band] >= p.box_cover)[-1]) + 1
        sides.append(last + int(np.argmin(prof[last : last + band] >= 0.5)))
    top, bottom, left, right = sides
    beside = any(starts[2:]) and (cols[left : w - right] >= p.box_cover).any()  # stubs of rules along the rows
    above = any(starts[:2]) and (rows[top : h - bottom] >= p.box_cover).any()  # ... of upright ones
    if beside or above:
        return 0, 0, 0, 0  # a side behind a stub, and a line inside across its rule: two boxes it joins, not one
    return top, bottom, left, right


def _side_start(profile: np.ndarray, outside: Callable[[int], np.ndarray], band: int, p: Params) -> int | None:
    """Where a side's line starts, from the edge in (0: at the edge), or None: no side there.

    Looked for within a quarter of the piece (a faint rule's dash sticks out as far as it happens to, 23 px past a
    box that a reach of three rule thicknesses lost); deeper than `band` only if the ink outside it
    (`outside(depth)`: which lines across hold ink) is rules' stubs.
    """
    inked = np.flatnonzero(profile[: max(band, len(profile) // 4)] >= p.box_cover)
    if not inked.size:
        return None
    start = int(inked[0])
    if start < band:
        return 0
    across = runs_of(outside(start - 2))  # not the two lines beside the side: its blur, its corners
    return start if across and all(end - first < band for first, end in across) else None


def _begins(profile: np.ndarray, start: int | None, outside: Callable[[int], np.ndarray], band: int, p: Params) -> int:
    """The first line of a side `_side_start` found at `start`: at the edge (0) unless what lies before it is one
    rule's stub, inked across fewer lines than a rule is thick (the dash of a faint rule under a row of boxes sticks
    out of the box it touches, where a letter's serifs stand out of its stem at its top and its foot)."""
    if start != 0:
        return start or 0
    first = int(np.argmax(profile >= p.box_cover))
    return first if 0 < np.count_nonzero(outside(first)) < band else 0


def dividers(inside: np.ndarray, p: Params) -> np.ndarray:
    """Columns of a row of boxes' inside that are the sides between boxes that touch (bool, one per column).

    Boxes that touch are one piece, whose frame `frame_sides` finds; the sides
    between them are lines inked along nearly the whole height inside that frame,
    at most two rule thicknesses wide (two sides side by side), cleared with
    `box_margin` beside them. A digit in a box stands clear of its top and bottom.
    """
    out = np.zeros(inside.shape[1], bool)
    if inside.shape[0] < p.min_height:
        return out
    for start, end in runs_of(inside.mean(0) >= p.box_cover):
        if end - start <= 2 * p.rule_thickness:
            out[max(0, start - p.box_margin) : end + p.box_margin] = True
    return out


def runs_of(flags: np.ndarray) -> list[tuple[int, int]]:
    """Where `flags` (bool, 1-D) runs true: each run's start and end (past its last)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return [(int(start), int(end)) for start, end in zip(edges[::2], edges[1::2])]


def rule_tail(
    mask: np.ndarray, contour: np.ndarray, p: Params, open_ends: tuple[bool, bool] = (False, False)
) -> np.ndarray:
    """Pixels of a faint rule's remnant that widens a piece (0/1; none: all zeros).

    A faint rule binarizes only beside the digits it runs under: what is left
    is too short for a rule and joins a digit, whose box it widens (the 6 of
    "36" read with 50 px of rule beside it). A horizontal run at least as long
    as the piece is tall and thinner than half the piece's strokes (a digit's
    own bar is as thick as its strokes) is such a remnant, if without it the
    piece is narrower by `p.tail` of its height; where a stroke crosses it, it stays.
    The threshold breaks such a remnant here and there: gaps up to a rule's
    thickness count as run (the 3 of a boxed "Ref 3" kept 99 px of rule, a
    pixel short of a stroke it ran into, beside a piece 107 px tall). What goes
    is the part that widens the piece: within the width of the rest, a run as
    long may be a box's top or bottom side. `open_ends`: whether the piece's
    left and right are the frame's sides, past which the rule goes on out of
    sight (`thin_runs`): there half a run counts, and the piece may be narrower
    than tall (`clear_structure`). A remnant that ties a digit to the frame's
    side had the edge cut it off, and it was dropped unread (a 1 with 39 px of
    rule on to the right side).
    """
    h, w = mask.shape
    width = 2 * cv2.countNonZero(mask) / max(cv2.arcLength(contour, True), 1.0)  # ink over half the outline
    gaps = cv2.getStructuringElement(cv2.MORPH_RECT, (p.rule_thickness + 1, 1))
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, gaps)
    runs = cv2.bitwise_and(thin_runs(closed, h, min(p.rule_thickness, width / 2), True, open_ends), mask)
    if not runs.any():
        return runs
    gone = cv2.subtract(mask, without_lines(mask, runs, p.rule_thickness, horizontal=True))
    left = np.flatnonzero(cv2.subtract(mask, gone).any(0))
    if not left.size or w - (left[-1] - left[0] + 1) < p.tail * h:
        return np.zeros_like(mask)
    gone[:, left[0] : left[-1] + 1] = 0
    return gone


def cell_sides(rest: np.ndarray, cleared: np.ndarray, p: Params) -> np.ndarray:
    """Upright printed lines that ran from one cleared rule to the next (0/1), in a ruled piece without its rules.

    The sides of a box, or of a table's cells, whose top and bottom are the rules: with
    the rules cleared, each side is a piece of its own, thin and straight, and reads as
    a 1 (a boxed 4 between two such "1"s). A piece of what is left at most a rule thick,
    twice a digit's least height or taller, with the cleared rule's ink beside both its
    ends (`cleared`: the rules' pixels) is one; a digit's stroke is part of a wider piece.
    """
    _, labels, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
    w, h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    keep = (w <= 2 * p.rule_thickness) & (h >= 2 * p.min_height) & (area <= p.rule_thickness * h)
    keep[0] = False  # the background
    for i in np.flatnonzero(keep):
        x, y = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
        beside = slice(max(0, x - 4), x + w[i] + 4)  # the rule runs on past the line's ends, a blur's width off
        top, bottom = cleared[max(0, y - 3) : y + 4, beside], cleared[max(0, y + h[i] - 4) : y + h[i] + 3, beside]
        keep[i] = top.any() and bottom.any()
    return keep[labels].astype(np.uint8)


def _longest_row(crop: np.ndarray) -> int:
    """The most ink in one row of `crop`: no run in it is longer (a cheap first look for `rule_tail`)."""
    return int(cv2.reduce(crop, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).max())


def boxy(contour: np.ndarray, box: Box, p: Params) -> bool:
    """A cheap first look: big enough for a printed box, and its convex hull fills its bounding box as a box's does.

    A rectangle's hull is its box, three sides of one too; a digit's hull is at
    most an ellipse's share of its box, about 0.8.
    """
    _, _, w, h = box
    if min(w, h) < least_side(p):
        return False
    return cv2.contourArea(cv2.convexHull(contour)) >= 0.85 * w * h


BLUR = 2
"""Pixels a photo's blur widens a printed line by, each side."""


def joined_box(crop: np.ndarray, p: Params) -> Box | None:
    """A printed box inside a piece that something outside it touches (a word written onto its top side), in the
    piece's pixels; None if none. Two straight lines along the rows, as long as each other and a box's least side
    or longer, are its top and bottom, if what lies from one to the other has straight upright sides at its ends
    (`straight_sides`) and four sides (`frame_sides`). Looked for only in pieces twice a box's least side or more
    each way, a box and what touches it: the boxes found so were 57-142 px (tune pages), where most of a page's
    pieces, digits and letters, are smaller."""
    h, w = crop.shape
    least = least_side(p)
    if min(h, w) < 2 * least:
        return None
    runs = cv2.morphologyEx(crop, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (least, 1)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
    lines = sorted((tuple(int(v) for v in stats[i, :4]) for i in range(1, n)), key=lambda s: s[1])
    for i, (ax, ay, aw, ah) in enumerate(lines):
        for bx, by, bw, bh in lines[i + 1 :]:
            # with the blur a photo gives the sides: a pixel or two on past the lines' ends
            x0, x1 = max(0, min(ax, bx) - BLUR), min(w, max(ax + aw, bx + bw) + BLUR)
            if min(aw, bw) < p.box_cover * (x1 - x0):
                continue
            # from the top line's first row across the box to the bottom line's last (what touches a line widens it
            # in the rows it stands on), with the blur's rows beside them
            full = crop[:, x0:x1].mean(1)
            y0 = ay + int(np.argmax(full[ay : ay + ah] >= p.box_cover))
            y1 = by + bh - int(np.argmax(full[by : by + bh][::-1] >= p.box_cover))
            y0 -= _blurred(full[max(0, y0 - BLUR) : y0][::-1])
            y1 += _blurred(full[y1 : y1 + BLUR])
            if y1 - y0 < least or (x1 - x0, y1 - y0) == (w, h):
                continue  # not a box's top and bottom, or nothing outside them: the piece is what `boxy` looked at
            box = crop[y0:y1, x0:x1]
            if square_corners(box, p) and straight_sides(box, p) and all(frame_sides(box, p)):
                return x0, y0, x1 - x0, y1 - y0
    return None


def _blurred(coverage: np.ndarray) -> int:
    """How many of these lines, from the first, are a printed line's blur: inked across half their length or more."""
    return int(np.argmin(np.r_[coverage, 0] >= 0.5))


def square_corners(crop: np.ndarray, p: Params) -> bool:
    """Whether each corner of `crop`, a rule's thickness square, is a quarter inked or more: where a box's sides
    meet; a digit's loop is round there, its box's corners empty even where its strokes are thick."""
    ends = (slice(None, p.rule_thickness), slice(-p.rule_thickness, None))
    return all(float(crop[rows, cols].mean()) >= 0.25 for rows in ends for cols in ends)


def straight_sides(crop: np.ndarray, p: Params) -> bool:
    """Whether `crop` has a thin straight upright line from top to bottom (`p.box_cover` of its height) at each of
    its left and right edges, within a rule's thickness, with paper along it inside (the blur's width in, under half
    inked) and room for a digit between them (`min_height`, and a rule's thickness four times over): a box's
    sides. A digit's loop can be as straight along its sides (a thick 8's lower loop, 26 px tall; a thick 0 between
    two rules' remnants that cross it), but its stroke goes on inward, and its hole is smaller than a digit."""
    length = max(1, int(p.box_cover * crop.shape[0]))
    runs = runs_of(cv2.morphologyEx(crop, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length))).any(0))
    band, w = p.rule_thickness, crop.shape[1]
    if len(runs) < 2:
        return False
    (left, left_end), (right, right_end) = runs[0], runs[-1]
    return (
        left < band
        and right_end > w - band
        and right - left_end >= least_side(p)
        and float(crop[:, left_end : left_end + BLUR].mean()) < 0.5
        and float(crop[:, right - BLUR : right].mean()) < 0.5
    )


def clear_structure(
    ink: np.ndarray, binary: np.ndarray, contours: list[np.ndarray], boxes: list[Box], p: Params, cells: list[Box]
) -> bool:
    """Clear the rules and box outlines of the pieces that carry them from `ink` and `binary`, in place.

    True if anything was cleared: the frame's pieces are then to be found again (and looked at
    once more, since a box on a rule is a piece of its own only once the rule is gone). The
    inside of each single box cleared is added to `cells` (`grouping.join_in_boxes`).
    """
    frame_h, frame_w = binary.shape
    long = max(p.rule_min, round(p.rule_length * max(frame_h, frame_w)))
    cleared_any = False
    for c, (x, y, w, h) in zip(contours, boxes):
        ruled = w >= long or h >= long
        boxed = not ruled and boxy(c, (x, y, w, h), p) and any(frame_sides(binary[y : y + h, x : x + w], p))
        # a box something outside it touches: a word on its top side, or over it up to a rule's length (no rule
        # runs along the rows here: that is cleared first, and the box then found alone)
        joined = None if boxed or w >= long else joined_box(binary[y : y + h, x : x + w], p)
        if joined:  # from here on the piece is the box, and what stands outside it stays
            x, y, w, h = x + joined[0], y + joined[1], joined[2], joined[3]
            ruled, boxed = False, True
        at_edge = (y <= p.border, y + h >= frame_h - p.border, x <= p.border, x + w >= frame_w - p.border)
        # a faint rule's remnant may widen a piece at least as wide as tall, or tie one to the frame's side (`rule_tail`)
        sides = at_edge[2:]
        run = h // 2 if any(sides) else h
        tailed = (w >= h or any(sides)) and h >= p.min_height and _longest_row(binary[y : y + h, x : x + w]) >= run
        if not (ruled or boxed or tailed):
            continue
        mask = np.zeros((h, w), np.uint8)
        cv2.drawContours(mask, [c], -1, 1, cv2.FILLED, offset=(-x, -y))
        mask &= binary[y : y + h, x : x + w]  # the piece's own ink, and what its outline hides (a boxed digit)
        if not (ruled or boxed):
            gone = rule_tail(mask, c, p, sides)
        else:
            gone = cv2.subtract(mask, clear_runs(mask, long, p.rule_thickness, at_edge)) if ruled else np.zeros_like(mask)
            if ruled:
                gone |= cell_sides(cv2.subtract(mask, gone), gone, p)
            if ruled and w >= h and not boxy(c, (x, y, w, h), p):  # as long as a rule only with a remnant beside it
                gone |= rule_tail(cv2.subtract(mask, gone), c, p)
            # past the measured line by a margin: a blurred side leaves a sliver inside it that reads as a 1
            top, bottom, left, right = (side + p.box_margin if side else 0 for side in frame_sides(mask, p))
            for side in (gone[:top], gone[h - bottom :], gone[:, :left], gone[:, w - right :]):
                side[:] = 1  # a box's outline: the lines along its sides, and whatever touches them from inside
            inside = (x + left, y + top, w - left - right, h - top - bottom)
            walls = np.zeros(max(inside[2], 0), bool)
            if top and bottom and left and right and inside[2] >= p.box_row * inside[3]:
                walls = dividers(mask[top : h - bottom, left : w - right], p)
                gone[top : h - bottom, left : w - right][:, walls] = 1
            if top or bottom or left or right:
                # each box's inside between the dividers, and the whole inside (a digit's upright stroke, inked from
                # the top side to the bottom one, passes for a divider)
                cells += [(inside[0] + a, inside[1], b - a, inside[3]) for a, b in runs_of(~walls)]
                if walls.any():
                    cells.append(inside)
        gone &= mask
        if gone.any():
            binary[y : y + h, x : x + w][gone > 0] = 0
            ink[y : y + h, x : x + w][gone > 0] = 0
            cleared_any = True
    return cleared_any
