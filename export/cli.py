"""`cnn-export`: checkpoint in, checked files out, with export_report.json beside them.

An export is all or nothing: every file of a run is written and checked in a
staging folder inside the output folder, and only when every gate passes are
they moved into place, together with the report. A failed gate leaves every
model file and export_report.json in the output folder as they were and
records the failure in export_report.failed.json. So an int8 file never lands
beside an FP32 parent of another checkpoint.
"""

import json
import platform
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np
import torch

from digit_cnn_edge.export import formats, parity, quantize
from digit_cnn_edge.runtime.cli_common import entry_point
from digit_cnn_edge.runtime.errors import CannotWrite, UserError
from digit_cnn_edge.runtime.files import atomic_path, discard, move_into_place, writable_dir
from digit_cnn_edge.train import checkpoint, data

FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx", "torchscript": "model.ts", "pt2": "model.pt2"}
REPORT, FAILED_REPORT = "export_report.json", "export_report.failed.json"


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
    stale = [name for name in FILES.values() if name not in names and (out / name).is_file()]
    for path in staged:
        move_into_place(path, out / path.name)
    for name in stale:
        discard(out / name)
    return stale


def print_table(results: list[parity.Result]) -> None:
    click.echo(f"{'format':<12} {'file':<16} {'size':>9} {'max |Δ|':>9} {'top-1 agr':>9} {'accuracy':>8} {'b1 latency':>11}  check")
    for r in results:
        size = f"{r.size_bytes / 1024:.1f} KiB" if r.size_bytes else "-"
        click.echo(
            f"{r.format:<12} {r.file or '-':<16} {size:>9} {r.max_abs_diff:>9.1e} {100 * r.top1_agreement:>8.2f}% "
            f"{100 * r.accuracy:>7.2f}% {r.latency_us:>8.1f} us  {'ok' if r.passed else 'FAILED'}"
        )


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("checkpoint_path", metavar="CHECKPOINT", type=click.Path(path_type=Path))
@click.option("--onnx", "want_onnx", is_flag=True, help="Write model.onnx (FP32, one self-contained file).")
@click.option("--torchscript", "want_ts", is_flag=True, help="Write model.ts (TorchScript) and model.pt2 (torch.export).")
@click.option("--quantize", "quant", type=click.Choice(["none", *quantize.MODES]), default="none",
              help="Also write model.int8.onnx: weights (int8 weights, FP32 compute: under 30% of the size, "
                   "FP32 speed), dynamic (int8 MatMul/Gemm on the fly, op set chosen by measured speed) "
                   "or static (QDQ int8 weights and activations calibrated on real digits; smallest integer "
                   "model, slower than FP32 at batch 1 on AVX2).")
@click.option("--opset", "opset_wanted", type=click.IntRange(17, 23), default=None, help="ONNX opset (default: the exporter's).")
@click.option("--calibration-size", type=click.IntRange(min=1), default=500,
              help="Real held-out digits used to calibrate static quantization and to check parity.")
@click.option("--atol", type=click.FloatRange(min=0, min_open=True), default=1e-4,
              help="Largest allowed |logit difference| for FP32 formats against PyTorch.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where the checkpoint's training data is, for its validation digits: the MNIST folder "
                   "(default ./data) or a folder dataset's root (default: the one the checkpoint records).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder (default: beside the checkpoint).")
def export_command(checkpoint_path, want_onnx, want_ts, quant, opset_wanted, calibration_size, atol, data_dir, out):
    """Export a cnn-train checkpoint and prove each file computes what PyTorch computes.

    With no format flag it writes every format. All or nothing: if any file fails its parity check, it exits 1,
    no model file or report in the output folder changes, and the failure is recorded in export_report.failed.json.
    """
    if not (want_onnx or want_ts):
        want_onnx = want_ts = True
    want_onnx = want_onnx or quant != "none"  # the int8 model is checked against, and shipped with, its FP32 parent
    ckpt = checkpoint.load(checkpoint_path)
    model = checkpoint.rebuild(ckpt)
    out = writable_dir(Path(out) if out else Path(checkpoint_path).parent)

    digest = checkpoint.sha256(checkpoint_path)
    meta = formats.onnx_metadata(ckpt["arch"], digest)
    digits, labels, check_digits = held_out_digits(ckpt, calibration_size, data_dir)
    if not check_digits.own:
        click.echo(f"warning: checking on {check_digits.note}")
    probes = parity.Probes.make(digits, labels)
    deployable = formats.fold_batchnorm(model)
    click.echo(f"{checkpoint_path}: {ckpt['arch']}, checked on {len(labels)} held-out digits + {len(probes.noise)} random inputs")

    reference, ref_outputs = parity.reference_result(model, probes)
    results = [reference]
    opset = None
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as staging:
        stage = Path(staging)
        made: dict[str, Path] = {}
        if want_ts:
            click.echo("writing TorchScript and torch.export ...")
            made["torchscript"] = formats.to_torchscript(deployable, stage / FILES["torchscript"])
            made["pt2"] = formats.to_pt2(deployable, stage / FILES["pt2"])
        if want_onnx:
            click.echo("writing ONNX ...")
            made["onnx"] = formats.to_onnx(deployable, stage / FILES["onnx"], meta, opset_wanted)
            opset = formats.opset_of(made["onnx"])
        checked = {fmt: parity.check_file(fmt, path, probes, ref_outputs, reference.accuracy, atol) for fmt, path in made.items()}
        if quant != "none":
            click.echo(f"quantizing ({quant}) ...")
            dst = stage / FILES["onnx-int8"]
            q = quantize.make(quant, made["onnx"], dst, meta, probes, checked["onnx"].latency_us)
            made["onnx-int8"] = q.path
            checked["onnx-int8"] = parity.check_file("onnx-int8", q.path, probes, ref_outputs, reference.accuracy, atol)
            checked["onnx-int8"].notes.update(mode=q.mode, quantized_ops=list(q.ops), choice=q.note)
            if checked["onnx-int8"].latency_us > checked["onnx"].latency_us * quantize.LATENCY_SLACK:
                checked["onnx-int8"].notes["warning"] = "slower than its FP32 parent at batch 1"
        results += [checked[f] for f in made]
        passed = all(r.passed for r in results)
        report = {
            "checkpoint": str(checkpoint_path),
            "checkpoint_sha256": digest,
            "architecture": ckpt["arch"],
            "opset": opset,
            "atol": atol,
            "gates": {"fp32": f"max |Δlogit| <= {atol} and 100% top-1 agreement, batch 1 and batch {len(labels)}",
                      "int8": f"top-1 agreement >= {100 * parity.INT8_MIN_AGREEMENT:.0f}% and accuracy drop <= "
                              f"{100 * parity.INT8_MAX_ACCURACY_DROP:.1f} points"},
            "check_digits": asdict(check_digits),
            "probes": {"digits": len(labels), "random": len(probes.noise), "batch1": parity.BATCH1_PROBES},
            "latency": f"median batch-1 wall time, 1 thread, {platform.processor() or platform.machine()}",
            "torch": torch.__version__,
            "formats": {r.format: r.as_dict() for r in results},
            "passed": passed,
        }
        print_table(results)
        for r in results:
            for key in ("warning", "choice"):
                if r.notes.get(key):
                    click.echo(f"{r.format}: {r.notes[key]}")
        if not passed:
            with atomic_path(out / FAILED_REPORT) as tmp:
                tmp.write_text(json.dumps(report, indent=2))
            failures = "; ".join(f for r in results for f in r.failures)
            raise UserError(f"parity check failed: {failures}; no model file in {out} changed, "
                            f"the failure is recorded in {out / FAILED_REPORT}")
        (stage / REPORT).write_text(json.dumps(report, indent=2))
        removed = place([*made.values(), stage / REPORT], out)
    discard(out / FAILED_REPORT)
    click.echo(f"wrote {', '.join(str(out / path.name) for path in made.values())} and {out / REPORT}")
    if removed:
        click.echo(f"removed {', '.join(removed)}: earlier exports' files, which this report does not describe")


export_main = entry_point(export_command, "cnn-export")
