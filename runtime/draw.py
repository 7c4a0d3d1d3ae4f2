"""The overlay shown by --show and written by --save: boxes, labels, confidences, frame rate."""

import cv2
import numpy as np

from digit_cnn_edge.runtime.reader import Reading


def annotate(image: np.ndarray, reading: Reading, fps: float | None = None) -> np.ndarray:
    """A BGR copy of `image` with the reading drawn on it."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[..., :3].copy()
    if out.dtype != np.uint8:
        out = cv2.normalize(out, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    scale = max(0.4, min(out.shape[:2]) / 600)
    thick = max(1, round(2 * scale))
    for d in reading.digits:
        x, y, w, h = d.box
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (0, 200, 0), thick)
        cv2.putText(out, f"{d.label} {d.confidence:.2f}", (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6 * scale, (0, 0, 255), thick, cv2.LINE_AA)  # fmt: skip
    banner = f"read: {reading.text or '-'}" + (f"   {fps:.0f} fps" if fps else "")
    cv2.putText(out, banner, (8, out.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (255, 80, 0), thick, cv2.LINE_AA)
    return out
