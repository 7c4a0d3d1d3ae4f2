"""The model the runtime ships: the file it names, loadable without torch, reading digits with no --model."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.runtime import DigitClassifier
from digit_cnn_edge.runtime.classifier import DEFAULT_MODEL
from digit_cnn_edge.train.examples import PAGE_NUMBERS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_shipped_model_matches_its_recorded_sha256_and_the_readme():
    recorded = DEFAULT_MODEL.with_name(DEFAULT_MODEL.name + ".sha256").read_text().split()[0]
    assert hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest() == recorded
    assert recorded in README.read_text()
    assert DEFAULT_MODEL.stat().st_size < 1_000_000


def test_shipped_model_is_the_default_recipe_on_mnist(sample):
    clf = DigitClassifier()
    assert clf.path == DEFAULT_MODEL and clf.info.architecture == "edge"
    meta = clf.session.get_modelmeta().custom_metadata_map
    assert meta["trained_on"].startswith("mnist: 54,999 training digits") and meta["non_digits"] == "outlier exposure"
    # The sample's digits are MNIST training digits, which it learned from: this checks the file, not the recipe.
    pred, _ = clf.predict(sample.val.images.astype(np.float32) / 255)
    assert np.mean(pred == sample.val.labels) >= 0.99


def test_cnn_run_reads_with_the_shipped_model_without_torch(sample, tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"d{i}.png"), 255 - cv2.resize(sample.val.images[i], (84, 84), interpolation=cv2.INTER_CUBIC))
    code = ("import sys; from digit_cnn_edge.runtime.cli import run_command; from digit_cnn_edge.common.cli import run_cli\n"
            "try:\n    run_cli(run_command, 'cnn-run', sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'onnx'))\n"
            "print('HEAVY', bad, 'EXIT', code)")
    done = subprocess.run([sys.executable, "-c", code, "--json", "--mode", "single", str(tmp_path / "*.png")],
                          capture_output=True, text=True, check=False)
    assert "HEAVY [] EXIT 0" in done.stdout, done.stdout + done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 3 and all(len(r["digits"]) == 1 for r in records)


def test_the_readme_photo_reads_as_the_readme_says():
    """The quick start's first command, verbatim: `cnn-run examples/photo.jpg` with the shipped model."""
    expected = " ".join(PAGE_NUMBERS)
    done = subprocess.run([sys.executable, "-c", "from digit_cnn_edge.runtime.cli import run_main; run_main()", "examples/photo.jpg"],
                          cwd=README.parent, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith(f"examples/photo.jpg: {expected}  ("), done.stdout + done.stderr
    assert f"cnn-run examples/photo.jpg              # examples/photo.jpg: {expected}" in README.read_text()
