"""The model zoo: every architecture takes the input convention of runtime.convention.

Normalization lives inside each model (first layer), so exported files take
plain [0, 1] pixels and an app that embeds one needs no constants.
"""

from collections.abc import Callable

import torch
from torch import nn

from runtime.convention import INPUT_SIZE

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


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def edge(width: int = 12, dropout: float = 0.25) -> nn.Sequential:
    """The project's default: three conv-BN-ReLU-pool stages of width w, 2w, 4w.

    Pooling early keeps the multiply-adds low (the costly 3x3 convs run at
    14x14 and 7x7), batch norm lets it train fast on 4,500 digits, and export
    folds the batch norm into the convs, so at inference it is 3 convs and 1 matmul.
    """
    w = width
    return nn.Sequential(
        Normalize(),
        *_conv_bn(1, w), nn.MaxPool2d(2),
        *_conv_bn(w, 2 * w), nn.MaxPool2d(2),
        *_conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * w * 9, 10),
    )  # fmt: skip


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"edge": edge, "simple": simple, "tiny": tiny}
DEFAULT_ARCH = "edge"


def build(arch: str, **kwargs: object) -> nn.Module:
    """The model registered as `arch`; KeyError names the known ones."""
    if arch not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")
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
