"""The record one image or video frame becomes: a `cnn-run --json` line, whichever process read it, and a Ray row."""

from digit_cnn_edge.runtime.reader import Reading


def record(source: str, frame: int | None, reading: Reading) -> dict:
    """The `--json` contract's fields, in its order: source, frame (None for a still image), digits, text."""
    return {"source": source, "frame": frame, **reading.as_dict()}
