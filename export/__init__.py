"""Export stage: TorchScript, torch.export and ONNX (optionally int8), each checked against PyTorch."""
