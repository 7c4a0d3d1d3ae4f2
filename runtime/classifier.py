"""Classify digits with an exported ONNX model through ONNX Runtime.

Everything the classifier needs to know about the model (labels, input size,
framing box) comes from the model's own metadata, so an app can swap models
without code changes.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from digit_cnn_edge.common.errors import BadModel, shortened
from digit_cnn_edge.runtime import convention as cv
from digit_cnn_edge.runtime.preprocess import prepare_single

_ORT_ERRORS = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
    ort_errors.RuntimeException,
)
"""What ONNX Runtime raises for a model it cannot load or run: each is the model's fault, told in one line."""

MAX_INPUT_SIZE = 1024
"""Largest input side, pixels, the runtime accepts from a model (ours use 28).

Every digit is framed into an input_size x input_size float32 array before the
model sees it, so this side is what sizes the reader's memory: 4 MiB a digit at
1024. The model file must not decide that: one that declares 100000 would ask
for 37 GiB on its first image.
"""

_INPUT_TYPE = "tensor(float)"

_ORT_SOURCE = re.compile(r"\S+\.(?:cc|cpp|h):\d+\s+(?:[^\s()]+\([^()]*\)(?:\s*const)?\s+)?")
"""The C++ file:line and function signature ONNX Runtime puts before some reasons: noise to a user."""


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
    one_at_a_time: bool = False  # the input's batch is fixed at 1: digits go through one per run


def _labels(path: Path, text: str) -> tuple[str, ...]:
    """The class names: a non-empty JSON list of strings or integers, as cnn-export writes them."""
    try:
        labels = json.loads(text)
    except (ValueError, RecursionError) as e:  # RecursionError: JSON nested deeper than Python's stack
        reason = shortened(str(e) or type(e).__name__)
        raise ModelError(f"{path}: malformed '{cv.META_LABELS}' metadata ({reason})") from None
    if not isinstance(labels, list) or not labels or not all(_is_label(label) for label in labels):
        raise ModelError(f"{path}: '{cv.META_LABELS}' metadata must be a non-empty JSON list of class names, "
                         f"found {shortened(text)}")
    return tuple(str(label) for label in labels)


def _is_label(label: object) -> bool:
    return isinstance(label, str) or (isinstance(label, int) and not isinstance(label, bool))


def _side(path: Path, meta: dict[str, str], key: str, default: int, largest: int, why: str) -> int:
    """A size in pixels from the metadata, checked to be 1..largest before anything is sized by it."""
    try:
        value = int(meta.get(key, default))
    except ValueError as e:
        raise ModelError(f"{path}: malformed '{key}' metadata ({shortened(str(e))})") from None
    if not 1 <= value <= largest:
        raise ModelError(f"{path}: '{key}' metadata is {value}, expected 1 to {largest} ({why})")
    return value


def _check_input(path: Path, session: ort.InferenceSession, size: int) -> bool:
    """Check the one float32 input [N,1,size,size]; True when its batch is fixed at 1, so digits go one per run."""
    inputs = session.get_inputs()
    if len(inputs) != 1 or list(inputs[0].shape[1:]) != [1, size, size]:
        shapes = [i.shape for i in inputs]
        raise ModelError(f"{path}: expected one input [N,1,{size},{size}], found {shapes}")
    if inputs[0].type != _INPUT_TYPE:
        raise ModelError(f"{path}: input must be float32, found {inputs[0].type}")
    batch = inputs[0].shape[0]
    if isinstance(batch, int) and batch != 1:
        raise ModelError(f"{path}: input batch is fixed at {batch}, expected a free batch [N,1,{size},{size}] or 1")
    return batch == 1


def _check_output(path: Path, session: ort.InferenceSession, labels: tuple[str, ...]) -> None:
    """The first output must be logits [N, one per label]: anything else fails only once a digit is read."""
    outputs = session.get_outputs()
    shape = outputs[0].shape if outputs else None
    if shape is None or len(shape) != 2 or shape[1] != len(labels):
        raise ModelError(f"{path}: expected logits [N,{len(labels)}] (one per label), found {shape}")


def _check_runs(path: Path, session: ort.InferenceSession, info: ModelInfo) -> None:
    """Run the model once on blank digits, so a model whose declared shapes lie is refused here, not on the first image."""
    n = 1 if info.one_at_a_time else 2
    blank = np.zeros((n, 1, info.input_size, info.input_size), np.float32)
    quiet = ort.RunOptions()
    quiet.log_severity_level = 4  # the failure is told in the ModelError; ONNX Runtime would print it again on stderr
    try:
        logits = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: blank}, quiet)[0]
    except _ORT_ERRORS as e:
        raise ModelError(f"{path}: fails on a blank digit ({_ort_reason(e, path)})") from None
    if not isinstance(logits, np.ndarray) or logits.shape != (n, len(info.labels)) or logits.dtype.kind != "f":
        found = f"{logits.dtype} {logits.shape}" if isinstance(logits, np.ndarray) else type(logits).__name__
        raise ModelError(f"{path}: gives {found} for {n} digit(s), expected float logits ({n}, {len(info.labels)})")
    # NaN, +inf, or every class at -inf (one class masked at -inf is a model's right): no probabilities
    if np.isnan(logits).any() or not np.isfinite(logits.max(axis=1)).all():
        raise ModelError(f"{path}: gives logits that are not finite numbers for a blank digit (NaN or infinite weights?)")


def _model_info(path: Path, session: ort.InferenceSession) -> ModelInfo:
    meta = session.get_modelmeta().custom_metadata_map
    if cv.META_LABELS not in meta:
        raise ModelError(f"{path}: not a digit model exported by cnn-export (no '{cv.META_LABELS}' metadata)")
    labels = _labels(path, meta[cv.META_LABELS])
    size = _side(path, meta, cv.META_INPUT_SIZE, cv.INPUT_SIZE, MAX_INPUT_SIZE, "the runtime's limit")
    box = _side(path, meta, cv.META_BOX_SIZE, cv.BOX_SIZE, size, "the input size")
    one_at_a_time = _check_input(path, session, size)
    _check_output(path, session, labels)
    return ModelInfo(
        labels=labels,
        input_size=size,
        box_size=box,
        architecture=meta.get(cv.META_ARCH, "unknown"),
        quantization=meta.get(cv.META_QUANTIZATION, "none"),
        version=meta.get(cv.META_VERSION, "unknown"),
        one_at_a_time=one_at_a_time,
    )


def _ort_reason(error: Exception, path: Path) -> str:
    """ONNX Runtime's own reason, without its error-code prefix, the file name and the C++ location before it."""
    text = str(error)
    for prefix in (f"Load model from {path} failed:", "] : "):
        if prefix in text:
            text = text.split(prefix, 1)[1]
            break
    text = re.sub(r"^\s*\d+ : [A-Z_]+ : ", "", text)
    text = _ORT_SOURCE.sub("", text).strip()
    return shortened(text) or type(error).__name__


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
        except _ORT_ERRORS as e:
            raise ModelError(f"{self.path}: not a loadable ONNX model ({_ort_reason(e, self.path)})") from None
        self.info = _model_info(self.path, self.session)
        _check_runs(self.path, self.session, self.info)
        self.labels = self.info.labels
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name

    def logits(self, digits: np.ndarray) -> np.ndarray:
        """Raw logits [N, classes] for framed digits [N, 28, 28] or [N, 1, 28, 28] in [0, 1]."""
        s = self.info.input_size
        x = np.ascontiguousarray(digits, dtype=np.float32).reshape(-1, 1, s, s)
        if not self.info.one_at_a_time:
            return self._run(x)
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.concatenate([self._run(x[i : i + 1]) for i in range(len(x))])

    def _run(self, x: np.ndarray) -> np.ndarray:
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
