"""Read the digits in an image: segment (or take it whole), classify, order."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digit_cnn_edge.runtime.classifier import DigitClassifier
from digit_cnn_edge.runtime.preprocess import has_ink, to_gray
from digit_cnn_edge.runtime.segment import Box, Params, reading_lines, segment
from digit_cnn_edge.runtime.words import not_digits

MODES = ("auto", "single", "segment")
MIN_CONFIDENCE = 0.3
"""Digits read with a lower top probability are dropped. The shipped model learned a flat output for things
that are not digits (outlier exposure), so its top probability separates them: 0.3 was chosen on the tune half
of `benchmarks/rejection.py` (validation digits, tune fonts and marks) as the point past which digits start to
go faster than non-digits; the figures, tune and holdout, are in `benchmarks/RESULTS-rejection.md`. Letters that
are digit shapes in print pass it; the word rule (`words.py`) is there for them. Blank images and crops never
reach the classifier (`has_ink`, and the segmenter's noise floor)."""
SINGLE_MAX_SIDE = 64
"""In auto mode, images at most this size on each side are one digit (MNIST-like crops)."""


@dataclass(frozen=True)
class Digit:
    label: int
    confidence: float
    box: Box
    line: int = 0  # 0 is the top line

    def as_dict(self) -> dict:
        return {"label": self.label, "confidence": round(self.confidence, 4), "box": list(self.box), "line": self.line}


@dataclass(frozen=True)
class Reading:
    digits: list[Digit]  # in reading order: lines top to bottom, each left to right
    mode: str  # the mode actually used (auto resolves to single or segment)

    @property
    def text(self) -> str:
        """The labels of each line joined, lines separated by one space: "264 790"."""
        lines: dict[int, str] = {}
        for d in self.digits:
            lines[d.line] = lines.get(d.line, "") + str(d.label)
        return " ".join(lines[k] for k in sorted(lines))

    def as_dict(self) -> dict:
        return {"digits": [d.as_dict() for d in self.digits], "text": self.text}


class DigitReader:
    """Finds and classifies the digits of frames; one instance per model, reused across frames."""

    def __init__(self, classifier: DigitClassifier, min_confidence: float = MIN_CONFIDENCE, params: Params | None = None) -> None:
        self.classifier = classifier
        self.min_confidence = min_confidence
        self.params = params or Params()

    def _digits(self, boxes: list[Box], idx: np.ndarray, probs: np.ndarray, others: Sequence[Box] = ()) -> list[Digit]:
        """Digits read confidently enough and not in a printed word, numbered by line after the others are gone."""
        labels = self.classifier.labels
        top = probs[np.arange(len(idx)), idx]
        dropped = not_digits(boxes, top.tolist(), others, self.min_confidence)
        kept = [(int(labels[i]), float(top[k]), box) for k, (i, box) in enumerate(zip(idx, boxes)) if k not in dropped]
        lines = reading_lines([box for _, _, box in kept])
        return [Digit(*kept[i], line=n) for n, line in enumerate(lines) for i in line]

    def _confidence(self, crops: np.ndarray) -> np.ndarray:
        return self.classifier.predict(crops)[1].max(axis=1)

    def read(self, image: np.ndarray, mode: str = "auto", scale: int = 1) -> Reading:
        """The digits of one image or frame. `scale`: how many of the source's pixels one of the image's stands
        for, across (a JPEG decoded smaller, `decode.decode_smaller`), so the boxes are in the source's pixels."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        check_image(image)
        h, w = image.shape[:2]
        if mode == "auto":
            mode = "single" if max(h, w) * scale <= SINGLE_MAX_SIDE else "segment"
        if mode == "single":
            if not has_ink(to_gray(image)):
                return Reading([], mode)
            return Reading(self._digits([(0, 0, w * scale, h * scale)], *self.classifier.classify_images([image])), mode)
        info = self.classifier.info
        found = segment(image, self.params, info.box_size, info.input_size, self._confidence)
        digits = self._digits(_scaled(found.boxes, scale), *self.classifier.predict(found.crops),
                              _scaled(found.others, scale))
        return Reading(digits, mode)


def check_image(image: object) -> None:
    """An image as OpenCV gives one: an array of rows, columns and 1, 3 or 4 channels, not empty.

    Said here, in words: `cv2.imread` returns None for a file it cannot read, and
    without this that None failed deep inside the segmenter.
    """
    if image is None:
        raise TypeError("image is None: cv2.imread returns None for a file it cannot read")
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image is a {type(image).__name__}, not a numpy array (decode bytes with cv2.imdecode)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)) or image.size == 0:
        raise ValueError(f"image of shape {image.shape}: expected rows x columns, gray, BGR or BGRA, not empty")


def _scaled(boxes: list[Box], scale: int) -> list[Box]:
    return [(x * scale, y * scale, w * scale, h * scale) for x, y, w, h in boxes]
