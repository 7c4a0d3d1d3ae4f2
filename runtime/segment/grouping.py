"""Step 3 of the segmenter: which pieces make one digit, settled by shape and, where it can, by the classifier."""

from collections.abc import Callable
from dataclasses import dataclass
from statistics import median

import cv2
import numpy as np

from digit_cnn_edge.runtime.segment.params import Blob, Box, Judge, Params
from digit_cnn_edge.runtime.words import across, in_one_word


def _gap(a: Box, b: Box) -> tuple[int, int]:
    """Horizontal and vertical gaps between two boxes (negative: they overlap by that much)."""
    (_, y1, _, h1), (_, y2, _, h2) = a, b
    return across(a, b), max(y1, y2) - min(y1 + h1, y2 + h2)


def share_inside(inner: Box, outer: Box) -> float:
    """Share of `inner`'s area that lies within `outer`."""
    gx, gy = _gap(inner, outer)
    return max(-gx, 0) * max(-gy, 0) / max(inner[2] * inner[3], 1)


def union(a: Box, b: Box) -> Box:
    (x1, y1, w1, h1), (x2, y2, w2, h2) = a, b
    x, y = min(x1, x2), min(y1, y2)
    return x, y, max(x1 + w1, x2 + w2) - x, max(y1 + h1, y2 + h2) - y


@dataclass(frozen=True)
class Candidate:
    """A piece that may belong to a digit-sized neighbour, the host."""

    piece: int
    host: int
    half: bool  # digit-sized itself: one of two halves stacked into one digit's height (a broken 8)
    typical: float = 0.0  # a half's: the digit height it was measured against (its line's, or the frame's)
    bar: bool = False  # a flat fragment at the host's top: a 5's bar, which may be longer than the digit is wide


def candidates(boxes: list[Box], p: Params) -> tuple[list[Candidate], float]:
    """Pieces that may belong to a neighbour (fragments, and stacked halves of one digit), and the typical digit height.

    A fragment is under `p.fragment` of the height of a piece within `p.reach`
    of that piece's height (a pen lift, a 5's bar, a speck); a piece that is
    nobody's fragment is digit-sized. Each fragment picks its nearest digit-sized
    neighbour whose box, grown by the fragment, keeps its shape, unless it
    stands in a word with another piece (`lettered`); a 5's bar (`is_bar`) may
    widen its digit further. Two digit-sized
    pieces are halves when one stands on the other, nearly touching, and together
    they are no taller than `p.grow` times the typical digit of their line
    (`line_typical`): a 4 written above a 9 is twice that tall. Of their line,
    not only of the frame: on a page, printed letters pull the frame's median
    down to their own height, and a digit broken at a faint waist among them
    was two digits. Two flat pieces are halves by their own shape (`flat_halves`), a fragment that joined no digit
    too (a 5's hook 16 px after a taller 3, with its bar on it), unless it stands in a word (`lettered`).
    A piece that has fragments of its own is never a half, so nothing chains.
    """

    def touches(f: int, host: int) -> bool:
        if boxes[f][3] >= p.fragment * boxes[host][3]:
            return False
        reach = p.reach * boxes[host][3]
        gx, gy = _gap(boxes[f], boxes[host])
        return gx <= reach and gy <= reach

    n = len(boxes)
    fragments = {f for f in range(n) if any(touches(f, j) for j in range(n) if j != f)}
    found: dict[int, Candidate] = {}
    for f in fragments:
        near = [
            j
            for j in range(n)
            if j not in fragments
            and touches(f, j)
            and keeps_shape(boxes[j], union(boxes[f], boxes[j]), p, bar=is_bar(boxes[f], boxes[j], p))
        ]
        if near:
            host = min(near, key=lambda j: max(_gap(boxes[f], boxes[j])))
            found[f] = Candidate(f, host, half=False, bar=is_bar(boxes[f], boxes[host], p))
    for f in [f for f, c in found.items() if lettered(f, c.host, boxes, found)]:
        del found[f]
    digits = [i for i in range(n) if i not in fragments and boxes[i][3] >= p.min_height]
    typical = float(median(boxes[i][3] for i in digits)) if digits else 0.0

    def line_typical(i: int, j: int) -> float:
        """The digit height of the line two pieces stand in: the median of the digit-sized pieces beside them (at
        least half of each within the pair's rows), or the frame's where that is taller."""
        top, bottom = min(boxes[i][1], boxes[j][1]), max(boxes[i][1] + boxes[i][3], boxes[j][1] + boxes[j][3])
        beside = [
            boxes[k][3]
            for k in digits
            if k not in (i, j) and min(bottom, boxes[k][1] + boxes[k][3]) - max(top, boxes[k][1]) >= 0.5 * boxes[k][3]
        ]
        return max(typical, float(median(beside))) if beside else typical

    if digits:
        hosting = {c.host for c in found.values()}
        pairable = digits + [f for f in fragments if f not in found and boxes[f][3] >= p.min_height]
        for i in pairable:
            for j in pairable:
                lower, upper = boxes[i], boxes[j]
                if i == j or i in found or i in hosting or j in found or lower[1] <= upper[1]:
                    continue
                gx, gy = _gap(lower, upper)
                if (
                    i not in fragments
                    and j not in fragments
                    and -gx >= 0.5 * min(lower[2], upper[2])
                    and gy <= p.reach * (height := line_typical(i, j))
                    and union(lower, upper)[3] <= p.grow * height
                ):
                    found[i] = Candidate(i, j, half=True, typical=height)
                    hosting.add(j)
                elif flat_halves(lower, upper, p) and not any(
                    f in fragments and lettered(f, other, boxes, found) for f, other in ((i, j), (j, i))
                ):
                    found[i] = Candidate(i, j, half=True, typical=union(lower, upper)[3])
                    hosting.add(j)
    return list(found.values()), typical


def is_bar(piece: Box, host: Box, p: Params) -> bool:
    """A flat piece that starts over the host's columns and reaches its top rows (`p.bar_gap`), its middle in their
    top third or above them: a 5's bar the pen lifted from, drawn rightwards from its stem and often longer than the
    rest of the 5 is wide. Not a small word printed above a digit, clear of its top (a handwriting face's "Label" 5 px
    over an 8 63 px tall, which the judge read as surely with it; "Field" before a 6)."""
    return (
        piece[2] >= p.bar * piece[3]
        and host[0] <= piece[0] < host[0] + host[2]
        and host[1] - (piece[1] + piece[3]) <= p.bar_gap * host[3]
        and piece[1] + piece[3] / 2 <= host[1] + host[3] / 3
    )


def flat_halves(lower: Box, upper: Box, p: Params) -> bool:
    """Two pieces, each wider than tall, one on the other, that together are digit-shaped: a 5 whose bar and stem the
    pen left apart from its hook. No wider together than a digit may be (`p.max_aspect`): a flat 5 whose bar runs far
    past its hook is read by its hook alone, where joined it would be dropped as a dash. Measured on the pair itself,
    not on the line's digit height: on a page the letters pull that height down, and a 5 twice as tall as them came
    apart. A digit is rarely wider than tall, so two written digits stacked are seldom both flat, and the judge
    decides (`group_pieces`). Apart by under `p.reach` of the taller piece's height, not of the pair's (a word printed
    10 px under a 2 joined it at that). Not a piece mostly within the other's box: kept apart, `group_pieces` would
    drop it as a stray (the "ax" of an italic "Tax" under its T's bar, which the word rule needs)."""
    gx, gy = _gap(lower, upper)
    _, _, w, h = union(lower, upper)
    return (
        lower[2] >= lower[3]
        and upper[2] >= upper[3]
        and -gx >= p.flat_overlap * min(lower[2], upper[2])
        and gy <= p.reach * max(lower[3], upper[3])
        and h <= p.flat_union * w
        and w <= p.max_aspect * h
        and share_inside(lower, upper) < p.inside
    )


def lettered(f: int, host: int, boxes: list[Box], found: dict[int, Candidate]) -> bool:
    """Whether fragment `f` stands in a word with a piece other than its host and its host's other fragments: the T
    of "Total" printed just above a 3, whose "o" beside it says it is a letter (`words.in_one_word`)."""
    return any(
        k not in (f, host) and (k not in found or found[k].host != host) and in_one_word(boxes[f], boxes[k])
        for k in range(len(boxes))
    )


def keeps_shape(digit: Box, grown: Box, p: Params, typical: float = 0.0, bar: bool = False) -> bool:
    """Whether a digit's box grown by its parts is still about one digit's size, not a neighbour swallowed."""
    _, _, w, h = digit
    _, _, gw, gh = grown
    wide = max(p.grow * w, p.narrow_growth * max(h, typical), p.max_aspect * h if bar else 0)
    return gh <= p.grow * max(h, typical) and gw <= wide


def group_pieces(
    boxes: list[Box], crop: Callable[[list[int]], np.ndarray], p: Params, judge: Judge | None = None
) -> list[Blob]:
    """Join fragments and halves to their digits where the evidence says so; every other piece stays as it is.

    `crop(members)` frames the ink of a set of pieces. With a `judge`, all
    candidates of a frame are read in one batch: a fragment joins if the merged
    crop reads about as confidently as the digit alone; a half joins only if the
    merged crop reads more confidently than either half, or as a digit (at least
    `p.lone`) where one half alone does not: the top of a 3 broken at its waist
    reads as a sure 7, and the whole, with its waist gone, less surely. A part
    kept apart that lies mostly inside its digit's box is dropped: a stray stroke within a
    digit's frame is never a digit of its own; so is a fragment kept apart
    that does not read as a digit by itself (a speck beside a digit; real
    small digits kept apart read above `p.lone`).
    Without a judge (training's re-photographed single digits), the geometry
    decides.
    """
    found, _ = candidates(boxes, p)
    stray: set[int] = set()
    if judge is not None and found:
        k = len(found)
        conf = judge(
            np.stack(
                [crop([c.host]) for c in found]
                + [crop([c.piece]) for c in found]
                + [crop([c.piece, c.host]) for c in found]
            )
        )
        host, piece, merged = conf[:k], conf[k : 2 * k], conf[2 * k :]
        joins = [
            (m > max(h, q) or min(h, q) < p.lone <= m) if c.half else m >= h - p.merge_slack
            for c, h, q, m in zip(found, host, piece, merged)
        ]
        stray = {
            c.piece
            for c, j, q in zip(found, joins, piece)
            if not j and (share_inside(boxes[c.piece], boxes[c.host]) >= p.inside or (not c.half and q < p.lone))
        }
        found = [c for c, j in zip(found, joins) if j]
    joining = {c.piece for c in found} | stray
    members: dict[int, list[int]] = {i: [i] for i in range(len(boxes)) if i not in joining}
    boxes_of = {i: boxes[i] for i in members}
    # Nearest parts first; one that would take the grown box past one digit's shape stays on its own.
    for c in sorted(found, key=lambda c: max(_gap(boxes[c.piece], boxes[c.host]))):
        grown = union(boxes_of[c.host], boxes[c.piece])
        if keeps_shape(boxes[c.host], grown, p, c.typical, c.bar):
            members[c.host].append(c.piece)
            boxes_of[c.host] = grown
        else:
            members[c.piece], boxes_of[c.piece] = [c.piece], boxes[c.piece]
    return [Blob(boxes_of[i], sorted(parts)) for i, parts in members.items()]


def cut_row(mask: np.ndarray, band: tuple[float, float]) -> int:
    """The row with the least ink within `band` of the mask's height: where two stacked digits touch."""
    h = mask.shape[0]
    lo, hi = int(h * band[0]), max(int(h * band[1]), int(h * band[0]) + 1)
    return lo + int(np.argmin(mask[lo:hi].sum(1)))


def halves(blob: Blob, contours: list[np.ndarray], stacked: bool, band: tuple[float, float]) -> tuple[list[int], list[int]]:
    """A blob cut in two at its row (`stacked`) or column of least ink within `band`: the new pieces of each half.

    They are appended to `contours`; a half with no ink has none.
    """
    x, y, w, h = blob.box
    mask = np.zeros((h, w), np.uint8)
    cv2.drawContours(mask, [contours[i] for i in blob.members], -1, 1, cv2.FILLED, offset=(-x, -y))
    if stacked:
        cut = cut_row(mask, band)
        sides = ((mask[:cut], (x, y)), (mask[cut + 1 :], (x, y + cut + 1)))
    else:
        cut = cut_row(mask.T, band)
        sides = ((mask[:, :cut], (x, y)), (mask[:, cut + 1 :], (x + cut + 1, y)))
    parts = []
    for part, offset in sides:
        pieces, _ = cv2.findContours(np.ascontiguousarray(part), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=offset)
        parts.append(list(range(len(contours), len(contours) + len(pieces))))
        contours.extend(pieces)
    return parts[0], parts[1]


def split_touching(
    blobs: list[Blob], contours: list[np.ndarray], crop: Callable[[list[int]], np.ndarray], judge: Judge, p: Params
) -> list[Blob]:
    """Cut blobs that are two digits touching in two, where the evidence says so.

    Two digits written one above the other, or side by side, can touch and come
    out as one piece, which grouping never splits. Stacked: a narrow blob
    (`p.split_narrow` times as tall as wide) over `p.split` times the median
    blob height (at least two other blobs set it), and over as many times the
    height of the blobs the classifier reads surely (`sure_height`) where it
    reads any, is cut at its row of least
    ink; the cut is kept if the classifier doubts the whole (under
    `p.split_doubt`) and reads both halves more confidently, so a large digit
    among small ones stays whole. Side by side: a blob `p.split_wide` to
    `p.split_wide_max` times as wide as tall (two digits, not a word of several
    letters) is cut at its column of least ink, kept if the classifier
    doubts the whole and reads both halves at `p.split_sure` or more: a wide 0
    or 2 reads well whole, and a mark or a word cut in two reads poorly. New
    pieces are appended to `contours`. Either way the halves must be about as tall as each other
    (`p.split_alike`): a tall 8, 6 or 4 among a page's small printed letters passes for a stacked pair,
    and cut across its loop it reads as a small 1 or 7 over a large 8 or 6.
    """
    typical = float(median(b.box[3] for b in blobs)) if len(blobs) >= 3 else None
    proposals: list[tuple[int, bool, list[int], list[int]]] = []
    for k, blob in enumerate(blobs):
        _, _, w, h = blob.box
        stacked = typical is not None and h > p.split * typical and h >= p.split_narrow * w
        if stacked or (p.split_wide * h <= w <= p.split_wide_max * h and h >= p.min_height):
            first, second = halves(blob, contours, stacked, p.split_band)
            if first and second and alike(*(_bounds(contours, half)[3] for half in (first, second)), p.split_alike):
                proposals.append((k, stacked, first, second))
    if any(stacked for _, stacked, _, _ in proposals) and (digits := sure_height(blobs, crop, judge, p)):
        proposals = [(k, s, a, b) for k, s, a, b in proposals if not s or blobs[k].box[3] > p.split * digits]
    if not proposals:
        return blobs
    conf = judge(np.stack([crop(m) for k, _, first, second in proposals for m in (blobs[k].members, first, second)]))
    out = list(blobs)
    for (k, stacked, first, second), (whole, a, b) in zip(proposals, conf.reshape(-1, 3)):
        if whole < p.split_doubt and (min(a, b) > whole if stacked else min(a, b) >= p.split_sure):
            out[k] = Blob(_bounds(contours, first), first)
            out.append(Blob(_bounds(contours, second), second))
    return out


def sure_height(blobs: list[Blob], crop: Callable[[list[int]], np.ndarray], judge: Judge, p: Params) -> float:
    """The median height of the blobs the classifier reads at `p.split_sure` or more: the frame's digits. On a page
    the printed letters are most of the blobs and pull the median of all down to their own height: a 9 of 64 px among
    letters of 31 px passed for two stacked digits, and cut at its waist read as a 6 over a 1 more surely than whole
    (tune pages, where the digits read surely were 79 px). 0 where none is read so."""
    reads = judge(np.stack([crop(b.members) for b in blobs]))
    sure = [b.box[3] for b, read in zip(blobs, reads) if read >= p.split_sure]
    return float(median(sure)) if sure else 0.0


def alike(a: int, b: int, share: float) -> bool:
    """Whether two heights are within `share` of each other: two digits by one hand, where a digit cut across its
    loop or its stem leaves a small piece beside a large one."""
    return min(a, b) >= share * max(a, b)


def _bounds(contours: list[np.ndarray], members: list[int]) -> Box:
    return cv2.boundingRect(np.concatenate([contours[i] for i in members]))


def join_in_boxes(
    blobs: list[Blob], cells: list[Box], crop: Callable[[list[int]], np.ndarray], judge: Judge, p: Params
) -> list[Blob]:
    """Blobs inside one printed box (`cells`: the insides of the boxes cleared) made one, where the classifier agrees.

    Clearing a box's sides, with a margin, cuts a digit that touched them into
    pieces too far apart to group (a bold 5 into its bar, its belly and a
    stroke). The pieces inside one box join when the whole reads more
    confidently than every part alone: two digits in one box read worse
    together and stay apart.
    """
    proposals = sorted(
        {tuple(k for k, b in enumerate(blobs) if share_inside(b.box, cell) >= p.in_box) for cell in cells},
        key=lambda ks: (-len(ks), ks),
    )  # the most blobs first: a box's whole inside before the cells a digit's stroke seemed to divide it into
    proposals = [ks for ks in proposals if len(ks) >= 2]
    if not proposals:
        return blobs
    merged = [sorted(m for k in ks for m in blobs[k].members) for ks in proposals]
    conf = judge(np.stack([crop(m) for m in merged] + [crop(blobs[k].members) for ks in proposals for k in ks]))
    out, alone, taken, dropped = list(blobs), iter(conf[len(proposals) :]), set(), set()
    for ks, members, whole in zip(proposals, merged, conf[: len(proposals)]):
        parts = [next(alone) for _ in ks]
        if whole > max(parts) and not taken.intersection(ks):
            box = blobs[ks[0]].box
            for k in ks[1:]:
                box = union(box, blobs[k].box)
            out[ks[0]] = Blob(box, members)
            taken.update(ks)
            dropped.update(ks[1:])
    return [b for k, b in enumerate(out) if k not in dropped]
