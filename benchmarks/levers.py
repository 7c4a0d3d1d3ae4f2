"""Which training levers carry over to digits by other writers? One run per lever, several weight choices per run.

    python benchmarks/levers.py                          # every lever, seed 0 (about 3 minutes each on 2 cores)
    python benchmarks/levers.py --levers default photos-0 --seed 1

Each lever is the `cnn-train` default recipe with one change, trained on the
default split (4,500 digits; `all-digits` trains on all 5,000). Every run is
scored four ways on the same weights' trajectory: the final epoch (what
`cnn-train` keeps), the epoch with the best validation accuracy (`--keep
best`: the validation digits chose it), an exponential moving average of the
weights (decay 0.998 per step, batch-norm statistics included) and SWA (the
mean of the epoch-end weights over the last quarter). Each is scored on the
500 validation digits and on the `tune` half of a set of other_writers.py
(`--set`: 2,500 MNIST digits that are not in the sample by default, or OpenCV's
digits; the `holdout` half is only for the final report). Appends the table to
`RESULTS-levers.md`.
"""

import argparse
import copy
import datetime
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import other_writers
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from digit_cnn_edge.train import data, loop, models, photos

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
    """Train one lever and score its final, best-validation, EMA and SWA weights."""
    change = dict(LEVERS[lever]) | ({"epochs": epochs} if epochs else {})
    all_digits = change.pop("all_digits", False)
    d = data.load_sample(seed=0)
    train = d.train
    if all_digits:
        train = data.Split(np.concatenate([d.train.images, d.val.images]), np.concatenate([d.train.labels, d.val.labels]))
    cpu = torch.device("cpu")
    train_t, val_t = loop.to_tensor(train, cpu), loop.to_tensor(d.val, cpu)
    images, labels = other_writers.load("tune", digits)
    tune_t = (torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long())
    cfg = replace(loop.Config(seed=seed, photo_copies=photos.default_copies(len(train))), **change)
    start = time.perf_counter()
    copies = None
    if cfg.photo_share > 0:
        copies = torch.from_numpy(photos.photo_copies(train.images, cfg.photo_copies, seed, workers=photos.cores())).unsqueeze(2)
    torch.manual_seed(seed)
    model = models.build(models.DEFAULT_ARCH)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.998), use_buffers=True)
    swa = AveragedModel(model, use_buffers=True)
    best: dict = {}

    def progress(batches, epoch, total):
        for stats in batches:
            ema.update_parameters(model)
            yield stats

    def on_epoch(record: loop.EpochRecord, is_best: bool) -> None:
        if record.epoch > 0.75 * cfg.epochs:
            swa.update_parameters(model)
        if is_best:
            best.update(epoch=record.epoch, state=copy.deepcopy(model.state_dict()))

    loop.fit(model, train_t, val_t, cfg, on_epoch, progress, copies)
    seconds = time.perf_counter() - start
    best_model = copy.deepcopy(model)
    best_model.load_state_dict(best["state"])
    row = {"lever": lever, "seed": seed, "seconds": round(seconds), "best_epoch": best["epoch"]}
    for name, weights in (("final", model), ("best", best_model), ("ema", ema.module), ("swa", swa.module)):
        row[name] = {"validation": loop.evaluate(weights, *val_t)[1], "other_writers": loop.evaluate(weights, *tune_t)[1]}
    return row


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
        "| lever | seconds | final epoch | best epoch (validation chose it) | EMA 0.998 | SWA, last quarter |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for lever in args.levers:
        row = run(lever, args.seed, args.epochs, args.digits)
        print(json.dumps(row), flush=True)
        cells = [f"{100 * row[k]['other_writers']:.2f}% ({100 * row[k]['validation']:.1f}%)" for k in ("final", "best", "ema", "swa")]
        cells[1] += f", epoch {row['best_epoch']}"
        lines.append(f"| {lever} | {row['seconds']} | " + " | ".join(cells) + " |")
    lines.append(f"\nEach cell: the {args.digits} set of other_writers.py (`tune` half, about 2,500 digits), "
                 "then in brackets the 500 validation digits (which `all-digits` trained on).")
    table = "\n".join(lines) + "\n"
    print(table)
    with open(HERE / "RESULTS-levers.md", "a") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
