"""`cnn-export`: checkpoint in, checked files out, with export_report.json beside them."""

import json
import platform
import tempfile
from pathlib import Path

import click
import numpy as np
import torch

from digit_cnn_edge.export import formats, parity, quantize
from digit_cnn_edge.runtime.cli_common import entry_point
from digit_cnn_edge.runtime.files import atomic_path, writable_dir
from digit_cnn_edge.train import checkpoint, data

FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx", "torchscript": "model.ts", "pt2": "model.pt2"}


def held_out_digits(ckpt: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The checkpoint's own validation digits (never trained on); the offline sample if its source is gone."""
    trained_on = ckpt.get("data", {})
    source = trained_on.get("source", "sample")
    try:
        d = data.load(source, None if source != "folder" else Path(trained_on.get("origin", "")), trained_on.get("split_seed", 0))
    except data.DataError:
        d = data.load("sample", seed=trained_on.get("split_seed", 0))
    return d.val.images[:n], d.val.labels[:n]


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
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder (default: beside the checkpoint).")
def export_command(checkpoint_path, want_onnx, want_ts, quant, opset_wanted, calibration_size, atol, out):
    """Export a cnn-train checkpoint and prove each file computes what PyTorch computes.

    With no format flag it writes every format. Exits non-zero if any file fails its parity check;
    a file that fails is not put in place.
    """
    if not (want_onnx or want_ts):
        want_onnx = want_ts = True
    want_onnx = want_onnx or quant != "none"  # the int8 model is checked against, and shipped with, its FP32 parent
    try:
        ckpt = checkpoint.load(checkpoint_path)
        model = checkpoint.rebuild(ckpt)
    except checkpoint.CheckpointError as e:
        raise click.ClickException(str(e)) from None
    out = Path(out) if out else Path(checkpoint_path).parent
    try:
        writable_dir(out)
    except OSError as e:
        raise click.ClickException(f"cannot write to {out}: {e.strerror or e}") from None

    digest = checkpoint.sha256(checkpoint_path)
    meta = formats.onnx_metadata(ckpt["arch"], digest)
    digits, labels = held_out_digits(ckpt, calibration_size)
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
        for fmt, path in made.items():
            if checked[fmt].passed:
                path.replace(out / path.name)

    report = {
        "checkpoint": str(checkpoint_path),
        "checkpoint_sha256": digest,
        "architecture": ckpt["arch"],
        "opset": opset,
        "atol": atol,
        "gates": {"fp32": f"max |Δlogit| <= {atol} and 100% top-1 agreement, batch 1 and batch {len(labels)}",
                  "int8": f"top-1 agreement >= {100 * parity.INT8_MIN_AGREEMENT:.0f}% and accuracy drop <= "
                          f"{100 * parity.INT8_MAX_ACCURACY_DROP:.1f} points"},
        "probes": {"digits": len(labels), "random": len(probes.noise), "batch1": parity.BATCH1_PROBES},
        "latency": f"median batch-1 wall time, 1 thread, {platform.processor() or platform.machine()}",
        "torch": torch.__version__,
        "formats": {r.format: r.as_dict() for r in results},
        "passed": all(r.passed for r in results),
    }
    with atomic_path(out / "export_report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))

    print_table(results)
    for r in results:
        for key in ("warning", "choice"):
            if r.notes.get(key):
                click.echo(f"{r.format}: {r.notes[key]}")
    click.echo(f"wrote {', '.join(str(out / r.file) for r in results if r.file and r.passed)} and {out / 'export_report.json'}")
    failures = [f for r in results for f in r.failures]
    if failures:
        raise click.ClickException("parity check failed: " + "; ".join(failures))


export_main = entry_point(export_command, "cnn-export")
