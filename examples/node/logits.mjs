#!/usr/bin/env node
/**
 * Logits for digits that are already framed, for an app that frames its own input
 * and for checking this engine against another:
 *
 *   node examples/node/logits.mjs --model model.onnx < framed.f32
 *
 * stdin holds float32 little-endian [N, 28, 28] in [0, 1]; stdout gets one JSON list of
 * logits per digit.
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import ort from 'onnxruntime-node';

import { loadModel, logitsOf } from '../web/model.mjs';

const { values } = parseArgs({ options: { model: { type: 'string' } } });
if (!values.model) {
  process.stderr.write('usage: node logits.mjs --model MODEL.onnx < framed.f32\n');
  process.exit(2);
}
const model = await loadModel(ort, new Uint8Array(readFileSync(values.model)), { intraOpNumThreads: 1 });
const side = model.inputSize * model.inputSize;
const input = readFileSync(0);
if (input.length % (side * 4) !== 0) {
  process.stderr.write(`logits.mjs: stdin is ${input.length} bytes, not a whole number of float32 [${model.inputSize}, ${model.inputSize}] digits\n`);
  process.exit(2);
}
const all = new Float32Array(input.buffer.slice(input.byteOffset, input.byteOffset + input.length));
const framed = Array.from({ length: all.length / side }, (_, i) => all.subarray(i * side, (i + 1) * side));
for (const logits of await logitsOf(model, framed)) process.stdout.write(`${JSON.stringify(Array.from(logits))}\n`);
