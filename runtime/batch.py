"""Read digits from archives beyond one machine: a callable class for Ray Data's `Dataset.map_batches`.

    rows = ray.data.read_binary_files("s3://bucket/scans/", include_paths=True).map_batches(ReadDigits, concurrency=8)

Ray builds one `ReadDigits` per actor, so each actor loads the model once and
reads batch after batch with it. Each image becomes one row with the fields of
`cnn-run --json` and an `error`. The bytes are decoded by the runtime's own
`decode`, within the pixel limit read from the header, so a hostile or broken
file is a row whose `error` says why, never a failed job or a blown actor.
Nothing here imports ray; pyarrow, which Ray Data brings, is imported when a
batch is read, so the base install can import this module.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from digit_cnn_edge.common.errors import BadInput
from digit_cnn_edge.runtime.classifier import DigitClassifier
from digit_cnn_edge.runtime.decode import MAX_PIXELS, read_gray
from digit_cnn_edge.runtime.reader import MIN_CONFIDENCE, DigitReader
from digit_cnn_edge.runtime.records import record

if TYPE_CHECKING:
    import pyarrow


def row_schema() -> "pyarrow.Schema":
    """The rows' columns: `cnn-run --json`'s fields, then `error`. `digits` and `text` are null where `error` is not."""
    import pyarrow as pa

    digit = pa.struct([("label", pa.int64()), ("confidence", pa.float64()), ("box", pa.list_(pa.int64())),
                       ("line", pa.int64())])
    return pa.schema([("source", pa.string()), ("frame", pa.int64()), ("digits", pa.list_(digit)),
                      ("text", pa.string()), ("error", pa.string())])


class ReadDigits:
    """For `Dataset.map_batches`: images in, one row per image out, as a pyarrow Table.

    A batch has a `path` column and a `bytes` one, as `read_binary_files(..., include_paths=True)`
    makes it; without `bytes`, each path is a local file this actor reads itself.

    Batches may come as numpy (Ray's default) or pandas. Each actor reads on one
    core: OpenCV's own threads would only compete with the other actors.
    """

    def __init__(self, model: str | Path | None = None, mode: str = "auto", min_confidence: float = MIN_CONFIDENCE,
                 max_pixels: int = MAX_PIXELS) -> None:
        cv2.setNumThreads(1)
        self.reader = DigitReader(DigitClassifier(model), min_confidence)
        self.mode, self.max_pixels = mode, max_pixels

    def __call__(self, batch: Mapping[str, Sequence]) -> "pyarrow.Table":
        import pyarrow as pa

        paths = [str(p) for p in batch["path"]]
        contents = batch["bytes"] if "bytes" in batch else [None] * len(paths)
        rows = [self.row(path, data) for path, data in zip(paths, contents, strict=True)]
        return pa.Table.from_pylist(rows, schema=row_schema())

    def row(self, source: str, data: bytes | None = None) -> dict:
        """One image's row: its digits, or the one-line reason it could not be read."""
        try:
            image, scale = read_gray(source, self.max_pixels, self.reader.params.work_side,
                                     None if data is None else bytes(data))
        except BadInput as e:
            return {"source": source, "frame": None, "digits": None, "text": None, "error": str(e)}
        return {**record(source, None, self.reader.read(image, self.mode, scale)), "error": None}
