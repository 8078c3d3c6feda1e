// Training runs here, off the main thread: the page posts commands, this worker drives the wasm lab (and, in
// compare mode, its feedforward twin: a second lab trained in turn with it) and posts records back.
// The messages in and out are protocol.js's TO_WORKER and FROM_WORKER.
import init, { WebLab, presetConfig, planMemory, matmulTuning, setMatmulTuning } from './pkg/looplab.js';
import * as autosave from './autosave.js';
import { TO_WORKER, FROM_WORKER, ERROR, errorKind, errorMessage, withPrefix } from './protocol.js';
import { webgpuProblem } from './environment.js';

let lab = null;
let twin = null;          // the feedforward twin in compare mode
let twinSaveKey = null;   // the autosave key of `twin`'s config
let labBackend = 'gpu';   // the backend `lab` runs on
let labKey = '';          // the settings `lab` was built from; null for a checkpoint file (never rebuilt implicitly)
let saveKey = null;       // the autosave key of `lab`'s config
let savedStep = -1;       // the step of the last autosave
let lastSave = -Infinity; // performance.now() of the last autosave (-Infinity: none yet for this lab)
let openedAt = 0;         // performance.now() when this lab was opened
let saveWanted = false;   // the page is being hidden or closed: save after the training call in flight
let labMemory = null;     // `lab`'s planned memory (read once: the lab is busy while it trains)
let running = false;
let loop = null;          // the promise of the running training loop, if any
let queue = Promise.resolve();
let speed = 'auto';       // steps per frame, or 'auto'
let trainedS = 0;         // seconds spent training this run (from the last record's clock on resume)
let sweptStep = -1;       // the step of the last depth sweep
let lastSweep = -Infinity;
let sweepMs = 0;          // how long the last depth sweep took

// Autosaves come at least every SAVE_EVERY_MS of training, after an evaluation record when RECORD_SAVE_MS have
// passed since the last one, after a Step, on pause, and when the page is hidden or left, so a reload loses at
// most about SAVE_EVERY_MS of training.
const SAVE_EVERY_MS = 20_000;
const RECORD_SAVE_MS = 10_000;
// Test examples whose adaptive-exit iterations the depth view counts (a trace of every iteration's logits).
const EXIT_EXAMPLES = 128;
// A fixed speed trains its steps, then waits for the rest of a frame.
const FRAME_MS = 1000 / 60;
// Depth sweeps take at most about a fifth of the training time.
const SWEEP_SHARE = 0.2;

const post = (msg, transfer = []) => self.postMessage(msg, transfer);
const keyOf = (msg) => JSON.stringify([msg.preset, msg.overrides, msg.backend, msg.twin]);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Says whether WebGPU can be used here before asking wasm for a lab, and names the adapter
// (wgpu leaves the name empty on the web; the browser's adapter info has vendor and architecture).
async function probeWebgpu() {
  const missing = webgpuProblem({ secure: self.isSecureContext, hasGpu: !!navigator.gpu, origin: self.location.origin });
  if (missing) return { problem: missing };
  const none = (why) => ({ problem: `No WebGPU adapter is available: ${why}.` });
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return none('navigator.gpu.requestAdapter() returned no adapter');
    const { vendor, architecture, description, isFallbackAdapter = adapter.isFallbackAdapter } = adapter.info || {};
    const info = { vendor, architecture, description, isFallbackAdapter: !!isFallbackAdapter };
    return { name: [vendor, architecture, description].filter(Boolean).join(' '), info };
  } catch (e) {
    return none(`requestAdapter failed: ${errorMessage(e)}`);
  }
}

async function stopLoop() {
  running = false;
  if (loop) await loop;
}

function dropLab() {
  if (lab) lab.free();
  if (twin) twin.free();
  lab = twin = null;
  saveKey = twinSaveKey = null;
}

// Replaces the lab with `build()`'s on `backend`; `info` holds what the page is told besides the lab's state.
// A file that does not load keeps the current lab (`keep`); otherwise a failure leaves no lab.
async function openLab(backend, build, info, keep = false) {
  await stopLoop();
  if (!keep) dropLab();
  let adapterName = '';
  let adapter = null;
  if (backend === 'gpu') {
    const probe = await probeWebgpu();
    if (probe.problem) {
      post({ type: FROM_WORKER.error, kind: ERROR.noAdapter, message: probe.problem });
      return false;
    }
    ({ name: adapterName, info: adapter } = probe);
  }
  let next;
  try {
    next = await build();
  } catch (e) {
    post({ type: FROM_WORKER.error, kind: errorKind(e), message: errorMessage(e) });
    return false;
  }
  dropLab();
  ({ lab, twin } = next);
  labBackend = backend;
  saveKey = await autosave.keyOf(lab.config());
  twinSaveKey = twin ? await autosave.keyOf(twin.config()) : null;
  savedStep = lab.step();
  lastSave = -Infinity;
  openedAt = performance.now();
  labMemory = lab.memory();
  sweptStep = -1;
  const last = lab.history().at(-1);
  trainedS = last ? last.elapsed_s : 0;
  let device = lab.device();
  if (adapterName && !device.includes(adapterName)) device = `${adapterName} ${device}`;
  post({
    type: FROM_WORKER.ready, device, fallback: lab.isFallback(), adapter, config: lab.config(), step: lab.step(), total: lab.totalSteps(),
    backend, history: lab.history(), trainedS, memory: labMemory, saveKey, matmulTuning: matmulTuning(),
    twin: twin && { config: twin.config(), step: twin.step(), history: twin.history() }, ...info,
  });
  return true;
}

// The lab with `overrides`, resumed from its autosave under `key` when there is one; says which in `info`.
async function createOrResume(msg, overrides, key, info, who) {
  const saved = key ? await autosave.load(key).catch(() => null) : null;
  const fresh = () => WebLab.create(msg.preset, overrides, msg.backend);
  if (!saved) return fresh();
  try {
    const resumed = await WebLab.resume(saved.bytes, 'the autosave', msg.backend, saved.history);
    const when = new Date(saved.savedAt).toLocaleString();
    Object.assign(info, { source: 'autosave', note: `Resumed from the autosave of step ${saved.step} (saved ${when}). Reset starts again from step 0.` });
    return resumed;
  } catch (e) {
    info.note = `The autosave${who} could not be resumed (${errorMessage(e)}); started again from step 0.`;
    return fresh();
  }
}

// The twin, or an error naming it.
async function buildTwin(msg, build) {
  try {
    return await build();
  } catch (e) {
    throw withPrefix('the feedforward twin: ', e);
  }
}

// The autosave key of the config `msg` describes, or null for settings that do not validate.
async function configKey(preset, overrides) {
  try {
    return await autosave.keyOf(presetConfig(preset, overrides));
  } catch {
    return null;
  }
}

async function create(msg) {
  const info = { source: 'new', note: msg.recover ? 'No autosave of this run was found; started again from step 0.' : null };
  const key = msg.autosave ? await configKey(msg.preset, msg.overrides) : null;
  const twinKey = msg.autosave && msg.twin ? await configKey(msg.preset, msg.twin) : null;
  const build = async () => {
    const built = await createOrResume(msg, msg.overrides, key, info, '');
    try {
      const twinInfo = {};
      const t = msg.twin ? await buildTwin(msg, () => createOrResume(msg, msg.twin, twinKey, twinInfo, ' of the twin')) : null;
      return { lab: built, twin: t };
    } catch (e) {
      built.free();
      throw e;
    }
  };
  const ok = await openLab(msg.backend, build, info);
  labKey = ok ? keyOf(msg) : '';
  return ok;
}

async function load(msg) {
  // A file is one model: compare mode does not apply to it.
  const build = async () => ({ lab: await WebLab.resume(new Uint8Array(msg.bytes), msg.name, msg.backend, null), twin: null });
  const ok = await openLab(msg.backend, build, { source: 'file', note: `Loaded ${msg.name}.` }, true);
  if (ok) labKey = null;
}

// A trained model (www/models): its weights at the step they were trained to, with a fresh optimizer state; the
// core refuses bytes whose sha256 is not the manifest's. The depth view is swept at once, so it shows the trained
// model without a Start.
async function loadTrained(msg) {
  const { model } = msg;
  const build = async () => ({ lab: await WebLab.fromWeights(new Uint8Array(msg.bytes), msg.name, model.sha256, msg.backend), twin: null });
  const note = `Loaded the trained model ${model.name} (step ${model.steps.toLocaleString('en-US')}). Start trains on from it; Reset starts again from step 0.`;
  const ok = await openLab(msg.backend, build, { source: 'trained', trained: model, note }, true);
  if (!ok) return;
  labKey = null;
  await sweep();
}

// Saves the lab (and the twin, in the same transaction) unless its step is saved already; tells the page the step
// it saved ({type: FROM_WORKER.saved, step}) or why it could not.
async function saveNow() {
  if (!lab || !saveKey || lab.step() === savedStep) return;
  try {
    const step = lab.step();
    // The config labels the run in the page's list of autosaved runs (overlays.js).
    const entries = [[saveKey, { bytes: await lab.checkpoint(), history: lab.history(), step, savedAt: Date.now(), config: lab.config() }]];
    if (twin) entries.push([twinSaveKey, { bytes: await twin.checkpoint(), history: twin.history(), step: twin.step(), savedAt: Date.now(), config: twin.config() }]);
    await autosave.store(entries);
    savedStep = step;
    lastSave = performance.now();
    post({ type: FROM_WORKER.saved, step });
  } catch (e) {
    lastSave = performance.now();  // retried after SAVE_EVERY_MS, not after every call
    post({ type: FROM_WORKER.note, message: `Autosave failed: ${errorMessage(e)}` });
  }
}

// Each call trains for about CALL_MS, so pause answers quickly and the counter moves on slow adapters too;
// records still come every train.eval_every steps.
const CALL_MS = 250;

// Trains `n` steps of the lab (and of the twin), posts the records; returns the call's milliseconds.
async function trainSteps(n) {
  const before = lab.step();
  const t0 = performance.now();
  const records = await lab.train(Math.min(n, lab.totalSteps() - before));
  let twinRecords = [];
  if (twin) {
    try {
      twinRecords = await twin.train(Math.min(n, twin.totalSteps() - twin.step()));
    } catch (e) {
      throw withPrefix('the feedforward twin: ', e);
    }
  }
  const ms = performance.now() - t0;
  trainedS += ms / 1000;
  const step = lab.step();
  post({ type: FROM_WORKER.records, records, twinRecords, step, stepsPerS: ms > 0 ? (step - before) / (ms / 1000) : 0, trainedS });
  // After an evaluation record (its scores are finite: a good state to go back to) at most every RECORD_SAVE_MS,
  // the first one at once; between records every SAVE_EVERY_MS of training.
  const now = performance.now();
  if (saveWanted || (records.length && now - lastSave >= RECORD_SAVE_MS) || now - Math.max(lastSave, openedAt) >= SAVE_EVERY_MS) {
    saveWanted = false;
    await saveNow();
  }
  return { ms, recorded: records.length > 0 };
}

// Accuracy against test-time iterations and the adaptive-exit histogram of the current model.
async function sweep() {
  if (!lab || sweptStep === lab.step()) return;
  const t0 = performance.now();
  try {
    post({ type: FROM_WORKER.depths, sweep: await lab.depths(EXIT_EXAMPLES) });
  } catch (e) {
    post({ type: FROM_WORKER.note, message: `The depth sweep failed: ${errorMessage(e)}` });
  }
  sweptStep = lab.step();
  sweepMs = performance.now() - t0;
  lastSweep = performance.now();
}

// A new evaluation record refreshes the depth view when the sweeps so far took under SWEEP_SHARE of the time.
const sweepDue = () => performance.now() - lastSweep >= sweepMs / SWEEP_SHARE;

// A failed call: a lost device leaves nothing to save or train (the page offers the last autosave); a diverged
// run goes back to its last autosave, the last good state.
async function failed(e) {
  const message = errorMessage(e);
  const kind = errorKind(e);
  const lost = kind === ERROR.device;
  const diverged = kind === ERROR.diverged;
  if (lost) dropLab();
  post({ type: FROM_WORKER.error, message, kind });
  return { broken: lost || diverged, rollBack: diverged ? () => rollBack(message) : null };
}

async function rollBack(message) {
  const saved = saveKey ? await autosave.load(saveKey).catch(() => null) : null;
  const twinSaved = twinSaveKey ? await autosave.load(twinSaveKey).catch(() => null) : null;
  const backend = labBackend;
  if (!saved || (twin && !twinSaved)) {
    post({ type: FROM_WORKER.note, kind: 'error', message: `${message}\nNo earlier state of this run was saved: Reset, change the settings and start again.` });
    return;
  }
  const build = async () => ({
    lab: await WebLab.resume(saved.bytes, 'the autosave', backend, saved.history),
    twin: twinSaved ? await WebLab.resume(twinSaved.bytes, 'the autosave of the twin', backend, twinSaved.history) : null,
  });
  const key = labKey;
  await openLab(backend, build, {
    source: 'autosave', noteKind: 'error',
    note: `${message}\nThe run went back to its last good state, the autosave of step ${saved.step}. Reset to change the settings.`,
  });
  labKey = key;
}

async function trainLoop() {
  const evalEvery = Math.max(1, Number(lab.config().train?.eval_every) || 100);
  let chunk = 1;
  let failure = { broken: false, rollBack: null };
  post({ type: FROM_WORKER.state, running: true });
  try {
    while (running && lab) {
      if (lab.step() >= lab.totalSteps()) { post({ type: FROM_WORKER.done }); break; }
      const fixed = speed !== 'auto';
      const { ms, recorded } = await trainSteps(fixed ? speed : chunk);
      if (!fixed) chunk = Math.max(1, Math.min(evalEvery, Math.round(chunk * CALL_MS / Math.max(ms, 1))));
      if (recorded && sweepDue()) await sweep();
      if (fixed && ms < FRAME_MS) await sleep(FRAME_MS - ms);
    }
  } catch (e) {
    failure = await failed(e);
  } finally {
    running = false;
    if (!failure.broken) {
      await saveNow();
      if (lab?.history().length) await sweep();
    }
    loop = null;
    post({ type: FROM_WORKER.state, running: false });
  }
  // After `loop` is cleared: rolling back builds a new lab, which first waits for the loop to stop.
  if (failure.rollBack) await failure.rollBack();
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
    case TO_WORKER.create:
      await create(msg);
      break;
    case TO_WORKER.matmulTuning:  // a table the page kept from an earlier `ready`; the GPU skips its startup trial
      setMatmulTuning(msg.json);
      break;
    case TO_WORKER.reset: {
      await stopLoop();
      const keys = [saveKey, twinSaveKey, await configKey(msg.preset, msg.overrides), msg.twin && await configKey(msg.preset, msg.twin)].filter(Boolean);
      for (const key of keys) await autosave.remove(key).catch(() => {});
      await create({ ...msg, autosave: false });
      break;
    }
    case TO_WORKER.load:
      await load(msg);
      break;
    case TO_WORKER.loadTrained:
      await loadTrained(msg);
      break;
    case TO_WORKER.trainOn:
      if (lab && !running && lab.step() >= lab.totalSteps()) lab.setTotalSteps(msg.steps);
      break;
    case TO_WORKER.start:
      speed = msg.speed;
      if (!(await current(msg))) return;
      running = true;
      if (!loop) loop = trainLoop();
      break;
    case TO_WORKER.step:
      if (running || !(await current(msg))) return;
      if (lab.step() >= lab.totalSteps()) { post({ type: FROM_WORKER.done }); return; }
      try {
        const { recorded } = await trainSteps(1);
        await saveNow();
        if (recorded) await sweep();
      } catch (e) {
        await (await failed(e)).rollBack?.();
      }
      post({ type: FROM_WORKER.state, running: false });
      break;
    case TO_WORKER.speed:
      speed = msg.speed;
      break;
    case TO_WORKER.depths:
      if (!lab || running) return;
      sweptStep = -1;
      await sweep();
      break;
    case TO_WORKER.checkpoint:
      if (!lab) return;
      await paused(async () => {
        const bytes = await lab.checkpoint();
        post({ type: FROM_WORKER.checkpoint, bytes, step: lab.step() }, [bytes.buffer]);
      });
      break;
    case TO_WORKER.export:
      if (!lab) return;
      await paused(async () => {
        for (const [l, name] of [[lab, 'history'], [twin, 'twin-history']]) {
          if (l) post({ type: FROM_WORKER.export, format: msg.format, name, text: msg.format === 'csv' ? l.historyCsv() : l.historyJson() });
        }
      });
      break;
    case TO_WORKER.solve:
      if (!(await current(msg))) return;
      await stopLoop();  // the lab takes one call at a time; the page offers Solve only while paused
      try {
        post({ type: FROM_WORKER.solution, solution: await lab.solve(msg.text) });
      } catch (e) {
        post({ type: FROM_WORKER.solveError, message: errorMessage(e) });
      }
      break;
    case TO_WORKER.probe:
      if (!(await current(msg))) {
        post({ type: FROM_WORKER.probeError, message: 'There is no model to probe: the lab did not start (see the message above).' });
        return;
      }
      await stopLoop();  // as for solve: the page offers probing only while training is paused
      try {
        const probed = await (twin ? lab.probeWithTwin(msg.examples, msg.iterations, twin) : lab.probe(msg.examples, msg.iterations));
        post({ type: FROM_WORKER.probe, probed });
      } catch (e) {
        post({ type: FROM_WORKER.probeError, message: errorMessage(e) });
      }
      break;
    case TO_WORKER.bandit:
    case TO_WORKER.audit:
      if (!(await current(msg))) {
        post({ type: msg.type, message: 'There is no model to run: the lab did not start (see the message above).' });
        return;
      }
      await stopLoop();  // as for solve: the page offers these only while training is paused
      try {
        post({ type: msg.type, result: await (msg.type === TO_WORKER.bandit ? lab.bandit(0) : lab.audit()) });
      } catch (e) {
        post({ type: msg.type, message: errorMessage(e) });  // FROM_WORKER.bandit / .audit: the same names
      }
      break;
    case TO_WORKER.plan:
      try {
        const memory = lab && labKey === keyOf(msg) ? labMemory : planMemory(msg.preset, msg.overrides);
        post({ type: FROM_WORKER.memory, id: msg.id, memory });
      } catch (e) {
        post({ type: FROM_WORKER.memory, id: msg.id, message: errorMessage(e) });
      }
      break;
    case TO_WORKER.save:
      // The page is hidden or closing: the running loop saves after its call in flight; a paused lab saves now.
      if (running) saveWanted = true;
      else await saveNow();
      break;
    case TO_WORKER.pause:
      running = false;
      break;
  }
}

const ready = init().catch((e) => {
  post({ type: FROM_WORKER.error, message: `could not load the wasm module: ${errorMessage(e)}` });
  throw e;
});

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === TO_WORKER.pause) running = false;  // takes effect at once, not after queued work
  if (msg.type === TO_WORKER.speed) speed = msg.speed;
  if (msg.type === TO_WORKER.save && running) saveWanted = true;  // the loop saves after its call in flight
  queue = queue.then(() => ready).then(() => handle(msg)).catch((e) => {
    post({ type: FROM_WORKER.error, message: errorMessage(e), kind: errorKind(e) });
  });
};
