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
    # torch.load reads any other file as an old-style pickle, whose parser fails in ways no list of errors covers
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a readable checkpoint (not a whole zip archive, which torch.save writes)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):  # after PyTorch's long advice on weights_only: more than data inside
            raise CheckpointError(f"{path}: not a cnn-train checkpoint (it holds Python objects, not only data)") from None
        raise CheckpointError(f"{path}: not a readable checkpoint (its pickled data cannot be read)") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_words(e)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a cnn-train checkpoint (no '{FORMAT}' format tag)")
    return ckpt


def _first_words(error: Exception, most: int = 120) -> str:
    """An error's first line, cut at a word to at most `most` characters."""
    line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return line if len(line) <= most else line[:most].rsplit(" ", 1)[0] + " ..."


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
