#!/usr/bin/env node
/**
 * Drive the page in headless Chromium the way a person would, for the tests (and for a
 * look at the page on a machine without a display):
 *
 *   node examples/web/drive.mjs job.json > result.json
 *
 * job.json: {"url": page URL, "drawings": [[stroke, ...], ...] where a stroke is a list of
 * [x, y] points on the 280-pixel pad, "screenshot": PNG path taken after the last drawing,
 * "images": [URL, ...] read through the page, "framed": [[784 floats], ...] whose logits
 * the page's ONNX Runtime computes, "chromium": path (default /usr/bin/chromium)}.
 * result: {"drawn": [{"label", "probabilities", "pad": the pad as a PNG data URL}] as shown on the page, "images":
 * [{"label", "confidence"} or null for no digit], "logits": [[...]], "errors": [console errors]}.
 */

import { readFileSync } from 'node:fs';

import { chromium } from 'playwright-core';

// The machine may have no network and no GPU; without these Chromium stalls on both.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function draw(page, strokes) {
  await page.click('#clear');
  const box = await page.locator('#pad').boundingBox();
  const scale = box.width / 280;
  const at = ([x, y]) => [box.x + x * scale, box.y + y * scale];
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const point of stroke.slice(1)) await page.mouse.move(...at(point), { steps: 2 });
    await page.mouse.up();
  }
  await page.evaluate(() => window.digitPage.settled());
  return page.evaluate(() => ({
    label: Number(document.getElementById('label').textContent),
    probabilities: [...document.querySelectorAll('#bars li')].map((li) => Number(li.dataset.probability)),
    pad: document.getElementById('pad').toDataURL('image/png'),
  }));
}

async function main(job) {
  const browser = await chromium.launch({ executablePath: job.chromium ?? '/usr/bin/chromium', args: FLAGS, headless: true });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 760, height: 560 } });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(job.url);
    await page.evaluate(() => window.digitPage.ready);
    const drawn = [];
    for (const strokes of job.drawings ?? []) drawn.push(await draw(page, strokes));
    if (job.screenshot) await page.screenshot({ path: job.screenshot, fullPage: true });
    const images = await page.evaluate(async (urls) => {
      const out = [];
      for (const url of urls) {
        const reading = await window.digitPage.readUrl(url);
        out.push(reading && { label: reading.label, confidence: reading.confidence });
      }
      return out;
    }, job.images ?? []);
    const logits = await page.evaluate((framed) => window.digitPage.logits(framed), job.framed ?? []);
    return { drawn, images, logits, errors };
  } finally {
    await browser.close();
  }
}

if (process.argv.length !== 3) {
  process.stderr.write('usage: node drive.mjs job.json > result.json\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(await main(JSON.parse(readFileSync(process.argv[2], 'utf8'))))}\n`);
