"""The training recipe, as one function: options in, checkpoint and figures out.

`train(TrainOptions(...))` is what `cnn-train` runs and what every benchmark
calls, so the recipe (data, re-photographed copies, warp, schedule, which
weights are kept) lives here and nowhere else. It prints nothing: messages go
to `log`, long loops through `progress`, so a CLI, a notebook or a benchmark
decides what the user sees.
"""

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from digit_cnn_edge.common.errors import UserError
from digit_cnn_edge.common.files import atomic_path, writable_dir
from digit_cnn_edge.common.options import BadOption, number, one_of, whole
from digit_cnn_edge.common.progress import Log, Progress, no_log, no_progress
from digit_cnn_edge.runtime.workers import cores
from digit_cnn_edge.train import checkpoint, data, loop, models, negatives, photos, plots

DEVICES = ("auto", "cpu", "cuda", "mps")
KEEP = ("final", "best")
SEEDS = 2**63 - 1
"""The largest seed: numpy refuses negative seeds, torch overflows past 64 bits."""


@dataclass
class TrainOptions:
    """What `cnn-train` takes, one field per flag. None means: the default for the data (`resolve`).

    A value the run cannot use raises `BadOption` (a ValueError) here, before any data is loaded.
    """

    data: str = "auto"  # one of data.SOURCES
    data_dir: Path | None = None
    arch: str = models.DEFAULT_ARCH
    width: int | None = None
    hidden: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = loop.Config.lr
    seed: int = 0
    device: str = "auto"  # one of DEVICES
    keep: str = "final"  # one of KEEP
    patience: int | None = None
    augment: bool = True
    photo_share: float = loop.Config.photo_share
    photo_copies: int | None = None
    negatives: float = loop.Config.negatives
    fonts: Path | None = None  # a folder of handwriting-like fonts whose letters join the non-digits (negatives.font_files)
    warp: dict[str, float] = field(default_factory=dict)  # loop.Augment's ranges that differ from its defaults (no flag)
    out: Path = Path("runs/train")

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise BadOption for a value the run cannot use (`train` checks again: a field may have changed)."""
        one_of(self, "data", data.SOURCES)
        one_of(self, "device", DEVICES)
        one_of(self, "keep", KEEP)
        for name in ("width", "hidden", "epochs", "batch_size", "patience", "photo_copies"):
            whole(self, name, 1)
        whole(self, "seed", 0, SEEDS)
        number(self, "lr", 0, low_open=True)
        number(self, "photo_share", 0, 1)
        number(self, "negatives", 0, 1)
        if self.fonts is not None and self.negatives == 0:
            raise BadOption("fonts: letters in them are non-digits, and negatives=0 draws none (--fonts with --negatives 0)")


@dataclass
class TrainResult:
    checkpoint: Path
    history: Path
    plot: Path
    epochs: list[dict]  # what history.json holds: per epoch, train and validation loss and accuracy
    metrics: dict  # what the checkpoint records: kept epoch, val (and test) accuracy, seconds
    config: loop.Config  # the resolved recipe the run used
    data: dict  # which digits it learned from (data.Data.describe())
    model: nn.Module = field(repr=False)  # the kept weights, in eval mode


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


LARGE = 20_000
"""Training sets at least this big (full MNIST) get the large defaults: fewer passes, larger batches."""
EPOCHS = {"small": loop.Config.epochs, "large": 40}
BATCH_SIZE = {"small": loop.Config.batch_size, "large": 128}


def size_of(n_train: int) -> str:
    return "large" if n_train >= LARGE else "small"


def resolve(options: TrainOptions, n_train: int, fonts: Sequence[Path] = ()) -> loop.Config:
    """The loop's configuration, with the defaults that depend on how many digits there are filled in.

    A small set (the offline sample's 4,500 digits) needs many passes to see
    enough warped variants, each cheap; 55,000 digits see as many in fewer,
    and larger batches keep an epoch's time in check. Every resolved value
    is recorded in the checkpoint (`train_config`).
    """
    size = size_of(n_train)
    epochs = options.epochs or EPOCHS[size]
    return loop.Config(
        epochs=epochs,
        batch_size=options.batch_size or BATCH_SIZE[size],
        lr=options.lr,
        patience=options.patience or max(epochs, loop.Config.patience),
        seed=options.seed,
        augment=options.augment,
        photo_share=options.photo_share,
        photo_copies=options.photo_copies or photos.default_copies(n_train),
        warp=dict(options.warp),
        negatives=options.negatives,
        negative_count=negatives.default_count(n_train) if options.negatives > 0 else 0,
        fonts=[p.name for p in fonts],
    )


def write_json(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))


def architecture_arguments(options: TrainOptions) -> dict:
    """The architecture's arguments, defaults included, so a checkpoint rebuilds the same model after a default changes."""
    given = {k: v for k, v in {"width": options.width, "hidden": options.hidden}.items() if v is not None}
    try:
        return models.resolved_arguments(options.arch, given)
    except KeyError as e:
        raise ArchitectureError(str(e).strip("'\"")) from None


class ArchitectureError(UserError):
    """An architecture, or an argument it does not take."""

    exit_code = 2


def train(
    options: TrainOptions,
    digits: data.Data | None = None,
    log: Log = no_log,
    progress: Progress = no_progress,
) -> TrainResult:
    """Train a digit CNN and write model.pt, history.json and history.png into `options.out`.

    `digits` replaces the source `options.data` names (a benchmark's folds).
    The checkpoint is written after every epoch (the final one, or with
    `keep="best"` the best on validation so far), so Ctrl-C keeps the last
    finished epoch; the KeyboardInterrupt that ends it then says which epoch.
    """
    options.check()
    dev = pick_device(options.device)
    out = writable_dir(options.out)
    arch_args = architecture_arguments(options)
    fonts = negatives.font_files(Path(options.fonts)) if options.fonts is not None else []
    torch.use_deterministic_algorithms(True, warn_only=True)
    d = digits if digits is not None else data.load(options.data, options.data_dir, seed=options.seed)
    sizes = ", ".join(f"{k} {v}" for k, v in d.describe()["sizes"].items())
    log(f"data: {d.source} ({d.details.get('origin')}): {sizes}")
    if digits is None and options.data == "auto" and d.source == "sample":
        log(f"data: {data.sample_instead_of_mnist(options.data_dir)}")
    cfg = resolve(options, len(d.train), fonts)

    torch.manual_seed(options.seed)
    model = models.build(options.arch, **arch_args)
    log(f"model: {options.arch} {arch_args or ''}, {models.multiply_adds(model):,} multiply-adds, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters; device {dev}")
    model.to(dev)
    train_t, val_t = loop.to_tensor(d.train, dev), loop.to_tensor(d.val, dev)
    photos_t, photo_seconds = None, 0.0
    if cfg.photo_share > 0:
        start = time.perf_counter()
        desc = f"photographing {cfg.photo_copies} cop{'ies' if cfg.photo_copies > 1 else 'y'} of each training digit"
        copies = photos.photo_copies(d.train.images, cfg.photo_copies, options.seed, workers=cores(),
                                     progress=lambda it, total: progress(it, total, desc))
        photos_t = torch.from_numpy(copies).unsqueeze(2).to(dev)
        photo_seconds = time.perf_counter() - start
        log(f"photos: {copies.shape[0] * copies.shape[1]:,} re-photographed copies in "
            f"{photo_seconds:.0f}s, {100 * cfg.photo_share:.0f}% of each batch")
    others_t, negative_seconds = None, 0.0
    if cfg.negatives > 0:
        start = time.perf_counter()
        desc = f"drawing {cfg.negative_count:,} things that are not digits"
        others = negatives.negative_crops(cfg.negative_count, d.train.images, options.seed, workers=cores(),
                                          progress=lambda it, total: progress(it, total, desc), fonts=fonts)
        others_t = torch.from_numpy(others).unsqueeze(1).to(dev)
        negative_seconds = time.perf_counter() - start
        handwriting = f", letters in {len(fonts)} handwriting font{'s' if len(fonts) > 1 else ''} too" if fonts else ""
        log(f"non-digits: {len(others):,} crops of letters, marks, rules and fused digits{handwriting} in "
            f"{negative_seconds:.0f}s, {100 * cfg.negatives:.0f}% of each batch on top of its digits")

    ckpt_path, history_path, plot_path = out / "model.pt", out / "history.json", out / "history.png"
    history: list[loop.EpochRecord] = []

    def on_epoch(record: loop.EpochRecord, is_best: bool) -> None:
        history.append(record)
        log(f"epoch {record.epoch:3d}  loss {record.train_loss:.4f}  val loss {record.val_loss:.4f}  "
            f"val acc {100 * record.val_acc:.2f}%  ({record.seconds:.1f}s)" + (" *best" if is_best else ""))
        if is_best or options.keep == "final":
            metrics = {"kept": options.keep, "epoch": record.epoch, "val_acc": record.val_acc, "val_loss": record.val_loss}
            checkpoint.save(checkpoint.make(model, options.arch, arch_args, d.describe(), metrics, asdict(cfg)), ckpt_path)
        write_json(loop.history_dicts(history), history_path)

    def epoch_bar(batches: Iterable, epoch: int, total: int) -> Iterable:
        return progress(batches, total, f"epoch {epoch}/{cfg.epochs}")

    start = time.perf_counter()
    try:
        loop.fit(model, train_t, val_t, cfg, on_epoch, epoch_bar, photos_t, others_t)
    except KeyboardInterrupt:
        if not history:
            raise
        kept = max(history, key=loop.monitor) if options.keep == "best" else history[-1]
        which = "the best epoch so far" if options.keep == "best" else "the last finished epoch"
        raise KeyboardInterrupt(f"kept {which} (epoch {kept.epoch}, val acc {100 * kept.val_acc:.2f}%) "
                                f"at {ckpt_path}") from None
    seconds = time.perf_counter() - start

    ckpt = checkpoint.load(ckpt_path)
    kept_model = checkpoint.rebuild(ckpt).to(dev)
    metrics = dict(ckpt["metrics"], train_seconds=round(seconds, 1), photo_seconds=round(photo_seconds, 1),
                   negative_seconds=round(negative_seconds, 1),
                   epochs_run=len(history))
    if d.test is not None:
        metrics["test_acc"] = loop.evaluate(kept_model, *loop.to_tensor(d.test, dev))[1]
    ckpt["metrics"] = metrics
    checkpoint.save(ckpt, ckpt_path)
    plots.plot_history(loop.history_dicts(history), plot_path)
    return TrainResult(ckpt_path, history_path, plot_path, loop.history_dicts(history), metrics, cfg, d.describe(),
                       kept_model.cpu().eval())

