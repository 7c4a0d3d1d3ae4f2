"""Run an exported file in its own runtime, in a fresh `python -I` process started in an empty folder.

That is how an app meets the file: with none of this project's code and no
state left by the converter that wrote it. The child process gets the probes
in an .npz, runs them at batch 1 and in the largest batches each file takes,
times batch 1 on one thread, and hands back the logits and the time.
"""

import inspect
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digit_cnn_edge.common.errors import UserError
from digit_cnn_edge.export import timing

# Each loader defines load(path) -> (run, bound): run maps float32 [n, 1, 28, 28] to logits [n, 10] on one
# thread, and bound is the largest n the file takes (None: any). Only the runtime itself is imported.
_TORCH = """
import torch
torch.set_num_threads(1)
torch.set_grad_enabled(False)
def load(path):
    model = torch.jit.load(path) if path.endswith(".ts") else torch.export.load(path).module()
    return (lambda x: model(torch.from_numpy(x)).numpy()), None
"""

_EXECUTORCH = """
import torch
from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
from executorch.runtime import Runtime
def load(path):
    _unsafe_reset_threadpool(1)  # XNNPACK's threads; the Runtime API has no setting for it
    method = Runtime.get().load_program(path).load_method("forward")
    bound = method.metadata.input_tensor_meta(0).sizes()[0]  # memory is planned for this batch
    return (lambda x: method.execute([torch.from_numpy(x)])[0].numpy()), bound
"""

_OPENVINO = """
import openvino as ov
def load(path):
    compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"})
    return (lambda x: compiled(x)[0]), None
"""

_TFLITE = """
from ai_edge_litert.interpreter import Interpreter
def load(path):
    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    def run(x):
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"]).copy()
    return run, int(inp["shape"][0])
"""

LOADERS = {"PyTorch": _TORCH, "ExecuTorch": _EXECUTORCH, "OpenVINO": _OPENVINO, "LiteRT": _TFLITE}
RUNTIMES = {"torchscript": "PyTorch", "pt2": "PyTorch", "executorch": "ExecuTorch", "openvino": "OpenVINO",
            "tflite": "LiteRT"}  # fmt: skip
"""The runtime each format is checked in; an int8 file runs in its FP32 parent's (tflite-int8: LiteRT)."""

_HARNESS = """
x = np.load("x.npz")
for i, path in enumerate(sys.argv[1:]):
    print(i, flush=True)  # which file the child is at, should it fail
    run, bound = load(path)
    step = bound or len(x["full"])
    full = np.concatenate([run(x["full"][j:j + step]) for j in range(0, len(x["full"]), step)])
    b1 = np.concatenate([run(x["b1"][j:j + 1]) for j in range(len(x["b1"]))])
    one = x["b1"][:1]
    seconds = median_seconds(lambda: run(one), repeats={repeats}, warmup={warmup})
    np.savez(f"y{{i}}.npz", full=full, b1=b1, latency_us=1e6 * seconds, bound=bound or 0)
"""


def runtime(name: str) -> str | None:
    """The runtime a fresh process checks `name` in (torchscript, tflite-int8, ...); None: not one of ours."""
    return RUNTIMES.get(name.removesuffix("-int8"))


def script(runtime_name: str) -> str:
    """The child's whole program: the runtime's loader, our timer (its source, not an import of it), the harness."""
    return "\n".join([
        "import sys, time, warnings", 'warnings.simplefilter("ignore")', "import numpy as np",
        "from collections.abc import Callable", inspect.getsource(timing.median_seconds), LOADERS[runtime_name],
        _HARNESS.format(repeats=timing.LATENCY_REPEATS, warmup=timing.LATENCY_WARMUP),
    ])  # fmt: skip


@dataclass
class Run:
    outputs: dict[str, np.ndarray]  # digits, noise, digits_b1, noise_b1, as parity.batch1_and_full
    latency_us: float  # median batch-1 wall time on one thread, in the runtime
    bound: int | None  # the largest batch the file takes; None: any


def run(files: dict[str, Path], digits: np.ndarray, noise: np.ndarray, k: int) -> dict[str, Run]:
    """Logits of `digits` and `noise` from each file (name -> path, all of one runtime), in one fresh process.

    One process for a format's FP32 and int8 files: importing a runtime takes
    seconds (ExecuTorch's pulls in its compiler). The first `k` of each input
    also run one at a time. A file that does not load or run there is a
    UserError naming it, the runtime and its last line of complaint.
    """
    (runtime_name,) = {runtime(name) for name in files}
    names, n = list(files), len(digits)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "x.npz", full=np.concatenate([digits, noise]), b1=np.concatenate([digits[:k], noise[:k]]))
        cmd = [sys.executable, "-I", "-c", script(runtime_name), *(str(files[name].resolve()) for name in names)]
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            at = files[names[int((done.stdout.split() or ["0"])[-1])]].name
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"{at} does not run in {runtime_name} in a fresh Python process: {last}")
        runs = {}
        for i, name in enumerate(names):
            with np.load(Path(tmp) / f"y{i}.npz") as y:
                full, b1, bound = y["full"], y["b1"], int(y["bound"])
                outputs = {"digits": full[:n], "noise": full[n:], "digits_b1": b1[:k], "noise_b1": b1[k:]}
                runs[name] = Run(outputs, float(y["latency_us"]), bound or None)
    return runs
