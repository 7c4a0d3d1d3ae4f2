"""The segmenter's shared vocabulary: its tuning knobs, a box, a blob of pieces, and the judge it may ask."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Params:
    """Tuning knobs, in pixels of the working frame (step 0) unless noted."""

    work_side: int = 540  # larger frames are scaled down to this short side before segmenting
    min_height: int = 12  # smaller blobs are specks, dots or noise
    max_height_frac: float = 0.9  # of the frame height
    max_aspect: float = 2.0  # width / height above this is a line or a dash
    min_fill: float = 0.06  # ink pixels / box area below this is a thin outline or scratch
    noise_floor: int = 16  # ink-map thresholds never go below this (8-bit levels)
    downscale: int = 8  # background is estimated at 1/downscale size
    border: int = 2  # blobs within this of the edge are cut off by it
    ink_level: float = 0.75  # quantile of a blob's ink that becomes full white (MNIST strokes are saturated); 0: peak
    fragment: float = 0.5  # a piece under this share of a touching piece's height is a fragment of it
    reach: float = 0.2  # a fragment touches a piece within this share of the piece's height
    grow: float = 1.5  # a digit grown by its parts stays within this many times its own height and width
    merge_slack: float = 0.05  # a merge is kept if the merged crop's confidence is at most this much below the digit's
    narrow_growth: float = 0.6  # a narrow digit (a 1) may grow to this share of its height in width
    bar: float = 2.0  # a fragment this many times as wide as tall at a digit's top is a 5's bar (widens to max_aspect)
    bar_gap: float = 0.05  # ... if it ends at most this share of the digit's height above its top (a 5's: 0-1 px)
    flat_union: float = 1.5  # two flat pieces, one on the other, are halves if at most this many times as tall as wide
    flat_overlap: float = 0.4  # ... and overlapping by this share of the narrower one's width
    inside: float = 0.5  # a part the judge kept apart, with this share of its box inside its digit's, is dropped
    lone: float = 0.5  # ... as is a fragment it kept apart that it reads below this confidence on its own (a speck)
    split: float = 1.6  # a blob over this many typical digits tall may be two stacked digits that touch
    split_narrow: float = 1.5  # ... if it is at least this many times as tall as wide
    split_band: tuple[float, float] = (0.3, 0.7)  # share of such a blob's height where the cut may fall
    split_doubt: float = 0.8  # ... and only if the classifier reads the whole blob below this confidence
    split_wide: float = 1.3  # a blob this many times as wide as tall may be two digits side by side that touch ...
    split_wide_max: float = 2.5  # ... up to this (wider: a word or a line), ...
    split_sure: float = 0.9  # ... cut if the classifier doubts the whole and reads both halves this confidently
    split_alike: float = 0.7  # either cut only into halves at least this share of each other's height (two digits)
    rule_length: float = 0.2  # a thin straight run this share of the frame's long side is a printed rule ...
    rule_min: int = 100  # ... and at least this long (small frames: a digit's stroke is never that long and thin)
    rule_thickness: int = 6  # ... if at most this thick (a pen stroke that long is thicker)
    tail: float = 0.25  # a thin run through a piece that widens it by this share of its height is a rule's remnant
    dash: int = 12  # a faint rule binarizes in dashes at least this long ...
    dash_gap: int = 32  # ... with gaps under this ...
    dash_span: float = 0.6  # ... spanning this share of the frame's long side (a row of boxes' sides spans less)
    box_cover: float = 0.9  # a piece with ink along this share of three of its sides or four is a printed box
    in_box: float = 0.5  # a blob with this share of its box inside a printed box's inside is in that box
    box_margin: int = 2  # px cleared inside a box's sides beyond the line measured (tune pages: fewer false 1s)
    box_row: float = 1.5  # a box this many times as wide as tall inside is a row of boxes that touch


@dataclass
class Blob:
    box: Box
    members: list[int]  # indices of the contours that make up this blob


Judge = Callable[[np.ndarray], np.ndarray]

"""Confidence [N] that each framed crop [N, 28, 28] is a digit: the classifier's top probability."""
