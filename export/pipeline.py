"""The export pipeline, as one function: checkpoint in, checked files and their report out.

An export is all or nothing: every file of a run is written and checked in a
staging folder inside the output folder, and only when every gate passes are
they moved into place, together with the report. A failed gate leaves every
model file and export_report.json in the output folder as they were, records
the failure in export_report.failed.json and raises `GateFailed`. So an int8
file never lands beside an FP32 parent of another checkpoint.
"""

import json
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from digit_cnn_edge.common.errors import CannotWrite, UserError
from digit_cnn_edge.common.files import atomic_path, discard, move_into_place, writable_dir
from digit_cnn_edge.common.options import BadOption, number, one_of, whole
from digit_cnn_edge.common.progress import Log, Progress, no_log, no_progress
from digit_cnn_edge.export import edge, formats, parity, quantize
from digit_cnn_edge.train import checkpoint, data

FILES = {
    "onnx": ("model.onnx",), "onnx-int8": ("model.int8.onnx",),
    "torchscript": ("model.ts",), "pt2": ("model.pt2",),
    "executorch": ("model.pte",), "executorch-int8": ("model.int8.pte",),
    "openvino": ("model.xml", "model.bin"), "openvino-int8": ("model.int8.xml", "model.int8.bin"),
    "tflite": ("model.tflite",), "tflite-int8": ("model.int8.tflite",),
}  # fmt: skip
"""Each checked model's files; the report names the first (an OpenVINO IR is its .xml and its .bin)."""
REPORT, FAILED_REPORT = "export_report.json", "export_report.failed.json"
FORMATS = ("onnx", "torchscript", "executorch", "openvino", "tflite")
"""What `ExportOptions.formats` may name; torchscript writes model.ts and model.pt2 (torch.export)."""
DEFAULT_FORMATS = ("onnx", "torchscript")
"""What an export writes when no format is named: the formats the [export] extra alone can write."""
OPSETS = (17, 23)
"""The ONNX opsets an export may ask for, lowest and highest."""


@dataclass
class ExportOptions:
    """What `cnn-export` takes, one field per flag; a value the export cannot use raises `BadOption` here."""

    formats: tuple[str, ...] = DEFAULT_FORMATS  # any of FORMATS
    quantize: str = "none"  # none, or one of quantize.MODES: model.int8.onnx; static: each edge format's int8 too
    opset: int | None = None
    calibration_size: int = 500  # held-out digits for the gate (and static quantization's calibration)
    atol: float = 1e-4  # largest |logit difference| for FP32 formats
    data_dir: Path | None = None  # where the checkpoint's data is, for its validation digits
    out: Path | None = None  # default: beside the checkpoint

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise BadOption for a value the export cannot use (`export` checks again: a field may have changed)."""
        if isinstance(self.formats, str):
            raise BadOption(f"formats must be a sequence of format names, not the string {self.formats!r}")
        self.formats = tuple(self.formats)  # a generator would be used up by this check
        unknown = sorted(map(str, set(self.formats) - set(FORMATS)))
        if unknown or not self.formats:
            raise BadOption(f"unknown export format {', '.join(unknown) or '(none given)'} (known: {', '.join(FORMATS)})")
        one_of(self, "quantize", ("none", *quantize.MODES))
        whole(self, "opset", *OPSETS)
        whole(self, "calibration_size", 1)
        number(self, "atol", 0, low_open=True)


@dataclass
class ExportResult:
    report: dict  # what export_report.json holds
    report_path: Path
    files: list[Path]  # the model files placed
    removed: list[str]  # earlier exports' model files that the report does not describe, removed
    results: list[parity.Result]  # pytorch first, then each format
    warnings: list[str] = field(default_factory=list)


class GateFailed(UserError):
    """Some exported file does not compute what PyTorch computes; nothing was placed."""

    def __init__(self, message: str, result: "ExportResult") -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class CheckDigits:
    """Which digits the gate checked on: the checkpoint's own validation split, or a stand-in, said as such."""

    source: str
    seed: int
    count: int
    own: bool
    note: str


def held_out_digits(ckpt: dict, n: int, data_dir: Path | None) -> tuple[np.ndarray, np.ndarray, CheckDigits]:
    """The checkpoint's own validation digits (never trained on), or the offline sample's, said so.

    Never downloads: MNIST is read from `data_dir` (default ./data), a folder dataset from
    `data_dir` or the folder the checkpoint records.
    """
    trained_on = ckpt.get("data", {})
    source, seed = trained_on.get("source", "sample"), trained_on.get("split_seed", 0)
    try:
        if source == "mnist":
            d = data.load_mnist(data_dir or data.DEFAULT_DIR, download=False, seed=seed)
        elif source == "folder":
            d = data.load_folder(data_dir or Path(trained_on.get("origin", "")), seed=seed)
        else:
            d = data.load(source, seed=seed)
        digits = CheckDigits(source, seed, min(n, len(d.val)), True, f"the checkpoint's own {source} validation digits")
    except data.DataError as e:
        d = data.load_sample(seed=seed)
        digits = CheckDigits("sample", seed, min(n, len(d.val)), False,
                             f"the offline sample's validation digits, not the checkpoint's own {source} ones "
                             f"({e}); they may overlap the digits it was trained on, so accuracy may read high")
    return d.val.images[:n], d.val.labels[:n], digits


def place(staged: list[Path], out: Path) -> list[str]:
    """Move a run's checked files and its report into `out` together; remove our model files this run did not write.

    Every destination is checked first, so a folder in the way fails the run before
    anything moved. Returns the names removed.
    """
    names = {path.name for path in staged}
    blocked = [name for name in sorted(names) if (out / name).is_dir()]
    if blocked:
        raise CannotWrite(f"cannot write {out / blocked[0]}: a folder is in the way; nothing in {out} changed")
    stale = [name for files in FILES.values() for name in files if name not in names and (out / name).is_file()]
    for path in staged:
        move_into_place(path, out / path.name)
    for name in stale:
        discard(out / name)
    return stale


def write(
    want: set[str], model: nn.Module, meta: dict[str, str], options: ExportOptions, calibration: np.ndarray,
    stage: Path, log: Log,
) -> dict[str, Path]:
    """Write every format in `want` into `stage`, and with --quantize static each edge format's int8 file too.

    Returns name -> path (the first of FILES[name]). The edge int8 files are written
    here, before any check, so one process per runtime checks a format's FP32 and
    int8 files together; ONNX int8 comes after the checks (its dynamic mode picks by
    the FP32 file's measured latency).
    """
    made: dict[str, Path] = {}

    def staged(name: str) -> Path:
        return stage / FILES[name][0]

    if "torchscript" in want:
        log("writing TorchScript and torch.export ...")
        made["torchscript"] = formats.to_torchscript(model, staged("torchscript"))
        made["pt2"] = formats.to_pt2(model, staged("pt2"))
    if "onnx" in want:
        log("writing ONNX ...")
        made["onnx"] = formats.to_onnx(model, staged("onnx"), meta, options.opset)
    if "executorch" in want:
        log("writing ExecuTorch (XNNPACK) ...")
        made["executorch"] = edge.to_executorch(model, staged("executorch"))
    if "openvino" in want:
        log("writing OpenVINO IR ...")
        onnx_source = made.get("onnx") or formats.to_onnx(model, stage / "for-openvino.onnx", meta, options.opset)
        made["openvino"] = edge.to_openvino(onnx_source, staged("openvino"))
    if "tflite" in want:
        log("writing LiteRT ...")
        made["tflite"] = edge.to_tflite(model, staged("tflite"))
    if options.quantize == "static" and want & set(edge.EXTRAS):
        log("quantizing the edge formats (static) ...")
        if "executorch" in want:
            made["executorch-int8"] = edge.to_executorch_int8(model, staged("executorch-int8"), calibration)
        if "openvino" in want:
            made["openvino-int8"] = edge.to_openvino_int8(made["onnx"], staged("openvino-int8"), calibration)
        if "tflite" in want:
            made["tflite-int8"] = edge.to_tflite_int8(made["tflite"], staged("tflite-int8"), calibration)
    return made


def export(
    checkpoint_path: Path,
    options: ExportOptions | None = None,
    log: Log = no_log,
    progress: Progress = no_progress,
) -> ExportResult:
    """Export a cnn-train checkpoint in `options.formats` and prove each file computes what PyTorch computes.

    Raises GateFailed (with the failed report) when any check fails; nothing in
    the output folder changes then but export_report.failed.json.
    """
    options = options or ExportOptions()
    options.check()
    for fmt in sorted(set(options.formats) & set(edge.EXTRAS)):
        edge.require(fmt)
    want = set(options.formats)
    if options.quantize != "none":
        want.add("onnx")  # the int8 model is checked against, and shipped with, its FP32 parent
    checkpoint_path = Path(checkpoint_path)
    ckpt = checkpoint.load(checkpoint_path)
    model = checkpoint.rebuild(ckpt)
    out = writable_dir(Path(options.out) if options.out else checkpoint_path.parent)

    digest = checkpoint.sha256(checkpoint_path)
    meta = formats.onnx_metadata(ckpt, digest)
    digits, labels, check_digits = held_out_digits(ckpt, options.calibration_size, options.data_dir)
    warnings = [] if check_digits.own else [f"checking on {check_digits.note}"]
    for warning in warnings:
        log(f"warning: {warning}")
    probes = parity.Probes.make(digits, labels)
    deployable = formats.fold_batchnorm(model)
    log(f"{checkpoint_path}: {ckpt['arch']}, checked on {len(labels)} held-out digits + {len(probes.noise)} random inputs")

    reference, ref_outputs = parity.reference_result(model, probes)
    results = [reference]
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as staging:
        stage = Path(staging)
        made = write(want, deployable, meta, options, probes.digits, stage, log)
        opset = formats.opset_of(made["onnx"]) if "onnx" in made else None

        def check(names: list[str]) -> dict[str, parity.Result]:
            sizes = {name: sum((stage / file).stat().st_size for file in FILES[name]) for name in names}
            files = {name: made[name] for name in names}
            return parity.check_files(files, probes, ref_outputs, reference.accuracy, options.atol, sizes)

        checked: dict[str, parity.Result] = {}
        groups = parity.in_one_process(list(made))
        for group in progress(groups, len(groups), "checking parity"):
            checked.update(check(group))
        for name in [name for name in made if name.endswith("-int8")]:  # the edge formats' (ONNX's comes next)
            checked[name].notes.update(mode="static", quantizer=edge.INT8_NOTES[name.removesuffix("-int8")])
        if options.quantize != "none":
            log(f"quantizing ONNX ({options.quantize}) ...")
            q = quantize.make(options.quantize, made["onnx"], stage / FILES["onnx-int8"][0], meta, probes,
                              checked["onnx"].latency_us)
            made["onnx-int8"] = q.path
            checked.update(check(["onnx-int8"]))
            checked["onnx-int8"].notes.update(mode=q.mode, quantized_ops=list(q.ops), choice=q.note)
        for name in [name for name in made if name.endswith("-int8")]:
            if checked[name].latency_us > checked[name.removesuffix("-int8")].latency_us * quantize.LATENCY_SLACK:
                checked[name].notes["warning"] = "slower than its FP32 parent at batch 1"
        results += [checked[f] for f in made]
        passed = all(r.passed for r in results)
        report = {
            "checkpoint": str(checkpoint_path),
            "checkpoint_sha256": digest,
            "architecture": ckpt["arch"],
            "opset": opset,
            "atol": options.atol,
            "gates": {"fp32": f"max |Δlogit| <= {options.atol} and 100% top-1 agreement, batch 1 and batch "
                              f"{len(labels)} (or the largest batch a file takes, its notes' max_batch)",
                      "int8": f"top-1 agreement >= {100 * parity.INT8_MIN_AGREEMENT:.0f}% and accuracy drop <= "
                              f"{100 * parity.INT8_MAX_ACCURACY_DROP:.1f} points"},
            "check_digits": asdict(check_digits),
            "probes": {"digits": len(labels), "random": len(probes.noise), "batch1": parity.BATCH1_PROBES},
            "latency": f"median batch-1 wall time, 1 thread, {platform.processor() or platform.machine()}",
            "torch": torch.__version__,
            "formats": {r.format: r.as_dict() for r in results},
            "passed": passed,
        }
        if not passed:
            with atomic_path(out / FAILED_REPORT) as tmp:
                tmp.write_text(json.dumps(report, indent=2))
            failures = "; ".join(f for r in results for f in r.failures)
            failed = ExportResult(report, out / FAILED_REPORT, [], [], results, warnings)
            raise GateFailed(f"parity check failed: {failures}; no model file in {out} changed, "
                             f"the failure is recorded in {out / FAILED_REPORT}", failed)
        (stage / REPORT).write_text(json.dumps(report, indent=2))
        files = [file for name in made for file in FILES[name]]
        removed = place([*(stage / file for file in files), stage / REPORT], out)
    discard(out / FAILED_REPORT)
    return ExportResult(report, out / REPORT, [out / file for file in files], removed, results, warnings)
