"""Which training levers pay? One run per lever through the cnn-train recipe, scored on validation digits only.

    python benchmarks/levers.py --data-dir DIR                         # every lever on full MNIST, seed 0
    python benchmarks/levers.py --data-dir DIR --levers default width-24 --epochs 10   # a quick look

Each lever is the recipe's defaults (`train.train`, as `cnn-train --data mnist`
runs it) with one change. Its final epoch (what `cnn-train` keeps; nothing
selects it) is scored on the default split's validation digits, plain and
photographed (each re-photographed once and cut out by the runtime's
segmenter, with another seed than training's copies: what `cnn-run` reads).
MNIST's test digits are never looked at here: they are for reporting the
chosen recipe (accuracy.py). Appends the table to RESULTS-levers.md.
"""

import argparse
import datetime
import json
import platform
import tempfile
from pathlib import Path

import torch

from digit_cnn_edge.runtime.workers import cores
from digit_cnn_edge.train import TrainOptions, data, loop, photos, train

HERE = Path(__file__).resolve().parent
LEVERS: dict[str, dict] = {
    "default": {},
    "photos-0.25": {"photo_share": 0.25},
    "negatives-0": {"negatives": 0.0},
    "epochs-40": {"epochs": 40},
    "width-24": {"width": 24, "hidden": 192},
    "width-32": {"width": 32, "hidden": 256},
    "strong-warp": {"warp": {"rotate": 12, "scale": 0.12, "shear": 10, "shift": 2.5, "elastic": 1.5}},
    "pen": {"warp": {"stroke": 0.5}},  # half the digits redrawn with a thicker or thinner pen
}
PHOTO_SEED = 12345  # the photographed validation digits' seed: not one training uses


def run(lever: str, digits: data.Data, seed: int, epochs: int | None) -> dict:
    """Train one lever with the recipe and score its final epoch."""
    change = dict(LEVERS[lever]) | ({"epochs": epochs} if epochs else {})
    with tempfile.TemporaryDirectory() as out:
        result = train(TrainOptions(seed=seed, device="cpu", out=Path(out), **change), digits=digits)
    cpu = torch.device("cpu")
    val = loop.to_tensor(digits.val, cpu)
    shots = photos.photo_copies(digits.val.images, 1, PHOTO_SEED, workers=cores())
    photographed = (torch.from_numpy(shots[:, 0]).unsqueeze(1), val[1])
    m = result.metrics
    return {"lever": lever, "seed": seed, "epochs": result.config.epochs,
            "minutes": round((m["train_seconds"] + m["photo_seconds"] + m["negative_seconds"]) / 60, 1),
            "validation": loop.evaluate(result.model, *val)[1], "photographed": loop.evaluate(result.model, *photographed)[1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levers", nargs="+", choices=list(LEVERS), default=list(LEVERS))
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="an MNIST folder (else the offline sample)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="override every lever's epochs (a quick look)")
    args = ap.parse_args()
    torch.set_num_threads(cores())
    digits = data.load("auto", args.data_dir, seed=0)
    lines = [
        f"`python benchmarks/levers.py --levers {' '.join(args.levers)} --seed {args.seed}"
        + (f" --epochs {args.epochs}" if args.epochs else "") + "`, "
        f"{datetime.date.today().isoformat()}, {platform.machine()}, {cores()} cores, "
        f"{digits.source}: {len(digits.train):,} training / {len(digits.val):,} validation digits",
        "",
        "| lever | epochs | minutes | validation digits | photographed validation digits |",
        "|---|---:|---:|---:|---:|",
    ]
    for lever in args.levers:
        row = run(lever, digits, args.seed, args.epochs)
        print(json.dumps(row), flush=True)
        lines.append(f"| {lever} | {row['epochs']} | {row['minutes']} | {100 * row['validation']:.2f}% | "
                     f"{100 * row['photographed']:.2f}% |")
    table = "\n".join(lines) + "\n"
    print(table)
    with open(HERE / "RESULTS-levers.md", "a") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
