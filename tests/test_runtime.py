import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from digit_cnn_edge.runtime import DigitClassifier, DigitReader, ModelError
from digit_cnn_edge.runtime.cli import run_command
from digit_cnn_edge.runtime.segment import segment
from digit_cnn_edge.train.synth import Score, score_frame
from tests.conftest import invoke


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample, scenes):
    """Files of every kind cnn-run takes: digit crops, scene photos, a video, and broken ones."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "digits").mkdir()
    for i in range(5):
        cv2.imwrite(str(root / "digits" / f"d{i}_{sample.val.labels[i]}.png"), sample.val.images[i])
    for i in range(3):
        cv2.imwrite(str(root / f"scene{i}.jpg"), scenes[i].image)
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for s in scenes[:4]:
        writer.write(s.image)
    writer.release()
    (root / "empty.png").write_bytes(b"")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "broken.mp4").write_bytes(b"not a video at all")
    (root / "nothing").mkdir()
    return root


def test_detection_on_rendered_scenes(scenes):
    score = Score()
    for s in scenes:
        found = segment(s.image)
        assert found.crops.shape == (len(found.boxes), 28, 28)
        score_frame(score, s, found.boxes, [-1] * len(found.boxes))
    assert score.recall >= 0.97 and score.precision >= 0.97


def test_reading_scenes_end_to_end(reader, scenes):
    score = Score()
    for s in scenes:
        r = reader.read(s.image)
        score_frame(score, s, [d.box for d in r.digits], [d.label for d in r.digits])
    assert score.recall >= 0.97 and score.precision >= 0.97
    assert score.label_accuracy >= 0.9  # a 3-epoch model; the trained default is measured in benchmarks/


def test_light_ink_on_dark_paper_is_found(scenes):
    s = scenes[1]
    boxes = segment(255 - s.image).boxes
    score = Score()
    score_frame(score, s, boxes, [-1] * len(boxes))
    assert score.recall == 1.0 and score.precision == 1.0


def test_blank_paper_specks_and_lines_are_not_digits():
    rng = np.random.default_rng(0)
    page = np.clip(rng.normal(200, 6, (480, 640)), 0, 255).astype(np.uint8)
    for _ in range(30):
        cv2.circle(page, (int(rng.integers(20, 620)), int(rng.integers(20, 460))), 2, 40, -1)
    cv2.line(page, (50, 400), (590, 405), 30, 3)
    cv2.rectangle(page, (0, 0), (639, 479), 20, 6)
    boxes = segment(page).boxes
    assert boxes == []


def test_single_mode_reads_mnist_crops(reader, sample):
    readings = [reader.read(sample.val.images[i]).digits for i in range(100)]
    hits = [bool(d) and d[0].label == sample.val.labels[i] for i, d in enumerate(readings)]  # a dropped unsure digit is a miss
    assert np.mean(hits) > 0.9
    r = reader.read(sample.val.images[0])
    assert r.mode == "single" and r.digits[0].box == (0, 0, 28, 28)


def test_model_metadata_is_required(tmp_path):
    node = helper.make_node("Flatten", ["input"], ["flat"])
    gemm = helper.make_node("Gemm", ["flat", "w"], ["logits"])
    w = helper.make_tensor("w", TensorProto.FLOAT, [784, 10], np.zeros(7840, np.float32))
    graph = helper.make_graph([node, gemm], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [w])
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelError, match="no 'labels' metadata"):
        DigitClassifier(path)
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        DigitClassifier(tmp_path / "junk.onnx")


def test_cli_json_lines_follow_the_contract(onnx_model, inputs, capsys):
    code, out, err = invoke(run_command, "cnn-run", ["--model", onnx_model, inputs / "digits", inputs / "scene*.jpg",
                                                     inputs / "clip.mp4", "--json"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 5 + 3 + 4
    for r in records:
        assert set(r) == {"source", "frame", "digits", "text"}
        assert all(set(d) == {"label", "confidence", "box", "line"} for d in r["digits"])
        lines = [d["line"] for d in r["digits"]]
        assert lines == sorted(lines) and set(lines) == set(range(len(set(lines))))  # 0 is the top line, in order
        assert r["text"] == " ".join("".join(str(d["label"]) for d in r["digits"] if d["line"] == k) for k in sorted(set(lines)))
        assert all(0 <= d["confidence"] <= 1 and len(d["box"]) == 4 for d in r["digits"])
        for k in set(lines):  # each line left to right
            xs = [d["box"][0] for d in r["digits"] if d["line"] == k]
            assert xs == sorted(xs)
    stills = [r for r in records if r["frame"] is None]
    assert len(stills) == 8 and all(len(r["digits"]) == 1 for r in stills[:5])
    assert [r["frame"] for r in records if r["frame"] is not None] == [0, 1, 2, 3]


def test_cli_bad_inputs_fail_alone(onnx_model, inputs, capsys):
    bad = ["empty.png", "corrupt.jpg", "broken.mp4", "nothing", "missing.png", "*.nomatch"]
    code, out, err = invoke(run_command, "cnn-run", ["--model", onnx_model, *[inputs / b for b in bad], inputs / "scene0.jpg", "7"], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == len(bad) + 1 and "Traceback" not in err
    for name, words in zip(bad + ["7"], ["empty file", "not a readable image", "cannot open as a video", "no images",
                                         "no such file", "matches no files", "no camera at index 7"]):
        assert any(name in line and words in line for line in lines) or (name == "7" and words in err)
    assert out.strip().startswith(str(inputs / "scene0.jpg"))


def test_a_missing_camera_and_a_cut_video_are_one_line_each_with_nothing_from_opencv(onnx_model, inputs, tmp_path):
    """OpenCV and FFmpeg print to the process's stderr themselves, past Python: so a process of its own is run."""
    clip = (inputs / "clip.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(clip[: len(clip) // 3])
    cmd = [sys.executable, "-c", "from digit_cnn_edge.runtime.cli import run_main; run_main()",
           "--model", str(onnx_model), "7", str(tmp_path / "cut.mp4")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["cnn-run: error: no camera at index 7",
                                        f"cnn-run: error: {tmp_path / 'cut.mp4'}: cannot open as a video"], done.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/urandom"), reason="POSIX pipes, devices")
def test_a_pipe_or_a_device_is_refused_not_read_without_end(onnx_model, inputs, tmp_path, capsys):
    """Their size is 0, so no size check stops them: /dev/zero filled the memory, a named pipe blocked forever."""
    os.mkfifo(tmp_path / "pipe.jpg")
    code, out, err = invoke(run_command, "cnn-run", ["--model", onnx_model, tmp_path / "pipe.jpg", "/dev/urandom",
                                                     inputs / "scene0.jpg"], capsys)
    assert code == 1 and out.startswith(str(inputs / "scene0.jpg"))
    assert err.splitlines() == [f"cnn-run: error: {tmp_path / 'pipe.jpg'}: not a regular file",
                                "cnn-run: error: /dev/urandom: not a regular file"]


def test_images_of_any_depth_are_read_and_saved(onnx_model, tmp_path, capsys):
    """float64 and int32 TIFFs (and a float one with NaN) read, and their annotated copies are written, not a
    traceback from OpenCV's colour conversion, which takes neither."""
    ramp = np.tile(np.linspace(-5, 5, 64), (48, 1))
    ramp[0, 0] = np.nan
    images = {"f64.tiff": ramp, "i32.tiff": (np.nan_to_num(ramp) * 1e6).astype(np.int32),
              "f32.tiff": ramp.astype(np.float32), "bgr64.tiff": np.dstack([ramp, ramp / 2, -ramp])}
    for name, image in images.items():
        assert cv2.imwrite(str(tmp_path / name), image)
    code, out, err = invoke(run_command, "cnn-run", ["--model", onnx_model, *[tmp_path / n for n in images],
                                                     "--save", tmp_path / "out"], capsys)
    assert code == 0 and err == "" and len(out.splitlines()) == len(images)
    for name in images:
        assert cv2.imread(str(tmp_path / "out" / name)).shape == (48, 64, 3)


def test_a_broken_image_says_why_without_opencvs_log_prefix(onnx_model, tmp_path, capsys):
    """The reason comes from OpenCV's log, which cnn-run otherwise silences, without its file:line prefix."""
    png = cv2.imencode(".png", np.full((40, 40), 200, np.uint8))[1].tobytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    code, _, err = invoke(run_command, "cnn-run", ["--model", onnx_model, tmp_path / "cut.png"], capsys)
    line = err.strip()
    assert code == 1 and line.startswith(f"cnn-run: error: {tmp_path / 'cut.png'}: not a readable image ("), line
    assert "WARN" not in line and ".cpp:" not in line and "\n" not in line


def test_show_without_a_display_is_one_line(onnx_model, inputs, monkeypatch, capsys):
    """Qt aborts the process (no error to catch) when it finds no display, so it is looked for first."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = invoke(run_command, "cnn-run", ["--model", onnx_model, inputs / "scene0.jpg", "--show"], capsys)
    assert code == 2 and err.strip() == "cnn-run: error: --show needs a display, and none is available here " \
                                        "(DISPLAY is not set)"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="a device Linux has")
def test_a_full_disk_under_stdout_is_one_line(onnx_model, inputs):
    cmd = [sys.executable, "-c", "from digit_cnn_edge.runtime.cli import run_main; run_main()",
           "--model", str(onnx_model), str(inputs / "scene0.jpg")]
    with open("/dev/full", "w") as full:
        done = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == "cnn-run: error: cannot write to stdout (No space left on device)"


def test_cli_rejects_a_model_that_is_not_a_digit_classifier(inputs, capsys, tmp_path):
    code, _, err = invoke(run_command, "cnn-run", ["--model", tmp_path / "none.onnx", inputs / "scene0.jpg"], capsys)
    assert code != 0 and "model not found" in err and len(err.strip().splitlines()) == 1


def test_cli_saves_annotated_images_and_video(onnx_model, inputs, tmp_path, capsys):
    code, _, err = invoke(run_command, "cnn-run", ["--model", onnx_model, inputs / "scene0.jpg", inputs / "clip.mp4",
                                                   "--save", tmp_path], capsys)
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "scene0.jpg")).shape == (480, 640, 3)
    cap = cv2.VideoCapture(str(tmp_path / "clip.annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    cap.release()


def test_runtime_never_imports_torch(onnx_model, inputs):
    code = ("import sys; from digit_cnn_edge.runtime.cli import run_command; from digit_cnn_edge.common.cli import run_cli\n"
            "try:\n    run_cli(run_command, 'cnn-run', sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'onnx'))\n"
            "print('HEAVY', bad, 'EXIT', code)")
    done = subprocess.run([sys.executable, "-c", code, "--model", str(onnx_model), str(inputs / "scene0.jpg"), str(inputs / "clip.mp4")],
                          capture_output=True, text=True, check=False)
    assert "HEAVY [] EXIT 0" in done.stdout, done.stdout + done.stderr


def test_cli_save_keeps_same_named_images_from_different_folders(onnx_model, inputs, tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "scan.jpg").write_bytes((inputs / f"scene{'01'[sub == 'b']}.jpg").read_bytes())
    out = tmp_path / "out"
    code, _, err = invoke(run_command, "cnn-run", ["--model", onnx_model, tmp_path / "a", tmp_path / "b", "--save", out], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["scan-2.jpg", "scan.jpg"]
    assert not np.array_equal(cv2.imread(str(out / "scan.jpg")), cv2.imread(str(out / "scan-2.jpg")))


@pytest.mark.slow
def test_default_recipe_reads_photographed_scenes(tmp_path, sample, capsys):
    """The whole chain with the defaults (about 3 minutes on 2 cores): train, export, read 120 rendered photos."""
    from digit_cnn_edge.export.cli import export_command
    from digit_cnn_edge.train.cli import train_command
    from digit_cnn_edge.train.synth import render_scene

    code, _, err = invoke(train_command, "cnn-train", ["--data", "sample", "--out", tmp_path], capsys)
    assert code == 0, err
    code, _, err = invoke(export_command, "cnn-export", [tmp_path / "model.pt", "--onnx", "--out", tmp_path], capsys)
    assert code == 0, err
    reader = DigitReader(DigitClassifier(tmp_path / "model.onnx"))
    rng = np.random.default_rng(99)
    score = Score()
    for _ in range(120):
        scene = render_scene(sample.val.images, sample.val.labels, rng)
        digits = reader.read(scene.image, "segment").digits
        score_frame(score, scene, [d.box for d in digits], [d.label for d in digits])
    assert score.recall >= 0.99 and score.precision >= 0.99
    assert score.label_accuracy >= 0.975 and score.exact_frames >= 0.9




def test_a_large_jpeg_is_decoded_straight_to_the_working_size_and_read_as_the_full_one(reader, sample):
    from digit_cnn_edge.runtime.decode import decode_file
    from tests.drawing import compose, in_a_row

    digits = sample.val.images[:5]
    image, _ = compose(digits, in_a_row(digits, 200, 300, [240, 260, 250, 230, 250], 60), size=(1920, 1080))
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    small, scale = decode_file("frame.jpg", data, gray=True, short_side=reader.params.work_side)
    assert scale == 2 and small.shape == (540, 960)
    full = reader.read(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE), "segment")
    fast = reader.read(small, "segment", scale)
    assert [d.label for d in fast.digits] == [d.label for d in full.digits] and len(fast.digits) == 5
    assert all(max(abs(a - b) for a, b in zip(f.box, s.box)) <= 4 for f, s in zip(full.digits, fast.digits))
    assert decode_file("frame.jpg", data, gray=True, short_side=600)[1] == 1  # 1080 is under twice 600: full size


@pytest.mark.parametrize("image, error, words", [
    (None, TypeError, "cv2.imread returns None"),
    (b"\xff\xd8\xff", TypeError, "not a numpy array"),
    (np.zeros(5, np.uint8), ValueError, "shape (5,)"),
    (np.zeros((8, 8, 2), np.uint8), ValueError, "shape (8, 8, 2)"),
    (np.zeros((0, 0), np.uint8), ValueError, "not empty"),
], ids=["None", "bytes", "1-D", "2 channels", "empty"])
def test_the_library_says_what_is_wrong_with_an_image(onnx_model, image, error, words):
    """`reader.read(cv2.imread("typo.jpg"))` failed deep in the segmenter with "'NoneType' has no attribute"."""
    with pytest.raises(error, match=re.escape(words)):
        DigitReader(DigitClassifier(onnx_model)).read(image)


def test_gray_with_a_channel_axis_reads_as_gray(onnx_model, scenes):
    gray = cv2.cvtColor(scenes[0].image, cv2.COLOR_BGR2GRAY)
    reader = DigitReader(DigitClassifier(onnx_model))
    assert reader.read(gray[..., None]).digits == reader.read(gray).digits
