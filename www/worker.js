// Training runs here, off the main thread: the page posts commands, this worker drives the wasm lab and posts
// records back. Messages in:  {type: 'create' | 'start' | 'pause' | 'reset', preset, overrides, backend}
// Messages out: {type: 'ready', device, fallback, config, step, total}  {type: 'records', records, step, stepsPerS}
//               {type: 'state', running}  {type: 'done'}  {type: 'error', message, noAdapter}
import init, { WebLab } from './pkg/looplab.js';

let lab = null;
let labKey = '';          // the settings `lab` was built from
let running = false;
let loop = null;          // the promise of the running training loop, if any
let queue = Promise.resolve();

const post = (msg) => self.postMessage(msg);
const keyOf = (msg) => JSON.stringify([msg.preset, msg.overrides, msg.backend]);

function errorMessage(e) {
  return (e && e.message) ? e.message : String(e);
}

// Says whether WebGPU can be used here before asking wasm for a lab, and names the adapter
// (wgpu leaves the name empty on the web; the browser's adapter info has vendor and architecture).
async function probeWebgpu() {
  if (!('gpu' in navigator) || !navigator.gpu) return { problem: 'this browser does not expose WebGPU (navigator.gpu is missing)' };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { problem: 'navigator.gpu.requestAdapter() returned no adapter' };
    const info = adapter.info || {};
    return { name: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') };
  } catch (e) {
    return { problem: `requestAdapter failed: ${errorMessage(e)}` };
  }
}

async function stopLoop() {
  running = false;
  if (loop) await loop;
}

async function create(msg) {
  await stopLoop();
  if (lab) { lab.free(); lab = null; }
  labKey = '';
  let adapterName = '';
  if (msg.backend === 'gpu') {
    const probe = await probeWebgpu();
    if (probe.problem) {
      post({ type: 'error', noAdapter: true, message: `No WebGPU adapter is available: ${probe.problem}.` });
      return false;
    }
    adapterName = probe.name;
  }
  try {
    lab = await WebLab.create(msg.preset, msg.overrides, msg.backend);
  } catch (e) {
    const message = errorMessage(e);
    post({ type: 'error', noAdapter: /adapter/i.test(message), message });
    return false;
  }
  labKey = keyOf(msg);
  let device = lab.device();
  if (adapterName && !device.includes(adapterName)) device = `${adapterName} ${device}`;
  post({
    type: 'ready', device, fallback: lab.isFallback(), config: lab.config(),
    step: lab.step(), total: lab.totalSteps(), backend: msg.backend,
  });
  return true;
}

// Each call trains for about CALL_MS, so pause answers quickly and the counter moves on slow adapters too;
// records still come every train.eval_every steps.
const CALL_MS = 250;

async function trainLoop() {
  const evalEvery = Math.max(1, Number(lab.config().train?.eval_every) || 100);
  let chunk = 1;
  post({ type: 'state', running: true });
  try {
    while (running && lab) {
      if (lab.step() >= lab.totalSteps()) { post({ type: 'done' }); break; }
      const before = lab.step();
      const t0 = performance.now();
      const records = await lab.train(Math.min(chunk, lab.totalSteps() - before));
      const ms = performance.now() - t0;
      const seconds = ms / 1000;
      const step = lab.step();
      chunk = Math.max(1, Math.min(evalEvery, Math.round(chunk * CALL_MS / Math.max(ms, 1))));
      post({ type: 'records', records, step, stepsPerS: seconds > 0 ? (step - before) / seconds : 0 });
    }
  } catch (e) {
    post({ type: 'error', message: errorMessage(e) });
  } finally {
    running = false;
    loop = null;
    post({ type: 'state', running: false });
  }
}

// Settings changed before the first step: rebuild from them. After that they wait for Reset.
async function current(msg) {
  if (!lab || (lab.step() === 0 && keyOf(msg) !== labKey)) return create(msg);
  return true;
}

async function handle(msg) {
  switch (msg.type) {
    case 'create':
    case 'reset':
      await create(msg);
      break;
    case 'start':
      if (!(await current(msg))) return;
      running = true;
      if (!loop) loop = trainLoop();
      break;
    case 'solve':
      if (!(await current(msg))) return;
      await stopLoop();  // the lab takes one call at a time; the page offers Solve only while paused
      try {
        post({ type: 'solution', solution: await lab.solve(msg.text) });
      } catch (e) {
        post({ type: 'solve-error', message: errorMessage(e) });
      }
      break;
    case 'pause':
      running = false;
      break;
  }
}

const ready = init().catch((e) => {
  post({ type: 'error', message: `could not load the wasm module: ${errorMessage(e)}` });
  throw e;
});

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === 'pause') running = false;  // takes effect at once, not after queued work
  queue = queue.then(() => ready).then(() => handle(msg)).catch((e) => {
    post({ type: 'error', message: errorMessage(e) });
  });
};
