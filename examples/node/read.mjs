#!/usr/bin/env node
/**
 * Read one digit per image with the exported model, from Node.js:
 *
 *   node examples/node/read.mjs --model runs/train/model.onnx digits/*.png
 *
 * prints one JSON line per image, {"source", "digits": [{"label", "confidence"}]}: the
 * whole image is one digit, as with `cnn-run --mode single`, and an image with no writing
 * (blank paper, a flat frame) has no digits. An image that cannot be
 * read is reported on stderr and the others go on; the exit code is 1 if any failed.
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import ort from 'onnxruntime-node';

import { hasInk, prepareSingle, toGray } from '../web/convention.mjs';
import { classify, loadModel } from '../web/model.mjs';
import { decodeImage } from './decode.mjs';

const USAGE = 'usage: node read.mjs --model MODEL.onnx IMAGE...';

function fail(message, code) {
  process.stderr.write(`read.mjs: ${message}\n`);
  process.exit(code);
}

function readBytes(path) {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(e.code === 'ENOENT' ? 'no such file' : `cannot read (${e.code ?? e.message})`);
  }
}

async function main() {
  let args;
  try {
    args = parseArgs({ options: { model: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  } catch (e) {
    fail(`${e.message}\n${USAGE}`, 2);
  }
  if (args.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!args.values.model || args.positionals.length === 0) fail(USAGE, 2);

  let model;
  try {
    model = await loadModel(ort, readBytes(args.values.model), { intraOpNumThreads: 1 });
  } catch (e) {
    fail(`${args.values.model}: ${e.message.split('\n')[0]}`, 2);
  }

  let failed = 0;
  for (const source of args.positionals) {
    try {
      const image = decodeImage(readBytes(source));
      const digits = [];
      if (hasInk(toGray(image))) {
        const [digit] = await classify(model, [prepareSingle(image, model.boxSize, model.inputSize)]);
        digits.push({ label: digit.label, confidence: Number(digit.confidence.toFixed(4)) });
      }
      process.stdout.write(`${JSON.stringify({ source, digits })}\n`);
    } catch (e) {
      process.stderr.write(`read.mjs: ${source}: ${e.message}\n`);
      failed += 1;
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
