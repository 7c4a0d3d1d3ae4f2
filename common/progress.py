"""How long-running library calls report, without printing: a `log` for messages and a `progress` wrapper for loops.

The library functions (`train`, `export`) take both and default to silence; each
command passes its own (a progress bar on stderr while it is a terminal).
"""

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
Progress = Callable[[Iterable[T], int, str], Iterable[T]]
"""Wraps a long loop: (items, how many, what it is doing) -> the same items, shown as a bar or not at all."""
Log = Callable[[str], None]


def no_progress(items: Iterable[T], total: int, desc: str) -> Iterable[T]:
    return items


def no_log(message: str) -> None:
    """The default `log`: say nothing."""
