"""The input convention every exported model follows, and the ONNX metadata keys.

This module is the one place these facts live: training, export and the
runtime all read them from here so the three stages cannot drift apart.
"""

INPUT_SIZE = 28
"""Side of the square input image, pixels."""

BOX_SIZE = 20
"""MNIST framing: the digit is scaled to fit this box, then centred by centre of mass."""

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
LABELS = tuple(str(d) for d in range(10))

CONVENTION = (
    f"float32 [N,1,{INPUT_SIZE},{INPUT_SIZE}], pixels in [0,1], white digit on black, "
    f"MNIST framing ({BOX_SIZE}x{BOX_SIZE} box, centre of mass at the centre); "
    "normalization folded into the model"
)

# ONNX metadata_props keys (README, Contracts). The runtime reads its constants from these.
META_LABELS = "labels"  # JSON list of class names, index = logit position
META_INPUT_SIZE = "input_size"  # "28"
META_BOX_SIZE = "box_size"  # "20"
META_CONVENTION = "input_convention"
META_ARCH = "architecture"
META_CHECKPOINT_SHA256 = "checkpoint_sha256"
META_QUANTIZATION = "quantization"
META_VERSION = "toolkit_version"
META_TRAINED_ON = "trained_on"  # which digits the model learned from: source and counts, never a path
META_NON_DIGITS = "non_digits"  # how it learned to reject non-digits: "outlier exposure", or "none"
