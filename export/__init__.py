"""Export stage: ONNX, TorchScript, torch.export, ExecuTorch, OpenVINO, LiteRT, each checked in its own runtime.

ONNX can also be int8, and so can the three edge formats (each installed by its
own extra); every file is checked against PyTorch before it is placed.

    from digit_cnn_edge.export import ExportOptions, export
    result = export(Path("runs/train/model.pt"), ExportOptions(formats=("onnx",)))

Importing this package needs no torch, so `cnn-export` can say which extra to
install; `export` and its types load torch when first used.
"""

from digit_cnn_edge.common.cli import needs_extra
from digit_cnn_edge.common.start import load_and_run

NEEDS = ("torch", "onnx", "onnxscript", "mlxtend")
_PIPELINE = ("export", "ExportOptions", "ExportResult", "GateFailed")


def __getattr__(name: str) -> object:
    if name in _PIPELINE:
        from digit_cnn_edge.export import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def export_main() -> None:
    needs_extra("cnn-export", "export", NEEDS)
    load_and_run("cnn-export", "digit_cnn_edge.export.cli", "export_main")
