"""Checks for the options dataclasses (TrainOptions, ExportOptions), so a program gets what a flag would.

click's flag types refuse a bad value on the command line, but a program that
builds the dataclass itself passes no flag: a NaN learning rate reached torch
only after the data had loaded, and an infinite tolerance passed every parity
gate. Each dataclass checks its fields as it is made and again as it is used
(a field may be changed in between), with these. Numbers may be numpy's too:
they are stored as Python's.
"""

import math
import numbers
from collections.abc import Iterable

from digit_cnn_edge.common.errors import UserError, shortened


class BadOption(UserError, ValueError):
    """An option outside what it may be; 2, like a usage error, since nothing ran."""

    exit_code = 2


def whole(owner: object, name: str, low: int, high: int | None = None) -> None:
    """`owner.name` is None or a whole number in [low, high]."""
    value = getattr(owner, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
        high is not None and value > high
    ):
        span = f">= {low}" if high is None else f"from {low} to {high}"
        raise BadOption(f"{name} must be a whole number {span}, not {shortened(repr(value), 40)}")
    setattr(owner, name, int(value))


def number(owner: object, name: str, low: float, high: float | None = None, low_open: bool = False) -> None:
    """`owner.name` is a finite number above `low` (or at it, unless `low_open`) and at most `high`."""
    value = getattr(owner, name)
    try:
        ok = (
            isinstance(value, numbers.Real)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (value > low if low_open else value >= low)
            and (high is None or value <= high)
        )
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        span = f"{'>' if low_open else '>='} {low:g}" + ("" if high is None else f" and <= {high:g}")
        raise BadOption(f"{name} must be a finite number {span}, not {shortened(repr(value), 40)}")
    setattr(owner, name, float(value))


def one_of(owner: object, name: str, known: Iterable[str]) -> None:
    """`owner.name` is one of `known`."""
    value, known = getattr(owner, name), tuple(known)
    if value not in known:
        raise BadOption(f"unknown {name} {value!r} (known: {', '.join(known)})")
