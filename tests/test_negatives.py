"""Training against things that are not digits: the crops it makes, and what they teach the model."""

import numpy as np
import pytest
import torch

from digit_cnn_edge.common.errors import UserError
from digit_cnn_edge.train import data, loop, models, negatives


def test_every_kind_of_non_digit_is_cut_out_like_a_digit(sample):
    rng = np.random.default_rng(0)
    for kind in negatives.KINDS:
        crops = np.concatenate([negatives.cut_out(negatives.DRAW[kind](rng, sample.train.images[:50]), rng) for _ in range(6)])
        assert len(crops) >= 3, kind  # most drawings give a piece the segmenter keeps
        for crop in crops:  # framed like MNIST: the ink's longer side is 20 px, the peak is full white
            rows, cols = np.flatnonzero(crop.any(1)), np.flatnonzero(crop.any(0))
            assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20 and np.isclose(crop.max(), 1.0), kind


def test_non_digits_are_the_same_for_a_seed_whatever_the_workers(sample):
    one = negatives.negative_crops(300, sample.train.images, seed=3, workers=1)
    two = negatives.negative_crops(300, sample.train.images, seed=3, workers=2)
    assert np.array_equal(one, two) and len(one) >= 200
    assert not np.array_equal(one[:100], negatives.negative_crops(300, sample.train.images, seed=4)[:100])


def test_outlier_exposure_makes_the_model_unsure_of_non_digits_and_not_of_digits(sample):
    """The same training with and without non-digits in its batches: only the first learns to doubt them."""
    cpu = torch.device("cpu")
    train = loop.to_tensor(data.Split(sample.train.images[::3], sample.train.labels[::3]), cpu)  # every class
    val = loop.to_tensor(sample.val, cpu)
    others = torch.from_numpy(negatives.negative_crops(1200, sample.train.images, seed=0)).unsqueeze(1)
    seen, unseen = others[:900], others[900:]

    def top_probability(share: float) -> tuple[float, float, float]:
        torch.manual_seed(0)
        model = models.build("edge", width=8, hidden=32)
        cfg = loop.Config(epochs=5, batch_size=64, photo_share=0.0, negatives=share)
        history = loop.fit(model, train, val, cfg, lambda record, is_best: None, negatives=seen)
        with torch.no_grad():
            digits = torch.softmax(model(val[0]), 1).max(1).values.mean().item()
            rejected = torch.softmax(model(unseen), 1).max(1).values.mean().item()
        return rejected, digits, history[-1].val_acc

    (rejected, digits, accuracy), (rejected_before, _, _) = top_probability(0.25), top_probability(0.0)
    assert rejected < rejected_before - 0.12  # non-digits it never saw: far less sure of them (0.26 against 0.50 here)
    assert accuracy > 0.9 and digits > rejected + 0.3  # digits are still read, and read with confidence


def test_a_fonts_folder_adds_letters_in_its_fonts_as_one_more_kind(sample, font_dir, monkeypatch):
    fonts = negatives.font_files(font_dir)
    assert fonts == [font_dir / "Hand.ttf"]
    drawn = []

    def handwritten(rng, digits, fonts):
        drawn.append(fonts)
        return negatives.printed(rng, digits)

    monkeypatch.setattr(negatives, "handwritten", handwritten)
    negatives.negative_crops(90, sample.train.images, seed=0, fonts=fonts)
    assert drawn == [(str(font_dir / "Hand.ttf"),)] * 10  # every ninth piece: nine kinds, each as common
    drawn.clear()
    negatives.negative_crops(90, sample.train.images, seed=0)
    assert drawn == []


def test_handwritten_letters_leave_out_what_a_hand_writes_as_a_digit(font_dir):
    assert not set("OolIiSsZzBbgqG") & set(negatives.HANDWRITTEN) and len(negatives.HANDWRITTEN) >= 30
    rng = np.random.default_rng(0)
    crops = [negatives.cut_out(negatives.handwritten(rng, None, [str(font_dir / "Hand.ttf")]), rng) for _ in range(6)]
    assert sum(len(c) for c in crops) >= 4


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt"])
def test_a_fonts_folder_that_cannot_serve_is_one_error_naming_it(tmp_path, case):
    folder = tmp_path / "fonts"
    if case != "missing":
        folder.mkdir()
    if case == "corrupt":
        (folder / "Bad.ttf").write_bytes(b"\x00\x01\x00\x00 not a font")
    with pytest.raises(UserError, match="Bad.ttf" if case == "corrupt" else "fonts"):
        negatives.font_files(folder)
