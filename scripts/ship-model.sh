#!/usr/bin/env bash
# Remake the model the runtime ships (runtime/digits.onnx): cnn-train and cnn-export with the defaults,
# then record its sha256. Training numerics differ by CPU, so the bytes (and the sha256) differ from
# machine to machine; the recipe is what this reproduces. Update the sha256 in README.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/ship}
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
cnn-train --data sample --out "$OUT"
cnn-export "$OUT/model.pt" --onnx --out "$OUT"
cp "$OUT/model.onnx" runtime/digits.onnx
(cd runtime && sha256sum digits.onnx > digits.onnx.sha256 && cat digits.onnx.sha256)
