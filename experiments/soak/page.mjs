// Soak in the page: trains STEPS steps (default 1,000) of a small grokking model in the real page (worker, wasm,
// WebGPU on SwiftShader) and samples, every few seconds, the worker's wasm memory, its JS heap (where Chromium
// exposes it to workers) and the number of live GPU buffers and devices (created minus destroyed, a destroyed
// device taking its buffers with it, counted by code this script injects into worker.js; the page ships none of it). Prints the samples and the change after warm-up.
// Usage: serve www/ (e.g. python3 -m http.server 8093 --directory www), then
//   LOOPLAB_URL=http://127.0.0.1:8093/ node experiments/soak/page.mjs [STEPS]
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, URL, injectIntoWorker, labReady } from '../../tests/page/helpers.mjs';

const STEPS = Number(process.argv[2] || 1000);
const COUNT = `
self.looplabSoak = { live: new Map(), memory: null, buffers: () => [...self.looplabSoak.live.values()].reduce((n, s) => n + s.size, 0) };
const looplabCreateBuffer = GPUDevice.prototype.createBuffer;
GPUDevice.prototype.createBuffer = function (...args) {
  const buffer = looplabCreateBuffer.apply(this, args);
  if (!self.looplabSoak.live.has(this)) self.looplabSoak.live.set(this, new Set());
  self.looplabSoak.live.get(this).add(buffer);
  buffer.looplabDevice = this;
  return buffer;
};
const looplabDestroyBuffer = GPUBuffer.prototype.destroy;
GPUBuffer.prototype.destroy = function () { self.looplabSoak.live.get(this.looplabDevice)?.delete(this); return looplabDestroyBuffer.apply(this); };
// Destroying a device destroys every buffer made from it.
const looplabDestroyDevice = GPUDevice.prototype.destroy;
GPUDevice.prototype.destroy = function () { self.looplabSoak.live.delete(this); return looplabDestroyDevice.apply(this); };
for (const name of ['instantiate', 'instantiateStreaming']) {
  const original = WebAssembly[name];
  WebAssembly[name] = async function (...args) {
    const result = await original.apply(this, args);
    self.looplabSoak.memory = (result.instance || result).exports.memory;
    return result;
  };
}`;

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
const page = await browser.newPage();
await injectIntoWorker(COUNT)(page);
await page.goto(`${URL}#task.p=11&model.d_model=32&model.mlp_hidden=64&train.eval_every=100&train.steps=${STEPS}`);
await labReady(page);
const step = () => page.$eval('#step-count', (e) => Number(e.textContent.replace(/,/g, '')));
const sample = async () => ({
  step: await step(),
  ...(await page.workers()[0].evaluate(() => ({
    buffers: self.looplabSoak.buffers(),
    devices: self.looplabSoak.live.size,
    wasmBytes: self.looplabSoak.memory ? self.looplabSoak.memory.buffer.byteLength : null,
    jsHeap: self.performance?.memory?.usedJSHeapSize ?? null,
  }))),
});
const samples = [];
await page.click('#start');
const started = Date.now();
while (true) {
  const s = await sample();
  samples.push({ seconds: Math.round((Date.now() - started) / 1000), ...s });
  console.log(JSON.stringify(samples.at(-1)));
  if (s.step >= STEPS) break;
  await page.waitForTimeout(3000);
}
const warm = samples.find((s) => s.step >= STEPS / 10) || samples[0];
const after = samples.filter((s) => s.step >= warm.step);
const change = (key) => {
  if (warm[key] == null) return `${key}: not exposed`;
  const max = Math.max(...after.map((s) => s[key]));
  return `${key}: ${warm[key]} at step ${warm.step}, largest after it ${max} (${(100 * (max - warm[key]) / warm[key]).toFixed(1)}%), last ${samples.at(-1)[key]}`;
};
console.log(`${STEPS} steps in ${samples.at(-1).seconds} s; ${['buffers', 'wasmBytes', 'jsHeap'].map(change).join('; ')}`);
await browser.close();
