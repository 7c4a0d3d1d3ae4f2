"""int8 ONNX: weight-only, or through ONNX Runtime's dynamic and static quantizers.

Three modes, because on a model this small the textbook choice is not the
fast one (measured on a 2-core AVX2 EPYC, batch 1, one thread):
- weights: int8 weights, FP32 compute. The file shrinks to under 30% and ORT
  folds the weights back to FP32 at load, so latency and accuracy stay FP32's.
- dynamic: ConvInteger ran about 3x slower than FP32, so the op set is chosen
  by measuring rather than assumed (in practice MatMul/Gemm only).
- static: QDQ int8 weights and activations calibrated on real digits; the
  smallest integer-compute model, but QLinearConv on 8-32 channels ran about
  1.7x slower than FP32's NCHWc convs (the QOperator format measured the same).
"""

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

from digit_cnn_edge.export import parity
from digit_cnn_edge.export.formats import save_onnx, set_metadata
from digit_cnn_edge.runtime import convention as cv

LATENCY_SLACK = 1.05  # a quantized candidate within 5% of FP32 latency counts as "not slower" (timer noise)
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
        with _quiet_quantizer():
            quantize_dynamic(str(src), str(raw), op_types_to_quantize=list(ops), weight_type=QuantType.QInt8)
        return _finish(raw, dst, metadata, f"dynamic-int8 ({'+'.join(ops)})")


WEIGHT_OPS = ("Conv", "Gemm", "MatMul")


def weights(src: Path, dst: Path, metadata: dict[str, str]) -> Quantized:
    """Each Conv/Gemm/MatMul weight stored as int8 with one scale per output channel.

    The graph turns them back into floats with Cast and Mul rather than
    DequantizeLinear: ORT constant-folds Cast+Mul of initializers at session
    load, but keeps DequantizeLinear nodes (waiting for a QDQ fusion that never
    comes), which measured 1.7x slower because the convs lose their NCHWc path.
    """
    proto = onnx.load(str(src))
    initializers = {i.name: i for i in proto.graph.initializer}
    decode, ops = [], set()
    for node in proto.graph.node:
        name = node.input[1] if node.op_type in WEIGHT_OPS and len(node.input) > 1 else None
        if name not in initializers:
            continue
        ops.add(node.op_type)
        w = numpy_helper.to_array(initializers.pop(name))
        rows = w.reshape(w.shape[0], -1)
        scale = np.maximum(np.abs(rows).max(axis=1), np.finfo(np.float32).tiny) / 127
        q = np.clip(np.round(rows / scale[:, None]), -127, 127).astype(np.int8).reshape(w.shape)
        scale = scale.astype(np.float32).reshape((-1,) + (1,) * (w.ndim - 1))
        initializers[f"{name}.int8"] = numpy_helper.from_array(q, f"{name}.int8")
        initializers[f"{name}.scale"] = numpy_helper.from_array(scale, f"{name}.scale")
        decode += [
            helper.make_node("Cast", [f"{name}.int8"], [f"{name}.float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}.float", f"{name}.scale"], [name]),
        ]
    nodes = decode + list(proto.graph.node)
    del proto.graph.node[:], proto.graph.initializer[:]
    proto.graph.node.extend(nodes)
    proto.graph.initializer.extend(initializers.values())
    save_onnx(set_metadata(proto, dict(metadata, **{cv.META_QUANTIZATION: "int8-weights (per-channel, FP32 compute)"})), dst)
    return Quantized(dst, "weights", tuple(sorted(ops)), "int8 weights per output channel, dequantized once at load; FP32 compute")


class _Digits(CalibrationDataReader):
    def __init__(self, digits: np.ndarray, batch: int = 50) -> None:
        x = digits.astype(np.float32).reshape(-1, 1, cv.INPUT_SIZE, cv.INPUT_SIZE)
        self._batches = iter([x[i : i + batch] for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {cv.INPUT_NAME: batch}


def static(src: Path, dst: Path, metadata: dict[str, str], calibration: np.ndarray, per_channel: bool = True) -> Path:
    """QDQ int8: int8 weights (per output channel, or one scale per tensor), uint8
    activations whose ranges are calibrated on real digits in [0, 1]."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "q.onnx"
        with _quiet_quantizer():
            quantize_static(
                str(src),
                str(raw),
                _Digits(calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        granularity = "per-channel" if per_channel else "per-tensor"
        return _finish(raw, dst, metadata, f"static-int8 (QDQ, {granularity})")


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """ORT's quantizer logs advice ('consider pre-processing') through the root logger on every call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def choose_dynamic(fp32: Path, dst: Path, meta: dict, probes: parity.Probes, fp32_latency: float) -> Quantized:
    """Quantize with each candidate op set, keep the smallest file that is not slower than FP32."""
    candidates = []
    with tempfile.TemporaryDirectory() as tmp:
        for ops in DYNAMIC_OP_SETS:
            path = dynamic(fp32, Path(tmp) / f"{'-'.join(ops)}.onnx", meta, ops)
            run, _ = parity.onnx_logits(path)
            lat = parity.latency_us(run, probes.digits[:1])
            candidates.append((ops, path.stat().st_size, lat, path))
        fast = [c for c in candidates if c[2] <= fp32_latency * LATENCY_SLACK]
        ops, _, lat, path = min(fast, key=lambda c: c[1]) if fast else min(candidates, key=lambda c: c[2])
        shutil.copyfile(path, dst)
    measured = "; ".join(f"{'+'.join(o)}: {s / 1024:.1f} KiB, {t:.1f} us" for o, s, t, _ in candidates)
    note = f"candidates (batch-1 latency, FP32 {fp32_latency:.1f} us): {measured}"
    if not fast:
        note += f"; every candidate is slower than FP32, shipped the fastest ({'+'.join(ops)})"
    return Quantized(dst, "dynamic", ops, note)


def choose_static(fp32: Path, dst: Path, meta: dict, probes: parity.Probes) -> Quantized:
    """Calibrate per-channel and per-tensor, keep the one whose top-1 agrees more with FP32.

    Per-channel is the textbook choice, but on these small folded-BN convs it
    was measured to lose more agreement than per-tensor, so both are built and
    the fidelity to FP32 (not the labels) decides.
    """
    reference = parity.onnx_logits(fp32)[0](probes.digits).argmax(1)
    candidates = []
    with tempfile.TemporaryDirectory() as tmp:
        for per_channel in (True, False):
            path = static(fp32, Path(tmp) / f"{per_channel}.onnx", meta, probes.digits, per_channel)
            agree = float(np.mean(parity.onnx_logits(path)[0](probes.digits).argmax(1) == reference))
            candidates.append((agree, per_channel, path))
        agree, per_channel, path = max(candidates, key=lambda c: (c[0], c[1]))
        shutil.copyfile(path, dst)
    measured = "; ".join(f"{'per-channel' if pc else 'per-tensor'}: {100 * a:.2f}% top-1 agreement" for a, pc, _ in candidates)
    return Quantized(dst, "static", quantized_ops(dst), f"weight scales by measured fidelity ({measured})")


MODES = ("weights", "dynamic", "static")


def make(mode: str, fp32: Path, dst: Path, meta: dict, probes: parity.Probes, fp32_latency: float) -> Quantized:
    """The int8 model of `mode` (one of MODES) written to `dst`."""
    if mode == "weights":
        return weights(fp32, dst, meta)
    if mode == "dynamic":
        return choose_dynamic(fp32, dst, meta, probes, fp32_latency)
    if mode == "static":
        return choose_static(fp32, dst, meta, probes)
    raise ValueError(f"unknown quantization mode {mode!r} (known: {', '.join(MODES)})")
