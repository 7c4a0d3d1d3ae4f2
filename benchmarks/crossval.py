"""How accurate is the default recipe on digits it never saw? k-fold cross-validation on the offline sample.

    python benchmarks/crossval.py                 # 10 folds, the default architecture, 2 folds at a time
    python benchmarks/crossval.py --folds 5 --arch simple --jobs 1
    python benchmarks/crossval.py --photo-share 0  # without re-photographed training digits
    python benchmarks/crossval.py --pen 0.5        # half the training digits redrawn with another pen

One 500-digit validation split has a standard error of about 0.5 points, too
coarse to tell 98.8% from 99.2%. Here each of the 5,000 digits is held out
exactly once (stratified folds), a model is trained with the `cnn-train`
defaults on the rest, and the held-out predictions are pooled. Two figures per
fold: the final epoch (no selection, an unbiased estimate of the recipe, and
what `cnn-train` keeps) and the best epoch on the held-out fold (what
`cnn-train --keep best` keeps, optimistic here because the same digits chose it). Each fold's held-out digits are also put
into `--scenes` photo-like frames and read the way `cnn-run` reads them (its
segmenter, the fold's final model on the crops), so the scene figures rest on
all 5,000 digits. Appends a markdown table to benchmarks/RESULTS-crossval.md.
"""

import argparse
import datetime
import json
import math
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from digit_cnn_edge.runtime.segment import segment
from digit_cnn_edge.train import data
from digit_cnn_edge.train.loop import Config
from digit_cnn_edge.train.synth import Score, render_scene, score_frame

HERE = Path(__file__).resolve().parent


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """k disjoint index sets covering every digit once, each with the same share of every class."""
    rng = np.random.default_rng(seed)
    folds: list[list[np.ndarray]] = [[] for _ in range(k)]
    for c in np.unique(labels):
        for f, part in enumerate(np.array_split(rng.permutation(np.flatnonzero(labels == c)), k)):
            folds[f].append(part)
    return [np.sort(np.concatenate(f)) for f in folds]


def read_scenes(model, digits: np.ndarray, labels: np.ndarray, n: int, seed: int) -> Score:
    """Render n photo-like scenes from these digits and read them: cnn-run's segmenter, this model on the crops."""
    import torch

    rng = np.random.default_rng(seed)
    score = Score()
    model.eval()
    for _ in range(n):
        scene = render_scene(digits, labels, rng)
        found = segment(scene.image)
        with torch.no_grad():
            pred = model(torch.from_numpy(found.crops).unsqueeze(1)).argmax(1).tolist() if len(found.crops) else []
        score_frame(score, scene, found.boxes, pred)
    return score


def run_fold(arch: str, fold: int, k: int, seed: int, epochs: int | None, photo_share: float, scenes: int,
             pen: float = 0.0) -> dict:
    """Train with the cnn-train recipe on every fold but this one; score the final and best epoch and read scenes."""
    import torch

    from digit_cnn_edge.train import TrainOptions, train

    torch.set_num_threads(1)
    images, labels = data.load_sample_arrays()
    held = stratified_folds(labels, k, seed)[fold]
    rest = np.setdiff1d(np.arange(len(labels)), held)
    folds = data.Data(data.Split(images[rest], labels[rest]), data.Split(images[held], labels[held]), None, "sample",
                      {"origin": f"fold {fold} of {k} (seed {seed}) held out", "split_seed": seed})
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        options = TrainOptions(arch=arch, epochs=epochs, seed=seed, device="cpu", photo_share=photo_share,
                               warp={"stroke": pen} if pen else {}, out=Path(out))
        result = train(options, digits=folds)
    best = max(result.epochs, key=lambda e: (e["val_acc"], -e["val_loss"]))
    score = read_scenes(result.model, images[held], labels[held], scenes, seed * 1000 + fold)
    return {"fold": fold, "n": len(held), "final": result.epochs[-1]["val_acc"], "best": best["val_acc"],
            "best_epoch": best["epoch"], "epochs_run": len(result.epochs), "seconds": time.perf_counter() - start,
            "scenes": asdict(score)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="edge")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2, help="folds trained at once, one thread each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="default: cnn-train's")
    ap.add_argument("--photo-share", type=float, default=Config.photo_share, help="default: cnn-train's; 0 turns it off")
    ap.add_argument("--scenes", type=int, default=100, help="photo-like scenes rendered from each held-out fold")
    ap.add_argument("--pen", type=float, default=0.0, help="share of training digits redrawn with another pen (Augment.stroke)")
    args = ap.parse_args()

    with ProcessPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(run_fold, args.arch, f, args.folds, args.seed, args.epochs, args.photo_share, args.scenes,
                            args.pen) for f in range(args.folds)]
        rows = []
        for job in jobs:
            rows.append(job.result())
            print(json.dumps(rows[-1]), flush=True)
    n = sum(r["n"] for r in rows)

    def pooled(key: str) -> tuple[float, float]:
        acc = sum(r[key] * r["n"] for r in rows) / n
        return acc, math.sqrt(acc * (1 - acc) / n)

    lines = [
        f"## {args.arch}, photo share {args.photo_share}, {args.folds}-fold cross-validation on the 5,000-digit sample",
        "",
        (
            f"`python benchmarks/crossval.py --arch {args.arch} --folds {args.folds} --seed {args.seed} "
            f"--photo-share {args.photo_share} --scenes {args.scenes}" + (f" --pen {args.pen}" if args.pen else "")
            + f"`, {datetime.date.today().isoformat()}"
        ),
        "",
        (
            "| fold | held out | final epoch | best epoch (selected on this fold) | epochs run | seconds "
            "| scene labels (final epoch) | scenes read exactly |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(f"| {r['fold']} | {r['n']} | {100 * r['final']:.2f}% | {100 * r['best']:.2f}% (epoch {r['best_epoch']}) | "
          f"{r['epochs_run']} | {r['seconds']:.0f} | {100 * Score(**r['scenes']).label_accuracy:.2f}% | "
          f"{100 * Score(**r['scenes']).exact_frames:.1f}% |" for r in rows),
    ]
    for key, what in (("final", "final epoch (unbiased)"), ("best", "best epoch (optimistic)")):
        acc, se = pooled(key)
        lines.append(f"\nPooled over all {n} digits, {what}: **{100 * acc:.2f}%** (standard error {100 * se:.2f} points)")
    total = Score(**{key: sum(r["scenes"][key] for r in rows) for key in asdict(Score())})
    lines.append(
        f"\nScenes: {total.frames} photo-like frames rendered from the held-out digits, read by cnn-run's segmenter "
        f"and each fold's final model: box recall {100 * total.recall:.2f}%, precision {100 * total.precision:.2f}%, "
        f"**label accuracy {100 * total.label_accuracy:.2f}%** ({total.matched} digits), "
        f"**frames read exactly {100 * total.exact_frames:.2f}%**"
    )
    table = "\n".join(lines) + "\n"
    print(table)
    with open(HERE / "RESULTS-crossval.md", "a") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
