// Shared helpers of the page tests (tests/page/*.test.mjs): Playwright drives the system Chromium (WebGPU on
// SwiftShader) against the server that `./build.sh test` starts. Every wait is on a signal the page gives (a
// button's state, a counter, a data attribute), never on a fixed delay.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const URL = process.env.LOOPLAB_URL || 'http://127.0.0.1:8080/';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=vulkan',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

// One browser per test file, launched before its tests and closed after them.
export let browser;
export function useBrowser() {
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => { await browser?.close(); });
}

// `promise`, or a failure naming `what()` after `ms` milliseconds (for waits Playwright has no helper for).
export async function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)), ms); });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

// Waits until the worker has built a lab (the device is named).
export const labReady = (page) => page.waitForFunction(() => {
  const d = document.getElementById('device').textContent;
  return d && !d.startsWith('starting');
}, null, { timeout: 30_000 });

// A fresh page at 1280x720 that records console errors and uncaught exceptions (page and worker); `prepare(page)`
// runs before the page loads (to route requests).
export async function openPage(b = browser, hash = '', prepare = null) {
  const page = await b.newPage({ viewport: { width: 1280, height: 720 } });
  if (prepare) await prepare(page);
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') errors.push(`worker console: ${m.text()}`); }));
  await page.goto(URL + hash);
  await labReady(page);
  return { page, errors };
}

export const stepCount = (page) => page.$eval('#step-count', (e) => Number(e.textContent.replace(/,/g, '')));
export const points = (page, id) => page.$eval(id, (e) => Number(e.dataset.points));
export const pixels = (page, id) => page.$eval(id, (c) => c.toDataURL());

// SwiftShader runs a few GFLOP/s: the tests train a small version of the grokking preset, set through the URL hash.
export const SMALL = 'model.d_model=32&model.mlp_hidden=64&train.eval_every=2';

// A tiny 4x4 Sudoku model: SwiftShader trains a few steps of it per second.
export const SUDOKU = '#preset=sudoku-4x4&model.d_model=16&model.mlp_hidden=32&task.examples=64&task.test_examples=8&train.eval_every=5';
export const PUZZLE = '1.3. .4.2 2.4. .3.1';

// Solves the text in the box (or draws with New puzzle) and waits for the result or the error.
export async function solve(page, text) {
  if (text == null) await page.click('#solve-new');
  else {
    await page.fill('#solve-input', text);
    await page.click('#solve-run');
  }
  await page.waitForSelector('#solve-run:enabled', { timeout: 60_000 });
}

// Moves the slider through every iteration and checks the grid follows; returns the iteration count.
export async function scrub(page) {
  const n = Number(await page.$eval('#solve-slider', (s) => s.max));
  for (let t = 1; t <= n; t++) {
    await page.$eval('#solve-slider', (s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }, t);
    assert.match(await page.textContent('#solve-step'), new RegExp(`^iteration ${t} of ${n}`));
    assert.equal(await page.$eval('#solve-grid', (c) => c.dataset.iteration), String(t));
  }
  return n;
}

export const stepAbove = (page, s) => page.waitForFunction((s) => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) > s, s, { timeout: 60_000 });
export const stepIs = (page, s) => page.waitForFunction((s) => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) === s, s, { timeout: 30_000 });

// Trains until the counter passes `s`, then pauses; returns the step it paused at.
export async function trainPast(page, s) {
  await page.click('#start');
  await stepAbove(page, s);
  await page.click('#pause');
  await page.waitForSelector('#pause:disabled', { timeout: 30_000 });
  return stepCount(page);
}

// Clicks `selector` and returns the downloaded file's name and bytes.
export async function download(page, selector) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click(selector)]);
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

// The JSON header of a safetensors file: an 8-byte little-endian length, then that many bytes of JSON.
export function safetensorsHeader(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  assert.ok(n > 0 && 8 + n <= bytes.length, `header length ${n} fits in ${bytes.length} bytes`);
  return JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
}

export const seriesCounts = (page, id) => page.$eval(id, (c) => Object.fromEntries(c.dataset.series.split(' ').filter(Boolean).map((kv) => {
  const at = kv.lastIndexOf(':');
  return [kv.slice(0, at), Number(kv.slice(at + 1))];
})));

// A history whose train accuracy reaches 90% at step 20 and test_id at step 200, test_ood never.
export function plantedHistory(ood) {
  return [10, 20, 50, 100, 200, 400].map((step) => {
    const train = step >= 20 ? 0.95 : 0.5;
    const id = step >= 200 ? 0.92 : 0.1;
    const splits = [{ split: 'train', loss: 1, accuracy: train, exact: 0 }, { split: ood ? 'test_id' : 'test', loss: 1, accuracy: id, exact: 0 }];
    if (ood) splits.push({ split: 'test_ood', loss: 1, accuracy: step >= 400 ? 0.9 : 0.05, exact: 0 });
    return { step, loss: 1, train_acc: train, test_acc: id, train_exact: 0, test_exact: 0, test_loss: 1, grad_norm: 1, lr: 1e-3, elapsed_s: 1, splits };
  });
}

// Runs the probe view and waits for its report or its error.
export async function probe(page) {
  await page.click('#probe-run');
  await page.waitForSelector('#probe-run:enabled', { timeout: 60_000 });
}

export const dataset = (page, id) => page.$eval(id, (e) => ({ ...e.dataset }));
// `looplab probe` of the native build; `cargo test --release` (the native stage of ./build.sh test) builds it.
export const LOOPLAB = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'target', 'release', 'looplab');

// a within a relative tolerance of b, naming what differs.
export function near(a, b, tol, what) {
  assert.ok(Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-6), `${what}: page ${a} vs native ${b}`);
}

// Tiny versions of the mechanism presets: a few steps on SwiftShader suffice for the views to have something to show.
export const TINY = 'model.d_model=16&model.mlp_hidden=32&task.examples=200&train.eval_every=2&train.batch_size=8';

// Serves www/worker.js with `prelude` in front of it: code a test injects into the worker, never shipped.
export const injectIntoWorker = (prelude) => (page) => page.route('**/worker.js', async (route) => {
  const response = await route.fetch();
  await route.fulfill({ response, body: `${prelude}\n${await response.text()}` });
});

// Remembers every WebGPU device the worker creates (self.looplabDevices), so a test can lose them for real.
export const REMEMBER_DEVICES = `
const looplabRequestDevice = GPUAdapter.prototype.requestDevice;
GPUAdapter.prototype.requestDevice = async function (...args) {
  const device = await looplabRequestDevice.apply(this, args);
  (self.looplabDevices ||= []).push(device);
  return device;
};`;

// Reset of a run with steps: the page asks first; confirm it.
export async function confirmReset(page) {
  await page.click('#reset');
  await page.click('#reset-yes');
}
