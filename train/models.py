"""The model zoo: every architecture takes the input convention of runtime.convention.

Normalization lives inside each model (a Normalize layer, or a batch norm
right after the first conv), so exported files take plain [0, 1] pixels and an
app that embeds one needs no constants.
"""

import inspect
from collections.abc import Callable

import torch
from torch import nn

from digit_cnn_edge.runtime.convention import INPUT_SIZE

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class Normalize(nn.Module):
    """(x - mean) / std as part of the graph."""

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * (1.0 / self.std)


def simple() -> nn.Sequential:
    """The tutorial's `simple` CNN, exactly as written there (4.2M multiply-adds)."""
    return nn.Sequential(
        Normalize(),
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10),
    )  # fmt: skip


def tiny() -> nn.Sequential:
    """The tutorial's `tiny` CNN, exactly as written there."""
    return nn.Sequential(
        Normalize(),
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 10),
    )  # fmt: skip


def deeper() -> nn.Sequential:
    """The tutorial's `DeeperCNN`, as written there: conv 16/32/64, each pooled, fc 576 -> 128 -> 10, dropout 0.5."""
    return nn.Sequential(
        Normalize(),
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(576, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10),
    )  # fmt: skip


def batchnorm() -> nn.Sequential:
    """The tutorial's `BatchNormCNN`, as written there: conv 32/64, each with batch norm and pooled, fc 3136 -> 128 -> 10."""
    return nn.Sequential(
        Normalize(),
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def edge(width: int = 16, hidden: int = 128, dropout: float = 0.3) -> nn.Sequential:
    """The project's default: three conv-BN-ReLU-pool stages (w, 2w, 4w channels), then a small MLP head.

    Pooling after every conv keeps the 3x3 convs at 28, 14 and 7 pixels: 1.99M
    multiply-adds at the default width 16 (the tutorial's `simple` is 4.2M), well
    under half of `simple`'s ONNX Runtime latency (benchmarks/RESULTS.md).
    `--width 8 --hidden 64` is the 4x cheaper model. Channel counts are
    multiples of 8, the block size of ONNX Runtime's AVX2 NCHWc convs: width 20
    measured slower than width 24. The first batch norm does the input
    normalization's job, and export folds every batch norm into its conv, so at
    inference it is 3 convs, 3 pools and 2 small matmuls.
    """
    w = width
    return nn.Sequential(
        *_conv_bn(1, w), nn.MaxPool2d(2),
        *_conv_bn(w, 2 * w), nn.MaxPool2d(2),
        *_conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * w * 9, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10),
    )  # fmt: skip


def normalization(model: nn.Module) -> dict:
    """How the model normalizes its [0, 1] input, for the checkpoint."""
    for m in model.modules():
        if isinstance(m, Normalize):
            return {"mean": m.mean, "std": m.std, "inside_model": True}
    return {"learned": "batch norm after the first conv (folded into it at export)", "inside_model": True}


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "edge": edge, "simple": simple, "tiny": tiny, "deeper": deeper, "batchnorm": batchnorm,
}  # fmt: skip
DEFAULT_ARCH = "edge"


def arguments(arch: str) -> tuple[str, ...]:
    """The keyword arguments an architecture takes (the CLI's --width, --hidden, ...)."""
    return tuple(inspect.signature(ARCHITECTURES[arch]).parameters)


def default_argument(arch: str, name: str) -> object:
    """An architecture's default for one argument (what --help states)."""
    return inspect.signature(ARCHITECTURES[arch]).parameters[name].default


def resolved_arguments(arch: str, given: dict) -> dict:
    """`given` plus the architecture's defaults for the rest, so a checkpoint rebuilds the same model after a default changes."""
    build(arch, **given)  # raises KeyError naming a bad architecture or argument
    params = inspect.signature(ARCHITECTURES[arch]).parameters
    return {name: given.get(name, p.default) for name, p in params.items()}


def build(arch: str, **kwargs: object) -> nn.Module:
    """The model registered as `arch`; KeyError names the known ones, or an argument it does not take."""
    if arch not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")
    unknown = sorted(set(kwargs) - set(arguments(arch)))
    if unknown:
        raise KeyError(f"architecture {arch!r} takes no {', '.join(unknown)} (it takes: {', '.join(arguments(arch)) or 'nothing'})")
    return ARCHITECTURES[arch](**kwargs)


def multiply_adds(model: nn.Module) -> int:
    """Multiply-adds of one forward pass at batch 1 (convs and linears; the rest is negligible)."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
        total += out.numel() * k

    def linear_hook(m: nn.Linear, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    hooks = [
        m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total
