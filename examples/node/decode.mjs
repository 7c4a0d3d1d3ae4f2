/**
 * PNG and JPEG files as {width, height, channels, data}, with pure-JS decoders (pngjs, jpeg-js):
 * nothing to compile, the same result on every platform.
 *
 * The size is read from the file's header and checked before any pixel memory is
 * allocated, so a crafted file cannot make the program allocate gigabytes.
 */

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export const MAX_MEGAPIXELS = 50;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function isPng(bytes) {
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function isJpeg(bytes) {
  return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function checkSize(width, height) {
  if (width * height > MAX_MEGAPIXELS * 1e6) {
    throw new Error(`${width}x${height} is over the ${MAX_MEGAPIXELS}-megapixel limit`);
  }
}

function decodePng(bytes) {
  if (bytes.length < 33) throw new Error('truncated PNG header');
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  checkSize(header.readUInt32BE(16), header.readUInt32BE(20));
  const depth = header[24];
  // 16-bit samples stay 16-bit, so toGray can stretch them the way cnn-run does.
  const png = PNG.sync.read(header, { skipRescale: depth === 16 });
  const data = depth === 16 ? Uint16Array.from(png.data) : new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length);
  return { width: png.width, height: png.height, channels: 4, data };
}

function decodeJpeg(bytes) {
  const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS });
  return { width: image.width, height: image.height, channels: 4, data: image.data };
}

/** Decode PNG or JPEG bytes (told apart by their signature, not the file name). */
export function decodeImage(bytes) {
  if (isPng(bytes)) return decodePng(bytes);
  if (isJpeg(bytes)) return decodeJpeg(bytes);
  throw new Error('not a PNG or JPEG image');
}
