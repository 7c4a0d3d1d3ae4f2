"""How well the classifier's confidence separates digits from things that are not digits.

    python benchmarks/rejection.py --model runs/default/model.onnx

Digits: the default split's 500 validation digits (never trained on), each
photographed at 30-140 px and cut out by the runtime's segmenter, as `cnn-run`
sees them. Non-digits, rendered and cut out the same way: letters and symbols
in several OpenCV fonts (letters that are digit shapes, O I l S Z B, are left
out), straight strokes, scribbles, and uniform noise patches. For each
threshold on the top probability: the share of each kind of crop kept.
`cnn-run --min-confidence` defaults to the threshold chosen from this table,
which is written to `benchmarks/RESULTS-rejection.md`.
"""

import argparse
import datetime
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.runtime import DigitClassifier
from digit_cnn_edge.runtime.segment import find_digits
from digit_cnn_edge.train.data import load_sample
from digit_cnn_edge.train.synth import photograph, place

LETTERS = "ACDEFGHJKLMNPQRTUVWXYacdefhkmnprtuvwxy#%&@?+*"
FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN]


def glyph(text: str, font: int, thickness: int) -> np.ndarray:
    """A symbol drawn white on black, float [0, 1], about 28x28 like an MNIST digit."""
    img = np.zeros((56, 56), np.uint8)
    (w, h), _ = cv2.getTextSize(text, font, 1.4, thickness)
    cv2.putText(img, text, ((56 - w) // 2, (56 + h) // 2), font, 1.4, 255, thickness, cv2.LINE_AA)
    return cv2.resize(img, (28, 28), interpolation=cv2.INTER_AREA)


def scribble(rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((28, 28), np.uint8)
    pts = rng.integers(4, 24, size=(int(rng.integers(3, 7)), 2)).astype(np.int32)
    cv2.polylines(img, [pts], False, 255, int(rng.integers(2, 4)), cv2.LINE_AA)
    return img


def stroke(rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((28, 28), np.uint8)
    a = rng.uniform(0, np.pi)
    dx, dy = 10 * np.cos(a), 10 * np.sin(a)
    cv2.line(img, (int(14 - dx), int(14 - dy)), (int(14 + dx), int(14 + dy)), 255, int(rng.integers(2, 4)), cv2.LINE_AA)
    return img


def non_digits(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    return {
        "letters and symbols": [glyph(c, f, t) for c in LETTERS for f in FONTS for t in (2, 3)],
        "scribbles": [scribble(rng) for _ in range(200)],
        "straight strokes": [stroke(rng) for _ in range(100)],
        "noise patches": [(rng.random((28, 28)) * 255).astype(np.uint8) for _ in range(50)],
    }


def photographed_crops(tiles: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Each 28x28 tile photographed at 30-140 px and cut out by the segmenter, as cnn-run would see it."""
    crops = []
    for tile in tiles:
        ink = place(tile, int(rng.uniform(30, 140)), float(rng.uniform(-5, 5)))
        page = cv2.copyMakeBorder(ink, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=0)
        _, found = find_digits(photograph(page, rng, channels=1))
        crops.extend(found)
    return np.array(crops, np.float32).reshape(-1, 28, 28)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped one)")
    args = ap.parse_args()
    clf = DigitClassifier(args.model)
    rng = np.random.default_rng(0)
    val = load_sample(seed=0).val
    conf = {"digits (500 validation digits, photographed)": clf.predict(photographed_crops(list(val.images), rng))[1].max(1)}
    for name, tiles in non_digits(rng).items():
        crops = photographed_crops(tiles, rng)
        conf[f"{name} ({len(tiles)} drawn, {len(crops)} cut out)"] = clf.predict(crops)[1].max(1) if len(crops) else np.zeros(0)
    thresholds = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    lines = ["| crops | median confidence | " + " | ".join(f"kept at {t}" for t in thresholds) + " |",
             "|---|---:|" + "---:|" * len(thresholds)]
    for name, c in conf.items():
        kept = [f"{100 * np.mean(c >= t):.1f}%" if len(c) else "-" for t in thresholds]
        lines.append(f"| {name} | {np.median(c) if len(c) else float('nan'):.3f} | " + " | ".join(kept) + " |")
    report = (f"# Digits and non-digits by the classifier's confidence\n\n`python benchmarks/rejection.py"
              f"{' --model ' + str(args.model) if args.model else ''}` ({args.model or 'the shipped model'}), "
              f"{datetime.date.today()}\n\n" + "\n".join(lines) + "\n")
    print(report)
    (Path(__file__).resolve().parent / "RESULTS-rejection.md").write_text(report)


if __name__ == "__main__":
    main()
