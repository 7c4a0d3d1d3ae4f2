#!/usr/bin/env bash
# Clone to reading digits in one command, offline: set up, train, export with the parity gate,
# render two example images from held-out digits, and read them.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/quickstart}
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== 1/4 train (defaults, offline 5,000-digit sample)"
cnn-train --data sample --out "$OUT"
echo "== 2/4 export: ONNX FP32 + int8 + TorchScript, parity-checked"
cnn-export "$OUT/model.pt" --quantize weights
echo "== 3/4 render example images from digits the model never saw"
python -m digit_cnn_edge.train.examples "$OUT/examples"
echo "== 4/4 read them with the light runtime (ONNX Runtime + OpenCV, no torch)"
cnn-run --model "$OUT/model.onnx" "$OUT/examples" --save "$OUT/annotated"
echo "annotated copies in $OUT/annotated; try: cnn-run --model $OUT/model.onnx 0 --show   (webcam)"
