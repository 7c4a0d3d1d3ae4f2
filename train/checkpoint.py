"""The checkpoint contract (README, Contracts): one file that rebuilds the model with no other input."""

import hashlib
import math
import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from digit_cnn_edge.common.errors import BadModel, shortened
from digit_cnn_edge.common.files import atomic_path
from digit_cnn_edge.runtime import __version__
from digit_cnn_edge.runtime.convention import BOX_SIZE, INPUT_SIZE, LABELS
from digit_cnn_edge.train.models import ARCHITECTURES, arguments, build, default_argument, normalization

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
    try:
        with open(path, "rb") as file:
            is_zip = zipfile.is_zipfile(file)  # which, given a path, would take a file it cannot open for no zip
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    if not is_zip:
        raise CheckpointError(f"{path}: not a readable checkpoint (not a whole zip archive, which torch.save writes)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):  # after PyTorch's long advice on weights_only: more than data inside
            raise CheckpointError(f"{path}: not a cnn-train checkpoint (it holds Python objects, not only data)") from None
        raise CheckpointError(f"{path}: not a readable checkpoint (its pickled data cannot be read)") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        reason = shortened(str(e) or type(e).__name__, 120)
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a cnn-train checkpoint (no '{FORMAT}' format tag)")
    return ckpt


def rebuild(ckpt: dict) -> nn.Module:
    """The trained model in eval mode.

    The checkpoint's `arch_args` are a claim (a width of 10**8 would ask for
    petabytes), so the architecture is first built on torch's meta device,
    where sizes are only numbers, and every parameter's shape is checked
    against the weights the file really holds. Only a model the file has the
    weights for is then built for real.
    """
    arch, args = ckpt.get("arch"), ckpt.get("arch_args", {})
    if not isinstance(arch, str) or not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise CheckpointError(f"not a cnn-train checkpoint: arch {shortened(repr(arch), 60)} with arch_args "
                              f"{shortened(repr(args), 60)}")
    _check_argument_types(arch, args)
    _check_weights_fit(_skeleton(arch, args), ckpt.get("state_dict"), arch)
    model = build(arch, **args)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"weights do not fit architecture {arch!r}: {str(e).splitlines()[0]}") from None
    return model.eval()


def _check_argument_types(arch: str, args: dict) -> None:
    """Each argument of the kind its default is (an int for an int, a finite number for a float), named if not.

    The architectures take numbers on trust; a string or a float where a
    channel count belongs fails deep inside torch with words that name neither.
    """
    if arch not in ARCHITECTURES:
        return  # _skeleton names the known ones
    for name in set(args) & set(arguments(arch)):
        value, default = args[name], default_argument(arch, name)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue  # numbers are what sizes memory; other kinds are the architecture's to judge
        wanted = (int,) if isinstance(default, int) else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted) or not math.isfinite(value):
            kind = "an integer" if wanted == (int,) else "a finite number"
            raise CheckpointError(f"arch_args {name}={shortened(repr(value), 60)} is not {kind} (architecture {arch!r})")


def _skeleton(arch: str, args: dict) -> nn.Module:
    """The architecture on the meta device: its shapes without their memory, whatever sizes `args` claim."""
    try:
        with torch.device("meta"):
            return build(arch, **args)
    except KeyError as e:
        raise CheckpointError(str(e).strip("'\"")) from None
    except (TypeError, ValueError, RuntimeError) as e:  # sizes torch refuses: negative, zero groups, ...
        raise CheckpointError(f"arch_args {shortened(repr(args), 60)} do not build architecture {arch!r} "
                              f"({shortened(str(e) or type(e).__name__, 120)})") from None


def _check_weights_fit(skeleton: nn.Module, state: object, arch: str) -> None:
    """Every parameter and buffer of `skeleton` has a tensor of its shape in `state`, backed by that many bytes.

    The bytes are checked too: a tensor in the file can claim a large shape over
    a one-element storage (stride 0), which would let a small file size memory.
    """
    if not isinstance(state, dict):
        raise CheckpointError(f"not a cnn-train checkpoint: its state_dict is a {type(state).__name__}, not a dict")
    expected, misfit = skeleton.state_dict(), f"weights do not fit architecture {arch!r}"
    missing, unexpected = sorted(set(expected) - set(state)), sorted(str(k)[:60] for k in set(state) - set(expected))
    if missing or unexpected:
        gaps = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(unexpected[:3])}"] if unexpected else [])
        raise CheckpointError(f"{misfit}: {'; '.join(gaps)}")
    for name, want in expected.items():
        got = state[name]
        if not isinstance(got, torch.Tensor):
            raise CheckpointError(f"{misfit}: {name} is a {type(got).__name__}, not a tensor")
        if got.shape != want.shape:
            raise CheckpointError(f"{misfit}: {name} is {list(got.shape)} in the file, "
                                  f"{list(want.shape)} in the architecture its arch_args describe")
        if got.untyped_storage().nbytes() < (got.storage_offset() + got.numel()) * got.element_size():
            raise CheckpointError(f"{misfit}: {name} claims {list(got.shape)} "
                                  f"but the file holds {got.untyped_storage().nbytes():,} bytes for it")


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
