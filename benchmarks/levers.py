"""Which training levers carry over to digits by other writers? One run per lever, through the cnn-train recipe.

    python benchmarks/levers.py                          # every lever, seed 0 (about 3 minutes each on 2 cores)
    python benchmarks/levers.py --levers default photos-0 --seed 1

Each lever is the `cnn-train` default recipe (`train.train`) with one change,
trained on the default split (4,500 digits; `all-digits` trains on all 5,000).
Its final epoch (what `cnn-train` keeps) is scored on the 500 validation digits
and on the `tune` half of a set of other_writers.py (`--set`: 2,500 MNIST
digits that are not in the sample by default, or OpenCV's digits; the
`holdout` half is only for the final report). Appends the table to
`RESULTS-levers.md`.
"""

import argparse
import datetime
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
import other_writers
import torch

from digit_cnn_edge.train import TrainOptions, data, loop, photos, train

HERE = Path(__file__).resolve().parent
LEVERS: dict[str, dict] = {
    "default": {},
    "photos-0": {"photo_share": 0.0},
    "photos-0.25": {"photo_share": 0.25},
    "photos-0.75": {"photo_share": 0.75},
    "epochs-150": {"epochs": 150},
    "strong-warp": {"warp": {"rotate": 12, "scale": 0.12, "shear": 10, "shift": 2.5, "elastic": 1.5}},
    "all-digits": {"all_digits": True},
    "pen": {"warp": {"stroke": 0.5}},  # half the digits redrawn with a thicker or thinner pen
}


def run(lever: str, seed: int, epochs: int | None = None, digits: str = "mnist") -> dict:
    """Train one lever with the recipe and score its final epoch."""
    change = dict(LEVERS[lever]) | ({"epochs": epochs} if epochs else {})
    all_digits = change.pop("all_digits", False)
    d = data.load_sample(seed=0)
    if all_digits:
        d = data.Data(data.Split(np.concatenate([d.train.images, d.val.images]), np.concatenate([d.train.labels, d.val.labels])),
                      d.val, None, "sample", dict(d.details, note="trained on all 5,000, validation included"))
    images, labels = other_writers.load("tune", digits)
    tune_t = (torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long())
    with tempfile.TemporaryDirectory() as out:
        result = train(TrainOptions(seed=seed, device="cpu", out=Path(out), **change), digits=d)
    val_t = loop.to_tensor(d.val, torch.device("cpu"))
    return {"lever": lever, "seed": seed, "seconds": round(result.metrics["train_seconds"] + result.metrics["photo_seconds"]),
            "validation": loop.evaluate(result.model, *val_t)[1], "other_writers": loop.evaluate(result.model, *tune_t)[1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levers", nargs="+", choices=list(LEVERS), default=list(LEVERS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="override every lever's epochs (a quick look)")
    ap.add_argument("--set", dest="digits", choices=list(other_writers.SETS), default="mnist",
                    help="which set of other_writers.py scores the runs (its tune half)")
    args = ap.parse_args()
    torch.set_num_threads(photos.cores())
    lines = [
        f"`python benchmarks/levers.py --set {args.digits} --levers {' '.join(args.levers)} --seed {args.seed}"
        + (f" --epochs {args.epochs}" if args.epochs else "") + "`, "
        f"{datetime.date.today().isoformat()}, {platform.machine()}, {photos.cores()} cores",
        "",
        "| lever | seconds | final epoch |",
        "|---|---:|---:|",
    ]
    for lever in args.levers:
        row = run(lever, args.seed, args.epochs, args.digits)
        print(json.dumps(row), flush=True)
        lines.append(f"| {lever} | {row['seconds']} | {100 * row['other_writers']:.2f}% ({100 * row['validation']:.1f}%) |")
    lines.append(f"\nEach cell: the {args.digits} set of other_writers.py (`tune` half, about 2,500 digits), "
                 "then in brackets the 500 validation digits (which `all-digits` trained on).")
    table = "\n".join(lines) + "\n"
    print(table)
    with open(HERE / "RESULTS-levers.md", "a") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
