"""The overlay shown by --show and written by --save: boxes, labels, confidences, frame rate and latency."""

import cv2
import numpy as np

from digit_cnn_edge.runtime.preprocess import to_uint8, without_channel_axis
from digit_cnn_edge.runtime.reader import Reading

FONT = cv2.FONT_HERSHEY_SIMPLEX
BOX_COLOUR = (0, 200, 0)  # BGR
LABEL_COLOUR = (0, 0, 255)
BANNER_COLOUR = (255, 80, 0)


def annotate(image: np.ndarray, reading: Reading, fps: float | None = None, latency_ms: float | None = None) -> np.ndarray:
    """A BGR copy of `image` with the reading drawn on it.

    Live views also pass the frame rate and the per-frame latency (capture to
    reading), drawn at the bottom right, apart from what was read at the bottom left,
    so a slow machine shows how far behind the present it is.
    """
    image = without_channel_axis(image)
    out = cv2.cvtColor(to_uint8(image), cv2.COLOR_GRAY2BGR) if image.ndim == 2 else to_uint8(image[..., :3].copy())
    scale = max(0.4, min(out.shape[:2]) / 600)
    thick = max(1, round(2 * scale))
    for d in reading.digits:
        x, y, w, h = d.box
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), BOX_COLOUR, thick)
        cv2.putText(out, f"{d.label} {d.confidence:.2f}", (x, max(12, y - 4)), FONT, 0.6 * scale, LABEL_COLOUR, thick, cv2.LINE_AA)
    bottom = out.shape[0] - 10
    cv2.putText(out, f"read: {reading.text or '-'}", (8, bottom), FONT, 0.7 * scale, BANNER_COLOUR, thick, cv2.LINE_AA)
    live = [f"{fps:.0f} fps"] if fps else []
    live += [f"latency {latency_ms:.1f} ms"] if latency_ms is not None else []
    if live:
        text = "  ".join(live)
        (width, _), _ = cv2.getTextSize(text, FONT, 0.7 * scale, thick)
        cv2.putText(out, text, (out.shape[1] - width - 8, bottom), FONT, 0.7 * scale, BANNER_COLOUR, thick, cv2.LINE_AA)
    return out
