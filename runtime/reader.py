"""Read the digits in an image: segment (or take it whole), classify, order."""

from dataclasses import dataclass

import numpy as np

from digit_cnn_edge.runtime.classifier import DigitClassifier
from digit_cnn_edge.runtime.segment import Box, Params, find_digits

MODES = ("auto", "single", "segment")
SINGLE_MAX_SIDE = 64
"""In auto mode, images at most this size on each side are one digit (MNIST-like crops)."""


@dataclass(frozen=True)
class Digit:
    label: int
    confidence: float
    box: Box

    def as_dict(self) -> dict:
        return {"label": self.label, "confidence": round(self.confidence, 4), "box": list(self.box)}


@dataclass(frozen=True)
class Reading:
    digits: list[Digit]
    mode: str  # the mode actually used (auto resolves to single or segment)

    @property
    def text(self) -> str:
        return "".join(str(d.label) for d in self.digits)

    def as_dict(self) -> dict:
        return {"digits": [d.as_dict() for d in self.digits], "text": self.text}


class DigitReader:
    """Finds and classifies the digits of frames; one instance per model, reused across frames."""

    def __init__(self, classifier: DigitClassifier, min_confidence: float = 0.0, params: Params | None = None) -> None:
        self.classifier = classifier
        self.min_confidence = min_confidence
        self.params = params or Params()

    def _digits(self, boxes: list[Box], idx: np.ndarray, probs: np.ndarray) -> list[Digit]:
        labels = self.classifier.labels
        out = [Digit(int(labels[i]), float(probs[k, i]), box) for k, (i, box) in enumerate(zip(idx, boxes))]
        return [d for d in out if d.confidence >= self.min_confidence]

    def read(self, image: np.ndarray, mode: str = "auto") -> Reading:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        h, w = image.shape[:2]
        if mode == "auto":
            mode = "single" if max(h, w) <= SINGLE_MAX_SIDE else "segment"
        if mode == "single":
            return Reading(self._digits([(0, 0, w, h)], *self.classifier.classify_images([image])), mode)
        info = self.classifier.info
        boxes, crops = find_digits(image, self.params, info.box_size, info.input_size)
        return Reading(self._digits(boxes, *self.classifier.predict(crops)), mode)
