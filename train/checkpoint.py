"""The checkpoint contract (README, Contracts): one file that rebuilds the model with no other input."""

import hashlib
import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from digit_cnn_edge.common.errors import BadModel
from digit_cnn_edge.common.files import atomic_path
from digit_cnn_edge.runtime import __version__
from digit_cnn_edge.runtime.convention import BOX_SIZE, INPUT_SIZE, LABELS
from digit_cnn_edge.train.models import build, normalization

FORMAT = "digit-cnn-checkpoint/1"


class CheckpointError(BadModel, ValueError):
    """Missing, truncated or foreign checkpoint."""


def make(model: nn.Module, arch: str, arch_args: dict, data: dict, metrics: dict, train_config: dict) -> dict:
    return {
        "format": FORMAT,
        "arch": arch,
        "arch_args": arch_args,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "input_size": INPUT_SIZE,
        "box_size": BOX_SIZE,
        "normalization": normalization(model),
        "labels": list(LABELS),
        "data": data,
        "metrics": metrics,
        "train_config": train_config,
        "version": __version__,
    }


def save(checkpoint: dict, path: Path) -> None:
    """Write atomically, so Ctrl-C during a save keeps the previous best intact."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def load(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a cnn-train checkpoint (no '{FORMAT}' format tag)")
    return ckpt


def rebuild(ckpt: dict) -> nn.Module:
    """The trained model in eval mode."""
    try:
        model = build(ckpt["arch"], **ckpt.get("arch_args", {}))
    except KeyError as e:
        raise CheckpointError(str(e).strip("'\"")) from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"weights do not fit architecture {ckpt['arch']!r}: {str(e).splitlines()[0]}") from None
    return model.eval()


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
