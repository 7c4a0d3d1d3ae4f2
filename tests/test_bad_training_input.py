"""Bad input to cnn-train, cnn-eval and cnn-export: one line naming the problem, never a traceback.

Nothing here trains on a real data set: checkpoints are made from untrained
models, MNIST folders are a few random digits, and every bad flag is refused
before any data is read.
"""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import MNIST

from digit_cnn_edge.export import parity
from digit_cnn_edge.export.cli import export_command
from digit_cnn_edge.train import checkpoint, models
from digit_cnn_edge.train.cli import eval_command, train_command
from tests.conftest import invoke

FAST = ["--epochs", "1", "--photo-share", "0", "--negatives", "0", "--arch", "tiny", "--no-augment"]
ARGS = {"width": 8, "hidden": 16, "dropout": 0.3}


def one_line(err: str) -> str:
    """The one error line, checked to be the only line and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def small_checkpoint(path: Path, **edits: object) -> Path:
    """An untrained width-8 edge model as a checkpoint, with `edits` replacing its fields."""
    ckpt = checkpoint.make(models.build("edge", **ARGS), "edge", dict(ARGS), {"source": "sample", "split_seed": 0}, {}, {})
    ckpt.update(edits)
    checkpoint.save(ckpt, path)
    return path


def broadcast_weights(arch_args: dict) -> dict:
    """Weights of every shape `arch_args` describe, each one number repeated by a zero stride: a few bytes in the file."""
    with torch.device("meta"):
        shapes = models.build("edge", **arch_args).state_dict()
    return {name: torch.zeros((), dtype=t.dtype).expand(t.shape) for name, t in shapes.items()}


# --- a checkpoint's arch_args are a claim, checked against the weights the file holds


@pytest.mark.parametrize(
    "edits, words",
    [
        ({"arch_args": {**ARGS, "width": "abc"}}, ["width='abc'", "not an integer"]),
        ({"arch_args": {**ARGS, "width": 16.5}}, ["width=16.5", "not an integer"]),
        ({"arch_args": {**ARGS, "dropout": "x"}}, ["dropout='x'", "not a finite number"]),
        ({"arch_args": {**ARGS, "width": 100_000_000}}, ["weights do not fit", "[8, 1, 3, 3] in the file"]),
        ({"arch_args": {**ARGS, "width": -3}}, ["do not build", "'edge'"]),
        ({"arch_args": ["width", 8]}, ["not a cnn-train checkpoint", "arch_args"]),
        ({"state_dict": [1, 2]}, ["not a cnn-train checkpoint", "state_dict"]),
    ],
    ids=["text-width", "float-width", "text-dropout", "petabyte-width", "negative-width", "list-args", "list-weights"],
)
@pytest.mark.parametrize("command, prog", [(export_command, "cnn-export"), (eval_command, "cnn-eval")])
def test_a_checkpoints_bad_arch_args_are_one_line(tmp_path, capsys, command, prog, edits, words):
    path = small_checkpoint(tmp_path / "model.pt", **edits)
    code, _, err = invoke(command, prog, [path, "--out", tmp_path / "out"], capsys)
    line = one_line(err)
    assert code == 1 and all(w in line for w in words), line
    assert not (tmp_path / "out").exists()


def test_a_checkpoints_claimed_width_is_never_built_for_real(tmp_path, monkeypatch):
    """The claim is checked on the meta device first, so memory is never sized by it (here 8x the file's weights)."""
    path = small_checkpoint(tmp_path / "model.pt", arch_args={**ARGS, "width": 64})
    real_build = checkpoint.build

    def guarded(arch: str, **kwargs: object) -> torch.nn.Module:
        assert torch.get_default_device().type == "meta" or kwargs["width"] == 8, "built for real at the claimed width"
        return real_build(arch, **kwargs)

    monkeypatch.setattr(checkpoint, "build", guarded)
    with pytest.raises(checkpoint.CheckpointError, match=r"weights do not fit .*\[64, 1, 3, 3\] in the architecture"):
        checkpoint.rebuild(checkpoint.load(path))
    assert checkpoint.rebuild(checkpoint.load(small_checkpoint(tmp_path / "good.pt")))[-1].in_features == 16


def test_weights_that_only_claim_their_shape_are_refused(tmp_path):
    """A tensor can claim any shape over one stored number (stride 0); the bytes behind it are counted, not its shape."""
    claimed = {**ARGS, "width": 64}
    path = small_checkpoint(tmp_path / "model.pt", arch_args=claimed, state_dict=broadcast_weights(claimed))
    assert path.stat().st_size < 100_000
    with pytest.raises(checkpoint.CheckpointError, match="but the file holds 4 bytes for it"):
        checkpoint.rebuild(checkpoint.load(path))


# --- flags: seeds in range, floats finite


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999999"])
def test_a_seed_out_of_range_is_a_usage_error(tmp_path, capsys, seed):
    # A data folder that is not there: any run that got past the flags would fail on it instead.
    code, _, err = invoke(train_command, "cnn-train", ["--seed", seed, "--data", "folder", "--data-dir", tmp_path / "none",
                                                       "--out", tmp_path / "run"], capsys)
    line = one_line(err)
    assert code == 2 and "--seed" in line and str(2**63 - 1) in line, line


@pytest.mark.parametrize(
    "command, prog, args",
    [
        (train_command, "cnn-train", ["--lr", "nan"]),
        (train_command, "cnn-train", ["--lr", "inf"]),
        (train_command, "cnn-train", ["--photo-share", "nan"]),
        (train_command, "cnn-train", ["--negatives", "nan"]),
        (export_command, "cnn-export", ["missing.pt", "--atol", "nan"]),
        (export_command, "cnn-export", ["missing.pt", "--atol", "inf"]),
    ],
    ids=["lr-nan", "lr-inf", "photo-share-nan", "negatives-nan", "atol-nan", "atol-inf"],
)
def test_a_float_flag_that_is_not_a_finite_number_is_a_usage_error(tmp_path, capsys, command, prog, args):
    more = ["--data", "folder", "--data-dir", tmp_path / "none"] if prog == "cnn-train" else []
    code, _, err = invoke(command, prog, [*args, *more, "--out", tmp_path / "run"], capsys)
    line = one_line(err)
    assert code == 2 and args[-2] in line and "not a finite number" in line, line


def test_a_nan_logit_fails_the_fp32_gate():
    """`diff > atol` is false for a NaN difference; the gate asks the question that NaN fails."""
    reference = {"digits": np.zeros((2, 10), np.float32)}
    outputs = {"digits": reference["digits"].copy()}
    outputs["digits"][0, 0] = np.nan  # argmax stays 0, as in the reference: only the difference can catch it
    probes = parity.Probes(np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int64), np.zeros((0, 1, 28, 28)))
    diff, agree, _, failures = parity.compare("onnx", outputs, reference, probes, 1e-4, False, 1.0)
    assert agree == 1.0 and np.isnan(diff)
    assert failures and "max |Δlogit|" in failures[0]


# --- MNIST folders too small to split, or partly there


def write_mnist(folder: Path, n_train: int, n_test: int, only: tuple[str, ...] | None = None) -> Path:
    """Random digits in MNIST's unpacked layout (folder/MNIST/raw/<IDX files>), labels 0, 1, 2, ... in turn."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 255, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 255, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}  # fmt: skip
    for name, array in arrays.items():
        if only is None or name in only:
            head = struct.pack(f">BBBB{array.ndim}I", 0, 0, 8, array.ndim, *array.shape)
            (raw / name).write_bytes(head + array.astype(np.uint8).tobytes())
    return folder


@pytest.mark.parametrize(
    "n_train, n_test, words",
    [
        (0, 0, ["train-images-idx3-ubyte", "holds no digits"]),
        (1, 1, ["train-images-idx3-ubyte", "too few digits to train on (1)"]),
        (5, 5, ["train-images-idx3-ubyte", "too few digits to train on (5)"]),  # five classes, one digit each
        (50, 0, ["t10k-images-idx3-ubyte", "holds no digits"]),
    ],
    ids=["no-digits", "one-digit", "one-per-class", "no-test-digits"],
)
def test_an_mnist_folder_with_too_few_digits_is_one_line_naming_the_file(tmp_path, capsys, n_train, n_test, words):
    folder = write_mnist(tmp_path / "mn", n_train, n_test)
    for source in ("mnist", "auto"):
        code, _, err = invoke(train_command, "cnn-train", ["--data", source, "--data-dir", folder, *FAST,
                                                           "--out", tmp_path / "run"], capsys)
        line = one_line(err)
        assert code == 1 and all(w in line for w in words), line
        assert not (tmp_path / "run" / "model.pt").exists()


def test_a_partial_mnist_folder_that_cannot_be_completed_names_the_missing_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # the discard port: refused at once, like offline
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):  # straight to it, not through a proxy
        monkeypatch.delenv(proxy, raising=False)
    folder = write_mnist(tmp_path / "mn", 50, 20, only=("train-images-idx3-ubyte",))
    code, _, err = invoke(train_command, "cnn-train", ["--data", "mnist", "--data-dir", folder, *FAST,
                                                       "--out", tmp_path / "run"], capsys)
    line = one_line(err)
    assert code == 1 and "could not download MNIST" in line and "--data sample" in line, line
    assert f"{folder / 'MNIST' / 'raw' / 'train-labels-idx1-ubyte'} is missing (and 2 more)" in line, line
