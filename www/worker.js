// Training runs here, off the main thread: the page posts commands, this worker drives the wasm lab and posts
// records back. Messages in (each with preset, overrides, backend):
//   {type: 'create', autosave}  a new lab; with `autosave`, resumed from this config's autosave if there is one
//   {type: 'reset'}  deletes the autosave, then a new lab from step 0     {type: 'load', bytes, name}  a checkpoint file
//   {type: 'start' | 'pause' | 'solve' | 'checkpoint'}   {type: 'export', format: 'csv' | 'json'}
//   {type: 'probe', examples, iterations}  (0: the defaults; with `twin` set, its CKA against the twin too)
// Messages out: {type: 'ready', device, fallback, config, step, total, history, source, note}
//   {type: 'records', records, step, stepsPerS}  {type: 'state', running}  {type: 'done'}  {type: 'note', message}
//   {type: 'checkpoint', bytes, step}  {type: 'export', format, text}  {type: 'solution' | 'solve-error', ...}
//   {type: 'probe', probed: {step, twin_step, report}}  {type: 'probe-error', message}
//   {type: 'error', message, noAdapter, deviceLost}
import init, { WebLab, presetConfig } from './pkg/looplab.js';
import * as autosave from './autosave.js';

let lab = null;
let twin = null;          // a feedforward twin WebLab on the same task (compare mode): probes add its CKA
let labKey = '';          // the settings `lab` was built from; null for a checkpoint file (never rebuilt implicitly)
let saveKey = null;       // the autosave key of `lab`'s config
let savedStep = -1;       // the step of the last autosave
let lastSave = -Infinity; // performance.now() of the last autosave
let running = false;
let loop = null;          // the promise of the running training loop, if any
let queue = Promise.resolve();
let loseDevice = false;   // set by the page test's hook: the next step fails as a lost device does

// The page test cannot make SwiftShader lose its device, so it asks for the same error through this hook.
self.looplabTest = { loseDevice: () => { loseDevice = true; } };

const SAVE_EVERY_MS = 10_000;
// LabError::Device's message: the lab is unusable after it.
const DEVICE_LOST = /^the GPU device failed/;

const post = (msg, transfer = []) => self.postMessage(msg, transfer);
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

function dropLab() {
  if (lab) lab.free();
  lab = null;
  saveKey = null;
}

// Replaces the lab with `build()`'s on `backend`; `info` holds what the page is told besides the lab's state.
// A file that does not load keeps the current lab (`keep`); otherwise a failure leaves no lab.
async function openLab(backend, build, info, keep = false) {
  await stopLoop();
  if (!keep) dropLab();
  let adapterName = '';
  if (backend === 'gpu') {
    const probe = await probeWebgpu();
    if (probe.problem) {
      post({ type: 'error', noAdapter: true, message: `No WebGPU adapter is available: ${probe.problem}.` });
      return false;
    }
    adapterName = probe.name;
  }
  let next;
  try {
    next = await build();
  } catch (e) {
    const message = errorMessage(e);
    post({ type: 'error', noAdapter: /adapter/i.test(message), message });
    return false;
  }
  dropLab();
  lab = next;
  saveKey = await autosave.keyOf(lab.config());
  savedStep = lab.step();
  lastSave = -Infinity;
  let device = lab.device();
  if (adapterName && !device.includes(adapterName)) device = `${adapterName} ${device}`;
  post({
    type: 'ready', device, fallback: lab.isFallback(), config: lab.config(), step: lab.step(), total: lab.totalSteps(),
    backend, history: lab.history(), ...info,
  });
  return true;
}

// The autosave key of the config `msg` describes, or null for settings that do not validate.
async function configKey(msg) {
  try {
    return await autosave.keyOf(presetConfig(msg.preset, msg.overrides));
  } catch {
    return null;
  }
}

async function create(msg) {
  const fresh = () => WebLab.create(msg.preset, msg.overrides, msg.backend);
  const key = msg.autosave ? await configKey(msg) : null;
  const saved = key ? await autosave.load(key).catch(() => null) : null;
  const info = { source: 'new', note: msg.recover ? 'No autosave of this run was found; started again from step 0.' : null };
  const build = !saved ? fresh : async () => {
    try {
      const resumed = await WebLab.resume(saved.bytes, 'the autosave', msg.backend, saved.history);
      const when = new Date(saved.savedAt).toLocaleString();
      Object.assign(info, { source: 'autosave', note: `Resumed from the autosave of step ${saved.step} (saved ${when}). Reset starts again from step 0.` });
      return resumed;
    } catch (e) {
      info.note = `The autosave could not be resumed (${errorMessage(e)}); started again from step 0.`;
      return fresh();
    }
  };
  const ok = await openLab(msg.backend, build, info);
  labKey = ok ? keyOf(msg) : '';
  return ok;
}

async function load(msg) {
  const ok = await openLab(msg.backend, () => WebLab.resume(new Uint8Array(msg.bytes), msg.name, msg.backend, null),
    { source: 'file', note: `Loaded ${msg.name}.` }, true);
  if (ok) labKey = null;
}

async function saveNow() {
  if (!lab || !saveKey || lab.step() === savedStep) return;
  try {
    const step = lab.step();
    await autosave.store(saveKey, { bytes: await lab.checkpoint(), history: lab.history(), step, savedAt: Date.now() });
    savedStep = step;
    lastSave = performance.now();
  } catch (e) {
    post({ type: 'note', message: `Autosave failed: ${errorMessage(e)}` });
  }
}

// Each call trains for about CALL_MS, so pause answers quickly and the counter moves on slow adapters too;
// records still come every train.eval_every steps.
const CALL_MS = 250;

async function trainLoop() {
  const evalEvery = Math.max(1, Number(lab.config().train?.eval_every) || 100);
  let chunk = 1;
  let lost = false;
  post({ type: 'state', running: true });
  try {
    while (running && lab) {
      if (lab.step() >= lab.totalSteps()) { post({ type: 'done' }); break; }
      const before = lab.step();
      const t0 = performance.now();
      if (loseDevice) {
        loseDevice = false;
        throw new Error('the GPU device failed: the device was lost (simulated by the page test hook)');
      }
      const records = await lab.train(Math.min(chunk, lab.totalSteps() - before));
      const ms = performance.now() - t0;
      const seconds = ms / 1000;
      const step = lab.step();
      chunk = Math.max(1, Math.min(evalEvery, Math.round(chunk * CALL_MS / Math.max(ms, 1))));
      post({ type: 'records', records, step, stepsPerS: seconds > 0 ? (step - before) / seconds : 0 });
      if (records.length && performance.now() - lastSave >= SAVE_EVERY_MS) await saveNow();
    }
  } catch (e) {
    const message = errorMessage(e);
    lost = DEVICE_LOST.test(message);
    // A lost device leaves nothing to save or train; the page offers the last autosave instead.
    if (lost) dropLab();
    post({ type: 'error', message, deviceLost: lost });
  } finally {
    running = false;
    if (!lost) await saveNow();
    loop = null;
    post({ type: 'state', running: false });
  }
}

// Settings changed before the first step: rebuild from them. After that they wait for Reset.
async function current(msg) {
  if (!lab || (labKey !== null && lab.step() === 0 && keyOf(msg) !== labKey)) return create(msg);
  return true;
}

// Runs `f` with the training loop stopped (the lab takes one call at a time), then lets it go on.
async function paused(f) {
  const was = running;
  await stopLoop();
  try {
    await f();
  } finally {
    if (was && lab) {
      running = true;
      loop = trainLoop();
    }
  }
}

async function handle(msg) {
  switch (msg.type) {
    case 'create':
      await create(msg);
      break;
    case 'reset': {
      await stopLoop();
      const keys = [saveKey, await configKey(msg)].filter(Boolean);
      for (const key of keys) await autosave.remove(key).catch(() => {});
      await create({ ...msg, autosave: false });
      break;
    }
    case 'load':
      await load(msg);
      break;
    case 'start':
      if (!(await current(msg))) return;
      running = true;
      if (!loop) loop = trainLoop();
      break;
    case 'checkpoint':
      if (!lab) return;
      await paused(async () => {
        const bytes = await lab.checkpoint();
        post({ type: 'checkpoint', bytes, step: lab.step() }, [bytes.buffer]);
      });
      break;
    case 'export':
      if (!lab) return;
      await paused(async () => {
        post({ type: 'export', format: msg.format, text: msg.format === 'csv' ? lab.historyCsv() : lab.historyJson() });
      });
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
    case 'probe':
      if (!(await current(msg))) {
        post({ type: 'probe-error', message: 'There is no model to probe: the lab did not start (see the message above).' });
        return;
      }
      await stopLoop();  // as for solve: the page offers probing only while training is paused
      try {
        const probed = await (twin ? lab.probeWithTwin(msg.examples, msg.iterations, twin) : lab.probe(msg.examples, msg.iterations));
        post({ type: 'probe', probed });
      } catch (e) {
        post({ type: 'probe-error', message: errorMessage(e) });
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
