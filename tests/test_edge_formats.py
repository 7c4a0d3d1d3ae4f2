"""ExecuTorch, OpenVINO and LiteRT: each file passes the parity gate in its own runtime, or nothing is placed.

One export of the three formats with static int8 (`edge_export`, once per session)
carries the passing side; the failing side reuses its files and perturbs what a
format's runtime returns, so the gate must catch it. A format whose extra is not
installed is skipped, saying which extra, except under CI (env CI set), where
`.ci/run` installs every extra and a skip would hide a format that broke.
"""

import importlib.util
import json
import os
import re
import runpy
import shutil
from pathlib import Path

import cv2
import pytest
import torch

from digit_cnn_edge.common.errors import MissingExtra
from digit_cnn_edge.export import edge, fresh, parity, pipeline
from digit_cnn_edge.export.cli import export_command
from digit_cnn_edge.runtime.preprocess import prepare_single
from digit_cnn_edge.train import checkpoint
from tests.conftest import invoke

EDGE = ("executorch", "openvino", "tflite")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "README.md"


def missing_extra(fmt: str) -> str | None:
    """Why `fmt` cannot be tested here, or None."""
    try:
        edge.require(fmt)
    except MissingExtra as e:
        return str(e)
    return None


def require_extra(fmt: str) -> None:
    why = missing_extra(fmt)
    if why and os.environ.get("CI"):
        pytest.fail(f"CI must have the [{fmt}] extra ({why}): .ci/run installs it with scripts/setup.sh")
    if why:
        pytest.skip(why)


@pytest.fixture(scope="session")
def edge_export(trained, tmp_path_factory) -> Path:
    """Every edge format whose extra is here, FP32 and static int8, exported from `trained` by cnn-export."""
    from digit_cnn_edge.common.cli import run_cli

    present = [fmt for fmt in EDGE if missing_extra(fmt) is None]
    if not present:
        pytest.skip("none of the [executorch], [openvino], [tflite] extras is installed")
    out = tmp_path_factory.mktemp("edge")
    with pytest.raises(SystemExit) as e:
        run_cli(export_command, "cnn-export", [str(trained), *(f"--{fmt}" for fmt in present), "--quantize", "static",
                                               "--out", str(out)])  # fmt: skip
    assert e.value.code == 0
    return out


def report_of(folder: Path) -> dict:
    return json.loads((folder / pipeline.REPORT).read_text())


@pytest.mark.parametrize("fmt", EDGE)
def test_each_format_passes_the_fp32_gate_in_its_own_runtime(fmt, edge_export):
    require_extra(fmt)
    report = report_of(edge_export)
    row = report["formats"][fmt]
    assert row["passed"] and row["failures"] == []
    assert row["max_abs_diff"] <= report["atol"] and row["top1_agreement"] == 1.0
    assert row["notes"]["runtime"] == f"{fresh.RUNTIMES[fmt]}, fresh process"
    assert row["file"] == pipeline.FILES[fmt][0]
    assert row["size_bytes"] == sum((edge_export / name).stat().st_size for name in pipeline.FILES[fmt])
    assert row["latency_us"] > 0


def test_each_format_takes_the_batches_it_says(edge_export):
    """The .pte plans memory for EXECUTORCH_MAX_BATCH digits, the .tflite takes one, the IR any number."""
    formats = report_of(edge_export)["formats"]
    expected = {"executorch": edge.EXECUTORCH_MAX_BATCH, "tflite": 1, "openvino": None}
    for fmt in [fmt for fmt in EDGE if fmt in formats]:
        assert formats[fmt]["notes"].get("max_batch") == expected[fmt], fmt


@pytest.mark.parametrize("fmt", EDGE)
def test_static_int8_of_each_format_passes_the_shared_int8_gate(fmt, edge_export):
    require_extra(fmt)
    formats = report_of(edge_export)["formats"]
    int8, fp32 = formats[f"{fmt}-int8"], formats[fmt]
    assert int8["passed"] and int8["notes"]["mode"] == "static"
    assert int8["top1_agreement"] >= parity.INT8_MIN_AGREEMENT
    assert fp32["accuracy"] - int8["accuracy"] <= parity.INT8_MAX_ACCURACY_DROP
    assert int8["size_bytes"] < 0.5 * fp32["size_bytes"]


def test_openvino_ir_keeps_the_onnx_names_and_metadata(edge_export):
    require_extra("openvino")
    import openvino as ov

    for name, quantization in (("model.xml", "none"), ("model.int8.xml", "static-int8 (NNCF)")):
        model = ov.Core().read_model(edge_export / name)
        assert model.input().get_any_name() == "input" and model.output().get_any_name() == "logits"
        assert model.input().get_partial_shape().to_string() == "[?,1,28,28]"
        assert model.get_rt_info(["framework", "quantization"]).astype(str) == quantization


@pytest.mark.parametrize("fmt", EDGE)
def test_a_perturbed_output_fails_the_gate_and_places_nothing(fmt, edge_export, trained, tmp_path, monkeypatch):
    """The format's file is the good one from `edge_export`; what its runtime returns is moved by 1e-2 in one logit."""
    require_extra(fmt)
    monkeypatch.setattr(edge, f"to_{fmt}", lambda _source, path: copy_export(edge_export, fmt, path))
    real_run = fresh.run

    def perturbed(files, digits, noise, k):
        runs = real_run(files, digits, noise, k)
        runs[fmt].outputs["digits"][0, 3] += 1e-2
        return runs

    monkeypatch.setattr(fresh, "run", perturbed)
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"an earlier export")
    with pytest.raises(pipeline.GateFailed) as failed:
        pipeline.export(trained, pipeline.ExportOptions(formats=(fmt,), out=out))
    assert f"{fmt}: max |Δlogit| 1.00e-02 > atol" in str(failed.value)
    assert sorted(p.name for p in out.iterdir()) == ["export_report.failed.json", "model.onnx"]
    assert (out / "model.onnx").read_bytes() == b"an earlier export"
    assert report_of_failed(out)["formats"][fmt]["passed"] is False


def copy_export(folder: Path, fmt: str, path: Path) -> Path:
    for name in pipeline.FILES[fmt]:
        shutil.copyfile(folder / name, path.with_name(name))
    return path


def report_of_failed(folder: Path) -> dict:
    return json.loads((folder / pipeline.FAILED_REPORT).read_text())


def test_placing_an_export_removes_every_earlier_model_file(tmp_path):
    """The report describes every model file beside it, so an ONNX-only export takes an IR's .bin with its .xml."""
    out, stage = tmp_path / "out", tmp_path / "stage"
    out.mkdir()
    stage.mkdir()
    earlier = [name for files in pipeline.FILES.values() for name in files]
    for name in [*earlier, pipeline.REPORT]:
        (out / name).write_text("earlier")
    for name in ("model.onnx", pipeline.REPORT):
        (stage / name).write_text("new")
    removed = pipeline.place([stage / "model.onnx", stage / pipeline.REPORT], out)
    assert sorted(removed) == sorted(set(earlier) - {"model.onnx"})
    assert sorted(p.name for p in out.iterdir()) == sorted(["model.onnx", pipeline.REPORT])
    assert {"model.bin", "model.int8.bin", "model.pte", "model.tflite"} <= set(removed)


@pytest.mark.parametrize("fmt", EDGE)
def test_a_missing_extra_is_one_line_naming_it(fmt, trained, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    absent = edge.EXTRAS[fmt][0]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == absent else real(name))
    code, _, err = invoke(export_command, "cnn-export", [trained, f"--{fmt}", "--out", tmp_path / "out"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("cnn-export: error: ") and f"pip install 'digit-cnn-edge[{fmt}]'" in err
    assert not (tmp_path / "out").exists()


def test_a_failing_converter_is_one_line_and_places_nothing(trained, tmp_path, capsys, monkeypatch):
    require_extra("tflite")
    import litert_torch

    def broken(*_args, **_kwargs):
        print("converter chatter that must not reach the terminal")
        raise TypeError("Shapes must be 1D sequences of concrete values\nand more lines")

    monkeypatch.setattr(litert_torch, "convert", broken)
    code, stdout, err = invoke(export_command, "cnn-export", [trained, "--tflite", "--out", tmp_path], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "chatter" not in stdout + err
    assert "tflite: the converter failed: TypeError: Shapes must be 1D sequences of concrete values" in err
    assert [p.name for p in tmp_path.iterdir()] == []


def test_converter_output_stays_off_the_screen(capfd):
    with edge.converting("test"):
        print("from python")
        os.write(1, b"from C on fd 1\n")
        os.write(2, b"from C on fd 2\n")
    assert capfd.readouterr() == ("", "")


def readme_snippets() -> list[str]:
    """The Python snippets of examples/README.md's section on the edge formats: ExecuTorch, OpenVINO, LiteRT."""
    section = EXAMPLES.read_text().split("## ExecuTorch, OpenVINO and LiteRT")[1].split("\n## ")[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


@pytest.mark.filterwarnings("ignore:This API is experimental")  # ExecuTorch's Python runtime says so on import
@pytest.mark.parametrize("fmt", EDGE)
def test_the_examples_snippet_reads_a_digit_as_pytorch_does(fmt, edge_export, trained, sample, tmp_path, monkeypatch,
                                                            capsys):  # fmt: skip
    require_extra(fmt)
    for name in pipeline.FILES[fmt]:
        shutil.copyfile(edge_export / name, tmp_path / name)
    image = 255 - sample.val.images[7]  # dark ink on light paper, as a photo of a page
    cv2.imwrite(str(tmp_path / "digit.png"), image)
    (tmp_path / "snippet.py").write_text(readme_snippets()[EDGE.index(fmt)])
    monkeypatch.chdir(tmp_path)
    runpy.run_path("snippet.py")
    model = checkpoint.rebuild(checkpoint.load(trained))
    with torch.no_grad():
        expected = int(model(torch.from_numpy(prepare_single(image)[None, None])).argmax())
    assert capsys.readouterr().out.split()[-1] == str(expected)


def test_the_fresh_process_needs_none_of_our_code():
    """The child program imports the runtime and numpy; nothing of digit_cnn_edge."""
    for fmt in fresh.LOADERS:
        assert "digit_cnn_edge" not in fresh.script(fmt)
