/**
 * The model's input convention in JavaScript, for Node.js and the browser alike.
 *
 * The exported model reads float32 [N, 1, 28, 28] in [0, 1]: a white digit on black,
 * framed like MNIST (cropped to its ink, scaled to fit a 20x20 box, centre of mass at
 * the centre of the 28x28 field). An app that frames its input any other way loses
 * accuracy without any error, so this module follows `cnn-run --mode single`
 * (runtime/preprocess.py) step by step: same gray weights, same polarity test, same
 * Otsu threshold, same resampling and the same rounding. The tests hold it to the
 * same labels as cnn-run on real digits.
 */

export const INPUT_SIZE = 28;
export const BOX_SIZE = 20;

/**
 * An image {width, height, channels, data} (channels 1, 3 or 4, RGB order; 8-bit, or
 * 16-bit in a Uint16Array) as 8-bit gray, the way cnn-run's OpenCV does it: BT.601
 * weights in 15-bit fixed point (bit for bit what its Intel IPP build computes), alpha
 * ignored; 16-bit images are then stretched to 0-255.
 */
export function toGray({ width, height, channels, data }) {
  const n = width * height;
  const gray = data instanceof Uint16Array ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0, p = 0; i < n; i++, p += channels) {
    gray[i] = channels === 1 ? data[p] : (data[p] * 9798 + data[p + 1] * 19235 + data[p + 2] * 3735 + 16384) >>> 15;
  }
  return gray instanceof Uint16Array ? stretch(gray) : gray;
}

function stretch(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  return Uint8Array.from(values, (v) => roundHalfEven((v - lo) * scale));
}

/** Python's round(): halves go to the even neighbour (cnn-run rounds sizes and offsets this way). */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Whether the paper is lighter than the ink: ink is the minority, so the border shows the paper. */
export function lightBackground(gray, width, height) {
  const border = [];
  for (const y of [0, height - 1]) for (let x = 0; x < width; x++) border.push(gray[y * width + x]);
  for (const x of [0, width - 1]) for (let y = 0; y < height; y++) border.push(gray[y * width + x]);
  border.sort((a, b) => a - b);
  const mid = border.length >> 1;
  const median = border.length % 2 ? border[mid] : (border[mid - 1] + border[mid]) / 2;
  let sum = 0;
  for (const v of gray) sum += v;
  return median > sum / gray.length;
}

/** 8-bit levels between paper and ink below which an image holds no digit (runtime/preprocess.py's MIN_CONTRAST). */
export const MIN_CONTRAST = 32;

function histogram(gray) {
  const counts = new Float64Array(256);
  for (const v of gray) counts[v] += 1;
  return counts;
}

/** numpy's percentile (linear method) of the values counted in `counts`. */
function percentile(counts, n, p) {
  const kth = (k) => {
    let seen = 0;
    for (let v = 0; v < 256; v++) {
      seen += counts[v];
      if (seen > k) return v;
    }
    return 255;
  };
  const pos = (n - 1) * (p / 100);
  const below = Math.floor(pos);
  const t = pos - below;
  const a = kth(below);
  const b = kth(Math.min(below + 1, n - 1));
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/**
 * Whether an 8-bit gray image has any writing at all: the spread between its 0.5th and
 * 99.5th percentiles must reach MIN_CONTRAST. Blank paper and flat frames read as no
 * digit, as in cnn-run, rather than as the model's favourite class.
 */
export function hasInk(gray) {
  if (gray.length < 4) return false;
  const counts = histogram(gray);
  return percentile(counts, gray.length, 99.5) - percentile(counts, gray.length, 0.5) >= MIN_CONTRAST;
}

/** Otsu's threshold over a 256-bin histogram, computed in the order OpenCV computes it. */
export function otsuThreshold(gray) {
  const hist = histogram(gray);
  const scale = 1 / gray.length;
  let mu = 0;
  for (let i = 0; i < 256; i++) mu += i * hist[i];
  mu *= scale;
  const eps = 1.1920928955078125e-7; // FLT_EPSILON
  let mu1 = 0;
  let q1 = 0;
  let maxSigma = 0;
  let best = 0;
  for (let i = 0; i < 256; i++) {
    const p = hist[i] * scale;
    mu1 *= q1;
    q1 += p;
    const q2 = 1 - q1;
    if (Math.min(q1, q2) < eps || Math.max(q1, q2) > 1 - eps) continue;
    mu1 = (mu1 + i * p) / q1;
    const mu2 = (mu - q1 * mu1) / q2;
    const sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
    if (sigma > maxSigma) {
      maxSigma = sigma;
      best = i;
    }
  }
  return best;
}

/** White-on-black ink of a single-digit image: invert light paper, drop the background level. */
export function inkOf(gray, width, height) {
  const g = lightBackground(gray, width, height) ? gray.map((v) => 255 - v) : gray;
  const threshold = otsuThreshold(g);
  const ink = g.map((v) => (v > threshold ? v : 0));
  return ink.some((v) => v > 0) ? ink : Uint8Array.from(g);
}

function boundingRect(ink, width, height) {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/** Source taps and weights of OpenCV's INTER_LINEAR along one axis (pixel centres aligned). */
function linearTaps(from, to) {
  const scale = from / to;
  return Array.from({ length: to }, (_, d) => {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) [s, f] = [0, 0];
    if (s >= from - 1) [s, f] = [from - 1, 0];
    return [[s, 1 - f], [Math.min(s + 1, from - 1), f]];
  });
}

/**
 * OpenCV's INTER_AREA when shrinking: each output pixel averages the source area it covers,
 * in float32 as OpenCV computes it; whole-number factors take its exact integer path.
 */
function resizeArea(src, w, h, nw, nh) {
  const out = new Uint8Array(nw * nh);
  const kx = w / nw;
  const ky = h / nh;
  if (Number.isInteger(kx) && Number.isInteger(ky)) {
    const n = kx * ky;
    const inverse = Math.fround(1 / n);
    for (let y = 0; y < nh; y++) {
      for (let x = 0; x < nw; x++) {
        let sum = 0;
        for (let j = 0; j < ky; j++) for (let i = 0; i < kx; i++) sum += src[(y * ky + j) * w + x * kx + i];
        out[y * nw + x] = kx === 2 && ky === 2 ? (sum + 2) >> 2 : roundHalfEven(Math.fround(sum * inverse));
      }
    }
    return out;
  }
  const tx = areaTaps(w, nw);
  const ty = areaTaps(h, nh);
  const rows = new Float32Array(h * nw);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < nw; x++) {
      let sum = 0;
      for (const [s, a] of tx[x]) sum = Math.fround(sum + Math.fround(src[y * w + s] * a));
      rows[y * nw + x] = sum;
    }
  }
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      let sum = 0;
      for (const [s, a] of ty[y]) sum = Math.fround(sum + Math.fround(rows[s * nw + x] * a));
      out[y * nw + x] = Math.min(255, roundHalfEven(sum));
    }
  }
  return out;
}

function areaTaps(from, to) {
  const scale = from / to;
  return Array.from({ length: to }, (_, d) => {
    const f1 = d * scale;
    const f2 = f1 + scale;
    const cell = Math.min(scale, from - f1);
    const s2 = Math.min(Math.floor(f2), from - 1);
    const s1 = Math.min(Math.ceil(f1), s2);
    const taps = [];
    if (s1 - f1 > 1e-3) taps.push([s1 - 1, Math.fround((s1 - f1) / cell)]);
    for (let s = s1; s < s2; s++) taps.push([s, Math.fround(1 / cell)]);
    if (f2 - s2 > 1e-3) taps.push([s2, Math.fround(Math.min(f2 - s2, 1, cell) / cell)]);
    return taps;
  });
}

/** OpenCV's INTER_LINEAR when enlarging: bilinear with pixel centres aligned, edges clamped. */
function resizeLinear(src, w, h, nw, nh) {
  const tx = linearTaps(w, nw);
  const ty = linearTaps(h, nh);
  const rows = new Float64Array(h * nw);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < nw; x++) {
      const [[s0, a0], [s1, a1]] = tx[x];
      rows[y * nw + x] = src[y * w + s0] * a0 + src[y * w + s1] * a1;
    }
  }
  const out = new Uint8Array(nw * nh);
  for (let y = 0; y < nh; y++) {
    const [[s0, b0], [s1, b1]] = ty[y];
    for (let x = 0; x < nw; x++) {
      out[y * nw + x] = Math.min(255, roundHalfEven(rows[s0 * nw + x] * b0 + rows[s1 * nw + x] * b1));
    }
  }
  return out;
}

/**
 * Frame white-on-black ink (8-bit, width x height) as the model's input: a Float32Array
 * of size*size in [0, 1]. Crop to the ink, scale so the longer side is `box` (area
 * averaging when shrinking, bilinear when enlarging), put the centre of mass at the centre
 * (clamped so the digit stays inside), divide by the peak.
 */
export function frameDigit(ink, width, height, box = BOX_SIZE, size = INPUT_SIZE) {
  const out = new Float32Array(size * size);
  const rect = boundingRect(ink, width, height);
  if (rect === null) return out;
  const crop = new Uint8Array(rect.w * rect.h);
  for (let y = 0; y < rect.h; y++) {
    crop.set(ink.subarray((rect.y + y) * width + rect.x, (rect.y + y) * width + rect.x + rect.w), y * rect.w);
  }
  const scale = box / Math.max(rect.w, rect.h);
  const nw = Math.max(1, roundHalfEven(rect.w * scale));
  const nh = Math.max(1, roundHalfEven(rect.h * scale));
  const small = (scale < 1 ? resizeArea : resizeLinear)(crop, rect.w, rect.h, nw, nh);
  let m00 = 0;
  let m10 = 0;
  let m01 = 0;
  let peak = 0;
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      const v = small[y * nw + x];
      m00 += v;
      m10 += x * v;
      m01 += y * v;
      peak = Math.max(peak, v);
    }
  }
  if (m00 <= 0) return out;
  const ox = Math.min(Math.max(roundHalfEven(size / 2 - m10 / m00), 0), size - nw);
  const oy = Math.min(Math.max(roundHalfEven(size / 2 - m01 / m00), 0), size - nh);
  const gain = Math.fround(1 / peak);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) out[(oy + y) * size + ox + x] = small[y * nw + x] * gain;
  }
  return out;
}

/**
 * A whole image holding one digit, as model input (what `cnn-run --mode single` feeds the
 * model). cnn-run first asks hasInk(toGray(image)) and reads no digit when it is false.
 */
export function prepareSingle(image, box = BOX_SIZE, size = INPUT_SIZE) {
  const gray = toGray(image);
  return frameDigit(inkOf(gray, image.width, image.height), image.width, image.height, box, size);
}
