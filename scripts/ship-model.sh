#!/usr/bin/env bash
# Remake the model the runtime ships (runtime/digits.onnx): cnn-train --data mnist and cnn-export --onnx with
# the defaults, then record its sha256.
#
#   bash scripts/ship-model.sh DATA_DIR     # an MNIST folder as cnn-train --data mnist reads it (DATA_DIR/MNIST/raw/...);
#                                           # online, an empty folder: torchvision downloads MNIST into it (12 MB)
#
# Training numerics differ by CPU (torch picks AVX-512 or AVX2 kernels), so a rerun makes a model of the same
# recipe, not the same bytes. Then update the sha256 in README.md and tests/test_shipped_model.py's figures' source.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: bash scripts/ship-model.sh DATA_DIR   (an MNIST folder, or an empty one to download MNIST into)" >&2
    exit 2
fi
DATA_DIR=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/ship}
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
cnn-train --data mnist --data-dir "$DATA_DIR" --out "$OUT"
cnn-export "$OUT/model.pt" --onnx --data-dir "$DATA_DIR" --out "$OUT"
cp "$OUT/model.onnx" runtime/digits.onnx
(cd runtime && sha256sum digits.onnx > digits.onnx.sha256 && cat digits.onnx.sha256)
