"""Example images: the quick start's photo of a page, and the quickstart script's digit and scene.

    python -m digit_cnn_edge.train.examples DIR                                   # digit.png, photo.jpg from the sample
    python -m digit_cnn_edge.train.examples --page examples/photo.jpg --data-dir MNIST_DIR   # the README's photo

Each prints what it shows, so the reader can compare with `cnn-run`.
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.train.data import load_mnist, load_sample
from digit_cnn_edge.train.synth import photograph, place, render_scene, text_ink

PAGE_NUMBERS = ("2045", "318")
"""The page's two handwritten numbers, one per ruled line; the second in printed boxes."""


def write_examples(out: Path, seed: int = 3) -> dict[str, str]:
    """Write digit.png and photo.jpg into `out` from the sample's validation digits; file name -> the digits it shows."""
    out.mkdir(parents=True, exist_ok=True)
    val = load_sample().val
    rng = np.random.default_rng(seed)
    i = int(rng.integers(len(val)))
    digit = cv2.resize(255 - val.images[i], (112, 112), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(out / "digit.png"), digit)
    scene = render_scene(val.images, val.labels, rng, count=6)
    cv2.imwrite(str(out / "photo.jpg"), scene.image)
    return {"digit.png": str(val.labels[i]), "photo.jpg": scene.text}


def printed(text: str, cap_height: int) -> np.ndarray:
    """A word in DejaVu Serif (matplotlib's font), capitals about `cap_height` px tall, as float ink cropped to it."""
    import matplotlib
    from PIL import ImageFont

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSerif.ttf"), round(cap_height / 0.73))
    return text_ink(text, font)


def page(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photographed notepad page: on two ruled lines a printed label and a handwritten number (the second in
    printed boxes), and a tick. The digits are the first of each needed label in `digits`, in order of use."""
    ink = np.zeros((480, 640), np.float32)
    for y in range(70, 480, 56):
        cv2.line(ink, (0, y), (639, y), 0.45, 2)
    cv2.line(ink, (28, 0), (28, 479), 0.45, 2)  # the margin
    used: set[int] = set()

    def digit(label: str) -> np.ndarray:
        i = next(i for i in range(len(labels)) if str(labels[i]) == label and i not in used)
        used.add(i)
        tile = place(digits[i], 74, float(rng.uniform(-5, 5)))
        x, y, w, h = cv2.boundingRect((tile > 0.25).astype(np.uint8))
        return tile[y : y + h, x : x + w]

    for (word, number, boxed, rule) in (("Room", PAGE_NUMBERS[0], False, 182), ("Total", PAGE_NUMBERS[1], True, 350)):
        letters = printed(word, 30)
        ink[rule - 3 - letters.shape[0] : rule - 3, 50 : 50 + letters.shape[1]] = letters
        x = 230
        for label in number:
            tile = digit(label)
            h, w = tile.shape
            np.maximum(ink[rule - h : rule, x : x + w], tile, out=ink[rule - h : rule, x : x + w])
            if boxed:
                cv2.rectangle(ink, (x - 12, rule - h - 12), (x + w + 12, rule + 10), 1.0, 2)
            x += w + (44 if boxed else 22)
    cv2.polylines(ink, [np.array([[560, 62], [578, 88], [616, 30]], np.int32)], False, 1.0, 7, cv2.LINE_AA)
    return photograph(ink, rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", type=Path, default=Path("examples"), help="folder for digit.png and photo.jpg")
    ap.add_argument("--page", type=Path, default=None, help="write the README's page photo here instead")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="an MNIST folder: the page's digits are test digits")
    args = ap.parse_args()
    if args.page is not None:
        test = load_mnist(args.data_dir, download=False).test
        cv2.imwrite(str(args.page), page(test.images, test.labels, np.random.default_rng(7)), [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(f"{args.page}: shows {' '.join(PAGE_NUMBERS)}")
        return
    for name, truth in write_examples(args.out).items():
        print(f"{args.out / name}: shows {truth}")


if __name__ == "__main__":
    main()
