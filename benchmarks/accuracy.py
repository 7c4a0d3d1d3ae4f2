"""Single-digit accuracy of models on MNIST's test digits (or the validation split), from an MNIST folder.

    python benchmarks/accuracy.py --data-dir DIR runtime/digits.onnx runs/train/model.pt
    python benchmarks/accuracy.py --data-dir DIR --digits validation runs/a/model.pt runs/b/model.pt

`test` digits are by writers no model trained on MNIST's training set has seen:
report on them, never choose on them. `validation` digits (the default
split's, never trained on) are what recipes are chosen on. Models are ONNX
files (scored with ONNX Runtime, as `cnn-run` reads them) or `cnn-train`
checkpoints (scored with PyTorch). Prints a markdown table with the standard
error of each figure; `--write` appends it to RESULTS-accuracy.md.
"""

import argparse
import datetime
import math
import platform
from pathlib import Path

import numpy as np
from digit_sets import DIGIT_SETS, digit_set

HERE = Path(__file__).resolve().parent


def predict(model: Path, images: np.ndarray) -> np.ndarray:
    """Predicted classes of uint8 digits [N, 28, 28]: ONNX Runtime for .onnx files, PyTorch for checkpoints."""
    x = images.astype(np.float32) / 255
    if model.suffix == ".onnx":
        from digit_cnn_edge.runtime import DigitClassifier

        return DigitClassifier(model).predict(x)[0]
    import torch

    from digit_cnn_edge.train import checkpoint

    net = checkpoint.rebuild(checkpoint.load(model))
    with torch.no_grad():
        return net(torch.from_numpy(x).unsqueeze(1)).argmax(1).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help=".onnx files or cnn-train checkpoints")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="an MNIST folder")
    ap.add_argument("--digits", choices=DIGIT_SETS, default="test")
    ap.add_argument("--write", action="store_true", help="append the table to benchmarks/RESULTS-accuracy.md")
    args = ap.parse_args()
    images, labels = digit_set(args.digits, args.data_dir)
    lines = [
        (f"`python benchmarks/accuracy.py --digits {args.digits} {' '.join(map(str, args.models))}`, "
         f"{datetime.date.today().isoformat()}, {platform.machine()}"),
        "",
        f"| model | {args.digits} digits ({len(labels):,}) | standard error | errors | per class (%) |",
        "|---|---:|---:|---:|---|",
    ]
    for model in args.models:
        pred = predict(model, images)
        acc = float((pred == labels).mean())
        per_class = " ".join(f"{100 * (pred[labels == c] == c).mean():.1f}" for c in range(10))
        lines.append(f"| `{model}` | {100 * acc:.2f}% | {100 * math.sqrt(acc * (1 - acc) / len(labels)):.2f} "
                     f"| {int((pred != labels).sum())} | {per_class} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.write:
        with open(HERE / "RESULTS-accuracy.md", "a") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
