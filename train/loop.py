"""The train/validate loop, with augmentation done on whole batches.

Per-sample PIL transforms would cost more than the model itself on a 2-core
machine, so each batch gets one random affine matrix per digit plus a smooth
elastic field, applied with a single grid_sample.
"""

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from digit_cnn_edge.train.data import Split


@dataclass
class Augment:
    """Ranges of the random distortions (degrees, fractions of size, pixels, share of digits).

    Mild on purpose: on cross-validation folds of the offline sample, these
    ranges read held-out digits better than stronger ones
    (benchmarks/RESULTS-crossval.md).

    `stroke`: the share of digits redrawn with another pen, half thicker and
    half thinner (`Config.warp`, or levers.py's `pen`). Off by default: what it
    gained on single digits was within the spread between seeds on photographed
    frames, what `cnn-run` reads (benchmarks/RESULTS-levers.md).
    """

    rotate: float = 8.0
    scale: float = 0.08
    shear: float = 6.0
    shift: float = 2.0
    elastic: float = 1.0
    stroke: float = 0.0

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape

        def uniform(*shape: int) -> torch.Tensor:
            return (torch.rand(*shape, generator=gen) * 2 - 1).to(x.device)

        rot, shear = uniform(n) * math.radians(self.rotate), uniform(n) * math.radians(self.shear)
        sx, sy = 1 + uniform(n) * self.scale, 1 + uniform(n) * self.scale
        tx, ty = uniform(n) * self.shift * 2 / w, uniform(n) * self.shift * 2 / h
        cos, sin, tan = torch.cos(rot), torch.sin(rot), torch.tan(shear)
        theta = torch.stack(
            [
                torch.stack([cos / sx, (-sin + tan * cos) / sx, tx], dim=1),
                torch.stack([sin / sy, (cos + tan * sin) / sy, ty], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        if self.elastic > 0:
            coarse = uniform(n * 2 * 16).view(n, 2, 4, 4) * (self.elastic * 2 / w)
            grid = grid + F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return change_pen(x, self.stroke, gen) if self.stroke > 0 else x


def change_pen(x: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """About `share` of the digits [N, 1, H, W] redrawn with a thicker pen (half of them) or a thinner one.

    A 3x3 grey dilation thickens and an erosion thins, each blended in by a
    random amount; a thinned digit is brought back to full strength (a thin pen
    is as dark as a thick one) and thinned by at most 0.6 of an erosion, so
    thin strokes fade but do not break.
    """
    n = len(x)
    pick = torch.rand(n, generator=gen).to(x.device).view(n, 1, 1, 1)
    amount = torch.rand(n, 1, 1, 1, generator=gen).to(x.device)
    thick = x + amount * (F.max_pool2d(x, 3, 1, 1) - x)
    eroded = -F.max_pool2d(-x, 3, 1, 1)
    eroded = eroded / eroded.amax(dim=(2, 3), keepdim=True).clamp_min(1e-3)
    thin = (x + 0.6 * amount * (eroded - x)).clamp(0, 1)
    return torch.where(pick < share / 2, thick, torch.where(pick < share, thin, x))


def to_tensor(split: Split, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 digits as float [N, 1, 28, 28] in [0, 1] on `device`, with their labels."""
    x = torch.from_numpy(split.images).to(device).unsqueeze(1).float().div_(255)
    return x, torch.from_numpy(split.labels).to(device)


def batches(n: int, batch_size: int, gen: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    return list(order.split(batch_size))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and predicted classes."""
    model.eval()
    loss, preds = 0.0, []
    for idx in batches(len(y), batch_size, None):
        logits = model(x[idx])
        loss += F.cross_entropy(logits, y[idx], reduction="sum").item()
        preds.append(logits.argmax(1))
    pred = torch.cat(preds)
    return loss / len(y), (pred == y).float().mean().item(), pred.cpu().numpy()


def train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    cfg: "Config",
    gen: torch.Generator,
    augment: Augment | None,
    photos: torch.Tensor | None = None,
    negatives: torch.Tensor | None = None,
) -> Iterator[tuple[float, float]]:
    """One pass over the data; yields (loss, accuracy on the digits) of each batch.

    With `negatives` (non-digit crops [M, 1, H, W]), each batch also gets
    `cfg.negatives` of its size in non-digits, whose target is the uniform
    distribution (outlier exposure): the model learns to be unsure of them.
    """
    model.train()
    for idx in batches(len(y), cfg.batch_size, gen):
        xb, yb = x[idx], y[idx]
        if photos is not None and cfg.photo_share > 0:
            xb = swap_in_photos(xb, idx, photos, cfg.photo_share, gen)
        n = len(idx)
        if negatives is not None and cfg.negatives > 0:
            pick = torch.randint(0, len(negatives), (max(1, round(cfg.negatives * n)),), generator=gen)
            xb = torch.cat([xb, negatives[pick.to(negatives.device)]])
        if augment is not None:
            xb = augment(xb, gen)
        logits = model(xb)
        loss = F.cross_entropy(logits[:n], yb, label_smoothing=cfg.label_smoothing)
        if len(logits) > n:  # cross-entropy against the uniform distribution
            loss = loss + cfg.outlier_weight * -F.log_softmax(logits[n:], dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        yield loss.item(), (logits[:n].argmax(1) == yb).float().mean().item()


def swap_in_photos(xb: torch.Tensor, idx: torch.Tensor, photos: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """Replace about `share` of the batch by one of its digits' re-photographed copies (photos: [N, copies, 1, H, W])."""
    n = len(idx)
    use = (torch.rand(n, generator=gen) < share).to(xb.device)
    pick = torch.randint(0, photos.shape[1], (n,), generator=gen)
    return torch.where(use[:, None, None, None], photos[idx, pick], xb)


@dataclass
class Config:
    epochs: int = 100
    batch_size: int = 64
    lr: float = 4e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    patience: int = 100  # the one-cycle schedule ends a default run; stopping early cut its annealing short
    seed: int = 0
    augment: bool = True
    warp: dict[str, float] = field(default_factory=dict)  # Augment's ranges that differ from its defaults
    photo_share: float = 0.5  # of each batch, taken from re-photographed copies (train.photos)
    photo_copies: int | None = None  # re-photographed copies of each training digit; None: train.photos.default_copies
    negatives: float = 0.25  # non-digit crops added to each batch, as a share of its digits (train.negatives); 0: none
    negative_count: int | None = None  # non-digits made before training; None: train.negatives.default_count
    outlier_weight: float = 0.5  # weight of the non-digits' loss (cross-entropy to the uniform distribution)
    fonts: list[str] = field(default_factory=list)  # the handwriting fonts (file names) non-digit letters were drawn in


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float


WARM_UP = 0.2
"""Share of the steps over which the one-cycle schedule raises the learning rate to its peak."""


def one_cycle(opt: torch.optim.Optimizer, lr: float, total_steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """The one-cycle schedule over `total_steps` batches, peaking at `lr` after `WARM_UP` of them.

    Where that share is exactly one step (5 steps in all), OneCycleLR's rise would
    last zero steps and it divides by that length, so the rise takes two steps there.
    """
    warm_up = WARM_UP if WARM_UP * total_steps != 1 else 2 / total_steps
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps, pct_start=warm_up)


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    cfg: Config,
    on_epoch: Callable[[EpochRecord, bool], None],
    progress: Callable[[Iterable, int, int], Iterable] = lambda it, epoch, total: it,
    photos: torch.Tensor | None = None,
    negatives: torch.Tensor | None = None,
) -> list[EpochRecord]:
    """Train with AdamW and a one-cycle schedule; stop after `patience` epochs without a better `monitor` score.

    `on_epoch(record, is_best)` runs after each epoch (the CLI saves the best
    checkpoint there); `progress(batches, epoch, n_batches)` wraps the batch
    iterator (the CLI passes a progress bar). `photos` are the training
    digits' re-photographed copies [N, copies, 1, H, W], mixed in at
    `cfg.photo_share`; `negatives` are non-digit crops [M, 1, H, W] added at
    `cfg.negatives` (train_epoch).
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = math.ceil(len(train[1]) / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = one_cycle(opt, cfg.lr, cfg.epochs * steps)
    augment = Augment(**cfg.warp) if cfg.augment else None
    history: list[EpochRecord] = []
    best: tuple[float, ...] | None = None
    stale = 0
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = sched.get_last_lr()[0]
        stats = list(
            progress(
                train_epoch(model, *train, opt, sched, cfg, gen, augment, photos, negatives),
                epoch,
                steps,
            )
        )
        val_loss, val_acc, _ = evaluate(model, *val)
        record = EpochRecord(
            epoch,
            float(np.mean([s[0] for s in stats])),
            float(np.mean([s[1] for s in stats])),
            val_loss,
            val_acc,
            lr,
            time.perf_counter() - start,
        )
        history.append(record)
        score = monitor(record)
        is_best = best is None or score > best
        best, stale = (score, 0) if is_best else (best, stale + 1)
        on_epoch(record, is_best)
        if stale >= cfg.patience:
            break
    return history


def monitor(record: EpochRecord) -> tuple[float, ...]:
    """The validation score that early stopping and checkpoint selection maximize.

    Higher accuracy, or equal accuracy and lower loss: with a few hundred
    validation digits, accuracy ties are common and would otherwise stop
    training on a plateau before the learning rate has annealed.
    """
    return (record.val_acc, -record.val_loss)


def history_dicts(history: list[EpochRecord]) -> list[dict]:
    return [asdict(r) for r in history]
