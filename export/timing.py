"""Latency measurement shared by the export report and the benchmarks."""

import time
from collections.abc import Callable

import numpy as np

LATENCY_REPEATS, LATENCY_WARMUP = 300, 30
"""Batch-1 latency in the export report: the median of this many calls, after this many unmeasured ones."""


def median_seconds(fn: Callable[[], object], repeats: int = 200, warmup: int = 20, min_seconds: float = 0.0) -> float:
    """Median wall time of `fn()`; runs at least `repeats` times and at least `min_seconds` in all."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
