"""Training stage: data sources, model zoo, the recipe (`train`), `cnn-train` and `cnn-eval`.

    from digit_cnn_edge.train import TrainOptions, train
    result = train(TrainOptions(data="sample", out=Path("runs/train")))

Importing this package needs no torch, so the console scripts can say which
extra to install; `train` and its types load torch when first used.
"""

from digit_cnn_edge.common.cli import needs_extra
from digit_cnn_edge.common.start import load_and_run

NEEDS = ("torch", "torchvision", "mlxtend", "matplotlib", "tqdm")
_RECIPE = ("train", "TrainOptions", "TrainResult")


def __getattr__(name: str) -> object:
    if name in _RECIPE:
        from digit_cnn_edge.train import recipe

        return getattr(recipe, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def train_main() -> None:
    needs_extra("cnn-train", "train", NEEDS)
    load_and_run("cnn-train", "digit_cnn_edge.train.cli", "train_main")


def eval_main() -> None:
    needs_extra("cnn-eval", "train", NEEDS)
    load_and_run("cnn-eval", "digit_cnn_edge.train.cli", "eval_main")
