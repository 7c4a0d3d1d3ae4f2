"""Digits kept against things that are not digits kept, by the classifier's confidence: where to set the rejection.

    python benchmarks/rejection.py --data-dir DIR --part tune      # what the default threshold is chosen on
    python benchmarks/rejection.py --data-dir DIR --part holdout   # the figures

Everything is photographed at 24-140 px and cut out by the runtime's
segmenter, as `cnn-run` would see it. Digits: `tune` and `scratch` take the
validation digits of the default split (never trained on), `holdout` MNIST's
test digits. Non-digits, from parts the model never trained on (pages.py's
fonts, words and marks of the same part, none of them in train/negatives.py): printed
letters other than digit shapes, the letters that are digit shapes in print
(O o D Q I l i j S s Z z B b G g q: the word rule, not the classifier, is
meant for those), pen marks, and rules and boxes cut to digit size. For each
threshold on the top probability, the share of each kind kept; a plot of the
curve; `--write` puts both in RESULTS-rejection.md and rejection.png.
"""

import argparse
import datetime
from pathlib import Path

import cv2
import numpy as np
import pages
from digit_sets import digit_set

from digit_cnn_edge.runtime import DigitClassifier
from digit_cnn_edge.train.negatives import cut_out
from digit_cnn_edge.train.synth import place

HERE = Path(__file__).resolve().parent
DIGIT_SHAPES = "ODQoIlijSsZzBbGgq"
LETTERS = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in DIGIT_SHAPES)
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def rule_pieces(rng: np.random.Generator) -> np.ndarray:
    """A short printed rule, a box's corner or side, or a box with nothing in it: what page structure leaves behind."""
    ink = np.zeros((120, 120), np.float32)
    t = int(rng.integers(1, 4))
    kind = int(rng.integers(3))
    if kind == 0:
        cv2.rectangle(ink, (10, 10), (int(rng.uniform(40, 110)), int(rng.uniform(40, 110))), 1.0, t)
    elif kind == 1:
        cv2.polylines(ink, [np.array([[10, 110], [10, 10], [int(rng.uniform(40, 110)), 10]], np.int32)], False, 1.0, t)
    else:
        cv2.line(ink, (10, 60), (110, 60 + int(rng.uniform(-20, 20))), 1.0, t)
    return ink


def crops_of(tiles: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    found = [cut_out(tile, rng) for tile in tiles]
    return np.concatenate([f for f in found if len(f)] or [np.zeros((0, 28, 28), np.float32)])


def kinds(part: str, data_dir: Path, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Crops of each kind, as the segmenter cuts them: digits first."""
    parts = pages.PARTS[part]
    images, labels = digit_set("test" if part == "holdout" else "validation", data_dir)
    pick = rng.choice(len(labels), min(n, len(labels)), replace=False)
    fonts = parts.fonts

    def letters(pool: str) -> list[np.ndarray]:
        return [pages.word_ink(pool[int(rng.integers(len(pool)))], fonts[int(rng.integers(len(fonts)))], 48)
                for _ in range(n)]

    return {
        "digits": crops_of([place(d, 40, 0.0) for d in images[pick]], rng),
        "letters (not digit shapes)": crops_of(letters(LETTERS), rng),
        "letters that are digit shapes": crops_of(letters(DIGIT_SHAPES), rng),
        "pen marks": crops_of([pages.mark(str(rng.choice(parts.marks)), rng, 60) for _ in range(n)], rng),
        "rules and boxes": crops_of([rule_pieces(rng) for _ in range(n)], rng),
    }


def confidences(model: Path | None, crops: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    clf = DigitClassifier(model)
    return {name: clf.predict(c)[1].max(1) if len(c) else np.zeros(0) for name, c in crops.items()}


def table(conf: dict[str, np.ndarray]) -> list[str]:
    lines = ["| crops | count | median confidence | " + " | ".join(f"kept at {t}" for t in THRESHOLDS) + " |",
             "|---|---:|---:|" + "---:|" * len(THRESHOLDS)]
    for name, c in conf.items():
        kept = [f"{100 * np.mean(c >= t):.1f}%" for t in THRESHOLDS]
        lines.append(f"| {name} | {len(c)} | {np.median(c):.3f} | " + " | ".join(kept) + " |")
    return lines


def plot(conf: dict[str, np.ndarray], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, 1, 201)
    digits = conf["digits"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, c in conf.items():
        if name != "digits":
            ax.plot([100 * np.mean(c >= t) for t in grid], [100 * np.mean(digits >= t) for t in grid], label=name)
    ax.set(xlabel="non-digits kept (%)", ylabel="digits kept (%)", title=title, ylim=(95, 100.2))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped one)")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="an MNIST folder")
    ap.add_argument("--part", choices=list(pages.PARTS), default="holdout")
    ap.add_argument("--count", type=int, default=1000, help="things drawn of each kind")
    ap.add_argument("--write", action="store_true", help="append to RESULTS-rejection.md, plot rejection.png")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    conf = confidences(args.model, kinds(args.part, args.data_dir, args.count, np.random.default_rng(7)))
    lines = table(conf)
    print("\n".join(lines))
    if args.write:
        name = f"rejection-{args.part}.png"
        plot(conf, HERE / name, f"{args.model or 'shipped model'}, {args.part}")
        command = f"python benchmarks/rejection.py --part {args.part}" + (f" --model {args.model}" if args.model else "")
        with open(HERE / "RESULTS-rejection.md", "a") as f:
            f.write(f"\n## {args.model or 'the shipped model'}, {args.part} half, {datetime.date.today()}\n\n"
                    f"`{command}`; the curve: `{name}`\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
