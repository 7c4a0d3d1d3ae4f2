"""Example images for the quick start, made from validation digits the model never trained on.

`python -m digit_cnn_edge.train.examples DIR` writes a single enlarged digit and a multi-digit
"photo" and prints what each shows, so the reader can compare with cnn-run.
"""

import sys
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.train.data import load_sample
from digit_cnn_edge.train.synth import render_scene


def write_examples(out: Path, seed: int = 3) -> dict[str, str]:
    """Write digit.png and photo.jpg into `out`; returns file name -> the digits it shows."""
    out.mkdir(parents=True, exist_ok=True)
    val = load_sample().val
    rng = np.random.default_rng(seed)
    i = int(rng.integers(len(val)))
    digit = cv2.resize(255 - val.images[i], (112, 112), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(out / "digit.png"), digit)
    scene = render_scene(val.images, val.labels, rng, count=6)
    cv2.imwrite(str(out / "photo.jpg"), scene.image)
    return {"digit.png": str(val.labels[i]), "photo.jpg": scene.text}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "examples")
    for name, truth in write_examples(target).items():
        print(f"{target / name}: shows {truth}")
