"""Wrong models are refused when they are loaded, in one line that names the problem.

Each model here is built small with `onnx.helper`. Before these checks every one of
them loaded, then crashed with a traceback on the first image (or in `_model_info`),
or let its metadata decide how much memory reading takes. A model whose batch is
fixed at 1 is not wrong: it is read one digit at a time.
"""

import json

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from digit_cnn_edge.runtime import DigitClassifier, ModelError
from digit_cnn_edge.runtime.classifier import MAX_INPUT_SIZE
from digit_cnn_edge.runtime.cli import run_command
from tests.conftest import invoke

LABELS = json.dumps([str(d) for d in range(10)])


def build(path, *, input_shape=("N", 1, 28, 28), output_shape=("N", 10), meta=None, elem=TensorProto.FLOAT,
          extra=(), ir_version=8, dense=False):
    """A model that pools its input to one number per digit (or, `dense`, a seeded linear layer) into logits.

    `extra` are (node, initializers) appended after the logits ('z' in, 'logits' out), for outputs of another shape.
    """
    classes = output_shape[-1] if output_shape else 10
    if dense:
        k = int(np.prod(input_shape[1:]))
        w = np.random.default_rng(0).normal(size=(k, classes))
        head = [helper.make_node("Reshape", ["input", "shape"], ["flat"])]
        inits = [helper.make_tensor("shape", TensorProto.INT64, [2], [-1, k])]
    else:
        k, w = 1, np.arange(1, classes + 1, dtype=np.float64)[None, :]
        head = [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["flat"])]
        inits = []
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    inits.append(helper.make_tensor("w", elem, [k, classes], w.astype(dtype).ravel()))
    last = "z" if extra else "logits"
    nodes = [*head, helper.make_node("MatMul", ["flat", "w"], [last])]
    for node, more in extra:
        nodes.append(node)
        inits.extend(more)
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", elem, list(input_shape))],
                              [helper.make_tensor_value_info("logits", elem, None if output_shape is None else list(output_shape))],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = ir_version
    for key, value in {"labels": LABELS, **(meta or {})}.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, str(path))
    return path


def refused(path, *words):
    """Loading `path` raises ModelError: one line, naming the file and holding each of `words`."""
    with pytest.raises(ModelError) as caught:
        DigitClassifier(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def test_a_model_with_batch_fixed_at_1_reads_one_digit_at_a_time(tmp_path):
    fixed = DigitClassifier(build(tmp_path / "fixed.onnx", input_shape=(1, 1, 28, 28), output_shape=(1, 10), dense=True))
    free = DigitClassifier(build(tmp_path / "free.onnx", dense=True))
    digits = np.random.default_rng(1).random((7, 28, 28), dtype=np.float32)
    fixed_labels, fixed_probs = fixed.predict(digits)
    free_labels, free_probs = free.predict(digits)
    assert len(set(free_labels)) > 1  # the digits read differently, so the order is checked too
    assert np.array_equal(fixed_labels, free_labels)
    np.testing.assert_allclose(fixed_probs, free_probs, rtol=1e-4, atol=1e-6)
    image = (digits[0] * 255).astype(np.uint8)
    assert np.array_equal(fixed.classify_images([image, image])[0], free.classify_images([image, image])[0])
    assert fixed.logits(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)


def test_a_model_with_another_fixed_batch_is_refused(tmp_path):
    refused(build(tmp_path / "batch4.onnx", input_shape=(4, 1, 28, 28), output_shape=(4, 10)), "batch is fixed at 4")


def test_a_float64_input_is_refused(tmp_path):
    refused(build(tmp_path / "double.onnx", elem=TensorProto.DOUBLE, dense=True), "input must be float32", "tensor(double)")


@pytest.mark.parametrize("box", ["29", "100", "0", "-3"])
def test_a_framing_box_outside_the_input_is_refused(tmp_path, box):
    refused(build(tmp_path / "box.onnx", meta={"box_size": box}), "'box_size'", box, "input size")


def test_an_input_over_the_limit_is_refused_before_anything_is_sized_by_it(tmp_path):
    for size in (MAX_INPUT_SIZE + 1, 100_000):
        path = build(tmp_path / f"huge{size}.onnx", input_shape=("N", 1, size, size), meta={"input_size": str(size)})
        refused(path, "'input_size'", str(size), str(MAX_INPUT_SIZE))
    size = MAX_INPUT_SIZE  # the limit itself is read
    clf = DigitClassifier(build(tmp_path / "big.onnx", input_shape=("N", 1, size, size), meta={"input_size": str(size)}))
    image = np.zeros((40, 30), np.uint8)
    image[10:30, 12:18] = 255
    assert clf.classify_images([image])[1].shape == (1, 10)


def test_labels_must_name_each_logit(tmp_path):
    refused(build(tmp_path / "empty.onnx", output_shape=("N", 0), meta={"labels": "[]"}), "non-empty JSON list")
    refused(build(tmp_path / "out5.onnx", output_shape=("N", 5)), "expected logits [N,10]", "['N', 5]")


@pytest.mark.parametrize("labels", ['{"a": 1}', '5', '"0123456789"', '[1.5, 2.5]', '[true, false]', '[["0"], ["1"]]',
                                    '[null]', json.dumps({str(i): i for i in range(300)})])
def test_labels_that_are_not_a_list_of_names_are_refused(tmp_path, labels):
    message = refused(build(tmp_path / "labels.onnx", meta={"labels": labels}), "'labels' metadata must be a non-empty JSON list")
    assert len(message) < len(str(tmp_path)) + 300  # a long value is cut, at a word


def test_labels_nested_deeper_than_python_can_parse_are_refused(tmp_path):
    refused(build(tmp_path / "deep.onnx", meta={"labels": "[" * 100_000}), "malformed 'labels' metadata")


SCALAR = [(helper.make_node("ReduceSum", ["z"], ["logits"], keepdims=0), [])]


@pytest.mark.parametrize("shape, extra", [
    ([], SCALAR),  # rank 0
    (None, SCALAR),  # no declared shape
    (["N", 10], [(helper.make_node("Identity", ["input"], ["logits"]), [])]),  # declares [N,10], gives [N,1,28,28]
    (["N", 1, 10], [(helper.make_node("Unsqueeze", ["z", "axes"], ["logits"]),
                     [helper.make_tensor("axes", TensorProto.INT64, [1], [1])])]),
])
def test_logits_that_are_not_n_by_classes_are_refused(tmp_path, shape, extra):
    refused(build(tmp_path / "rank.onnx", output_shape=shape, extra=extra), "expected logits [N,10]")


def test_a_model_whose_logits_lose_the_batch_is_refused(tmp_path):
    """Its declared shapes pass: only running it shows that two digits give one row."""
    mean = helper.make_node("ReduceMean", ["z"], ["logits"], axes=[0], keepdims=1)
    refused(build(tmp_path / "collapse.onnx", extra=[(mean, [])]), "for 2 digit(s)", "(2, 10)")


def test_a_model_that_fails_when_run_is_refused(tmp_path):
    """Its logits of 2 digits go through a reshape into 3 rows: ONNX Runtime only finds out when the model is run."""
    thirds = helper.make_tensor("thirds", TensorProto.INT64, [2], [3, -1])
    back = helper.make_tensor("back", TensorProto.INT64, [2], [-1, 10])
    nodes = [(helper.make_node("Reshape", ["z", "thirds"], ["t"]), [thirds]), (helper.make_node("Reshape", ["t", "back"], ["logits"]), [back])]
    refused(build(tmp_path / "fails.onnx", extra=nodes), "fails on a blank digit", "Reshape")


def with_bias(path, bias: list[float]):
    """The test model with `bias` added to its logits."""
    tensor = helper.make_tensor("bias", TensorProto.FLOAT, [10], bias)
    return build(path, extra=[(helper.make_node("Add", ["z", "bias"], ["logits"]), [tensor])])


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_model_with_weights_that_are_not_finite_is_refused(tmp_path, value):
    """Training that diverged: before, such a model loaded and read every image as "(no digits)"."""
    refused(with_bias(tmp_path / "nan.onnx", [0.0] * 9 + [value]), "not finite numbers")
    refused(with_bias(tmp_path / "none.onnx", [-float("inf")] * 10), "not finite numbers")  # no class left


def test_a_class_masked_at_minus_infinity_is_a_models_right(tmp_path):
    clf = DigitClassifier(with_bias(tmp_path / "masked.onnx", [0.0] * 9 + [-float("inf")]))
    labels, confidence = clf.predict(np.full((2, 28, 28), 0.5, np.float32))
    assert np.isfinite(confidence).all() and (labels != 9).all()


def test_an_onnx_runtime_load_error_keeps_its_reason(tmp_path):
    message = refused(build(tmp_path / "ir99.onnx", ir_version=99), "not a loadable ONNX model",
                      "Unsupported model IR version: 99, max supported IR version:")
    assert ".cc:" not in message and "onnxruntime::" not in message, message


def test_cnn_run_prints_one_line_for_a_wrong_model(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "digit.png"), np.full((28, 28), 255, np.uint8))
    model = build(tmp_path / "box100.onnx", meta={"box_size": "100"})
    code, out, err = invoke(run_command, "cnn-run", ["--model", model, tmp_path / "digit.png"], capsys)
    assert code == 1 and out == ""
    assert err.splitlines() == [f"cnn-run: error: {model}: 'box_size' metadata is 100, expected 1 to 28 (the input size)"]
