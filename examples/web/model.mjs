/**
 * The exported model.onnx behind one small API, for onnxruntime-node and onnxruntime-web alike
 * (both export the same InferenceSession and Tensor; the caller passes in the one it has).
 *
 * Labels and the input size come from the file's own metadata, as in the Python runtime,
 * so a retrained model with other labels needs no code change. ONNX Runtime's JS API does
 * not expose custom metadata, so the few fields needed are read from the protobuf directly.
 */

import { BOX_SIZE, INPUT_SIZE } from './convention.mjs';

function readVarint(bytes, at) {
  let value = 0;
  let shift = 1;
  let pos = at;
  for (;;) {
    if (pos >= bytes.length) throw new Error('truncated varint');
    const b = bytes[pos++];
    value += (b & 0x7f) * shift;
    if (b < 0x80) return [value, pos];
    shift *= 128;
  }
}

/** Top-level protobuf fields of `bytes`: yields [field number, wire type, value or {start, end}]. */
function* fields(bytes, start = 0, end = bytes.length) {
  let pos = start;
  while (pos < end) {
    const [key, afterKey] = readVarint(bytes, pos);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      const [value, next] = readVarint(bytes, afterKey);
      yield [field, wire, value];
      pos = next;
    } else if (wire === 2) {
      const [length, body] = readVarint(bytes, afterKey);
      if (body + length > end) throw new Error('truncated field');
      yield [field, wire, { start: body, end: body + length }];
      pos = body + length;
    } else if (wire === 1 || wire === 5) {
      pos = afterKey + (wire === 1 ? 8 : 4);
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
}

const METADATA_PROPS = 14; // ModelProto.metadata_props: repeated StringStringEntryProto {key = 1, value = 2}

/** The model's metadata_props as a plain object (ONNX ModelProto, field 14). */
export function onnxMetadata(bytes) {
  const text = new TextDecoder();
  const meta = {};
  for (const [field, wire, span] of fields(bytes)) {
    if (field !== METADATA_PROPS || wire !== 2) continue;
    const entry = {};
    for (const [f, w, s] of fields(bytes, span.start, span.end)) {
      if (w === 2 && (f === 1 || f === 2)) entry[f] = text.decode(bytes.subarray(s.start, s.end));
    }
    if (entry[1] !== undefined) meta[entry[1]] = entry[2] ?? '';
  }
  return meta;
}

/**
 * Open a digit model from its bytes: {session, labels, inputSize, boxSize, Tensor}.
 * `ort` is the onnxruntime-node or onnxruntime-web module; `options` go to InferenceSession.create.
 */
export async function loadModel(ort, bytes, options = {}) {
  const meta = onnxMetadata(bytes);
  if (!('labels' in meta)) throw new Error('not a digit model exported by cnn-export (no "labels" metadata)');
  const session = await ort.InferenceSession.create(bytes, options);
  return {
    session,
    labels: JSON.parse(meta.labels).map(String),
    inputSize: Number(meta.input_size ?? INPUT_SIZE),
    boxSize: Number(meta.box_size ?? BOX_SIZE),
    Tensor: ort.Tensor,
  };
}

/** Raw logits, one Float32Array per digit, for framed digits (Float32Arrays of inputSize^2 in [0, 1]). */
export async function logitsOf(model, framed) {
  const side = model.inputSize;
  const batch = new Float32Array(framed.length * side * side);
  framed.forEach((digit, i) => batch.set(digit, i * side * side));
  const input = new model.Tensor('float32', batch, [framed.length, 1, side, side]);
  const [inputName] = model.session.inputNames;
  const [outputName] = model.session.outputNames;
  const logits = (await model.session.run({ [inputName]: input }))[outputName].data;
  const classes = logits.length / framed.length;
  return framed.map((_, i) => logits.slice(i * classes, (i + 1) * classes));
}

export function softmax(logits) {
  const top = Math.max(...logits);
  const e = Array.from(logits, (z) => Math.exp(z - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** Each framed digit read: {label, confidence, probabilities}, label as in cnn-run's JSON. */
export async function classify(model, framed) {
  return (await logitsOf(model, framed)).map((logits) => {
    const probabilities = softmax(logits);
    const best = probabilities.indexOf(Math.max(...probabilities));
    return { label: Number(model.labels[best]), confidence: probabilities[best], probabilities };
  });
}
