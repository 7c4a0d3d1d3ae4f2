"""Read one digit per image with the exported model through OpenCV's DNN module only.

    python examples/opencv_dnn.py --model runs/train/model.onnx digits/*.png

prints one JSON line per image, {"source", "digits": [{"label", "confidence"}]}, like the
Node example. No ONNX Runtime: an app that already ships OpenCV needs nothing else. The
framing comes from the runtime's `prepare_single`, so the input convention lives in one
place; an app without the toolkit copies that one function (runtime/preprocess.py).
"""

import argparse
import json
import os
import sys

import cv2
import numpy as np

from digit_cnn_edge.runtime.convention import INPUT_SIZE
from digit_cnn_edge.runtime.preprocess import has_ink, prepare_single, to_gray


def load(path: str) -> cv2.dnn.Net:
    """The model as an OpenCV network; cv2.error names what it could not read."""
    return cv2.dnn.readNetFromONNX(path)


def decode(path: str) -> np.ndarray:
    """An image file at any depth and channels, as OpenCV reads it; ValueError if it is not an image.

    A plain decode keeps the example to OpenCV alone; cnn-run also bounds the
    pixels a file may claim (digit_cnn_edge.runtime.decode).
    """
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ValueError("not a readable image")
    return image


def logits(net: cv2.dnn.Net, framed: np.ndarray) -> np.ndarray:
    """Logits [N, 10] for framed digits [N, 28, 28] in [0, 1] (the model's input convention)."""
    net.setInput(np.ascontiguousarray(framed, np.float32).reshape(-1, 1, INPUT_SIZE, INPUT_SIZE))
    return net.forward()


def read(net: cv2.dnn.Net, image: np.ndarray) -> list[dict]:
    """One image as one digit, label (the model's labels are the digits 0-9) and probability; none if it is blank."""
    if not has_ink(to_gray(image)):
        return []
    z = logits(net, prepare_single(image)[None])[0].astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    best = int(p.argmax())
    return [{"label": best, "confidence": round(float(p[best]), 4)}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Read one digit per image with cv2.dnn and the exported model.onnx.")
    parser.add_argument("--model", required=True, help="model.onnx from cnn-export")
    parser.add_argument("images", nargs="+", help="image files, each holding one digit")
    args = parser.parse_args(argv)
    try:
        net = load(args.model)
    except cv2.error as e:
        print(f"opencv_dnn.py: {args.model}: not loadable by OpenCV DNN ({str(e).strip().splitlines()[-1]})", file=sys.stderr)
        return 2
    failed = 0
    for source in args.images:
        try:
            image = decode(source)
        except (OSError, ValueError) as e:
            print(f"opencv_dnn.py: {source}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
            failed += 1
            continue
        line = json.dumps({"source": source, "digits": read(net, image)})
        try:
            print(line, flush=True)
        except BrokenPipeError:  # the reader has gone (`| head`): stop quietly, as a shell tool does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush cannot fail again
            break
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
