"""Export stage: TorchScript, torch.export and ONNX (optionally int8), each checked against PyTorch."""

from digit_cnn_edge.runtime.cli_common import needs_extra


def export_main() -> None:
    needs_extra("cnn-export", "export", ("torch", "onnx", "onnxscript", "mlxtend"))
    from digit_cnn_edge.export.cli import export_main as main

    main()
