"""Write a trained model in the formats other programs run.

Every writer takes a model in eval mode and a path, writes to a temporary
name and moves the file into place, and returns the path.
"""

import copy
import json
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from digit_cnn_edge.common.files import atomic_path
from digit_cnn_edge.runtime import __version__
from digit_cnn_edge.runtime import convention as cv


def fold_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """A copy with each Conv2d+BatchNorm2d pair merged into one Conv2d.

    The result computes the same function (to float rounding) with fewer
    nodes, which every runtime (ORT, OpenCV, TorchScript) runs faster.
    """
    layers = list(copy.deepcopy(model).eval())
    out: list[nn.Module] = []
    for layer in layers:
        if isinstance(layer, nn.BatchNorm2d) and out and isinstance(out[-1], nn.Conv2d):
            out[-1] = torch.nn.utils.fusion.fuse_conv_bn_eval(out[-1], layer)
        else:
            out.append(layer)
    return nn.Sequential(*out).eval()


def example_input(batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, 1, cv.INPUT_SIZE, cv.INPUT_SIZE, generator=torch.Generator().manual_seed(0))


def batch_dim(max_batch: int = 65536) -> tuple[dict[int, object]]:
    """torch.export's dynamic_shapes for a dynamic batch (the input's first axis) of 1 to `max_batch`."""
    return ({0: torch.export.Dim("batch", min=1, max=max_batch)},)


def onnx_metadata(ckpt: dict, checkpoint_sha256: str, quantization: str = "none") -> dict[str, str]:
    """The metadata_props of the contract (docs/contracts.md): what the runtime reads, and where the file came from."""
    return {
        cv.META_LABELS: json.dumps(list(cv.LABELS)),
        cv.META_INPUT_SIZE: str(cv.INPUT_SIZE),
        cv.META_BOX_SIZE: str(cv.BOX_SIZE),
        cv.META_CONVENTION: cv.CONVENTION,
        cv.META_ARCH: ckpt["arch"],
        cv.META_CHECKPOINT_SHA256: checkpoint_sha256,
        cv.META_QUANTIZATION: quantization,
        cv.META_VERSION: __version__,
        cv.META_TRAINED_ON: trained_on(ckpt.get("data", {})),
        cv.META_NON_DIGITS: "outlier exposure" if ckpt.get("train_config", {}).get("negatives", 0) > 0 else "none",
    }


def trained_on(data: dict) -> str:
    """What a checkpoint learned from, in words and counts: "mnist: 54,999 training digits (5,001 held out for validation)"."""
    sizes = data.get("sizes", {})
    return (f"{data.get('source', 'unknown')}: {sizes.get('train', 0):,} training digits "
            f"({sizes.get('val', 0):,} held out for validation, split seed {data.get('split_seed', 0)})")


def set_metadata(proto: onnx.ModelProto, metadata: dict[str, str]) -> onnx.ModelProto:
    """Replace the model's metadata with ours, and drop the exporter's per-node notes
    (stack traces with local paths: they leak the build machine and bloat the file)."""
    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "digit-cnn-edge"
    proto.producer_version = __version__
    return proto


def save_onnx(proto: onnx.ModelProto, path: Path) -> Path:
    """One self-contained file (weights inside), checked by onnx.checker before it lands."""
    onnx.checker.check_model(proto, full_check=True)
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
    return path


def to_onnx(model: nn.Module, path: Path, metadata: dict[str, str], opset: int | None = None) -> Path:
    """ONNX through the dynamo exporter, dynamic batch, input `input`, output `logits`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (example_input(),),
            dynamo=True,
            external_data=False,
            dynamic_shapes=batch_dim(),
            input_names=[cv.INPUT_NAME],
            output_names=[cv.OUTPUT_NAME],
            opset_version=opset,
            optimize=True,
            verbose=False,
        )
    proto = program.model_proto
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    batch.dim_param = "batch"
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    del proto.graph.value_info[:]  # intermediate shapes, which ORT infers at load: 2.4 KB of a 100 KB file
    return save_onnx(set_metadata(proto, metadata), path)


def opset_of(path: Path) -> int | None:
    return next((i.version for i in onnx.load(str(path)).opset_import if i.domain in ("", "ai.onnx")), None)


def to_torchscript(model: nn.Module, path: Path) -> Path:
    """TorchScript by tracing. It is deprecated upstream, so its warnings stay off the user's screen."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example_input(), check_trace=False)
        traced = torch.jit.freeze(traced)
        with atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp))
    return path


def to_pt2(model: nn.Module, path: Path) -> Path:
    """torch.export's ExportedProgram: the forward-looking replacement for TorchScript."""
    program = torch.export.export(model, (example_input(),), dynamic_shapes=batch_dim())
    with atomic_path(path) as tmp:
        torch.export.save(program, str(tmp))
    return path
