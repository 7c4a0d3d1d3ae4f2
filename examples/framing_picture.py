"""Draw examples/framing.png, the picture of the input convention in docs/contracts.md, from a real digit.

    python examples/framing_picture.py

Left to right: a photo-like digit (dark ink on light paper, 90 px), its ink as the runtime
sees it (paper inverted, background dropped by Otsu's threshold), and the model's input:
28x28, the ink scaled so its longer side is 20 pixels, its centre of mass at the centre
(the ink's box and the centre are marked).
"""

from pathlib import Path

import cv2
import numpy as np

from digit_cnn_edge.runtime.preprocess import ink_of, prepare_single
from digit_cnn_edge.train import data

SIDE = 224  # each panel, pixels
OUT = Path(__file__).with_name("framing.png")


def panel(image: np.ndarray, title: str) -> np.ndarray:
    big = cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_NEAREST)
    big = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR) if big.ndim == 2 else big
    caption = np.full((28, SIDE, 3), 255, np.uint8)
    cv2.putText(caption, title, (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([big, caption])


def main() -> None:
    sample = data.load_sample(seed=0)
    digit = sample.val.images[int(np.flatnonzero(sample.val.labels == 3)[0])]
    photo = (235 - 0.8 * cv2.resize(digit, (90, 90), interpolation=cv2.INTER_CUBIC)).astype(np.uint8)
    framed = (prepare_single(photo) * 255).astype(np.uint8)
    model_input = panel(framed, "model input, 28x28, [0, 1]")
    cell = SIDE / 28
    x, y, w, h = cv2.boundingRect(framed)
    cv2.rectangle(model_input, (round(x * cell), round(y * cell)), (round((x + w) * cell) - 1, round((y + h) * cell) - 1), (0, 160, 255), 1)
    cv2.drawMarker(model_input, (SIDE // 2, SIDE // 2), (0, 160, 255), cv2.MARKER_CROSS, 14, 1)
    gap = np.full((SIDE + 28, 8, 3), 255, np.uint8)
    picture = np.hstack([panel(photo, "image, 90x90"), gap, panel(ink_of(photo), "ink (paper inverted)"), gap, model_input])
    cv2.imwrite(str(OUT), picture)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
