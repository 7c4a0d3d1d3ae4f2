/**
 * The page: draw a digit (mouse, pen or finger) or drop an image, and see what the model reads.
 *
 * The pad is a plain canvas of dark ink on white paper; a reading takes its pixels through
 * the same input convention as cnn-run (convention.mjs), so what you draw is read the way
 * a photographed digit is. `window.digitPage` lets a script (the tests) wait for a reading
 * and feed the page files and framed digits.
 */

import * as ort from './vendor/ort.wasm.min.mjs';
import { hasInk, prepareSingle, toGray } from './convention.mjs';
import { classify, loadModel, logitsOf } from './model.mjs';

// Several threads need a cross-origin isolated page, which a plain static server does not give.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('./vendor/', import.meta.url).href;

const INK = '#111';
const PAPER = '#fff';
const BRUSH = 22; // pixels of the 280-pixel pad: about an MNIST stroke once framed

const pad = document.getElementById('pad');
const ctx = pad.getContext('2d', { willReadFrequently: true });
const status = document.getElementById('status');
const labelOut = document.getElementById('label');
const framedView = document.getElementById('framed');
const bars = document.getElementById('bars');

let model = null;
let padUsed = false; // something was drawn or dropped since the last Clear
let queue = Promise.resolve();
let drawing = null;

function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle('error', isError);
}

function clearPad() {
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, pad.width, pad.height);
  padUsed = false;
  show(null, null);
}

function buildBars(labels) {
  bars.replaceChildren(
    ...labels.map((label) => {
      const li = document.createElement('li');
      li.dataset.label = label;
      li.innerHTML = '<span class="name"></span><span class="track"><span class="bar"></span></span><span class="value"></span>';
      li.querySelector('.name').textContent = label;
      return li;
    }),
  );
}

/** Put a reading on the page: the label, the framed input as the model sees it, one bar per class. */
function show(reading, framed) {
  labelOut.textContent = reading ? String(reading.label) : '?';
  labelOut.dataset.confidence = reading ? String(reading.confidence) : '';
  const side = framedView.width;
  const pixels = new ImageData(side, side);
  for (let i = 0; framed && i < framed.length; i++) {
    const v = Math.round(framed[i] * 255);
    pixels.data.set([v, v, v, 255], i * 4);
  }
  framedView.getContext('2d').putImageData(pixels, 0, 0);
  [...bars.children].forEach((li, i) => {
    const p = reading ? reading.probabilities[i] : 0;
    li.dataset.probability = String(p);
    li.classList.toggle('best', reading !== null && Number(li.dataset.label) === reading.label);
    li.querySelector('.bar').style.width = `${(p * 100).toFixed(1)}%`;
    li.querySelector('.value').textContent = reading ? `${(p * 100).toFixed(1)}%` : '';
  });
}

/** Read an image given as RGBA pixels, show the result, and return it: null when it holds no writing. */
async function readPixels({ width, height, data }) {
  const image = { width, height, channels: 4, data };
  if (!hasInk(toGray(image))) {
    show(null, null);
    return null;
  }
  const framed = prepareSingle(image, model.boxSize, model.inputSize);
  const [reading] = await classify(model, [framed]);
  show(reading, framed);
  return reading;
}

/** Run readings one at a time, in the order asked; `queue` settles when the last one is shown. */
function enqueue(task) {
  const run = queue.then(task);
  queue = run.catch((e) => setStatus(e.message, true));
  return run;
}

function readPad() {
  if (!padUsed || model === null) return queue;
  return enqueue(() => readPixels(ctx.getImageData(0, 0, pad.width, pad.height)));
}

/** Decode a file as the browser stores it, without colour management, at its own size. */
async function pixelsOf(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const c = canvas.getContext('2d');
  c.drawImage(bitmap, 0, 0);
  const pixels = c.getImageData(0, 0, bitmap.width, bitmap.height);
  clearPad();
  const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
  const w = bitmap.width * scale;
  const h = bitmap.height * scale;
  ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  bitmap.close();
  return pixels;
}

function readBlob(blob) {
  return enqueue(async () => {
    const reading = await readPixels(await pixelsOf(blob));
    padUsed = true;
    return reading;
  });
}

let readScheduled = false;

/** While a stroke goes on, read at most once per displayed frame. */
function readSoon() {
  if (readScheduled) return;
  readScheduled = true;
  requestAnimationFrame(() => {
    readScheduled = false;
    readPad();
  });
}

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [((event.clientX - rect.left) * pad.width) / rect.width, ((event.clientY - rect.top) * pad.height) / rect.height];
}

function strokeTo(point) {
  ctx.strokeStyle = INK;
  ctx.lineWidth = BRUSH;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(...drawing);
  ctx.lineTo(...point);
  ctx.stroke();
  drawing = point;
  padUsed = true;
}

pad.addEventListener('pointerdown', (event) => {
  pad.setPointerCapture(event.pointerId);
  drawing = padPoint(event);
  strokeTo(drawing);
});
pad.addEventListener('pointermove', (event) => {
  if (drawing === null) return;
  strokeTo(padPoint(event));
  readSoon();
});
for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, () => {
    if (drawing === null) return;
    drawing = null;
    readPad();
  });
}
pad.addEventListener('dragover', (event) => {
  event.preventDefault();
  pad.classList.add('dragging');
});
pad.addEventListener('dragleave', () => pad.classList.remove('dragging'));
pad.addEventListener('drop', (event) => {
  event.preventDefault();
  pad.classList.remove('dragging');
  const [file] = event.dataTransfer.files;
  if (file) readBlob(file);
});
document.getElementById('file').addEventListener('change', (event) => {
  const [file] = event.target.files;
  if (file) readBlob(file);
});
document.getElementById('clear').addEventListener('click', clearPad);

async function start() {
  const url = new URLSearchParams(location.search).get('model') ?? 'model.onnx';
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url} (HTTP ${response.status}): put your exported model.onnx beside this page`);
  model = await loadModel(ort, new Uint8Array(await response.arrayBuffer()));
  buildBars(model.labels);
  clearPad();
  setStatus('Draw one digit on the pad, or drop an image on it.');
}

const ready = start();
ready.catch((e) => setStatus(e.message, true));

window.digitPage = {
  ready,
  settled: () => queue,
  readUrl: async (url) => readBlob(await (await fetch(url)).blob()),
  logits: async (framed) => (await logitsOf(model, framed.map((d) => Float32Array.from(d)))).map((l) => Array.from(l)),
};
