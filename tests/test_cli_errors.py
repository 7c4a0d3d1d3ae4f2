"""Every command through the inputs users get wrong: one line on stderr, the documented exit code, nothing half-written.

Exit codes: 1 for a file, model or output that cannot be used; 2 for a bad option
value (click's usage errors). A row names the command, its arguments (built in a
scratch folder that holds a sample image, the trained checkpoint and the ONNX
model), the exit code, and words the one line must hold.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, save

from digit_cnn_edge.common.start import load_and_run
from digit_cnn_edge.export.cli import export_command
from digit_cnn_edge.runtime.cli import run_command
from digit_cnn_edge.train.cli import eval_command, train_command
from tests.conftest import invoke

COMMANDS = {"cnn-run": run_command, "cnn-train": train_command, "cnn-eval": eval_command, "cnn-export": export_command}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, trained, onnx_model, sample):
    """The files the rows refer to: good ones, broken ones, and a regular file to put folders under."""
    root = tmp_path_factory.mktemp("errors")
    cv2.imwrite(str(root / "digit.png"), sample.val.images[0])
    (root / "model.pt").write_bytes(trained.read_bytes())
    (root / "model.onnx").write_bytes(onnx_model.read_bytes())
    (root / "truncated.pt").write_bytes(trained.read_bytes()[:4000])
    torch.save({"weights": [1, 2, 3]}, root / "foreign.pt")
    torch.save({"where": Path("runs")}, root / "objects.pt")  # a Python object: weights_only refuses it
    (root / "junk.pt").write_text("junk")
    (root / "random.pt").write_bytes(np.random.default_rng(0).bytes(5000))
    (root / "junk.onnx").write_bytes(b"not a protobuf at all")
    flatten = helper.make_node("Flatten", ["input"], ["flat"])
    gemm = helper.make_node("Gemm", ["flat", "w"], ["logits"])
    weights = helper.make_tensor("w", TensorProto.FLOAT, [784, 10], np.zeros(7840, np.float32))
    graph = helper.make_graph([flatten, gemm], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [weights])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(root / "plain.onnx"))
    video = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for digit in sample.val.images[:4]:
        video.write(cv2.cvtColor(cv2.resize(255 - digit, (64, 48)), cv2.COLOR_GRAY2BGR))
    video.release()
    (root / "text.png").write_text("a text file with an image's name")
    (root / "file.txt").write_text("a regular file: nothing can be created under it, not even by root")
    (root / "digits" / "3").mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(root / "digits" / "3" / f"{i}.png"), sample.val.images[i])
    (root / "digits" / "3" / "broken.png").write_bytes(cv2.imencode(".png", sample.val.images[0])[1].tobytes()[:60])
    return root


UNWRITABLE = "file.txt/sub"  # a folder under a regular file
VIDEO_TEMP = f"blocked/.clip.annotated.tmp{os.getpid()}.mp4"  # where cnn-run (in this process) opens its video writer

ROWS = [
    # cnn-run
    ("cnn-run", ["--model", "model.onnx", "missing.png"], 1, "no such file", None),
    ("cnn-run", ["--model", "model.onnx", "text.png"], 1, "not a supported image", None),
    ("cnn-run", ["--model", "missing.onnx", "digit.png"], 1, "model not found", None),
    ("cnn-run", ["--model", "junk.onnx", "digit.png"], 1, "not a loadable ONNX model", None),
    ("cnn-run", ["--model", "plain.onnx", "digit.png"], 1, "not a digit model", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--save", UNWRITABLE], 1, "cannot write", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--save", "blocked"], 1, "cannot write", "blocked/digit.png"),
    ("cnn-run", ["--model", "model.onnx", "clip.mp4", "--save", "blocked"], 1, "no MPEG-4 video writer", VIDEO_TEMP),
    ("cnn-run", ["--model", "model.onnx", "clip.mp4", "--save", "blocked"], 1, "cannot write",
     "blocked/clip.annotated.mp4"),
    ("cnn-run", ["--model", "model.onnx", "clip.mp4", "--max-pixels", "1000"], 1, "64x48 frames, over the limit", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--max-pixels", "0"], 2, "--max-pixels", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--max-pixels", "100"], 1, "over the limit of 100 pixels", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--mode", "sideways"], 2, "--mode", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--threads", "0"], 2, "--threads", None),
    ("cnn-run", ["model.onnx"], 2, "pass it as --model", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--save", "."], 2, "would overwrite it", None),
    ("cnn-run", ["--model", "model.onnx", ""], 1, "an empty argument", None),
    ("cnn-run", ["--model", "model.onnx", "/dev/zero"], 1, "not a regular file", None),
    ("cnn-run", ["--model", "model.onnx", "\u00b2"], 1, "no such file", None),  # a digit to str.isdigit, not to int
    ("cnn-run", ["--model", "model.onnx", "99999999999"], 1, "no such file", None),  # no camera index that long
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--threads", "100000"], 2, "--threads", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--workers", "100000"], 2, "--workers", None),
    ("cnn-run", ["--model", "model.onnx", "digit.png", "--min-confidence", "nan"], 2, "--min-confidence", None),
    # cnn-train
    ("cnn-train", ["--out", UNWRITABLE, "--epochs", "1"], 1, "cannot write", None),
    ("cnn-train", ["--data", "folder", "--data-dir", "missing", "--out", "out"], 1, "data folder not found", None),
    ("cnn-train", ["--data", "folder", "--data-dir", "digits", "--out", "out"], 1, "unreadable image", None),
    ("cnn-train", ["--epochs", "0", "--out", "out"], 2, "--epochs", None),
    ("cnn-train", ["--lr", "-1", "--out", "out"], 2, "--lr", None),
    # cnn-eval
    ("cnn-eval", ["missing.pt", "--out", "out"], 1, "checkpoint not found", None),
    ("cnn-eval", ["truncated.pt", "--out", "out"], 1, "not a readable checkpoint", None),
    ("cnn-eval", ["foreign.pt", "--out", "out"], 1, "not a cnn-train checkpoint", None),
    ("cnn-eval", ["objects.pt", "--out", "out"], 1, "not a cnn-train checkpoint", None),
    ("cnn-eval", ["junk.pt", "--out", "out"], 1, "not a readable checkpoint", None),
    ("cnn-eval", ["random.pt", "--out", "out"], 1, "not a readable checkpoint", None),
    ("cnn-eval", ["model.pt", "--out", UNWRITABLE], 1, "cannot write", None),
    ("cnn-eval", ["model.pt", "--out", "blocked"], 1, "cannot write", "blocked/confusion.png"),
    ("cnn-eval", ["model.pt", "--split", "test", "--out", "out"], 1, "no test split", None),
    ("cnn-eval", ["model.pt", "--split", "everything"], 2, "--split", None),
    # cnn-export
    ("cnn-export", ["missing.pt", "--out", "out"], 1, "checkpoint not found", None),
    ("cnn-export", ["truncated.pt", "--out", "out"], 1, "not a readable checkpoint", None),
    ("cnn-export", ["foreign.pt", "--out", "out"], 1, "not a cnn-train checkpoint", None),
    ("cnn-export", ["model.onnx", "--out", "out"], 1, "not a readable checkpoint", None),
    ("cnn-export", ["model.pt", "--out", UNWRITABLE], 1, "cannot write", None),
    ("cnn-export", ["model.pt", "--onnx", "--out", "blocked"], 1, "a folder is in the way", "blocked/model.onnx"),
    ("cnn-export", ["model.pt", "--atol", "0", "--out", "out"], 2, "--atol", None),
    ("cnn-export", ["model.pt", "--quantize", "int4", "--out", "out"], 2, "--quantize", None),
]


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.is_dir() else set()


@pytest.mark.parametrize("prog, args, code, words, in_the_way", ROWS, ids=[f"{r[0]} {' '.join(r[1])}" for r in ROWS])
def test_bad_input_is_one_line_and_leaves_nothing_half_written(prog, args, code, words, in_the_way, scratch, tmp_path,
                                                              capsys, monkeypatch):
    for name in os.listdir(scratch):
        os.symlink(scratch / name, tmp_path / name)
    if in_the_way:
        (tmp_path / in_the_way).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    before = files_under(tmp_path / "blocked") | files_under(tmp_path / "out")
    got, _, err = invoke(COMMANDS[prog], prog, args, capsys)
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: ") and words in lines[0], err
    assert "Traceback" not in err
    after = files_under(tmp_path / "blocked") | files_under(tmp_path / "out")
    assert after == before, f"left behind: {sorted(after - before)}"


def test_save_trouble_fails_that_source_only_and_copies_keep_their_format(onnx_model, scenes, tmp_path, capsys):
    """The issue's case: `out/a.bmp` is a folder; b, c and d are still read and saved, each in its own format."""
    names = ["a.bmp", "b.tiff", "c.webp", "d.pgm"]
    for name in names:
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(scenes[2].image, cv2.COLOR_BGR2GRAY) if name.endswith(".pgm")
                    else scenes[2].image)
    out = tmp_path / "out"
    (out / "a.bmp").mkdir(parents=True)
    code, stdout, err = invoke(run_command, "cnn-run", ["--model", onnx_model, *[tmp_path / n for n in names],
                                                        "--save", out], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"cnn-run: error: cannot write {out / 'a.bmp'}: ")
    assert len(stdout.strip().splitlines()) == len(names)
    magic = {"b.tiff": b"II*\x00", "c.webp": b"RIFF", "d.pgm": b"P5"}
    for name, start in magic.items():
        assert (out / name).read_bytes().startswith(start), name
    assert cv2.imread(str(out / "d.pgm"), cv2.IMREAD_UNCHANGED).ndim == 2
    assert sorted(p.name for p in out.iterdir()) == names


@pytest.mark.parametrize("loading", ["raise KeyboardInterrupt",
                                     # ONNX Runtime's extension module, interrupted as it initializes
                                     ("try:\n    raise KeyboardInterrupt\n"
                                      "except KeyboardInterrupt as e:\n    raise ImportError('initialization failed') from e"),
                                     # a dataclass being made: RuntimeError from __set_name__, ValueError about it
                                     ("try:\n    try:\n        raise KeyboardInterrupt\n"
                                      "    except KeyboardInterrupt as e:\n        raise RuntimeError('__set_name__') from e\n"
                                      "except RuntimeError:\n    raise ValueError('field')"),
                                     # a cause of its own given, the Ctrl-C left as the context
                                     ("try:\n    raise KeyboardInterrupt\n"
                                      "except KeyboardInterrupt:\n    raise ImportError('x') from OSError('y')")],
                         ids=["plain", "as an ImportError", "two errors on", "another cause"])
def test_ctrl_c_while_a_command_loads_is_one_line(loading, tmp_path, monkeypatch, capsys):
    """torch takes seconds to load, ONNX Runtime and OpenCV a third of one: a Ctrl-C then was a traceback."""
    (tmp_path / "interrupted_while_loading.py").write_text(loading + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SystemExit) as done:
        load_and_run("cnn-run", "interrupted_while_loading", "run_main")
    assert done.value.code == 130 and capsys.readouterr().err == "cnn-run: interrupted\n"


def test_ctrl_c_that_a_library_turned_into_an_error_of_its_own_is_one_line(tmp_path, monkeypatch, capsys):
    """numpy, interrupted while its C part imports datetime, raises an ImportError with no trace of the Ctrl-C."""
    (tmp_path / "numpy_like.py").write_text(
        "import os, signal, time\n"
        "try:\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(5)\n"
        "except KeyboardInterrupt:\n    pass\n"
        "raise ImportError('PyCapsule_Import could not import module \"datetime\"')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal starts it (a background job: ignored)
    try:
        with pytest.raises(SystemExit) as done:
            load_and_run("cnn-run", "numpy_like", "run_main")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back as it was
    finally:
        signal.signal(signal.SIGINT, before)
    assert done.value.code == 130 and capsys.readouterr().err == "cnn-run: interrupted\n"


def test_a_failed_import_is_not_taken_for_ctrl_c(tmp_path, monkeypatch):
    (tmp_path / "broken_module.py").write_text("raise ImportError('libGL.so.1: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="libGL"):
        load_and_run("cnn-run", "broken_module", "run_main")


def test_the_console_scripts_start_in_a_module_that_imports_only_the_standard_library():
    """click alone took about 30 ms to import, a window in which a Ctrl-C was Python's traceback."""
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    scripts = re.findall(r'^(cnn-\w+) = "([\w.]+):', pyproject, re.MULTILINE)
    assert {name for name, _ in scripts} == {"cnn-run", "cnn-train", "cnn-eval", "cnn-export"}
    assert {module for _, module in scripts} == {"digit_cnn_edge.common.start"}
    code = ("import sys; before = set(sys.modules); import digit_cnn_edge.common.start; "
            "print(sorted(m.split('.')[0] for m in set(sys.modules) - before if not m.startswith('digit_cnn_edge') "
            "and m.split('.')[0] not in sys.stdlib_module_names))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_console_scripts_load_nothing_heavy_before_they_can_say_interrupted():
    code = ("import sys, digit_cnn_edge.common.cli, digit_cnn_edge.train, digit_cnn_edge.export; "
            "print(sorted({'torch', 'onnxruntime', 'cv2', 'numpy'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
