"""One run, one machine: formats x architectures, the segmentation pipeline, and training.

    python benchmarks/bench.py                       # trains edge, simple, deeper and batchnorm with the defaults first
    python benchmarks/bench.py --edge runs/default/model.pt --simple runs/simple/model.pt --deeper ... --batchnorm ...

Prints a markdown table and writes it to benchmarks/RESULTS.md with the
command, the date and the machine. Latency is the median wall time at batch 1
on one thread; throughput is digits per second at batch 256, one thread.
"""

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch
from onnx import TensorProto, helper

from digit_cnn_edge.export import edge, formats, parity, quantize
from digit_cnn_edge.export.pipeline import FILES, ExportOptions
from digit_cnn_edge.export.timing import median_seconds
from digit_cnn_edge.runtime import DigitClassifier, DigitReader
from digit_cnn_edge.runtime.convention import INPUT_SIZE
from digit_cnn_edge.train import TrainOptions, checkpoint, data, models, train
from digit_cnn_edge.train.synth import Score, render_scene, score_frame

HERE = Path(__file__).resolve().parent
ARCHS = ("edge", "simple", "deeper", "batchnorm")  # the default, then the tutorial's models
EDGE_FORMATS = {"executorch": "ExecuTorch FP32 (XNNPACK)", "openvino": "OpenVINO FP32", "tflite": "LiteRT FP32"}


def cpuinfo() -> str:
    """/proc/cpuinfo, or nothing where there is none (not Linux)."""
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.exists() else ""


def machine() -> str:
    flags = cpuinfo()
    cpu = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")), platform.processor())
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return f"{cpu}, {os.cpu_count()} cores, {simd}, {platform.system()} {platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}"


def cpu_ghz() -> float:
    mhz = [float(line.split(":")[1]) for line in cpuinfo().splitlines() if line.startswith("cpu MHz")]
    return (max(mhz) if mhz else 2000.0) / 1000


def train_default(arch: str, out: Path) -> Path:
    """Train with the defaults, as `cnn-train --data sample --arch ARCH` would; the checkpoint records the time it took."""
    return train(TrainOptions(data="sample", arch=arch, out=out)).checkpoint


def throughput(run, x: np.ndarray) -> float:
    return len(x) / median_seconds(lambda: run(x), repeats=15, warmup=3)


def measure_formats(ckpt_path: Path, probes: parity.Probes, tmp: Path) -> list[dict]:
    ckpt = checkpoint.load(ckpt_path)
    model = checkpoint.rebuild(ckpt)
    deployable = formats.fold_batchnorm(model)
    meta = formats.onnx_metadata(ckpt, checkpoint.sha256(ckpt_path))
    files = {
        "TorchScript": formats.to_torchscript(deployable, tmp / "model.ts"),
        "ONNX FP32": formats.to_onnx(deployable, tmp / "model.onnx", meta),
    }
    fp32_latency = parity.latency_us(parity.onnx_logits(files["ONNX FP32"])[0], probes.digits[:1])
    for mode in quantize.MODES:
        files[f"ONNX int8 {mode}"] = quantize.make(mode, files["ONNX FP32"], tmp / f"{mode}.onnx", meta, probes, fp32_latency).path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runners = {"PyTorch eager": (parity.torch_logits(model), None),
                   "TorchScript": (parity.torch_logits(torch.jit.load(str(files["TorchScript"]))), files["TorchScript"])}
    for name in ["ONNX FP32"] + [f"ONNX int8 {mode}" for mode in quantize.MODES]:
        runners[name] = (parity.onnx_logits(files[name])[0], files[name])
    x256 = np.concatenate([probes.digits] * (256 // len(probes.digits) + 1))[:256]
    torch.set_num_threads(1)
    rows = []
    eager_top1 = parity.torch_logits(model)(probes.digits).argmax(1)
    for name, (run, path) in runners.items():
        top1 = run(probes.digits).argmax(1)
        rows.append({"arch": ckpt["arch"], "format": name, "size": path.stat().st_size if path else None,
                     "accuracy": float(np.mean(top1 == probes.labels)), "agreement": float(np.mean(top1 == eager_top1)),
                     "latency_us": parity.latency_us(run, probes.digits[:1]), "throughput": throughput(run, x256)})
    rows += measure_edge_formats(ckpt["arch"], model, deployable, files["ONNX FP32"], probes, tmp)
    base = rows[0]
    for r in rows:
        r["latency_x"] = r["latency_us"] / base["latency_us"]
        r["throughput_x"] = r["throughput"] / base["throughput"] if r["throughput"] else None
    return rows


def measure_edge_formats(arch: str, model: torch.nn.Module, deployable: torch.nn.Module, onnx_path: Path,
                         probes: parity.Probes, tmp: Path) -> list[dict]:
    """ExecuTorch, OpenVINO and LiteRT (those whose extra is installed), each as cnn-export writes and checks it:
    batch-1 latency on one thread in its own runtime, in a fresh process (the gate's own measurement)."""
    writers = {"executorch": lambda path: edge.to_executorch(deployable, path),
               "openvino": lambda path: edge.to_openvino(onnx_path, path),
               "tflite": lambda path: edge.to_tflite(deployable, path)}
    files = {fmt: writers[fmt](tmp / FILES[fmt][0]) for fmt in EDGE_FORMATS if not edge.missing(fmt)}
    reference, ref_outputs = parity.reference_result(model, probes)
    sizes = {fmt: sum((tmp / name).stat().st_size for name in FILES[fmt]) for fmt in files}
    checked = parity.check_files(files, probes, ref_outputs, reference.accuracy, ExportOptions.atol, sizes)
    return [{"arch": arch, "format": EDGE_FORMATS[fmt], "size": r.size_bytes, "accuracy": r.accuracy,
             "agreement": r.top1_agreement, "latency_us": r.latency_us, "throughput": None}
            for fmt, r in checked.items()]


def measure_segmentation(onnx_path: Path, val: data.Split, n_per_count: int = 60) -> tuple[list[dict], Score]:
    """Frames per second of find + frame + classify on 640x480 frames, one core; and the scene accuracy."""
    cv2.setNumThreads(1)
    reader = DigitReader(DigitClassifier(onnx_path, threads=1))
    rng = np.random.default_rng(2026)
    rows, score = [], Score()
    for count in range(1, 7):
        scenes = [render_scene(val.images, val.labels, rng, count=count) for _ in range(n_per_count)]
        for s in scenes:
            r = reader.read(s.image, "segment")
            score_frame(score, s, [d.box for d in r.digits], [d.label for d in r.digits])
        times = []
        for _ in range(3):
            for s in scenes:
                t0 = time.perf_counter()
                reader.read(s.image, "segment")
                times.append(time.perf_counter() - t0)
        rows.append({"digits": count, "ms": 1e3 * float(np.median(times)), "fps": 1 / float(np.median(times))})
    return rows, score


def table(fmt_rows: list[dict], seg_rows: list[dict], score: Score, trainings: dict[str, dict], floor: dict) -> str:
    lines = [("| arch | format | file size | val accuracy | top-1 agreement with eager | b1 latency (µs) | vs eager | "
              "b256 throughput (digits/s) | vs eager |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in fmt_rows:
        size = f"{r['size'] / 1024:.1f} KiB" if r["size"] else "-"
        speed = f"{r['throughput']:,.0f} | {r['throughput_x']:.2f}x" if r["throughput"] else "- | -"
        lines.append(f"| {r['arch']} | {r['format']} | {size} | {100 * r['accuracy']:.2f}% | {100 * r['agreement']:.2f}% | "
                     f"{r['latency_us']:.1f} | {r['latency_x']:.2f}x | {speed} |")
    missing = [name for fmt, name in EDGE_FORMATS.items() if edge.missing(fmt)]
    if missing:
        lines += ["", f"Not measured, their extra is not installed: {', '.join(missing)} (pip install '.[edge]')."]
    lines += ["", ("ExecuTorch, OpenVINO and LiteRT run in their own runtime in a fresh process, as cnn-export's gate "
                   "runs them (OpenVINO with INFERENCE_PRECISION_HINT f32); their throughput is not measured.")]
    lines += ["", "| digits in frame | ms per 640x480 frame | frames per second |", "|---:|---:|---:|"]
    lines += [f"| {r['digits']} | {r['ms']:.2f} | {r['fps']:.0f} |" for r in seg_rows]
    lines += ["", (f"Scenes ({score.frames} rendered 640x480 frames, {score.truths} validation digits): box recall "
                   f"{100 * score.recall:.2f}%, precision {100 * score.precision:.2f}%, label accuracy of matched digits "
                   f"{100 * score.label_accuracy:.2f}%, frames read exactly {100 * score.exact_frames:.2f}%."), "",
              "| arch | multiply-adds | training time incl. photos (defaults, this machine) | epochs | best val accuracy |", "|---|---:|---:|---:|---:|"]
    for arch, t in trainings.items():
        lines.append(f"| {arch} | {t['macs']:,} | {t['seconds']:.0f} s | {t['epochs']} | {100 * t['val_acc']:.2f}% |")
    lines += ["", (f"Floor: the default model's {floor['macs']:,} multiply-adds at {floor['peak']:.0f} GMAC/s "
                   f"(one core, 2 AVX2 FMA units x 8 floats x {floor['ghz']:.2f} GHz) take {floor['floor_us']:.1f} µs; "
                   f"ONNX Runtime FP32 takes {floor['onnx_us']:.1f} µs, {floor['onnx_us'] / floor['floor_us']:.1f}x the floor, "
                   f"of which about {floor['call_us']:.1f} µs is the fixed cost of one session.run call (an Identity model).")]
    return "\n".join(lines)


def call_overhead_us() -> float:
    """The fixed cost of one session.run: an Identity model of the same input shape."""
    shape = ["N", 1, INPUT_SIZE, INPUT_SIZE]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    s = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), opts,
                             providers=["CPUExecutionProvider"])
    x = np.zeros((1, 1, INPUT_SIZE, INPUT_SIZE), np.float32)
    return 1e6 * median_seconds(lambda: s.run(None, {"x": x}), repeats=3000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for arch in ARCHS:
        ap.add_argument(f"--{arch}", type=Path, help=f"checkpoint of the {arch} architecture (trained with the defaults if absent)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    runs = HERE / "runs"
    ckpts = {arch: getattr(args, arch) or train_default(arch, runs / arch) for arch in ARCHS}
    val = data.load_sample(seed=0).val
    probes = parity.Probes.make(val.images, val.labels)
    fmt_rows, trainings = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch, path in ckpts.items():
            (Path(tmp) / arch).mkdir()
            fmt_rows += measure_formats(path, probes, Path(tmp) / arch)
            ck = checkpoint.load(path)
            m = ck["metrics"]
            seconds = m.get("train_seconds", float("nan")) + m.get("photo_seconds", 0.0) + m.get("negative_seconds", 0.0)
            trainings[arch] = {"macs": models.multiply_adds(checkpoint.rebuild(ck)), "seconds": seconds,
                               "epochs": m.get("epochs_run", "?"), "val_acc": m["val_acc"]}
        edge = checkpoint.load(ckpts["edge"])
        edge_onnx = formats.to_onnx(formats.fold_batchnorm(checkpoint.rebuild(edge)), Path(tmp) / "edge.onnx",
                                    formats.onnx_metadata(edge, checkpoint.sha256(ckpts["edge"])))
        seg_rows, score = measure_segmentation(edge_onnx, val)
    ghz = cpu_ghz()
    onnx_us = next(r["latency_us"] for r in fmt_rows if r["arch"] == "edge" and r["format"] == "ONNX FP32")
    floor = {"macs": trainings["edge"]["macs"], "ghz": ghz, "peak": 16 * ghz, "onnx_us": onnx_us, "call_us": call_overhead_us()}
    floor["floor_us"] = floor["macs"] / (floor["peak"] * 1e3)
    body = table(fmt_rows, seg_rows, score, trainings, floor)
    command = "python benchmarks/bench.py " + " ".join(sys.argv[1:])
    report = (f"# Benchmark results\n\nCommand: `{command.strip()}`  \nDate: {datetime.date.today()}  \nMachine: {machine()}\n\n"
              f"Latency: median wall time at batch 1, one thread. Throughput: batch 256, one thread. "
              f"Accuracy: the 500 validation digits of the offline sample (never trained on).\n\n{body}\n")
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
