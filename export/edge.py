"""Write the formats edge apps deploy: ExecuTorch (.pte), OpenVINO IR (.xml + .bin) and LiteRT (.tflite).

Each comes from its own converter, installed by its own extra ([executorch],
[openvino], [tflite]), so the base and [export] installs stay small; each
converter is imported only when its format is asked for. Every converter
changes the graph, which is why every file these writers make goes through
the parity gate in its own runtime (`parity.check_files`).

int8: each format's own standard static path, calibrated on real digits:
ExecuTorch's XNNPACK quantizer through PT2E, OpenVINO's NNCF, LiteRT's AI Edge
Quantizer. Inputs and outputs stay float32 in every int8 file, so the input
convention does not change.

Converters print progress bars, C++ logs and warnings of their own; `converting`
keeps them off the user's screen and turns a converter's failure into one line.
"""

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import torch
from torch import nn

from digit_cnn_edge.common.cli import missing_modules
from digit_cnn_edge.common.errors import MissingExtra, UserError
from digit_cnn_edge.common.files import atomic_path, discard, move_into_place, temp_sibling
from digit_cnn_edge.export.formats import batch_dim, example_input
from digit_cnn_edge.runtime import convention as cv

EXTRAS = {
    "executorch": ("executorch", "torchao"),
    "openvino": ("openvino", "nncf"),
    "tflite": ("litert_torch", "ai_edge_litert", "ai_edge_quantizer"),
}
"""The modules each format's writer and gate import; the extra that installs them is named after the format."""

EXECUTORCH_MAX_BATCH = 256
"""An ExecuTorch program plans its memory for the largest batch it takes: 256 digits is about 1.4 MB."""

INT8_NOTES = {
    "executorch": "XNNPACKQuantizer through PT2E: int8 weights per output channel, int8 activations calibrated "
                  "on the check digits; float32 input and output",
    "openvino": "NNCF post-training quantization with full bias correction, calibrated on the check digits; "
                "float32 input and output",
    "tflite": "AI Edge Quantizer static_wi8_ai8 with the model's input and output kept float32, calibrated on "
              "the check digits",
}  # fmt: skip


def missing(fmt: str) -> list[str]:
    """The modules of `fmt`'s extra that are not installed."""
    return missing_modules(EXTRAS[fmt])


def require(fmt: str) -> None:
    """Raise MissingExtra, naming the extra to install, when a format's converter or runtime is not installed."""
    if gone := missing(fmt):
        raise MissingExtra(f"--{fmt} needs {', '.join(gone)}: pip install 'digit-cnn-edge[{fmt}]'")


@contextlib.contextmanager
def _output_to(log: IO[str]) -> Iterator[None]:
    """Point file descriptors 1 and 2, and sys.stdout/stderr, at `log`: C++ logs bypass Python's streams."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield
    finally:
        log.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


@contextlib.contextmanager
def converting(name: str) -> Iterator[None]:
    """Run a converter quietly; if it raises, one UserError that names the format and the converter's complaint.

    Converters raise whatever their internals raise (TypeError from JAX tracing,
    RuntimeError from C++), so any exception inside is reported, never swallowed.
    """
    with tempfile.TemporaryFile("w+") as log, _output_to(log), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except UserError:
            raise
        except Exception as e:  # re-raised, as one line that says what failed
            said = (str(e).strip().splitlines() or [""])[0]
            raise UserError(f"{name}: the converter failed: {type(e).__name__}: {said}") from e


def _bounded_program(model: nn.Module) -> torch.export.ExportedProgram:
    return torch.export.export(model, (example_input(),), dynamic_shapes=batch_dim(EXECUTORCH_MAX_BATCH))


def _lower_to_pte(program: torch.export.ExportedProgram, path: Path) -> Path:
    """XNNPACK-delegated ExecuTorch program, its memory planned for EXECUTORCH_MAX_BATCH."""
    import torch.fx.experimental._config as fx_config
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    # While lowering, fake convolutions ask which conv backend the batch would take (batch < 16?), and
    # answering narrows the batch's range, so the program would take at most 15 digits. Size-oblivious
    # guards answer without narrowing, and the bound stays the one exported.
    with fx_config.patch(backed_size_oblivious=True):
        buffer = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch().buffer
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer)
    return path


def to_executorch(model: nn.Module, path: Path) -> Path:
    """ExecuTorch .pte for the XNNPACK delegate (CPU, FP32), batch 1 to EXECUTORCH_MAX_BATCH."""
    with converting("executorch"):
        return _lower_to_pte(_bounded_program(model), path)


def to_executorch_int8(model: nn.Module, path: Path, calibration: np.ndarray) -> Path:
    """int8 .pte: PT2E with the XNNPACK quantizer (per-channel weights, static activations), then XNNPACK."""
    with converting("executorch-int8"):
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(_bounded_program(model).module(), quantizer)
        for start in range(0, len(calibration), EXECUTORCH_MAX_BATCH):
            prepared(torch.from_numpy(calibration[start : start + EXECUTORCH_MAX_BATCH]))
        return _lower_to_pte(_bounded_program(convert_pt2e(prepared)), path)


def ir_weights(xml: Path) -> Path:
    """OpenVINO reads an IR's weights from the .bin of the same name beside its .xml."""
    return xml.with_suffix(".bin")


def _save_ir(model: object, xml: Path) -> Path:
    """Both files under temporary names, then into place. FP32 weights: save_model's default FP16 would
    move the logits by about 1e-3, past the gate's 1e-4."""
    import openvino as ov

    tmp = temp_sibling(xml)
    try:
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        move_into_place(ir_weights(tmp), ir_weights(xml))
        move_into_place(tmp, xml)
    finally:
        discard(tmp)
        discard(ir_weights(tmp))
    return xml


def to_openvino(onnx_path: Path, path: Path) -> Path:
    """OpenVINO IR converted from our ONNX file, so it keeps the names `input`/`logits`, the dynamic batch
    and the ONNX metadata (in the IR's rt_info, under `framework`)."""
    with converting("openvino"):
        import openvino as ov

        return _save_ir(ov.convert_model(str(onnx_path)), path)


def to_openvino_int8(onnx_path: Path, path: Path, calibration: np.ndarray) -> Path:
    """int8 IR by NNCF. Full bias correction rather than the fast one: on a 3-epoch model the fast one
    flipped 4 of 500 digits against FP32, the full one none, for a second more."""
    with converting("openvino-int8"):
        import nncf
        import openvino as ov

        samples = nncf.Dataset([digit[None] for digit in calibration])
        model = nncf.quantize(ov.convert_model(str(onnx_path)), samples, subset_size=len(calibration),
                              fast_bias_correction=False)  # fmt: skip
        model.set_rt_info("static-int8 (NNCF)", ["framework", cv.META_QUANTIZATION])
        return _save_ir(model, path)


def to_tflite(model: nn.Module, path: Path) -> Path:
    """LiteRT .tflite by litert-torch, batch 1: its converter fixes the batch in every layer it lowers."""
    with converting("tflite"):
        import litert_torch

        converted = litert_torch.convert(model, (example_input(1),))
        with atomic_path(path) as tmp:
            converted.export(str(tmp))
    return path


def to_tflite_int8(fp32: Path, path: Path, calibration: np.ndarray) -> Path:
    """int8 .tflite from the FP32 one by the AI Edge Quantizer; input and output left float32."""
    with converting("tflite-int8"):
        from ai_edge_litert.interpreter import Interpreter
        from ai_edge_quantizer import Quantizer, qtyping, recipe_manager
        from ai_edge_quantizer.algorithm_manager import AlgorithmName

        recipe = recipe_manager.RecipeManager()
        recipe.add_static_config(".*", qtyping.TFLOperationName.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
        for end in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
            recipe.add_quantization_config(".*", end, algorithm_key=AlgorithmName.NO_QUANTIZE)
        ((signature, names),) = Interpreter(model_path=str(fp32)).get_signature_list().items()
        quantizer = Quantizer(str(fp32), recipe.get_quantization_recipe())
        ranges = quantizer.calibrate({signature: [{names["inputs"][0]: digit[None]} for digit in calibration]})
        quantized = quantizer.quantize(ranges).quantized_model
        with atomic_path(path) as tmp:
            tmp.write_bytes(quantized)
    return path
