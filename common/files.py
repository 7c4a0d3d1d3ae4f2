"""Writing files so that a failure never leaves a half-written one where a good one was.

Every write failure (a folder in the way, a read-only disk, a full one) ends as
CannotWrite naming the path, raised here, where the operating system said no.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from digit_cnn_edge.common.errors import CannotWrite


def temp_sibling(path: Path) -> Path:
    """A hidden name beside `path` with the same suffix (some writers pick the format from it)."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def cannot_write(path: str | Path, error: OSError) -> CannotWrite:
    return CannotWrite(f"cannot write {path}: {error.strerror or error}")


def move_into_place(tmp: Path, path: Path) -> None:
    """Replace `path` with the finished `tmp` in one step."""
    try:
        os.replace(tmp, path)
    except OSError as e:
        raise cannot_write(path, e) from None


def discard(tmp: Path) -> None:
    """Remove a temporary file if it is there: not there, under a file, or a folder (not ours) are all left alone."""
    with suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
        tmp.unlink()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; move it into place only if the block succeeds."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        yield tmp
        move_into_place(tmp, path)
    except OSError as e:
        raise cannot_write(path, e) from None
    finally:
        discard(tmp)


def writable_dir(path: str | Path) -> Path:
    """Create `path` if needed and check we can write there."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(path, e) from None
    if not os.access(path, os.W_OK):
        raise CannotWrite(f"cannot write {path}: the folder is not writable")
    return path
