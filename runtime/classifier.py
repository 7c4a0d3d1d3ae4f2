"""Classify digits with an exported ONNX model through ONNX Runtime.

Everything the classifier needs to know about the model (labels, input size,
framing box) comes from the model's own metadata, so an app can swap models
without code changes.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from digit_cnn_edge.common.errors import BadModel
from digit_cnn_edge.runtime import convention as cv
from digit_cnn_edge.runtime.preprocess import prepare_single

_LOAD_ERRORS = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
    ort_errors.RuntimeException,
)


DEFAULT_MODEL = Path(__file__).with_name("digits.onnx")
"""The model the runtime ships, made by scripts/ship-model.sh (cnn-train --data sample, cnn-export --onnx, defaults)."""


class ModelError(BadModel, ValueError):
    """The model file is missing, unreadable, or not a 28x28 digit classifier of ours."""


@dataclass(frozen=True)
class ModelInfo:
    labels: tuple[str, ...]
    input_size: int
    box_size: int
    architecture: str
    quantization: str
    version: str


def _model_info(path: Path, session: ort.InferenceSession) -> ModelInfo:
    meta = session.get_modelmeta().custom_metadata_map
    if cv.META_LABELS not in meta:
        raise ModelError(f"{path}: not a digit model exported by cnn-export (no '{cv.META_LABELS}' metadata)")
    try:
        labels = tuple(str(label) for label in json.loads(meta[cv.META_LABELS]))
        size = int(meta.get(cv.META_INPUT_SIZE, cv.INPUT_SIZE))
        box = int(meta.get(cv.META_BOX_SIZE, cv.BOX_SIZE))
    except (ValueError, TypeError) as e:
        raise ModelError(f"{path}: malformed metadata ({e})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or list(inputs[0].shape[1:]) != [1, size, size]:
        shapes = [i.shape for i in inputs]
        raise ModelError(f"{path}: expected one input [N,1,{size},{size}], found {shapes}")
    if len(outputs) < 1 or outputs[0].shape[-1] != len(labels):
        raise ModelError(f"{path}: expected logits [N,{len(labels)}], found {outputs[0].shape if outputs else None}")
    return ModelInfo(
        labels=labels,
        input_size=size,
        box_size=box,
        architecture=meta.get(cv.META_ARCH, "unknown"),
        quantization=meta.get(cv.META_QUANTIZATION, "none"),
        version=meta.get(cv.META_VERSION, "unknown"),
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class DigitClassifier:
    """A digit model ready to run: `predict` on framed 28x28 digits, `classify_images` on whole images."""

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        self.path = Path(path) if path is not None else DEFAULT_MODEL
        if not self.path.is_file():
            raise ModelError(f"model not found: {self.path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except _LOAD_ERRORS as e:
            reason = str(e).split(":")[-1].strip() or type(e).__name__
            raise ModelError(f"{self.path}: not a loadable ONNX model ({reason})") from None
        self.info = _model_info(self.path, self.session)
        self.labels = self.info.labels
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name

    def logits(self, digits: np.ndarray) -> np.ndarray:
        """Raw logits [N, classes] for framed digits [N, 28, 28] or [N, 1, 28, 28] in [0, 1]."""
        s = self.info.input_size
        x = np.ascontiguousarray(digits, dtype=np.float32).reshape(-1, 1, s, s)
        return self.session.run([self._output], {self._input: x})[0]

    def predict(self, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class indices [N] and probabilities [N, classes] for framed digits."""
        if len(digits) == 0:
            return np.zeros(0, np.int64), np.zeros((0, len(self.labels)), np.float32)
        probs = softmax(self.logits(digits))
        return probs.argmax(axis=1), probs

    def classify_images(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Each image as one digit (grayscale, light paper inverted, MNIST framing)."""
        box, size = self.info.box_size, self.info.input_size
        batch = np.stack([prepare_single(im, box, size) for im in images]) if images else np.zeros((0, size, size), np.float32)
        return self.predict(batch)
