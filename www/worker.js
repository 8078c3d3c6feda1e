// Training runs here, off the main thread: the page posts commands, this worker drives the wasm lab (and, in
// compare mode, its feedforward twin: a second lab trained in turn with it) and posts records back.
// The messages in and out are protocol.js's TO_WORKER and FROM_WORKER.
import init, { WebLab, presetConfig, planMemory, matmulTuning, setMatmulTuning } from './pkg/looplab.js';
import * as autosave from './autosave.js';
import { TO_WORKER, FROM_WORKER, ERROR, errorKind, errorMessage, withPrefix } from './protocol.js';
import { webgpuProblem } from './environment.js';

// The lab the worker holds, and its twin in compare mode, with what the worker keeps about them: one object,
// replaced whole when another lab opens (null before the first and after a lost device).
class Run {
  constructor({ lab, twin, reference = null }, backend, settingsKey, saveKey, twinSaveKey) {
    this.lab = lab;
    this.twin = twin;
    // Training from scratch beside a trained model: {lab, model (its manifest entry), sweep (its depth sweep,
    // once made)}; the trained lab is measured, never trained or saved.
    this.reference = reference;
    this.trainedModel = null;         // the manifest entry of a loaded trained model the lab holds
    this.backend = backend;           // the backend both run on
    this.settingsKey = settingsKey;   // the settings it was built from; null for a file (never rebuilt implicitly)
    this.saveKey = saveKey;           // the autosave key of the lab's config
    this.twinSaveKey = twinSaveKey;   // ... and of the twin's
    this.savedStep = lab.step();      // the step of the last autosave
    this.lastSave = -Infinity;        // performance.now() of the last autosave (-Infinity: none yet)
    this.openedAt = performance.now();
    this.memory = lab.memory();       // the planned memory (read once: the lab is busy while it trains)
    this.trainedS = lab.history().at(-1)?.elapsed_s ?? 0;  // seconds trained (from the last record on resume)
    this.sweptStep = -1;              // the step of the last depth sweep
    this.lastSweep = -Infinity;
    this.sweepMs = 0;                 // how long the last depth sweep took
    this.sweep = null;                // the last depth sweep (a trained model's becomes the reference's)
  }

  static async open(built, backend, settingsKey) {
    const twinSaveKey = built.twin ? await autosave.keyOf(built.twin.config()) : null;
    return new Run(built, backend, settingsKey, await autosave.keyOf(built.lab.config()), twinSaveKey);
  }

  // The lab and the twin (when there is one), each with its autosave key and the prefix its errors carry.
  members() {
    const members = [{ lab: this.lab, key: this.saveKey, prefix: '' }];
    if (this.twin) members.push({ lab: this.twin, key: this.twinSaveKey, prefix: 'the feedforward twin: ' });
    return members;
  }

  // Frees the labs, all but `kept` (a lab the next run goes on using).
  free(kept = null) {
    for (const lab of [this.lab, this.twin, this.reference?.lab]) if (lab && lab !== kept) lab.free();
  }
}

// The worker's whole state: the run and the training loop's controls.
const state = {
  run: /** @type {Run | null} */ (null),
  running: false,
  loop: null,                  // the promise of the running training loop, if any
  queue: Promise.resolve(),    // messages are handled one at a time, in order
  speed: 'auto',               // steps per frame, or 'auto'
  saveWanted: false,           // the page is being hidden or closed: save after the training call in flight
};

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
  state.running = false;
  if (state.loop) await state.loop;
}

function dropRun(kept = null) {
  state.run?.free(kept);
  state.run = null;
}

// Replaces the run with `build()`'s labs on `backend`; `info` holds what the page is told besides the lab's
// state. A file that does not load keeps the current run (`keep`); otherwise a failure leaves no run.
async function openLab(backend, build, info, settingsKey, keep = false) {
  await stopLoop();
  if (!keep) dropRun();
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
  let built;
  try {
    built = await build();
  } catch (e) {
    post({ type: FROM_WORKER.error, kind: errorKind(e), message: errorMessage(e) });
    return false;
  }
  dropRun(built.reference?.lab);
  const run = state.run = await Run.open(built, backend, settingsKey);
  const { lab, twin, reference } = run;
  let device = lab.device();
  if (adapterName && !device.includes(adapterName)) device = `${adapterName} ${device}`;
  post({
    type: FROM_WORKER.ready, device, fallback: lab.isFallback(), adapter, config: lab.config(), step: lab.step(), total: lab.totalSteps(),
    backend, history: lab.history(), trainedS: run.trainedS, memory: run.memory, saveKey: run.saveKey, matmulTuning: matmulTuning(),
    twin: twin && { config: twin.config(), step: twin.step(), history: twin.history() },
    reference: reference && { model: reference.model }, ...info,
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
async function buildTwin(build) {
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
      const twin = msg.twin ? await buildTwin(() => createOrResume(msg, msg.twin, twinKey, twinInfo, ' of the twin')) : null;
      return { lab: built, twin };
    } catch (e) {
      built.free();
      throw e;
    }
  };
  return openLab(msg.backend, build, info, keyOf(msg));
}

async function load(msg) {
  // A file is one model: compare mode does not apply to it.
  const build = async () => ({ lab: await WebLab.resume(new Uint8Array(msg.bytes), msg.name, msg.backend, null), twin: null });
  await openLab(msg.backend, build, { source: 'file', note: `Loaded ${msg.name}.` }, null, true);
}

// A trained model (www/models): its weights at the step they were trained to, with a fresh optimizer state; the
// core refuses bytes whose sha256 is not the manifest's. The depth view is swept at once, so it shows the trained
// model without a Start.
async function loadTrained(msg) {
  const { model } = msg;
  const build = async () => ({ lab: await WebLab.fromWeights(new Uint8Array(msg.bytes), msg.name, model.sha256, msg.backend), twin: null });
  const note = `Loaded the trained model ${model.name} (step ${model.steps.toLocaleString('en-US')}). Start trains on from it; Reset starts again from step 0.`;
  if (await openLab(msg.backend, build, { source: 'trained', trained: model, note }, null, true)) {
    state.run.trainedModel = model;
    await sweep();
  }
}

// A fresh run of a loaded trained model's settings (`WebLab.fresh`: its seed, task and model; the page's training
// recipe, `train.*`), trained from step 0 beside the trained model, which is kept for the charts, the depth plots
// and the solving view.
async function beside(msg) {
  const trained = state.run;
  // Only the model the manifest describes: trained on, its scores would no longer be the manifest's.
  if (!trained?.trainedModel || trained.lab.step() !== trained.trainedModel.steps) {
    post({ type: FROM_WORKER.error, message: 'Training from scratch beside a trained model needs one loaded and not trained on: Reset, then Load trained model.' });
    return false;
  }
  await stopLoop();
  const reference = { lab: trained.lab, model: trained.trainedModel, sweep: trained.sweep };
  return openBeside(msg, reference, trained.backend);
}

// The fresh lab of `msg`'s settings (`built`, or built here) beside `reference`; the pair's settingsKey is `msg`'s,
// so settings changed before its first step rebuild it (see `current`).
async function openBeside(msg, reference, backend, built = null) {
  const build = async () => ({ lab: built || await reference.lab.fresh(msg.preset, msg.overrides), twin: null, reference });
  const note = `Training from scratch beside the trained model ${reference.model.name}: Start trains a new model of its settings from step 0.`;
  const opened = await openLab(backend, build, { source: 'beside', note }, keyOf(msg), true);
  if (opened) await sweepReference();
  return opened;
}

// The reference's depth sweep, made once (kept from when it was loaded where it was swept then).
async function sweepReference() {
  const reference = state.run?.reference;
  if (!reference) return;
  try {
    reference.sweep ||= await reference.lab.depths(EXIT_EXAMPLES);
    post({ type: FROM_WORKER.depths, sweep: reference.sweep, reference: true });
  } catch (e) {
    post({ type: FROM_WORKER.note, message: `The trained model's depth sweep failed: ${errorMessage(e)}` });
  }
}

// Saves the lab (and the twin, in the same transaction) unless its step is saved already; tells the page the step
// it saved ({type: FROM_WORKER.saved, step}) or why it could not.
async function saveNow() {
  const run = state.run;
  if (!run || !run.saveKey || run.lab.step() === run.savedStep) return;
  try {
    const step = run.lab.step();
    // The config labels the run in the page's list of autosaved runs (overlays.js).
    const entries = [];
    for (const { lab, key } of run.members()) {
      entries.push([key, { bytes: await lab.checkpoint(), history: lab.history(), step: lab.step(), savedAt: Date.now(), config: lab.config() }]);
    }
    await autosave.store(entries);
    run.savedStep = step;
    run.lastSave = performance.now();
    post({ type: FROM_WORKER.saved, step });
  } catch (e) {
    run.lastSave = performance.now();  // retried after SAVE_EVERY_MS, not after every call
    post({ type: FROM_WORKER.note, message: `Autosave failed: ${errorMessage(e)}` });
  }
}

// Each call trains for about CALL_MS, so pause answers quickly and the counter moves on slow adapters too;
// records still come every train.eval_every steps.
const CALL_MS = 250;

// Trains `n` steps of the lab (and of the twin), posts the records; returns the call's milliseconds.
async function trainSteps(n) {
  const run = state.run;
  const before = run.lab.step();
  const t0 = performance.now();
  const trained = [];
  for (const { lab, prefix } of run.members()) {
    try {
      trained.push(await lab.train(Math.min(n, lab.totalSteps() - lab.step())));
    } catch (e) {
      throw prefix ? withPrefix(prefix, e) : e;
    }
  }
  const [records, twinRecords = []] = trained;
  const ms = performance.now() - t0;
  run.trainedS += ms / 1000;
  const step = run.lab.step();
  post({ type: FROM_WORKER.records, records, twinRecords, step, stepsPerS: ms > 0 ? (step - before) / (ms / 1000) : 0, trainedS: run.trainedS });
  // After an evaluation record (its scores are finite: a good state to go back to) at most every RECORD_SAVE_MS,
  // the first one at once; between records every SAVE_EVERY_MS of training.
  const now = performance.now();
  if (state.saveWanted || (records.length && now - run.lastSave >= RECORD_SAVE_MS) || now - Math.max(run.lastSave, run.openedAt) >= SAVE_EVERY_MS) {
    state.saveWanted = false;
    await saveNow();
  }
  return { ms, recorded: records.length > 0 };
}

// Accuracy against test-time iterations and the adaptive-exit histogram of the current model.
async function sweep() {
  const run = state.run;
  if (!run || run.sweptStep === run.lab.step()) return;
  const t0 = performance.now();
  try {
    run.sweep = await run.lab.depths(EXIT_EXAMPLES);
    post({ type: FROM_WORKER.depths, sweep: run.sweep });
  } catch (e) {
    post({ type: FROM_WORKER.note, message: `The depth sweep failed: ${errorMessage(e)}` });
  }
  run.sweptStep = run.lab.step();
  run.sweepMs = performance.now() - t0;
  run.lastSweep = performance.now();
}

// A new evaluation record refreshes the depth view when the sweeps so far took under SWEEP_SHARE of the time.
const sweepDue = (run) => performance.now() - run.lastSweep >= run.sweepMs / SWEEP_SHARE;

// A failed call: a lost device leaves nothing to save or train (the page offers the last autosave); a diverged
// run goes back to its last autosave, the last good state.
async function failed(e) {
  const message = errorMessage(e);
  const kind = errorKind(e);
  const lost = kind === ERROR.device;
  const diverged = kind === ERROR.diverged;
  if (lost) dropRun();
  post({ type: FROM_WORKER.error, message, kind });
  return { broken: lost || diverged, rollBack: diverged ? () => rollBack(message) : null };
}

async function rollBack(message) {
  const run = state.run;
  const saved = [];
  for (const { key } of run.members()) saved.push(key ? await autosave.load(key).catch(() => null) : null);
  if (saved.some((s) => !s)) {
    post({ type: FROM_WORKER.note, kind: 'error', message: `${message}\nNo earlier state of this run was saved: Reset, change the settings and start again.` });
    return;
  }
  const [lab, twin] = saved;
  const build = async () => ({
    lab: await WebLab.resume(lab.bytes, 'the autosave', run.backend, lab.history),
    twin: twin ? await WebLab.resume(twin.bytes, 'the autosave of the twin', run.backend, twin.history) : null,
  });
  await openLab(run.backend, build, {
    source: 'autosave', noteKind: 'error',
    note: `${message}\nThe run went back to its last good state, the autosave of step ${lab.step}. Reset to change the settings.`,
  }, run.settingsKey);
}

async function trainLoop() {
  const evalEvery = Math.max(1, Number(state.run.lab.config().train?.eval_every) || 100);
  let chunk = 1;
  let failure = { broken: false, rollBack: null };
  post({ type: FROM_WORKER.state, running: true });
  try {
    while (state.running && state.run) {
      const { lab } = state.run;
      if (lab.step() >= lab.totalSteps()) { post({ type: FROM_WORKER.done }); break; }
      const fixed = state.speed !== 'auto';
      const { ms, recorded } = await trainSteps(fixed ? state.speed : chunk);
      if (!fixed) chunk = Math.max(1, Math.min(evalEvery, Math.round(chunk * CALL_MS / Math.max(ms, 1))));
      if (recorded && sweepDue(state.run)) await sweep();
      if (fixed && ms < FRAME_MS) await sleep(FRAME_MS - ms);
    }
  } catch (e) {
    failure = await failed(e);
  } finally {
    state.running = false;
    if (!failure.broken) {
      await saveNow();
      if (state.run?.lab.history().length) await sweep();
    }
    state.loop = null;
    post({ type: FROM_WORKER.state, running: false });
  }
  // After `loop` is cleared: rolling back builds a new lab, which first waits for the loop to stop.
  if (failure.rollBack) await failure.rollBack();
}

// Settings changed before the first step: rebuild from them. After that they wait for Reset. Beside a trained
// model, a new training recipe keeps the trained model beside the new lab; other settings make a plain run.
async function current(msg) {
  const run = state.run;
  if (run?.reference && run.lab.step() === 0 && keyOf(msg) !== run.settingsKey) {
    await stopLoop();
    let lab;
    try {
      lab = await run.reference.lab.fresh(msg.preset, msg.overrides);
    } catch {
      return create(msg);  // another model, task or seed (or settings that do not validate: create says why)
    }
    return openBeside(msg, run.reference, run.backend, lab);
  }
  if (!run || (run.settingsKey !== null && run.lab.step() === 0 && keyOf(msg) !== run.settingsKey)) return create(msg);
  return true;
}

// Runs `f` with the training loop stopped (the lab takes one call at a time), then lets it go on.
async function paused(f) {
  const was = state.running;
  await stopLoop();
  try {
    await f();
  } finally {
    if (was && state.run) {
      state.running = true;
      state.loop = trainLoop();
    }
  }
}

// Runs a view's computation on the paused lab (the page offers these only while training is paused), posting
// its result or its error as `{type, [field]: result}` / `{type: errorType, message}`.
async function onPausedLab(msg, compute, type, field, errorType = type) {
  if (!(await current(msg))) {
    post({ type: errorType, message: 'There is no model to run: the lab did not start (see the message above).' });
    return;
  }
  await stopLoop();  // the lab takes one call at a time
  try {
    const result = await compute(state.run);
    post({ type, ...(field ? { [field]: result } : result) });
  } catch (e) {
    post({ type: errorType, message: errorMessage(e) });
  }
}

// A puzzle solved by the lab and, beside a trained model, by the trained model too (the same puzzle: the one
// the lab parsed or drew): {solution, reference}.
async function solveBoth(run, text) {
  const solution = await run.lab.solve(text);
  const reference = run.reference && solution.kind !== 'automaton' ? await run.reference.lab.solve(solution.text) : null;
  return { solution, reference };
}

async function handle(msg) {
  const run = state.run;
  switch (msg.type) {
    case TO_WORKER.create:
      // Beside a trained model before the first step, new settings keep it where they may (see `current`); after
      // it, as for any run, new settings make a new run.
      if (run?.reference && run.lab.step() === 0 && msg.backend === run.backend && !msg.recover) await current(msg);
      else await create(msg);
      break;
    case TO_WORKER.matmulTuning:  // a table the page kept from an earlier `ready`; the GPU skips its startup trial
      setMatmulTuning(msg.json);
      break;
    case TO_WORKER.reset: {
      await stopLoop();
      const keys = [...(run ? run.members().map((m) => m.key) : []), await configKey(msg.preset, msg.overrides), msg.twin && await configKey(msg.preset, msg.twin)];
      for (const key of keys.filter(Boolean)) await autosave.remove(key).catch(() => {});
      await create({ ...msg, autosave: false });
      break;
    }
    case TO_WORKER.load:
      await load(msg);
      break;
    case TO_WORKER.loadTrained:
      await loadTrained(msg);
      break;
    case TO_WORKER.beside:
      await beside(msg);
      break;
    case TO_WORKER.trainOn:
      if (run && !state.running && run.lab.step() >= run.lab.totalSteps()) run.lab.setTotalSteps(msg.steps);
      break;
    case TO_WORKER.start:
      state.speed = msg.speed;
      if (!(await current(msg))) return;
      state.running = true;
      if (!state.loop) state.loop = trainLoop();
      break;
    case TO_WORKER.step: {
      if (state.running || !(await current(msg))) return;
      const { lab } = state.run;
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
    }
    case TO_WORKER.speed:
      state.speed = msg.speed;
      break;
    case TO_WORKER.depths:
      if (!run || state.running) return;
      run.sweptStep = -1;
      await sweep();
      break;
    case TO_WORKER.checkpoint:
      if (!run) return;
      await paused(async () => {
        const bytes = await run.lab.checkpoint();
        post({ type: FROM_WORKER.checkpoint, bytes, step: run.lab.step() }, [bytes.buffer]);
      });
      break;
    case TO_WORKER.export:
      if (!run) return;
      await paused(async () => {
        for (const { lab, prefix } of run.members()) {
          const text = msg.format === 'csv' ? lab.historyCsv() : lab.historyJson();
          post({ type: FROM_WORKER.export, format: msg.format, name: prefix ? 'twin-history' : 'history', text });
        }
      });
      break;
    case TO_WORKER.solve:
      await onPausedLab(msg, (r) => solveBoth(r, msg.text), FROM_WORKER.solution, null, FROM_WORKER.solveError);
      break;
    case TO_WORKER.probe:
      await onPausedLab(msg, (r) => (r.twin ? r.lab.probeWithTwin(msg.examples, msg.iterations, r.twin) : r.lab.probe(msg.examples, msg.iterations)),
        FROM_WORKER.probe, 'probed', FROM_WORKER.probeError);
      break;
    case TO_WORKER.bandit:  // FROM_WORKER.bandit / .audit: the same names
      await onPausedLab(msg, (r) => r.lab.bandit(0), msg.type, 'result');
      break;
    case TO_WORKER.audit:
      await onPausedLab(msg, (r) => r.lab.audit(), msg.type, 'result');
      break;
    case TO_WORKER.plan:
      try {
        const memory = run && run.settingsKey === keyOf(msg) ? run.memory : planMemory(msg.preset, msg.overrides);
        post({ type: FROM_WORKER.memory, id: msg.id, memory });
      } catch (e) {
        post({ type: FROM_WORKER.memory, id: msg.id, message: errorMessage(e) });
      }
      break;
    case TO_WORKER.save:
      // The page is hidden or closing: the running loop saves after its call in flight; a paused lab saves now.
      if (state.running) state.saveWanted = true;
      else await saveNow();
      break;
    case TO_WORKER.pause:
      state.running = false;
      break;
  }
}

const ready = init().catch((e) => {
  post({ type: FROM_WORKER.error, message: `could not load the wasm module: ${errorMessage(e)}` });
  throw e;
});

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === TO_WORKER.pause) state.running = false;  // takes effect at once, not after queued work
  if (msg.type === TO_WORKER.speed) state.speed = msg.speed;
  if (msg.type === TO_WORKER.save && state.running) state.saveWanted = true;  // the loop saves after its call in flight
  state.queue = state.queue.then(() => ready).then(() => handle(msg)).catch((e) => {
    post({ type: FROM_WORKER.error, message: errorMessage(e), kind: errorKind(e) });
  });
};
