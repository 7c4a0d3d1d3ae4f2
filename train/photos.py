"""Re-photographed training digits: each digit printed on paper, photographed, and cut out again by the runtime.

The runtime never sees an MNIST digit. It sees a crop that went through a
camera (blur, sensor noise, JPEG, uneven light) and then through
`runtime.segment.segment` (ink map, halo subtraction, MNIST framing):
softer, slightly thinner strokes with uneven ink. Training on a share of such
copies teaches the classifier that look; cross-validation on the offline
sample measured it on photo-like scenes (benchmarks/RESULTS-crossval.md). The
camera effects are drawn from wider ranges than the benchmark's scenes, so
the model is not fitted to one renderer.
"""

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import cv2
import numpy as np

from digit_cnn_edge.runtime.convention import INPUT_SIZE
from digit_cnn_edge.runtime.segment import segment
from digit_cnn_edge.train.synth import Look, photograph, place

LOOK = Look(paper=(150, 245), pen=(10, 100), shade=0.35, noise=(1, 9), blur=1.5, jpeg=(35, 95))
HEIGHTS = (24, 140)  # ink height in the photo, pixels; drawn log-uniformly
MAX_ANGLE = 5.0  # degrees; the training warp adds its own rotation on top
CHUNK = 250  # digits per unit of work (and per seed)


def default_copies(n_digits: int) -> int:
    """About 20,000 photos in all, 1 to 4 per digit: 4 for the 4,500-digit sample, 1 for full MNIST."""
    return min(4, max(1, 20_000 // max(n_digits, 1)))


def rephotograph(digit: np.ndarray, rng: np.random.Generator, look: Look = LOOK) -> np.ndarray | None:
    """One uint8 28x28 digit as the runtime would crop it from a photo: float32 [28, 28], or None if not found as one blob."""
    height = int(np.exp(rng.uniform(*np.log(HEIGHTS))))
    tile = place(digit, height, float(rng.uniform(-MAX_ANGLE, MAX_ANGLE)))
    margin = int(rng.integers(24, 64))
    paper = cv2.copyMakeBorder(tile, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=0)
    crops = segment(photograph(paper, rng, look, channels=1)).crops
    return crops[0] if len(crops) == 1 else None


def _photograph_chunk(task: tuple[np.ndarray, int], seed: np.random.SeedSequence) -> np.ndarray:
    images, copies = task
    rng = np.random.default_rng(seed)
    out = np.empty((len(images), copies, INPUT_SIZE, INPUT_SIZE), np.float32)
    for i, digit in enumerate(images):
        for c in range(copies):
            crop = rephotograph(digit, rng)
            out[i, c] = crop if crop is not None else digit / np.float32(255)
    return out


T = TypeVar("T")


def in_chunks(
    work: Callable[[T, np.random.SeedSequence], np.ndarray],
    tasks: list[T],
    seed: int,
    workers: int = 1,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> list[np.ndarray]:
    """`work(task, seed)` for every task, each with its own seed, in `workers` processes: the same result for any count.

    `progress(finished, n_tasks)` wraps the finished tasks (a progress bar).
    """
    progress = progress or (lambda it, total: it)
    seeds = np.random.SeedSequence(seed).spawn(len(tasks))
    if workers > 1 and len(tasks) > 1:
        # spawn, not fork: the caller may have started torch's threads.
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(progress(pool.map(work, tasks, seeds), len(tasks)))
    return list(progress(map(work, tasks, seeds), len(tasks)))


def photo_copies(
    images: np.ndarray,
    copies: int,
    seed: int,
    workers: int = 1,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> np.ndarray:
    """float32 [N, copies, 28, 28] re-photographed copies of uint8 [N, 28, 28] digits.

    Where the segmenter does not find the digit as exactly one blob (about 0.3%),
    the copy is the clean digit, so every slot holds the right label. Work is
    split into chunks of `CHUNK` digits with their own seeds, so the result is
    the same for any number of `workers` (processes); `progress(chunks, n_chunks)`
    wraps the finished chunks.
    """
    tasks = [(images[i : i + CHUNK], copies) for i in range(0, len(images), CHUNK)]
    return np.concatenate(in_chunks(_photograph_chunk, tasks, seed, workers, progress))
