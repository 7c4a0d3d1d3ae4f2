"""How accurate is the default recipe on digits it never saw? k-fold cross-validation on the offline sample.

    python benchmarks/crossval.py                 # 10 folds, the default architecture, 2 folds at a time
    python benchmarks/crossval.py --folds 5 --arch simple --jobs 1

One 500-digit validation split has a standard error of about 0.5 points, too
coarse to tell 98.8% from 99.2%. Here each of the 5,000 digits is held out
exactly once (stratified folds), a model is trained with the `cnn-train`
defaults on the rest, and the held-out predictions are pooled. Two figures per
fold: the final epoch (no selection, an unbiased estimate of the recipe) and
the best epoch on the held-out fold (what `cnn-train` keeps, optimistic here
because the same digits chose it). Appends a markdown table to
benchmarks/RESULTS-crossval.md.
"""

import argparse
import datetime
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train import data  # noqa: E402

HERE = Path(__file__).resolve().parent


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """k disjoint index sets covering every digit once, each with the same share of every class."""
    rng = np.random.default_rng(seed)
    folds: list[list[np.ndarray]] = [[] for _ in range(k)]
    for c in np.unique(labels):
        for f, part in enumerate(np.array_split(rng.permutation(np.flatnonzero(labels == c)), k)):
            folds[f].append(part)
    return [np.sort(np.concatenate(f)) for f in folds]


def run_fold(arch: str, fold: int, k: int, seed: int, epochs: int | None) -> dict:
    import torch

    from train import loop, models

    torch.set_num_threads(1)
    images, labels = data.load_sample_arrays()
    held = stratified_folds(labels, k, seed)[fold]
    rest = np.setdiff1d(np.arange(len(labels)), held)
    dev = torch.device("cpu")
    train = loop.to_tensor(data.Split(images[rest], labels[rest]), dev)
    val = loop.to_tensor(data.Split(images[held], labels[held]), dev)
    cfg = loop.Config(seed=seed) if epochs is None else loop.Config(seed=seed, epochs=epochs)
    torch.manual_seed(seed)
    model = models.build(arch)
    start = time.perf_counter()
    history = loop.fit(model, train, val, cfg, lambda record, is_best: None)
    best = max(history, key=loop.monitor)
    return {"fold": fold, "n": len(held), "final": history[-1].val_acc, "best": best.val_acc, "best_epoch": best.epoch,
            "epochs_run": len(history), "seconds": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="edge")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2, help="folds trained at once, one thread each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="default: cnn-train's")
    args = ap.parse_args()

    with ProcessPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(run_fold, args.arch, f, args.folds, args.seed, args.epochs) for f in range(args.folds)]
        rows = []
        for job in jobs:
            rows.append(job.result())
            print(json.dumps(rows[-1]), flush=True)
    n = sum(r["n"] for r in rows)

    def pooled(key: str) -> tuple[float, float]:
        acc = sum(r[key] * r["n"] for r in rows) / n
        return acc, math.sqrt(acc * (1 - acc) / n)

    lines = [
        f"## {args.arch}, {args.folds}-fold cross-validation on the 5,000-digit sample",
        "",
        f"`python benchmarks/crossval.py --arch {args.arch} --folds {args.folds} --seed {args.seed}`, "
        f"{datetime.date.today().isoformat()}",
        "",
        "| fold | held out | final epoch | best epoch (selected on this fold) | epochs run | seconds |",
        "|---:|---:|---:|---:|---:|---:|",
        *(f"| {r['fold']} | {r['n']} | {100 * r['final']:.2f}% | {100 * r['best']:.2f}% (epoch {r['best_epoch']}) | "
          f"{r['epochs_run']} | {r['seconds']:.0f} |" for r in rows),
    ]
    for key, what in (("final", "final epoch (unbiased)"), ("best", "best epoch (optimistic)")):
        acc, se = pooled(key)
        lines.append(f"\nPooled over all {n} digits, {what}: **{100 * acc:.2f}%** (standard error {100 * se:.2f} points)")
    table = "\n".join(lines) + "\n"
    print(table)
    with open(HERE / "RESULTS-crossval.md", "a") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
