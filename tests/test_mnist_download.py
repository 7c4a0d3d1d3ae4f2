"""`cnn-train --data mnist` for real, offline: download, checksum and training against a loopback server.

The server hands out MNIST-format files (gzipped IDX, the layout torchvision
downloads) made from the offline sample's real digits, and torchvision's mirror
list points at it alone, so no request leaves this machine.
"""

import gzip
import hashlib
import struct
import threading
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import MNIST

from digit_cnn_edge.train import checkpoint, data
from digit_cnn_edge.train.cli import train_command
from tests.conftest import invoke

TRAIN = ["--epochs", "1", "--photo-share", "0", "--negatives", "0", "--arch", "tiny", "--no-augment"]  # what is tested is the data path


@pytest.fixture(scope="module")
def small(sample) -> data.Data:
    """A quarter of the sample's training digits (all classes), its 500 validation digits as the test set."""
    return data.Data(data.Split(sample.train.images[::4], sample.train.labels[::4]), sample.val, sample.val, "sample",
                     sample.details)  # fmt: skip


def idx(array: np.ndarray) -> bytes:
    """IDX, MNIST's own format: zero, zero, the type (0x08: unsigned byte), the rank, each size big-endian, the bytes."""
    return struct.pack(f">BBBB{array.ndim}I", 0, 0, 0x08, array.ndim, *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, digits: data.Data) -> dict[str, str]:
    """The four files torchvision asks for, `digits.train` as train and `digits.test` as t10k; {name: md5}."""
    parts = {"train-images-idx3-ubyte": digits.train.images, "train-labels-idx1-ubyte": digits.train.labels,
             "t10k-images-idx3-ubyte": digits.test.images, "t10k-labels-idx1-ubyte": digits.test.labels}  # fmt: skip
    md5 = {}
    for name, array in parts.items():
        path = folder / f"{name}.gz"
        path.write_bytes(gzip.compress(idx(array), mtime=0))
        md5[path.name] = hashlib.md5(path.read_bytes()).hexdigest()
    return md5


class Mirror:
    """A loopback HTTP server for one folder that counts the requests it answered."""

    def __init__(self, folder: Path) -> None:
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                mirror.requests += 1
                try:
                    super().do_GET()
                except ConnectionError:
                    pass  # torchvision's redirect probe hangs up without reading the body

            def log_message(self, *args):
                pass

        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def mirror(small, tmp_path, monkeypatch):
    """(server, folder served) with torchvision's MNIST pointed at the server alone, expecting those files' MD5s."""
    served = tmp_path / "served"
    served.mkdir()
    md5 = write_mnist(served, small)
    server = Mirror(served)
    monkeypatch.setattr(MNIST, "mirrors", [server.url])
    monkeypatch.setattr(MNIST, "resources", list(md5.items()))
    yield server, served
    server.close()


def test_cnn_train_downloads_mnist_checks_it_and_trains(mirror, tmp_path, capsys):
    server, _ = mirror
    store, out = tmp_path / "data", tmp_path / "run"
    code, stdout, err = invoke(train_command, "cnn-train", ["--data", "mnist", "--data-dir", store, *TRAIN, "--out", out], capsys)
    assert code == 0, err
    assert server.requests >= 4, "all four files came from the loopback mirror"
    assert data.mnist_present(store)
    assert "data: mnist" in stdout and "test acc" in stdout
    ckpt = checkpoint.load(out / "model.pt")
    assert ckpt["data"]["source"] == "mnist"
    assert ckpt["data"]["sizes"]["test"] == 500 and ckpt["data"]["sizes"]["train"] > ckpt["data"]["sizes"]["val"]
    assert ckpt["metrics"]["test_acc"] > 0.3, "images and labels arrived in step (chance is 0.1)"

    # Once on disk, --data auto takes it from there without asking the mirror again.
    before = server.requests
    assert data.load("auto", store).source == "mnist" and server.requests == before


def test_a_download_that_fails_its_checksum_is_refused_and_auto_falls_back_to_the_sample(mirror, small, tmp_path,
                                                                                          monkeypatch, capsys):
    _, served = mirror
    labels = served / "train-labels-idx1-ubyte.gz"
    good = labels.read_bytes()
    labels.write_bytes(good[:-100])  # truncated in transit: its MD5 is no longer the expected one
    store, out = tmp_path / "data", tmp_path / "run"
    code, _, err = invoke(train_command, "cnn-train", ["--data", "mnist", "--data-dir", store, *TRAIN, "--out", out], capsys)
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("cnn-train:")]  # the rest: torchvision's progress bars
    assert len(errors) == 1 and "Traceback" not in err, err
    assert "corrupted" in errors[0] and "--data sample" in errors[0]
    assert not (out / "model.pt").exists() and not data.mnist_present(store)

    # --data auto does not take the refused download's leftovers for MNIST, nor fall back to the sample: it names the gap.
    code, _, err = invoke(train_command, "cnn-train", ["--data-dir", store, *TRAIN, "--out", out], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "incomplete" in err and "train-labels-idx1-ubyte" in err


def test_auto_takes_the_sample_where_there_is_no_mnist_and_says_how_to_get_it(small, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "load_sample", lambda seed: replace(small, test=None))  # fewer digits, same path
    code, stdout, err = invoke(train_command, "cnn-train", ["--data-dir", tmp_path / "none", *TRAIN, "--out", tmp_path / "run"],
                               capsys)
    assert code == 0, err
    assert "data: sample" in stdout
    hint = next(line for line in stdout.splitlines() if "--data auto" in line)
    assert "sample" in hint and f"cnn-train --data mnist --data-dir {tmp_path / 'none'}" in hint


def write_raw(folder: Path, digits: data.Data) -> Path:
    """MNIST unpacked, as a --data-dir holds it: folder/MNIST/raw/<the four IDX files>."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, array in (("train-images-idx3-ubyte", digits.train.images), ("train-labels-idx1-ubyte", digits.train.labels),
                        ("t10k-images-idx3-ubyte", digits.test.images), ("t10k-labels-idx1-ubyte", digits.test.labels)):
        (raw / name).write_bytes(idx(array))
    return raw


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda raw: (raw / "t10k-labels-idx1-ubyte").unlink(), ["incomplete", "t10k-labels-idx1-ubyte is missing"]),
        (lambda raw: (raw / "train-images-idx3-ubyte").write_bytes((raw / "train-images-idx3-ubyte").read_bytes()[:-784]),
         ["train-images-idx3-ubyte", "truncated"]),
        (lambda raw: (raw / "train-labels-idx1-ubyte").write_bytes((raw / "t10k-labels-idx1-ubyte").read_bytes()),
         ["train-labels-idx1-ubyte", "labels for the"]),
        (lambda raw: (raw / "t10k-labels-idx1-ubyte").write_bytes(idx(np.full(500, 11))), ["t10k-labels-idx1-ubyte", "label 11"]),
        (lambda raw: (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x89PNG not an idx file"),
         ["t10k-images-idx3-ubyte", "not an MNIST file"]),
        (lambda raw: (raw / "train-images-idx3-ubyte").write_bytes(struct.pack(">BBBB3I", 0, 0, 8, 3, 60000, 28, 28)),
         ["train-images-idx3-ubyte", "truncated"]),  # a header claiming 47 MB in a 16-byte file
    ],
    ids=["missing", "truncated", "mislabelled", "not-a-digit", "foreign", "claims"],
)
def test_a_broken_mnist_folder_is_one_line_naming_the_file(small, tmp_path, capsys, damage, words):
    damage(write_raw(tmp_path / "data", small))
    for source in ("mnist", "auto"):  # auto neither falls back to the sample nor downloads
        code, _, err = invoke(train_command, "cnn-train", ["--data", source, "--data-dir", tmp_path / "data", *TRAIN,
                                                                "--out", tmp_path / "run"], capsys)
        if source == "mnist" and words[0] == "incomplete":
            continue  # --data mnist fetches what is missing: the download test covers it
        assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert all(w in err for w in words), err
        assert not (tmp_path / "run" / "model.pt").exists()


def test_an_unpacked_folder_reads_as_mnist_without_torchvision(small, tmp_path, monkeypatch):
    write_raw(tmp_path / "data", small)
    monkeypatch.setattr(MNIST, "__init__", None)  # never asked: the files are read and checked here
    d = data.load("auto", tmp_path / "data")
    assert d.source == "mnist" and len(d.test) == 500 and len(d.train) + len(d.val) == len(small.train)
    assert np.array_equal(np.sort(np.concatenate([d.train.labels, d.val.labels])), np.sort(small.train.labels))
