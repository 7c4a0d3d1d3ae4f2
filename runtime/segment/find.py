"""The segmenter's steps in order: from a frame to the boxes and MNIST-framed crops of its digits."""

from dataclasses import dataclass

import cv2
import numpy as np

from digit_cnn_edge.runtime.convention import BOX_SIZE, INPUT_SIZE
from digit_cnn_edge.runtime.preprocess import to_gray
from digit_cnn_edge.runtime.segment.grouping import group_pieces, join_in_boxes, split_touching
from digit_cnn_edge.runtime.segment.ink import binarize, frame_piece, ink_map, pieces, working_scale
from digit_cnn_edge.runtime.segment.lines import reading_order
from digit_cnn_edge.runtime.segment.params import Blob, Box, Judge, Params
from digit_cnn_edge.runtime.segment.rules import broken_rules, clear_lines, clear_structure


def is_digit(blob: Blob, ink_pixels: int, shape: tuple[int, int], p: Params) -> bool:
    """Digit-shaped: not a speck, a long line or a scratch, and not cut off by the frame's edge."""
    _, _, w, h = blob.box
    if h < p.min_height or h > p.max_height_frac * shape[0] or w > p.max_aspect * h or cut_off(blob.box, shape, p):
        return False
    return ink_pixels >= p.min_fill * w * h


def cut_off(box: Box, shape: tuple[int, int], p: Params) -> bool:
    """Touching the frame's edge: whatever it is, part of it is outside."""
    x, y, w, h = box
    H, W = shape
    return x <= p.border or y <= p.border or x + w >= W - p.border or y + h >= H - p.border


@dataclass(frozen=True)
class Found:
    """What the segmenter found in a frame, in frame pixels."""

    boxes: list[Box]  # the digits, in reading order
    crops: np.ndarray  # their MNIST-framed crops, float32 [N, size, size]
    others: list[Box]  # pieces no digit is made of (letters too small or thin for one, marks, specks), not cut off


def segment(
    image: np.ndarray,
    p: Params | None = None,
    box_size: int = BOX_SIZE,
    input_size: int = INPUT_SIZE,
    judge: Judge | None = None,
) -> Found:
    """The digits of a frame, and the other pieces beside them (the word rule's evidence: `runtime/words.py`).

    `judge` (the classifier's confidence) settles which fragments join a digit;
    see `group_pieces`.
    """
    p = p or Params()
    gray = to_gray(image)
    scale = working_scale(gray.shape, p)
    if scale < 1:
        gray = cv2.resize(
            gray, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)), interpolation=cv2.INTER_AREA
        )
    ink = ink_map(gray, p)
    binary, weak, strong = binarize(ink, p)
    contours, boxes = pieces(ink, binary, strong)
    dashed = broken_rules(binary, p)  # on the whole frame, before the solid runs of a rule are cleared
    margins = broken_rules(binary, p, horizontal=False)
    cells: list[Box] = []  # the insides of the printed boxes cleared
    for _ in range(2):  # printed rules, then the boxes that stood on them: the digits they touch come apart
        if not clear_structure(ink, binary, contours, boxes, p, cells):
            break
        contours, boxes = pieces(ink, binary, strong)
    # what is left of the rules, both ways (`|`: each clears its own), then the boxes that stood on them
    if clear_lines(ink, binary, dashed, p) | clear_lines(ink, binary, margins, p, horizontal=False):
        contours, boxes = pieces(ink, binary, strong)
        if clear_structure(ink, binary, contours, boxes, p, cells):
            contours, boxes = pieces(ink, binary, strong)

    framed: dict[tuple[int, ...], np.ndarray] = {}

    def crop(members: list[int]) -> np.ndarray:
        """Framed once per set of pieces: a digit the judge read alone is the crop it is classified on."""
        key = tuple(sorted(members))
        if key not in framed:
            framed[key] = frame_piece(ink, [contours[i] for i in key], weak, p, box_size, input_size)
        return framed[key]

    blobs = group_pieces(boxes, crop, p, judge)
    if judge is not None:
        blobs = split_touching(blobs, contours, crop, judge, p)
        blobs = join_in_boxes(blobs, cells, crop, judge, p)
    digit = [is_digit(b, _ink_pixels(binary, b.box), gray.shape, p) for b in blobs]
    others = [_to_frame(b.box, scale) for b, d in zip(blobs, digit) if not d and not cut_off(b.box, gray.shape, p)]
    blobs = [b for b, d in zip(blobs, digit) if d]
    blobs = [blobs[i] for i in reading_order([b.box for b in blobs])]
    crops = np.zeros((len(blobs), input_size, input_size), np.float32)
    for k, blob in enumerate(blobs):
        crops[k] = crop(blob.members)
    return Found([_to_frame(b.box, scale) for b in blobs], crops, others)


def _to_frame(box: Box, scale: float) -> Box:
    if scale == 1:
        return box
    x, y, w, h = box
    return round(x / scale), round(y / scale), round(w / scale), round(h / scale)


def _ink_pixels(binary: np.ndarray, box: Box) -> int:
    x, y, w, h = box
    return cv2.countNonZero(binary[y : y + h, x : x + w])
