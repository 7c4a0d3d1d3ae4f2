"""Training stage: data sources, model zoo, training loop, `cnn-train` and `cnn-eval`."""

from digit_cnn_edge.runtime.cli_common import needs_extra

NEEDS = ("torch", "torchvision", "mlxtend", "matplotlib", "tqdm")


def train_main() -> None:
    needs_extra("cnn-train", "train", NEEDS)
    from digit_cnn_edge.train.cli import train_main as main

    main()


def eval_main() -> None:
    needs_extra("cnn-eval", "train", NEEDS)
    from digit_cnn_edge.train.cli import eval_main as main

    main()
