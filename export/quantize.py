"""int8 ONNX through ONNX Runtime's quantizers.

Dynamic quantization of Conv produces ConvInteger, which ran about 3x slower
than FP32 for a small CNN on this kind of CPU, so the op set is chosen by
measuring rather than assumed. Static QDQ quantization, calibrated on real
digits, quantizes weights and activations per channel and is usually both
smaller and faster.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

from export.formats import save_onnx, set_metadata
from runtime import convention as cv

DYNAMIC_OP_SETS: tuple[tuple[str, ...], ...] = (("MatMul", "Gemm"), ("Conv", "MatMul", "Gemm"))


@dataclass
class Quantized:
    path: Path
    mode: str
    ops: tuple[str, ...]
    note: str = ""


def _finish(raw: Path, dst: Path, metadata: dict[str, str], mode: str) -> Path:
    """Re-stamp metadata with the quantization mode and land the file atomically."""
    proto = onnx.load(str(raw))
    return save_onnx(set_metadata(proto, dict(metadata, **{cv.META_QUANTIZATION: mode})), dst)


def quantized_ops(path: Path) -> tuple[str, ...]:
    """The integer/quantize ops present in a model, which is what 'what was quantized' means in practice."""
    marks = ("Integer", "QLinear", "QuantizeLinear", "DequantizeLinear", "DynamicQuantize")
    return tuple(sorted({n.op_type for n in onnx.load(str(path)).graph.node if any(m in n.op_type for m in marks)}))


def dynamic(src: Path, dst: Path, metadata: dict[str, str], ops: tuple[str, ...]) -> Path:
    """Weights int8, activations quantized on the fly, only for the ops named."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "q.onnx"
        quantize_dynamic(str(src), str(raw), op_types_to_quantize=list(ops), weight_type=QuantType.QInt8)
        return _finish(raw, dst, metadata, f"dynamic-int8 ({'+'.join(ops)})")


class _Digits(CalibrationDataReader):
    def __init__(self, digits: np.ndarray, batch: int = 50) -> None:
        x = digits.astype(np.float32).reshape(-1, 1, cv.INPUT_SIZE, cv.INPUT_SIZE)
        self._batches = iter([x[i : i + batch] for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {cv.INPUT_NAME: batch}


def static(src: Path, dst: Path, metadata: dict[str, str], calibration: np.ndarray) -> Path:
    """QDQ int8, weights per channel, activation ranges calibrated on real digits in [0, 1]."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "q.onnx"
        quantize_static(
            str(src),
            str(raw),
            _Digits(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        return _finish(raw, dst, metadata, "static-int8 (QDQ, per-channel)")
