import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from digit_cnn_edge.train import checkpoint, data, models
from digit_cnn_edge.train.cli import eval_command, train_command
from tests.conftest import CTRL_C, invoke


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
    assert models.multiply_adds(models.build(models.DEFAULT_ARCH)) < simple / 2  # the latency budget: half of simple's
    assert models.multiply_adds(models.build("edge", width=8, hidden=64)) < simple / 6  # the faster model, one flag away


def test_tutorial_models_have_the_tutorials_layer_shapes():
    def shapes(model):
        return [tuple(p.shape) for name, p in model.named_parameters() if name.endswith("weight") and p.dim() > 1]

    assert shapes(models.build("deeper")) == [(16, 1, 3, 3), (32, 16, 3, 3), (64, 32, 3, 3), (128, 576), (10, 128)]
    assert shapes(models.build("batchnorm")) == [(32, 1, 3, 3), (64, 32, 3, 3), (128, 3136), (10, 128)]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in models.build("batchnorm").modules()) == 2
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in models.build("deeper").modules()) == 1


def test_architecture_arguments_are_checked_and_recorded(tmp_path, capsys):
    code, _, err = invoke(train_command, "cnn-train", ["--arch", "simple", "--width", "8", "--out", tmp_path], capsys)
    assert code == 2 and "takes no width" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke(train_command, "cnn-train", ["--width", "8", "--hidden", "32", "--epochs", "1", "--photo-share", "0", "--negatives", "0",
                                                      "--out", tmp_path], capsys)
    assert code == 0, err
    ckpt = checkpoint.load(tmp_path / "model.pt")
    assert ckpt["arch_args"] == {"width": 8, "hidden": 32, "dropout": 0.3}
    assert checkpoint.rebuild(ckpt)[-1].in_features == 32


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


def test_the_final_epoch_is_kept_by_default_and_the_best_on_request(trained, tmp_path, capsys):
    from digit_cnn_edge.train import loop

    def kept_is(ckpt_path: Path, expected: dict) -> None:
        ckpt = checkpoint.load(ckpt_path)
        assert ckpt["metrics"]["epoch"] == expected["epoch"] and ckpt["metrics"]["val_acc"] == expected["val_acc"]
        d = data.load_sample(seed=0)
        _, acc, _ = loop.evaluate(checkpoint.rebuild(ckpt), *loop.to_tensor(d.val, torch.device("cpu")))
        assert abs(acc - expected["val_acc"]) < 1e-6  # the weights are that epoch's, not only its figures

    final = json.loads((trained.parent / "history.json").read_text())[-1]
    assert checkpoint.load(trained)["metrics"]["kept"] == "final"
    kept_is(trained, final)
    code, out, err = invoke(train_command, "cnn-train", ["--data", "sample", "--arch", "tiny", "--epochs", "4", "--lr", "0.05",
                                                         "--photo-share", "0", "--negatives", "0", "--keep", "best", "--out", tmp_path], capsys)
    assert code == 0, err
    history = json.loads((tmp_path / "history.json").read_text())
    best = max(history, key=lambda h: (h["val_acc"], -h["val_loss"]))
    kept_is(tmp_path / "model.pt", best)
    assert f"kept the best epoch, {best['epoch']}" in out


def test_same_seed_same_weights(tmp_path, capsys, sample):
    """Everything random is seeded: the split, the weights, shuffling, the warp and the re-photographed copies."""
    import cv2

    digits = tmp_path / "digits"
    for i in range(0, len(sample.val), 5):  # 10 of each class
        (digits / str(sample.val.labels[i])).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(digits / str(sample.val.labels[i]) / f"{i}.png"), sample.val.images[i])
    runs = []
    for name in ("a", "b", "c"):
        seed = "1" if name != "c" else "2"
        code, out, err = invoke(train_command, "cnn-train", ["--arch", "tiny", "--epochs", "2", "--seed", seed,
                                                             "--data", "folder", "--data-dir", digits,
                                                             "--out", tmp_path / name], capsys)
        assert code == 0, err
        assert "re-photographed copies" in out
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


def test_ctrl_c_keeps_the_last_finished_epoch(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-c", CTRL_C + "from digit_cnn_edge.train.cli import train_main; train_main()",
           "--data", "sample", "--epochs", "50", "--photo-share", "0", "--negatives", "0", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), env=dict(os.environ, PYTHONPATH=os.getcwd()))
    deadline = time.time() + 120
    while not (out / "history.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted: kept the last finished epoch" in err and "Traceback" not in err
    ckpt = checkpoint.load(out / "model.pt")
    assert checkpoint.rebuild(ckpt)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_the_one_cycle_schedule_takes_any_number_of_steps():
    """A 20% rise is one step of five, which OneCycleLR would make zero steps long and divide by (cnn-train crashed)."""
    from digit_cnn_edge.train import loop

    for total in range(1, 13):
        opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=0.01)
        sched = loop.one_cycle(opt, 0.01, total)
        rates = [sched.get_last_lr()[0]]
        for _ in range(total):
            opt.step()
            sched.step()
            rates.append(sched.get_last_lr()[0])
        assert all(0 < r <= 0.01 for r in rates), (total, rates)


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience(sample):
    from digit_cnn_edge.train import loop

    dev = torch.device("cpu")
    train = loop.to_tensor(data.Split(sample.train.images[:256], sample.train.labels[:256]), dev)
    val = loop.to_tensor(data.Split(sample.val.images[:100], sample.val.labels[:100]), dev)
    marks = []
    # lr 0: nothing after epoch 1 can beat it, so the run ends after 1 + patience epochs.
    history = loop.fit(models.build("tiny"), train, val, loop.Config(epochs=20, patience=3, lr=0.0),
                       lambda record, is_best: marks.append(is_best))
    assert len(history) == 4 and marks == [True, False, False, False]
    assert max(history, key=loop.monitor) is history[0]


def test_rephotographed_digits_are_framed_like_mnist_and_keep_their_identity(sample):
    """A copy is a camera crop of its own digit: MNIST framing, softened, and closer to its original than to others."""
    from digit_cnn_edge.train import photos

    originals = sample.val.images[::10]  # 50 digits, 5 of each class
    copies = photos.photo_copies(originals, copies=2, seed=0)
    assert copies.shape == (50, 2, 28, 28) and copies.dtype == np.float32
    flat = copies.reshape(100, -1)
    assert np.allclose(flat.max(1), 1.0)
    ys, xs = np.mgrid[0:28, 0:28]
    for crop in copies.reshape(100, 28, 28):
        rows, cols = np.flatnonzero(crop.any(1)), np.flatnonzero(crop.any(0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20
        mass = crop.sum()
        assert abs((crop * ys).sum() / mass - 14) < 1.5 and abs((crop * xs).sum() / mass - 14) < 1.5
    reference = originals.reshape(50, -1).astype(np.float32) / 255
    assert np.abs(flat - np.repeat(reference, 2, axis=0)).mean() > 0.02  # not a plain copy

    def centred(a: np.ndarray) -> np.ndarray:
        a = a - a.mean(1, keepdims=True)
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    nearest = (centred(flat) @ centred(reference).T).argmax(1)
    assert (nearest == np.repeat(np.arange(50), 2)).mean() >= 0.9


def test_photo_share_sets_how_much_of_each_batch_is_swapped():
    from digit_cnn_edge.train import loop

    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(2000, 1, 28, 28)
    copies = torch.ones(2000, 3, 1, 28, 28) * torch.arange(1, 4).view(1, 3, 1, 1, 1)
    idx = torch.arange(2000)
    assert torch.equal(loop.swap_in_photos(x, idx, copies, 0.0, gen), x)
    everything = loop.swap_in_photos(x, idx, copies, 1.0, gen)[:, 0, 0, 0]
    assert set(everything.unique().tolist()) == {1.0, 2.0, 3.0}  # every copy gets used
    half = loop.swap_in_photos(x, idx, copies, 0.5, gen)[:, 0, 0, 0]
    assert 0.45 < (half > 0).float().mean() < 0.55


def test_a_changed_pen_thickens_or_thins_strokes_without_breaking_them(sample):
    import cv2

    from digit_cnn_edge.train import loop

    x = torch.from_numpy(sample.val.images).float().div(255).unsqueeze(1)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(loop.change_pen(x, 0.0, gen), x)
    y = loop.change_pen(x, 1.0, gen)
    assert y.min() >= 0 and y.max() <= 1
    thicker = y.sum((1, 2, 3)) > x.sum((1, 2, 3))
    assert 0.4 < thicker.float().mean() < 0.6  # half thicker, half thinner
    assert (y[thicker] >= x[thicker]).all()  # a thicker pen only adds ink

    def parts(digit: torch.Tensor) -> int:
        return cv2.connectedComponents((digit[0].numpy() > 0.3).astype(np.uint8))[0] - 1

    broken = sum(parts(b) > parts(a) for a, b in zip(x[~thicker], y[~thicker]))
    assert broken <= 0.05 * int((~thicker).sum())  # a thinner pen fades strokes but seldom breaks them


def test_photo_copies_do_not_depend_on_the_number_of_workers(sample):
    from digit_cnn_edge.train import photos

    digits = sample.train.images[: photos.CHUNK + 40]  # two chunks
    one = photos.photo_copies(digits, copies=1, seed=3, workers=1)
    two = photos.photo_copies(digits, copies=1, seed=3, workers=2)
    assert np.array_equal(one, two)
    assert not np.array_equal(one, photos.photo_copies(digits, copies=1, seed=4, workers=1))


def test_the_library_call_returns_what_it_wrote_and_reports_through_its_hooks(sample, tmp_path):
    from digit_cnn_edge.train import TrainOptions, train

    small = data.Data(data.Split(sample.train.images[:300], sample.train.labels[:300]),
                      data.Split(sample.val.images[:100], sample.val.labels[:100]), None, "sample", {"origin": "a slice"})
    said, bars = [], []

    def progress(items, total, desc):
        bars.append(desc)
        return items

    result = train(TrainOptions(arch="tiny", epochs=2, photo_share=0, negatives=0, device="cpu", out=tmp_path), digits=small,
                   log=said.append, progress=progress)
    assert result.checkpoint == tmp_path / "model.pt" and result.history.is_file() and result.plot.is_file()
    assert [e["epoch"] for e in result.epochs] == [1, 2] and result.data["sizes"] == {"train": 300, "val": 100}
    assert result.config.epochs == 2 and result.metrics["epoch"] == 2
    kept = checkpoint.load(result.checkpoint)["state_dict"]
    assert all(torch.equal(kept[k], v) for k, v in result.model.state_dict().items())
    assert sum(line.startswith("epoch") for line in said) == 2 and bars == ["epoch 1/2", "epoch 2/2"]


def test_the_fonts_its_non_digits_were_drawn_in_are_in_the_checkpoint(sample, font_dir, tmp_path):
    from digit_cnn_edge.train import TrainOptions, train

    small = data.Data(data.Split(sample.train.images[:300], sample.train.labels[:300]),
                      data.Split(sample.val.images[:100], sample.val.labels[:100]), None, "sample", {"origin": "a slice"})
    said = []
    result = train(TrainOptions(arch="tiny", epochs=1, photo_share=0, fonts=font_dir, device="cpu", out=tmp_path),
                   digits=small, log=said.append)
    assert checkpoint.load(result.checkpoint)["train_config"]["fonts"] == ["Hand.ttf"]
    assert any("letters in 1 handwriting font too" in line for line in said)


def test_cnn_train_says_in_one_line_that_a_fonts_folder_has_no_font(tmp_path, capsys):
    (tmp_path / "fonts").mkdir()
    code, _, err = invoke(train_command, "cnn-train", ["--data", "sample", "--fonts", tmp_path / "fonts", "--out", tmp_path / "run"],
                          capsys)
    assert code == 1 and err.count("\n") == 1 and "no .ttf or .otf file" in err and not (tmp_path / "run" / "model.pt").exists()


@pytest.mark.parametrize("bad", [{"lr": float("nan")}, {"lr": 0}, {"lr": 10**400}, {"epochs": 0}, {"batch_size": 2.5},
                                 {"seed": -1}, {"photo_share": 1.5}, {"negatives": float("inf")}, {"keep": "last"},
                                 {"data": "cifar"}, {"fonts": "my_fonts", "negatives": 0}])
def test_the_library_refuses_an_option_the_cli_would_as_the_options_are_made(bad):
    """A program passes no flag, so the dataclass must refuse what click's types refuse (a NaN rate reached torch
    after the data had loaded)."""
    from digit_cnn_edge.common.options import BadOption
    from digit_cnn_edge.train import TrainOptions

    with pytest.raises(BadOption, match=next(iter(bad))):
        TrainOptions(**bad)


def test_the_options_take_numpy_numbers_as_python_ones():
    """`for seed in np.arange(3)` is how a sweep is written; torch and numpy took such numbers before the checks."""
    from digit_cnn_edge.train import TrainOptions

    options = TrainOptions(seed=np.int64(3), epochs=np.int32(5), lr=np.float32(0.002))
    assert (type(options.seed), type(options.epochs), type(options.lr)) == (int, int, float)
    assert options.seed == 3 and options.epochs == 5 and abs(options.lr - 0.002) < 1e-9


def test_a_changed_option_is_checked_again_when_training_starts(tmp_path):
    from digit_cnn_edge.common.options import BadOption
    from digit_cnn_edge.train import TrainOptions, train

    options = TrainOptions(out=tmp_path)
    options.lr = float("nan")
    with pytest.raises(BadOption, match="lr"):
        train(options)
