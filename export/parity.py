"""The parity gate: does each exported file compute what the PyTorch model computes?

Each format runs the way its users will run it: ONNX through the runtime's
own classifier (ONNX Runtime, metadata read from the file); TorchScript,
torch.export, ExecuTorch, OpenVINO and LiteRT each in its own runtime in a
fresh Python process that has none of this project's code (`fresh`). Outputs
are compared with the PyTorch logits on real digits and on random inputs, at
batch 1 and at a large batch, against a stated tolerance: FP32 files to
`atol`, int8 files (any format) to the shared int8 gate below.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from digit_cnn_edge.export import fresh
from digit_cnn_edge.export.timing import LATENCY_REPEATS, LATENCY_WARMUP, median_seconds
from digit_cnn_edge.runtime import DigitClassifier
from digit_cnn_edge.runtime.convention import INPUT_SIZE

Logits = Callable[[np.ndarray], np.ndarray]

INT8_MIN_AGREEMENT = 0.99
INT8_MAX_ACCURACY_DROP = 0.005
BATCH1_PROBES = 16


@dataclass
class Probes:
    """Inputs every format is checked on: real held-out digits and uniform noise."""

    digits: np.ndarray  # float32 [N, 1, 28, 28]
    labels: np.ndarray  # int64 [N]
    noise: np.ndarray  # float32 [M, 1, 28, 28]

    @classmethod
    def make(cls, digits_u8: np.ndarray, labels: np.ndarray, n_noise: int = 64, seed: int = 0) -> "Probes":
        digits = (digits_u8.astype(np.float32) / 255).reshape(-1, 1, INPUT_SIZE, INPUT_SIZE)
        noise = np.random.default_rng(seed).random((n_noise, 1, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
        return cls(digits, labels.astype(np.int64), noise)


@dataclass
class Result:
    format: str
    file: str | None
    size_bytes: int | None
    max_abs_diff: float
    top1_agreement: float
    accuracy: float
    latency_us: float
    passed: bool
    failures: list[str] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def torch_logits(model: nn.Module) -> Logits:
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    return run


def onnx_logits(path: Path) -> tuple[Logits, DigitClassifier]:
    clf = DigitClassifier(path, threads=1)
    return clf.logits, clf


def batch1_and_full(run: Logits, probes: Probes) -> dict[str, np.ndarray]:
    """Logits of the probes at batch 1 (first few, one by one) and in one large batch."""
    k = BATCH1_PROBES
    return {
        "digits": run(probes.digits),
        "noise": run(probes.noise),
        "digits_b1": np.concatenate([run(probes.digits[i : i + 1]) for i in range(k)]),
        "noise_b1": np.concatenate([run(probes.noise[i : i + 1]) for i in range(k)]),
    }


def opencv_max_diff(path: Path, x: np.ndarray, reference: np.ndarray) -> float:
    """Max |Δ| of OpenCV's DNN module against the reference: proof another app can embed the file."""
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(x)
    return float(np.abs(net.forward() - reference).max())


def latency_us(run: Logits, x1: np.ndarray) -> float:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return 1e6 * median_seconds(lambda: run(x1), repeats=LATENCY_REPEATS, warmup=LATENCY_WARMUP)
    finally:
        torch.set_num_threads(threads)


def compare(
    name: str,
    outputs: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    probes: Probes,
    atol: float,
    int8: bool,
    reference_accuracy: float,
) -> tuple[float, float, float, list[str]]:
    """(max |Δ|, top-1 agreement on digits, accuracy, failures) against the gate for fp32 or int8."""
    diff = max(float(np.abs(outputs[k] - reference[k]).max()) for k in reference)
    agree_digits = float(np.mean(outputs["digits"].argmax(1) == reference["digits"].argmax(1)))
    accuracy = float(np.mean(outputs["digits"].argmax(1) == probes.labels))
    failures = []
    if int8:
        if agree_digits < INT8_MIN_AGREEMENT:
            failures.append(f"{name}: top-1 agreement {100 * agree_digits:.2f}% < {100 * INT8_MIN_AGREEMENT:.0f}%")
        drop = reference_accuracy - accuracy
        if drop > INT8_MAX_ACCURACY_DROP:
            failures.append(f"{name}: accuracy drop {100 * drop:.2f} points > {100 * INT8_MAX_ACCURACY_DROP:.1f}")
    else:
        if not diff <= atol:  # so a NaN logit fails the gate: every comparison with NaN is false
            failures.append(f"{name}: max |Δlogit| {diff:.2e} > atol {atol:.0e}")
        for key, ref in reference.items():
            agree = float(np.mean(outputs[key].argmax(1) == ref.argmax(1)))
            if agree < 1.0:
                failures.append(f"{name}: top-1 agreement on {key.replace('_b1', ' at batch 1')} {100 * agree:.2f}% < 100%")
    return diff, agree_digits, accuracy, failures


def reference_result(model: nn.Module, probes: Probes) -> tuple[Result, dict[str, np.ndarray]]:
    run = torch_logits(model)
    ref = batch1_and_full(run, probes)
    acc = float(np.mean(ref["digits"].argmax(1) == probes.labels))
    lat = latency_us(run, probes.digits[:1])
    return Result("pytorch", None, None, 0.0, 1.0, acc, lat, True), ref


def in_one_process(names: list[str]) -> list[list[str]]:
    """`names` in the groups `check_files` checks together: all files of one fresh-process runtime, each ONNX alone."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(fresh.runtime(name) or name, []).append(name)
    return list(groups.values())


def check_files(
    files: dict[str, Path],
    probes: Probes,
    reference: dict[str, np.ndarray],
    reference_accuracy: float,
    atol: float,
    sizes: dict[str, int] | None = None,
) -> dict[str, Result]:
    """Run exported files (format name -> path) through the gate: FP32 to `atol`, `*-int8` to the int8 gate.

    A name is onnx or onnx-int8 (checked here, in ONNX Runtime and OpenCV DNN), or one
    of fresh.RUNTIMES, with or without -int8 (checked in its own runtime in a fresh
    process, one process for the files of one runtime). `sizes` are the models' sizes as
    shipped, where more than their `path` (OpenVINO's weights are a second file).
    """
    sizes = sizes or {}
    ran = {}
    for group in in_one_process([name for name in files if fresh.runtime(name)]):
        ran.update(fresh.run({name: files[name] for name in group}, probes.digits, probes.noise, BATCH1_PROBES))
    results = {}
    for fmt, path in files.items():
        notes: dict = {}
        if fmt in ran:
            outputs, lat = ran[fmt].outputs, ran[fmt].latency_us
            notes["runtime"] = f"{fresh.runtime(fmt)}, fresh process"
            if ran[fmt].bound:
                notes["max_batch"] = ran[fmt].bound
        else:
            run, clf = onnx_logits(path)
            outputs = batch1_and_full(run, probes)
            notes["quantization"] = clf.info.quantization
            lat = latency_us(run, probes.digits[:1])
        int8 = fmt.endswith("-int8")
        diff, agree, acc, failures = compare(fmt, outputs, reference, probes, atol, int8, reference_accuracy)
        if fmt == "onnx":
            cv_diff = opencv_max_diff(path, probes.digits, outputs["digits"])
            notes["opencv_dnn_max_abs_diff"] = cv_diff
            if cv_diff > atol:
                failures.append(f"{fmt}: OpenCV DNN differs from ONNX Runtime by {cv_diff:.2e} > atol {atol:.0e}")
        size = sizes.get(fmt, path.stat().st_size)
        results[fmt] = Result(fmt, path.name, size, diff, agree, acc, lat, not failures, failures, notes)
    return results


def check_file(
    fmt: str, path: Path, probes: Probes, reference: dict[str, np.ndarray], reference_accuracy: float, atol: float
) -> Result:
    """One file through the gate (`check_files`)."""
    return check_files({fmt: path}, probes, reference, reference_accuracy, atol)[fmt]
