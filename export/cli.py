"""`cnn-export`: the export pipeline (`export.pipeline.export`) on the command line."""

from pathlib import Path

import click
from tqdm import tqdm

from digit_cnn_edge.common.cli import FiniteFloatRange, entry_point
from digit_cnn_edge.export import edge, parity, quantize
from digit_cnn_edge.export.pipeline import OPSETS, ExportOptions, GateFailed, export
from digit_cnn_edge.train.cli import tqdm_progress


def print_table(results: list[parity.Result]) -> None:
    click.echo(f"{'format':<15} {'file':<17} {'size':>9} {'max |Δ|':>9} {'top-1 agr':>9} {'accuracy':>8} {'b1 latency':>11}  check")
    for r in results:
        size = f"{r.size_bytes / 1024:.1f} KiB" if r.size_bytes else "-"
        click.echo(
            f"{r.format:<15} {r.file or '-':<17} {size:>9} {r.max_abs_diff:>9.1e} {100 * r.top1_agreement:>8.2f}% "
            f"{100 * r.accuracy:>7.2f}% {r.latency_us:>8.1f} us  {'ok' if r.passed else 'FAILED'}"
        )
    for r in results:
        for key in ("warning", "choice"):
            if r.notes.get(key):
                click.echo(f"{r.format}: {r.notes[key]}")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("checkpoint_path", metavar="CHECKPOINT", type=click.Path(path_type=Path))
@click.option("--onnx", "want_onnx", is_flag=True, help="Write model.onnx (FP32, one self-contained file).")
@click.option("--torchscript", "want_ts", is_flag=True, help="Write model.ts (TorchScript) and model.pt2 (torch.export).")
@click.option("--executorch", "want_et", is_flag=True,
              help=f"Write model.pte (ExecuTorch, XNNPACK delegate, FP32), batch 1 to {edge.EXECUTORCH_MAX_BATCH}. "
                   "Needs the [executorch] extra.")
@click.option("--openvino", "want_ov", is_flag=True,
              help="Write model.xml + model.bin (OpenVINO IR, FP32, dynamic batch); compile it with "
                   "INFERENCE_PRECISION_HINT f32, or CPUs with bf16 compute it in bf16. Needs the [openvino] extra.")
@click.option("--tflite", "want_tfl", is_flag=True,
              help="Write model.tflite (LiteRT, FP32), batch 1: input [1, 1, 28, 28]. Needs the [tflite] extra.")
@click.option("--quantize", "quant", type=click.Choice(["none", *quantize.MODES]), default="none",
              help="Also write model.int8.onnx (and model.onnx with it): weights (int8 weights, FP32 compute: under "
                   "30% of the size, FP32 speed), dynamic (int8 MatMul/Gemm on the fly, op set chosen by measured "
                   "speed) or static (QDQ int8 weights and activations calibrated on real digits; smallest integer "
                   "model, slower than FP32 at batch 1 on AVX2). static also writes the int8 file of each edge "
                   "format asked for, by that format's own quantizer: model.int8.pte, model.int8.xml + "
                   "model.int8.bin, model.int8.tflite (float32 input and output).")
@click.option("--opset", "opset_wanted", type=click.IntRange(*OPSETS), default=None, help="ONNX opset (default: the exporter's).")
@click.option("--calibration-size", type=click.IntRange(min=1), default=ExportOptions.calibration_size,
              help="Real held-out digits used to calibrate static quantization and to check parity.")
@click.option("--atol", type=FiniteFloatRange(min=0, min_open=True), default=ExportOptions.atol,
              help="Largest allowed |logit difference| for FP32 formats against PyTorch.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where the checkpoint's training data is, for its validation digits: the MNIST folder "
                   "(default ./data) or a folder dataset's root (default: the one the checkpoint records).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder (default: beside the checkpoint).")
def export_command(checkpoint_path, want_onnx, want_ts, want_et, want_ov, want_tfl, quant, opset_wanted,
                   calibration_size, atol, data_dir, out):
    """Export a cnn-train checkpoint and prove each file computes what PyTorch computes, in its own runtime.

    With no format flag it writes ONNX and TorchScript. All or nothing: if any file fails its parity check, it
    exits 1, no model file or report in the output folder changes, and the failure is recorded in
    export_report.failed.json.
    """
    flags = (("onnx", want_onnx), ("torchscript", want_ts), ("executorch", want_et), ("openvino", want_ov),
             ("tflite", want_tfl))
    wanted = tuple(name for name, flag in flags if flag)
    options = ExportOptions(formats=wanted or ExportOptions.formats, quantize=quant, opset=opset_wanted,
                            calibration_size=calibration_size, atol=atol, data_dir=data_dir, out=out)
    try:
        result = export(checkpoint_path, options, log=tqdm.write, progress=tqdm_progress)
    except GateFailed as e:
        print_table(e.result.results)
        raise
    print_table(result.results)
    click.echo(f"wrote {', '.join(map(str, result.files))} and {result.report_path}")
    if result.removed:
        click.echo(f"removed {', '.join(result.removed)}: earlier exports' files, which this report does not describe")


export_main = entry_point(export_command, "cnn-export")
