"""The exported model embedded elsewhere (examples/): Node.js, a web page in headless Chromium, OpenCV DNN.

Each engine must give the labels `cnn-run --mode single` gives on the same 300 real
digit images (several sizes, both polarities, gray and colour, PNG and JPEG): at least
99.5% agreement, every disagreement printed; and, like cnn-run, no digit in blank ones. On digits that are already framed, each
must give ONNX Runtime's logits within 1e-4, so any difference in labels comes from
reading and framing the image, not from the engine.

Node packages and Chromium come from `bash scripts/setup-embed.sh`; without them these
tests skip and say so, except under CI, which runs that script first and so fails instead.
"""

import base64
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

from digit_cnn_edge.runtime import DigitClassifier
from digit_cnn_edge.runtime.preprocess import prepare_single

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
WEB = EXAMPLES / "web"
MIN_AGREEMENT = 0.995
LOGIT_TOLERANCE = 1e-4
SIZES = (28, 56, 90, 140)
PAD = 280  # the page's drawing pad, pixels a side
PAD_BRUSH = 22  # the page's brush width, pixels


def require(missing: list[str]) -> None:
    """Skip when the examples' tools are not installed, with the command that installs them; fail under CI."""
    if not missing:
        return
    message = f"{', '.join(missing)} not installed: run `bash scripts/setup-embed.sh`"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{message} (CI runs it before the tests)")
    pytest.skip(message)


def node_missing() -> list[str]:
    missing = [] if shutil.which("node") else ["node"]
    modules = EXAMPLES / "node" / "node_modules"
    return missing + [f"examples/node/node_modules/{p}" for p in ("onnxruntime-node", "pngjs", "jpeg-js") if not (modules / p).is_dir()]


def web_missing() -> list[str]:
    missing = [] if shutil.which("node") else ["node"]
    missing += [] if Path("/usr/bin/chromium").is_file() else ["chromium (/usr/bin/chromium)"]
    missing += [] if (WEB / "node_modules" / "playwright-core").is_dir() else ["examples/web/node_modules/playwright-core"]
    vendor = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
    return missing + [f"examples/web/vendor/{f}" for f in vendor if not (WEB / "vendor" / f).is_file()]


@pytest.fixture(scope="session")
def node_ready() -> None:
    """Session-scoped and first in each test's arguments, so a machine without Node skips before training a model."""
    require(node_missing())


@pytest.fixture(scope="session")
def web_ready() -> None:
    require(web_missing())


def render(digit: np.ndarray, size: int, dark_on_light: bool, colour: bool, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 MNIST digit as a picture of one digit: scaled, with its own paper and ink levels."""
    level = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC) if size != 28 else digit
    level = level.astype(np.float64) / 255
    paper, ink = (rng.uniform(190, 255), rng.uniform(0, 70)) if dark_on_light else (rng.uniform(0, 40), rng.uniform(190, 255))
    gray = paper + (ink - paper) * level
    if colour:
        gray = gray[..., None] * rng.uniform(0.85, 1.0, 3)  # tinted paper and ink, BGR
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def digit_files(sample, tmp_path_factory) -> list[Path]:
    """300 held-out digits as files: 4 sizes x 2 polarities, a third in colour, half JPEG, some 16-bit PNG."""
    root = tmp_path_factory.mktemp("digits")
    rng = np.random.default_rng(15)
    files = []
    for i, index in enumerate(rng.permutation(len(sample.val.labels))[:300]):
        image = render(sample.val.images[index], SIZES[i % 4], (i // 4) % 2 == 1, i % 3 == 0, rng)
        stem = f"{i:03d}_label{sample.val.labels[index]}"
        if i % 25 == 0:
            path = root / f"{stem}_16bit.png"
            cv2.imwrite(str(path), image.astype(np.uint16) * 180 + 3000)
        elif (i // 8) % 2:
            path = root / f"{stem}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 96))])
        else:
            path = root / f"{stem}.png"
            cv2.imwrite(str(path), image)
        files.append(path)
    return files


@pytest.fixture(scope="module")
def blank_files(digit_files) -> list[Path]:
    """Images with no writing, beside the digits: white paper, and a flat gray frame with sensor noise."""
    white = digit_files[0].parent / "blank_white.png"
    cv2.imwrite(str(white), np.full((56, 56), 250, np.uint8))
    flat = digit_files[0].parent / "blank_flat.jpg"
    noise = np.random.default_rng(16).normal(0, 3, (40, 40, 3))
    cv2.imwrite(str(flat), np.clip(128 + noise, 0, 255).astype(np.uint8))
    return [white, flat]


@pytest.fixture(scope="module")
def all_files(digit_files, blank_files) -> list[Path]:
    return digit_files + blank_files


def labels_of(records: list[dict]) -> dict[str, int | None]:
    """source -> the label read, None where the engine read no digit; at most one digit per image."""
    assert all(len(r["digits"]) <= 1 for r in records)
    return {r["source"]: r["digits"][0]["label"] if r["digits"] else None for r in records}


@pytest.fixture(scope="module")
def reference(all_files, onnx_model) -> dict[str, int | None]:
    """What `cnn-run --mode single --json` reads in each file."""
    cnn_run = Path(sys.executable).with_name("cnn-run")
    done = subprocess.run(
        # Every label, however unsure: the examples print them all (cnn-run drops unsure ones by default).
        [str(cnn_run), "--mode", "single", "--min-confidence", "0", "--json", "--model", str(onnx_model), *map(str, all_files)],
        capture_output=True, text=True, check=True,
    )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == len(all_files)
    return labels_of(records)


@pytest.fixture(scope="module")
def framed(sample) -> np.ndarray:
    """Already-framed inputs: 40 real digits, plus an empty and a full field."""
    digits = np.stack([prepare_single(image) for image in sample.val.images[::12][:40]])
    return np.concatenate([digits, np.zeros((1, 28, 28), np.float32), np.ones((1, 28, 28), np.float32)])


@pytest.fixture(scope="module")
def ort_logits(onnx_model, framed) -> np.ndarray:
    return DigitClassifier(onnx_model).logits(framed)


def check_agreement(engine: str, labels: dict[str, int | None], reference: dict[str, int | None]) -> float:
    """Share of the digit images read like cnn-run; prints every disagreement and the figure.

    Blank images must read as no digit, with cnn-run and with the engine.
    """
    assert labels.keys() == reference.keys()
    differ = sorted(source for source in reference if labels[source] != reference[source])
    for source in differ:
        print(f"{engine} disagrees with cnn-run on {Path(source).name}: {labels[source]} vs {reference[source]}")
    blank = [source for source in reference if Path(source).name.startswith("blank_")]
    assert all(reference[source] is None and labels[source] is None for source in blank)
    agreement = 1 - len(differ) / (len(reference) - len(blank))
    print(f"{engine}: {agreement:.2%} agreement with cnn-run --mode single on {len(reference) - len(blank)} digit images; "
          f"no digit in {len(blank)} blank ones")
    return agreement


# OpenCV DNN


def load_opencv_example():
    spec = importlib.util.spec_from_file_location("opencv_dnn", EXAMPLES / "opencv_dnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_opencv_dnn_logits_match_onnx_runtime(onnx_model, framed, ort_logits):
    example = load_opencv_example()
    logits = example.logits(example.load(str(onnx_model)), framed)
    diff = float(np.abs(logits - ort_logits).max())
    print(f"OpenCV DNN: max |logit difference| against ONNX Runtime {diff:.2e} on {len(framed)} framed inputs")
    assert diff <= LOGIT_TOLERANCE


def test_opencv_dnn_reads_like_cnn_run(onnx_model, all_files, reference, capsys):
    example = load_opencv_example()
    assert example.main(["--model", str(onnx_model), *map(str, all_files)]) == 0
    labels = labels_of([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    with capsys.disabled():
        assert check_agreement("OpenCV DNN", labels, reference) >= MIN_AGREEMENT


def test_opencv_dnn_stops_quietly_when_its_reader_goes(onnx_model, all_files):
    """`opencv_dnn.py ... | head -1`: the closed pipe ended in a BrokenPipeError traceback."""
    run = subprocess.Popen([sys.executable, str(EXAMPLES / "opencv_dnn.py"), "--model", str(onnx_model),
                            *map(str, all_files * 20)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(run.stdout.readline())["source"]
    run.stdout.close()
    assert run.wait(timeout=120) == 0
    assert run.stderr.read() == b""


# Node.js


def run_node(script: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(EXAMPLES / "node" / script), *args], input=stdin, capture_output=True, timeout=120, check=False)


def test_node_reads_like_cnn_run(node_ready, onnx_model, all_files, reference, capsys):
    done = run_node("read.mjs", "--model", str(onnx_model), *map(str, all_files))
    assert done.returncode == 0, done.stderr.decode()
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert all(r.keys() == {"source", "digits"} for r in records)
    assert all(d.keys() == {"label", "confidence"} and 0 <= d["confidence"] <= 1 for r in records for d in r["digits"])
    labels = labels_of(records)
    with capsys.disabled():
        assert check_agreement("Node.js", labels, reference) >= MIN_AGREEMENT


def test_node_logits_match_onnx_runtime(node_ready, onnx_model, framed, ort_logits):
    done = run_node("logits.mjs", "--model", str(onnx_model), stdin=framed.astype("<f4").tobytes())
    assert done.returncode == 0, done.stderr.decode()
    logits = np.array([json.loads(line) for line in done.stdout.decode().splitlines()], np.float32)
    diff = float(np.abs(logits - ort_logits).max())
    print(f"onnxruntime-node: max |logit difference| against ONNX Runtime (Python) {diff:.2e}")
    assert logits.shape == ort_logits.shape and diff <= LOGIT_TOLERANCE


def test_node_reports_bad_input_and_goes_on(node_ready, onnx_model, digit_files, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    done = run_node("read.mjs", "--model", str(onnx_model), str(tmp_path / "notes.png"), str(tmp_path / "missing.png"),
                    str(tmp_path / "empty.jpg"), str(digit_files[0]))
    errors = done.stderr.decode().splitlines()
    assert done.returncode == 1
    assert len(errors) == 3 and all(e.startswith("read.mjs: ") for e in errors), errors
    assert [json.loads(line)["source"] for line in done.stdout.decode().splitlines()] == [str(digit_files[0])]

    no_model = run_node("read.mjs", "--model", str(digit_files[0]), str(digit_files[0]))
    assert no_model.returncode == 2 and len(no_model.stderr.decode().splitlines()) == 1
    assert run_node("read.mjs", str(digit_files[0])).returncode == 2


# The web page in headless Chromium


def strokes_of(digit: np.ndarray) -> list[list[list[float]]]:
    """A real digit as pen strokes on the page's pad: one stroke along each run of ink in each row."""
    scale = PAD / digit.shape[0]
    strokes = []
    for y, row in enumerate(digit > 127):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        for x0, x1 in zip(edges[::2], edges[1::2] - 1):
            strokes.append([[(x0 + 0.5) * scale, (y + 0.5) * scale], [(x1 + 0.5) * scale, (y + 0.5) * scale]])
    return strokes


def drawn_like_the_page(strokes: list) -> np.ndarray:
    """Python's rendering of the strokes as the page draws them (dark round-capped ink on white)."""
    pad = np.full((PAD, PAD), 255, np.uint8)
    for (x0, y0), (x1, y1) in strokes:
        cv2.line(pad, (round(x0), round(y0)), (round(x1), round(y1)), 17, PAD_BRUSH, cv2.LINE_AA)
    return pad


@pytest.fixture(scope="module")
def drawings(sample, onnx_model) -> list[tuple[int, list]]:
    """Three digits of different classes whose strokes the model reads right when Python draws them."""
    classifier = DigitClassifier(onnx_model)
    chosen: dict[int, list] = {}
    for image, label in zip(sample.val.images[::-7], sample.val.labels[::-7]):
        strokes = strokes_of(image)
        idx, probs = classifier.classify_images([drawn_like_the_page(strokes)])
        if label not in chosen and idx[0] == label and probs[0, idx[0]] >= 0.9:
            chosen[int(label)] = strokes
        if len(chosen) == 3:
            break
    assert len(chosen) == 3
    return list(chosen.items())


class QuietHandler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, *args) -> None:
        """The test reads the page's own results; a line per request would only bury them."""


@pytest.fixture(scope="module")
def page_run(web_ready, onnx_model, all_files, framed, drawings, tmp_path_factory) -> dict:
    """One headless-Chromium session on the page, served from 127.0.0.1 with the model beside it."""
    site = tmp_path_factory.mktemp("site")
    for entry in WEB.iterdir():
        if entry.name not in ("node_modules", "package.json", "package-lock.json"):
            (site / entry.name).symlink_to(entry)
    shutil.copy(onnx_model, site / "model.onnx")
    (site / "digits").symlink_to(all_files[0].parent)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path_factory.mktemp("page")
    job = {
        "url": f"http://127.0.0.1:{server.server_address[1]}/index.html",
        "drawings": [strokes for _, strokes in drawings],
        "screenshot": str(out / "page.png"),
        "images": [f"digits/{p.name}" for p in all_files],
        "framed": framed.reshape(len(framed), -1).tolist(),
    }
    (out / "job.json").write_text(json.dumps(job))
    try:
        done = subprocess.run(["node", str(WEB / "drive.mjs"), str(out / "job.json")], capture_output=True, timeout=180, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    if os.environ.get("TEST_ARTIFACTS"):
        artifacts = Path(os.environ["TEST_ARTIFACTS"])
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / "page.png", artifacts / "examples-web-page.png")
    return {**json.loads(done.stdout), "screenshot": out / "page.png"}


def test_page_reads_a_drawn_digit(page_run, drawings, onnx_model):
    assert page_run["errors"] == []
    classifier = DigitClassifier(onnx_model)
    for (label, _), shown in zip(drawings, page_run["drawn"], strict=True):
        pad = cv2.imdecode(np.frombuffer(base64.b64decode(shown["pad"].split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
        _, probs = classifier.classify_images([pad])
        diff = float(np.abs(np.array(shown["probabilities"]) - probs[0]).max())
        print(f"drawn {label}: page's bars against Python on the page's own pixels, max |difference| {diff:.1e}")
        # what the page shows is what Python reads on the same pixels; whether that is `label` is the model's affair
        # (a model trained in the session reads differently on another CPU)
        assert shown["label"] == int(np.argmax(probs[0])) and diff <= LOGIT_TOLERANCE


def test_page_screenshot_is_kept(page_run):
    shot = cv2.imread(str(page_run["screenshot"]), cv2.IMREAD_GRAYSCALE)
    assert shot is not None and shot.shape[0] >= 300 and shot.shape[1] >= 600
    assert shot.std() > 10  # not a blank page


def test_page_reads_files_like_cnn_run(page_run, all_files, reference, capsys):
    labels = {str(p): r and r["label"] for p, r in zip(all_files, page_run["images"], strict=True)}
    with capsys.disabled():
        assert check_agreement("web page", labels, reference) >= MIN_AGREEMENT


def test_page_logits_match_onnx_runtime(page_run, ort_logits):
    logits = np.array(page_run["logits"], np.float32)
    diff = float(np.abs(logits - ort_logits).max())
    print(f"onnxruntime-web: max |logit difference| against ONNX Runtime (Python) {diff:.2e}")
    assert logits.shape == ort_logits.shape and diff <= LOGIT_TOLERANCE
