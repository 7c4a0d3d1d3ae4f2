"""Shared fixtures: real digits, the shipped model's reader, one briefly trained model and its exports. Built once per session.

Tests that judge what the runtime reads use `reader`, the model the runtime ships: a fixed file, so
they read the same on every CPU. The model trained here (its weights differ by CPU: torch picks AVX-512
or AVX2 kernels) is for what does not depend on its weights: the checkpoint contract, export, parity.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from digit_cnn_edge.common.cli import run_cli


@pytest.fixture(scope="session")
def sample():
    from digit_cnn_edge.train import data

    return data.load_sample(seed=0)


CTRL_C = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
"""Prefix for a `python -c` child that a test stops with Ctrl-C: a suite started in the background (bash's `&`)
hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt."""


def invoke(command, prog: str, args: list[str], capsys) -> tuple[int, str, str]:
    """Run a console command in-process the way its entry point does; (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(command, prog, [str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


@pytest.fixture
def font_dir(tmp_path: Path) -> Path:
    """A folder holding one font, as `scripts/train-fonts.sh` fills one (matplotlib's DejaVu stands in: no network)."""
    import matplotlib

    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", folder / "Hand.ttf")
    (folder / "README.txt").write_text("not a font, and not taken for one")
    return folder


@pytest.fixture(scope="session")
def reader():
    """The shipped model's reader."""
    from digit_cnn_edge.runtime import DigitClassifier, DigitReader

    return DigitReader(DigitClassifier())


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """A default-architecture checkpoint after 3 epochs on the offline sample (about 97% accurate).

    Without re-photographed copies and non-digits, which would take longer than the training.
    """
    from digit_cnn_edge.train.cli import train_command

    out = tmp_path_factory.mktemp("train")
    with pytest.raises(SystemExit) as e:
        run_cli(train_command, "cnn-train", ["--data", "sample", "--epochs", "3", "--photo-share", "0", "--negatives", "0",
                                             "--out", str(out)])
    assert e.value.code == 0
    return out / "model.pt"


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory) -> Path:
    """Every format, with static int8, exported from `trained` into one folder."""
    from digit_cnn_edge.export.cli import export_command

    out = tmp_path_factory.mktemp("export")
    with pytest.raises(SystemExit) as e:
        run_cli(export_command, "cnn-export", [str(trained), "--quantize", "static", "--out", str(out)])
    assert e.value.code == 0
    return out


@pytest.fixture(scope="session")
def onnx_model(exported) -> Path:
    return exported / "model.onnx"


@pytest.fixture(scope="session")
def scenes(sample):
    from digit_cnn_edge.train.synth import render_scene

    rng = np.random.default_rng(7)
    return [render_scene(sample.val.images, sample.val.labels, rng) for _ in range(40)]
