"""Ray Data: `examples/ray_batch.py` on a local Ray with 2 CPUs reads what `cnn-run --json` reads; a bad file is a row.

Over 100 scenes are rendered here from the offline sample's validation digits,
among broken and oversized files, and read with the model the runtime ships.
Ray runs in a child process (the example itself, as users run it), so nothing of
it stays in this one. Skipped where ray is not installed, except in CI (env CI
set), where the [dev] extra installs it and a skip would hide a broken reader.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_cnn_edge.runtime.cli import run_command
from tests.conftest import invoke

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ray_batch.py"
SCENES = 104
BAD = {"empty.png": b"", "corrupt.jpg": b"\xff\xd8\xff not a jpeg", "huge.pgm": b"P5\n40000 40000\n255\n" + bytes(64)}


def require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {module}: the [dev] extra installs digit-cnn-edge[ray]")
        pytest.skip(f"needs {module}: pip install 'digit-cnn-edge[ray]'")


@pytest.fixture(scope="module")
def images(tmp_path_factory, sample) -> Path:
    from digit_cnn_edge.train.synth import render_scene

    root = tmp_path_factory.mktemp("ray")
    rng = np.random.default_rng(31)
    for i in range(SCENES):
        cv2.imwrite(str(root / f"scene{i:03d}.jpg"), render_scene(sample.val.images, sample.val.labels, rng).image)
    for name, data in BAD.items():
        (root / name).write_bytes(data)
    return root


def cnn_run_json(images: Path, capsys) -> tuple[set[str], dict[str, str]]:
    """cnn-run --json's lines, and each failed file's reason (what follows `cnn-run: error: `)."""
    code, out, err = invoke(run_command, "cnn-run", [images, "--json"], capsys)
    assert code == 1
    reasons = {line.split(": ")[2]: line.split(": error: ", 1)[1] for line in err.splitlines()}
    return set(out.splitlines()), reasons


def test_ray_batch_reads_what_cnn_run_reads(images, tmp_path, capsys):
    require("ray")
    out = tmp_path / "digits.jsonl"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}  # nothing leaves the machine
    done = subprocess.run([sys.executable, str(EXAMPLE), str(images), "--out", str(out), "--num-cpus", "2"],
                          capture_output=True, text=True, timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = out.read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == SCENES + len(BAD)
    errors = {r["source"]: r["error"] for r in rows if "error" in r}
    good = {line for line in lines if '"error": ' not in line}
    expected, reasons = cnn_run_json(images, capsys)
    assert good == expected  # each image's line byte for byte: source, digits, confidences, boxes, lines, text
    assert sum(len(json.loads(line)["digits"]) for line in good) >= 2 * SCENES
    assert errors == reasons and set(errors) == {str(images / name) for name in BAD}


def test_read_digits_turns_a_batch_into_rows_with_a_fixed_schema(images, tmp_path, capsys):
    """Without Ray: a numpy batch of bytes, a pandas batch of paths, and the table written as Parquet."""
    require("pyarrow")
    import pandas as pd
    import pyarrow.parquet as pq

    from digit_cnn_edge.runtime.batch import ReadDigits, row_schema

    read = ReadDigits()
    paths = [str(images / n) for n in ("scene000.jpg", "scene001.jpg", *BAD)]
    contents = np.array([Path(p).read_bytes() for p in paths], object)
    from_bytes = read({"path": np.array(paths, object), "bytes": contents})
    from_paths = read(pd.DataFrame({"path": paths}))
    assert from_bytes.schema == row_schema() and from_bytes.equals(from_paths)
    rows = from_bytes.to_pylist()
    expected, reasons = cnn_run_json(images, capsys)
    for row in rows[:2]:
        assert row["error"] is None
        assert json.dumps({k: v for k, v in row.items() if k != "error"}) in expected
    for row in rows[2:]:
        assert row["digits"] is None and row["text"] is None and row["error"] == reasons[row["source"]]
    pq.write_table(from_bytes, tmp_path / "rows.parquet")
    assert pq.read_table(tmp_path / "rows.parquet").to_pylist() == rows


def test_the_runtime_imports_neither_ray_nor_pyarrow():
    """The base install has neither: the Ray class imports pyarrow only when a batch comes, and never ray."""
    code = ("import sys, digit_cnn_edge.runtime.batch, digit_cnn_edge.runtime.cli\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow', 'torch')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
