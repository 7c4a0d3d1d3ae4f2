import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tests.conftest import invoke
from train import checkpoint, data, models
from train.cli import eval_command, train_command


def test_sample_split_is_stratified_disjoint_and_repeatable(sample):
    again = data.load_sample(seed=0)
    other = data.load_sample(seed=1)
    assert (len(sample.train), len(sample.val)) == (4500, 500)
    assert np.bincount(sample.val.labels).tolist() == [50] * 10
    assert np.array_equal(sample.val.images, again.val.images)
    assert not np.array_equal(sample.val.images, other.val.images)
    train_keys = {d.tobytes() for d in sample.train.images}
    assert not any(d.tobytes() in train_keys for d in sample.val.images)


def test_every_architecture_maps_digits_to_ten_logits():
    x = torch.rand(3, 1, 28, 28)
    for name in models.ARCHITECTURES:
        assert models.build(name).eval()(x).shape == (3, 10)


def test_default_is_cheaper_than_the_tutorial_simple_model():
    simple = 28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 128 * 10
    assert models.multiply_adds(models.simple()) == simple
    assert models.multiply_adds(models.build(models.DEFAULT_ARCH)) < simple / 3


def test_folder_source_reads_any_paper_colour(tmp_path, sample):
    import cv2

    for i in range(30):
        label = int(sample.val.labels[i])
        (tmp_path / str(label)).mkdir(exist_ok=True)
        big = cv2.resize(255 - sample.val.images[i], (64, 64))  # dark ink on light paper, not 28x28
        cv2.imwrite(str(tmp_path / str(label) / f"{i}.png"), big)
    d = data.load_folder(tmp_path)
    assert len(d.train) + len(d.val) == 30
    framed = d.train.images.astype(float)
    assert framed[:, 0, :].mean() < 5 and framed.mean() > 10  # white digit on black, like MNIST


def test_folder_source_errors_name_the_problem(tmp_path):
    with pytest.raises(data.DataError, match="not found"):
        data.load_folder(tmp_path / "missing")
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(data.DataError, match="unreadable image.*bad.png"):
        data.load_folder(tmp_path)
    (tmp_path / "cats").mkdir()
    with pytest.raises(data.DataError, match="cats"):
        data.load_folder(tmp_path)


def test_mnist_absent_offline_suggests_the_sample(tmp_path):
    with pytest.raises(data.DataError, match="--data sample"):
        data.load_mnist(tmp_path, download=False)


def test_checkpoint_holds_the_contract(trained):
    ckpt = checkpoint.load(trained)
    for key in ("arch", "arch_args", "state_dict", "input_size", "normalization", "labels", "data", "metrics", "version"):
        assert key in ckpt
    assert ckpt["labels"] == [str(i) for i in range(10)]
    assert ckpt["data"]["source"] == "sample" and ckpt["data"]["sizes"] == {"train": 4500, "val": 500}
    assert ckpt["metrics"]["val_acc"] > 0.9
    history = json.loads((trained.parent / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert (trained.parent / "history.png").stat().st_size > 1000


def test_same_seed_same_weights(tmp_path, capsys):
    runs = []
    for name in ("a", "b", "c"):
        seed = "1" if name != "c" else "2"
        code, _, err = invoke(train_command, "cnn-train", ["--arch", "tiny", "--epochs", "1", "--seed", seed,
                                                           "--data", "sample", "--out", tmp_path / name], capsys)
        assert code == 0, err
        runs.append(checkpoint.load(tmp_path / name / "model.pt")["state_dict"])
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "--epochs"),
        (["--batch-size", "-3"], "--batch-size"),
        (["--arch", "resnet9000"], "resnet9000"),
        (["--data", "folder", "--data-dir", "/nonexistent/digits"], "not found"),
    ],
)
def test_bad_training_input_is_one_line(args, message, tmp_path, capsys):
    code, _, err = invoke(train_command, "cnn-train", [*args, "--out", tmp_path], capsys)
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_eval_reports_accuracy_and_confusion(trained, tmp_path, capsys):
    code, out, _ = invoke(eval_command, "cnn-eval", [trained, "--out", tmp_path], capsys)
    assert code == 0
    acc = float(out.split("accuracy ")[1].split("%")[0])
    assert abs(acc - 100 * checkpoint.load(trained)["metrics"]["val_acc"]) < 0.01
    assert (tmp_path / "confusion.png").exists()


def test_eval_rejects_a_foreign_checkpoint(tmp_path, capsys):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    code, _, err = invoke(eval_command, "cnn-eval", [tmp_path / "other.pt"], capsys)
    assert code != 0 and "not a cnn-train checkpoint" in err


def test_ctrl_c_keeps_the_best_checkpoint(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-c", "from train.cli import train_main; train_main()",
           "--data", "sample", "--epochs", "50", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), env=dict(os.environ, PYTHONPATH=os.getcwd()))
    deadline = time.time() + 120
    while not (out / "history.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "kept the best checkpoint" in err and "Traceback" not in err
    ckpt = checkpoint.load(out / "model.pt")
    assert checkpoint.rebuild(ckpt)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience(sample):
    from train import loop

    dev = torch.device("cpu")
    train = loop.to_tensor(data.Split(sample.train.images[:256], sample.train.labels[:256]), dev)
    val = loop.to_tensor(data.Split(sample.val.images[:100], sample.val.labels[:100]), dev)
    marks = []
    # lr 0: nothing after epoch 1 can beat it, so the run ends after 1 + patience epochs.
    history = loop.fit(models.build("tiny"), train, val, loop.Config(epochs=20, patience=3, lr=0.0),
                       lambda record, is_best: marks.append(is_best))
    assert len(history) == 4 and marks == [True, False, False, False]
    assert max(history, key=loop.monitor) is history[0]
