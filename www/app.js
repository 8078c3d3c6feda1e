// The page: settings, buttons, numbers and charts. Training runs in worker.js; this file only talks to it.
import init, { presetConfig, phases, readHistory } from './pkg/looplab.js';
import { Chart, PALETTE, INK, TWIN_DASH, pngButton, download } from './plot.js';
import { ConfigForm } from './form.js';
import { SolveView } from './solve.js';
import { ProgramView } from './program.js';
import { ProbeView } from './probes.js';
import { twinOverrides } from './compare.js';
import { parseHash, hashOf, cliCommand, sameModel } from './hash.js';
import { DepthView } from './depth.js';
import { phaseBands, splitColor, splitScores, PHASE_THRESHOLD } from './phases.js';
import { Overlays, runSeries, runPoints } from './overlays.js';
import * as autosave from './autosave.js';
import { BanditView, AuditView, SplitView, SelfImproveView } from './mechanisms.js';
import { TO_WORKER, FROM_WORKER, ERROR, errorMessage } from './protocol.js';
import { webgpuProblem, deviceNote } from './environment.js';
import { explainPage } from './help.js';

const $ = (id) => document.getElementById(id);

const ui = {
  start: $('start'), pause: $('pause'), reset: $('reset'), useCpu: $('use-cpu'), cpuOffer: $('cpu-offer'),
  step: $('step-count'), total: $('step-total'), rate: $('steps-per-s'), device: $('device'), deviceNote: $('device-note'), message: $('message'),
  status: $('status'), loss: $('last-loss'), trainAcc: $('last-train-acc'), testAcc: $('last-test-acc'),
  save: $('save'), loadFile: $('load-file'), exportCsv: $('export-csv'), exportJson: $('export-json'),
  recoverOffer: $('recover-offer'), recoverGpu: $('recover-gpu'), recoverCpu: $('recover-cpu'),
  stepOnce: $('step'), speed: $('speed'), compare: $('compare'), backend: $('backend'), elapsed: $('elapsed'), eta: $('eta'),
  twinRow: $('twin-row'), twinAcc: $('last-twin-acc'), depthRefresh: $('depth-refresh'), memory: $('memory'),
  copyCli: $('copy-cli'), cli: $('cli-command'),
  trained: $('trained'), loadTrained: $('load-trained'), trainedInfo: $('trained-info'), trainBeside: $('train-beside'),
  resetConfirm: $('reset-confirm'), resetQuestion: $('reset-question'), resetYes: $('reset-yes'), resetNo: $('reset-no'),
};

explainPage($);

const lossChart = new Chart($('chart-loss'), {
  title: 'Loss', yLabel: 'cross-entropy (log scale)', yLog: true, yRange: null, series: [],
});
const accChart = new Chart($('chart-acc'), {
  title: 'Accuracy', yLabel: 'token accuracy', yLog: false, yRange: [0, 1], percent: true, series: [],
});
const normChart = new Chart($('chart-norm'), {
  title: 'Weight norm', yLabel: 'L2 norm of the weights', yLog: false, yRange: null, series: [],
});
const depthView = new DepthView({ depthCanvas: $('chart-depth'), exitCanvas: $('chart-exit') });
const charts = [['chart-loss', 'loss'], ['chart-acc', 'accuracy'], ['chart-depth', 'depth'], ['chart-exit', 'exit-iterations'], ['chart-norm', 'weight-norm']];
for (const [id, name] of charts) pngButton($(id), name);

// Series for `splits` (names, from the records): one colour per split; the twin's dashed in compare mode.
function setSeries(splits) {
  const twin = state.compare !== null;
  const model = twin ? 'looped ' : '';
  lossChart.setSeries([
    { key: 'loss', label: `${model}train loss`, color: PALETTE.blue },
    { key: 'test_loss', label: `${model}test loss`, color: PALETTE.vermillion },
    ...(twin ? [
      { key: 'twin:loss', label: 'twin train loss', color: PALETTE.blue, dash: TWIN_DASH },
      { key: 'twin:test_loss', label: 'twin test loss', color: PALETTE.vermillion, dash: TWIN_DASH },
    ] : []),
    ...curveSeries('loss'),
    ...overlays.series('loss'),
  ]);
  normChart.setSeries([
    { key: 'weight_norm', label: `${model}weight norm`, color: PALETTE.green },
    ...(twin ? [{ key: 'twin:weight_norm', label: 'twin weight norm', color: PALETTE.green, dash: TWIN_DASH }] : []),
    ...curveSeries('norm'),
    ...overlays.series('norm'),
  ]);
  const series = splits.map((split, i) => ({ key: split, label: split, color: splitColor(split, i) }));
  const others = [...curveSeries('accuracy'), ...overlays.series('accuracy')];
  accChart.options.legend = twin
    ? [...series, { label: 'looped', color: INK }, { label: 'twin', color: INK, dash: TWIN_DASH }, ...others] : null;
  accChart.setSeries([...series, ...(twin ? series.map((s) => ({ ...s, key: `twin:${s.key}`, dash: TWIN_DASH })) : []), ...others]);
  state.splits = splits;
  putOverlays();
}

// The trained model's curves and the overlaid runs' points (their series are set by setSeries, after the lab's
// own).
function putOverlays() {
  const curve = trainedCurve();
  for (const [chart, plot] of [[lossChart, 'loss'], [accChart, 'accuracy'], [normChart, 'norm']]) {
    chart.replace({ ...(curve ? runPoints(curve, plot) : {}), ...overlays.points(plot) });
  }
}

// The training history a trained model ships (fetched with it, read and sha256-checked by the core), drawn as a
// run of its own while the lab holds that model or trains beside it: dotted, labelled as the trained model's.
const TRAINED_DASH = [1, 3];
function trainedCurve() {
  const model = state.trained || state.reference;
  if (!model || state.curve?.model !== model.name) return null;
  return { id: 0, key: 'trained', name: `${model.name} (trained)`, records: state.curve.records, shown: true, dash: TRAINED_DASH };
}
/** @param {'loss' | 'accuracy' | 'norm'} plot */
function curveSeries(plot) {
  const curve = trainedCurve();
  return curve ? runSeries(curve, plot, 0) : [];
}

// The runs autosaved in this browser that have records, labelled with their settings and step, newest first.
async function savedRuns() {
  const runs = (await autosave.list()).filter(({ saved }) => saved.history?.length && saved.config);
  runs.sort((a, b) => b.saved.savedAt - a.saved.savedAt);
  return runs.map(({ saved }) => ({ label: `${ConfigForm.describe(saved.config)} · step ${saved.step.toLocaleString('en-US')}`, history: saved.history }));
}
const overlays = new Overlays({
  panel: $('runs'), file: $('runs-file'), saved: $('runs-saved'), error: $('runs-error'), list: $('runs-list'), drop: $('plots'),
}, savedRuns, () => setSeries(state.splits), readHistory);

const state = {
  backend: parseHash(location.hash).backend,
  ready: false,     // a lab exists in the worker
  running: false,
  step: 0,
  rate: null,       // smoothed steps/s
  solvable: false,  // the lab's task is Sudoku or maze
  solving: false,   // a solve is in flight
  compare: parseHash(location.hash).compare,  // 'params' | 'flops' | null
  splits: [],       // split names of the accuracy series
  records: [],      // the looped model's history (for the phases)
  trainedS: 0,      // seconds of training
  total: 0,
  saveKey: null,    // the autosave key of the lab's config (from the worker)
  model: null,      // the manifest entry (www/models) of the form's preset and overrides, if there is one
  trained: null,    // the manifest entry of the trained model the lab was loaded from
  reference: null,  // the manifest entry of the trained model the lab trains beside, from scratch
  curve: null,      // the training history a trained model ships: {model (its name), records}, fetched with it
  // the trained-model box: '' | 'fetching' | 'loading' | 'loaded' | 'starting' (the run beside it) | 'beside' |
  // 'error' (its data-state)
  trainedState: '',
  trainedProgress: '',  // while fetching or loading: what is happening, with the bytes so far
  // What the page shows besides the charts and the views (render() writes it):
  device: 'starting…',  // the device line
  deviceNote: '',   // the line under it (a software adapter, a CPU backend), '' for none
  cpuOffer: false,  // offer the CPU backend (no WebGPU)
  recoverOffer: false,  // offer the last autosave after a lost device
  message: null,    // {text, kind: 'error' | 'info'}: the message box
  latest: { loss: '–', trainAcc: '–', testAcc: '–', twinAcc: '–' },  // the latest numbers, as shown
  memory: null,     // the planned memory's text (null: hidden)
  savedStep: null,  // the step the autosave holds (body data-saved-step: tests wait on it)
  stepping: false,  // a Step is in flight (until its records come back)
  solveText: '',    // the solve input, as the last solution wrote it
  solveError: null, // why the last solve failed
  confirmingReset: false,
  cli: null,        // the `looplab train` line shown under the settings
  copied: false,    // it was just copied to the clipboard
};

const solve = {
  panel: $('solve'), input: $('solve-input'), run: $('solve-run'), draw: $('solve-new'), error: $('solve-error'),
};
const solveView = new SolveView({
  result: $('solve-result'), canvas: $('solve-grid'), slider: $('solve-slider'), play: $('solve-play'),
  step: $('solve-step'), verdict: $('solve-verdict'), reference: $('solve-reference'),
  referenceCaption: $('solve-reference-caption'), referenceCanvas: $('solve-reference-grid'), referenceVerdict: $('solve-reference-verdict'),
});

const programView = new ProgramView($('program'), (text) => send(TO_WORKER.solve, { text }));

const probes = new ProbeView({
  panel: $('probes'), run: $('probe-run'), download: $('probe-download'), examples: $('probe-examples'),
  iterations: $('probe-iterations'), status: $('probe-status'), error: $('probe-error'), result: $('probe-result'),
  canvases: {
    change: $('probe-change'), cosine: $('probe-cosine'), tokens: $('probe-tokens'), map: $('probe-map'), entropy: $('probe-entropy'),
    js: $('probe-js'), lens: $('probe-lens'), rank: $('probe-rank'), cka: $('probe-cka'),
  },
  selectors: { series: $('probe-series'), head: $('probe-head'), step: $('probe-step'), stepLabel: $('probe-step-label') },
  path: $('probe-path'), phases: $('probe-phases'), verdict: $('probe-verdict'),
}, (examples, iterations) => send(TO_WORKER.probe, { examples, iterations }));

const panel = (id, extra = {}) => ({
  panel: $(id), run: $(`${id}-run`), status: $(`${id}-status`), error: $(`${id}-error`), result: $(`${id}-result`), ...extra,
});
const banditView = new BanditView(panel('bandit', { canvas: $('chart-bandit'), summary: $('bandit-summary') }), () => send(TO_WORKER.bandit));
const auditView = new AuditView(panel('audit', { canvas: $('chart-audit'), table: $('audit-table') }), () => send(TO_WORKER.audit));
const splitView = new SplitView({ panel: $('splits-panel'), canvas: $('chart-splits') });
const selfImproveView = new SelfImproveView({
  panel: $('selfimprove'), file: $('selfimprove-file'), error: $('selfimprove-error'), result: $('selfimprove-result'),
  canvas: $('selfimprove-map'), summary: $('selfimprove-summary'),
});

function showMessage(text, kind = 'error') {
  state.message = { text, kind };
}

function clearMessage() {
  state.message = null;
}

// Writes `value` to `el[prop]` (or the attribute `data-...`) only when it differs from what render() last wrote
// there: render() runs after every message, and what did not change is left alone (an input being typed in
// keeps its text).
const written = new Map();
function put(el, prop, value) {
  let last = written.get(el);
  if (!last) written.set(el, last = new Map());
  if (last.has(prop) && last.get(prop) === value) return;
  last.set(prop, value);
  if (prop.startsWith('data-')) el.setAttribute(prop, value);
  else el[prop] = value;
}

function render() {
  // An invalid setting (marked in the form) keeps a new run from starting.
  put(ui.start, 'disabled', state.running || (state.step === 0 && !!form?.invalid));
  put(ui.start, 'textContent', state.trained && state.step >= state.total ? 'Train on' : state.step > 0 ? 'Resume' : 'Start');
  put(ui.pause, 'disabled', !state.running);
  put(ui.reset, 'disabled', false);
  put(ui.resetConfirm, 'hidden', !state.confirmingReset);
  put(ui.resetQuestion, 'textContent', `Delete this run (step ${state.step.toLocaleString('en-US')}) and its autosave?`);
  form.disabled = state.running || state.step > 0;
  for (const el of [ui.compare, ui.backend]) put(el, 'disabled', state.running || state.step > 0);
  put(ui.compare, 'value', state.compare || 'off');
  put(ui.backend, 'value', state.backend);
  put(ui.stepOnce, 'disabled', !state.ready || state.running || state.stepping || state.step >= state.total || (state.step === 0 && !!form?.invalid));
  put(ui.depthRefresh, 'disabled', !state.ready || state.running || state.step === 0);
  for (const el of [ui.twinRow, ui.twinAcc]) put(el, 'hidden', state.compare === null && !state.reference);
  const heldOut = state.reference?.splits.find((s) => s.split !== 'train');
  put(ui.twinRow, 'textContent', heldOut ? `trained ${heldOut.split} acc` : 'twin test acc');
  put(ui.elapsed, 'textContent', state.step > 0 ? duration(state.trainedS) : '–');
  put(ui.eta, 'textContent', state.rate > 0 && state.step < state.total ? duration((state.total - state.step) / state.rate)
    : state.step >= state.total && state.total > 0 ? 'done' : '–');
  put(ui.device, 'textContent', state.device);
  put(ui.deviceNote, 'textContent', state.deviceNote);
  put(ui.deviceNote, 'hidden', !state.deviceNote);
  put(ui.cpuOffer, 'hidden', !state.cpuOffer);
  put(ui.recoverOffer, 'hidden', !state.recoverOffer);
  put(ui.message, 'hidden', !state.message);
  put(ui.message, 'textContent', state.message?.text ?? '');
  if (state.message) put(ui.message, 'className', `message ${state.message.kind}`);
  put(ui.memory, 'hidden', !state.memory);
  if (state.memory) put(ui.memory, 'textContent', `Memory: ${state.memory}`);
  put(ui.loss, 'textContent', state.latest.loss);
  put(ui.trainAcc, 'textContent', state.latest.trainAcc);
  put(ui.testAcc, 'textContent', state.latest.testAcc);
  put(ui.twinAcc, 'textContent', state.latest.twinAcc);
  put(solve.panel, 'hidden', !state.solvable);
  for (const el of [solve.run, solve.draw]) put(el, 'disabled', !state.ready || state.running || state.solving);
  put(solve.input, 'value', state.solveText);
  put(solve.error, 'hidden', state.solveError === null);
  put(solve.error, 'textContent', state.solveError ?? '');
  for (const el of [ui.save, ui.exportCsv, ui.exportJson]) put(el, 'disabled', !state.ready);
  probes.enable(state.ready && !state.running);
  for (const v of [banditView, auditView, programView]) v.enable(state.ready && !state.running);
  renderTrained();
  put(ui.step, 'textContent', state.step.toLocaleString('en-US'));
  put(ui.total, 'textContent', state.total ? `of ${state.total.toLocaleString('en-US')}` : '');
  put(ui.rate, 'textContent', state.rate == null ? '–' : state.rate.toFixed(state.rate < 10 ? 1 : 0));
  put(ui.status, 'textContent', state.running ? 'training…'
    : !state.ready ? 'not ready'
    : state.step > 0 ? 'paused' : 'ready');
  put(ui.cli, 'hidden', !state.cli);
  put(ui.cli, 'textContent', state.cli ?? '');
  put(ui.copyCli, 'textContent', state.copied ? 'Copied' : 'Copy CLI command');
  if (state.savedStep !== null) put(document.body, 'data-saved-step', String(state.savedStep));
  // The URL and the title follow the settings, so a link reproduces the run (written only when they change: the
  // browser throttles frequent history writes).
  const hash = pageHash();
  if (hash !== shownHash) history.replaceState(null, '', shownHash = hash);
  put(document, 'title', `looplab · ${form.preset}`);
}

// The Load trained model button, offered while the form's settings are those of a shipped model and no run of
// them has steps (loading would replace it, and training on would overwrite its autosave: Reset first); once the
// lab holds it at its trained step, Train from scratch beside it (the form's train.* settings may then change
// before Start: a new recipe for the same model and data). `data-beside` counts the fresh run's evaluation
// records drawn beside the trained model's scores (the page's signal that both are shown).
function renderTrained() {
  const beside = !!state.reference;  // whatever the training recipe the form shows (train.* may differ)
  const model = beside ? state.reference : state.model;
  const holds = !beside && state.trained?.name === model?.name;
  put(ui.trained, 'hidden', !model || (state.step > 0 && !holds && !beside));
  put(ui.trained, 'data-state', state.trainedState);
  put(ui.trained, 'data-beside', String(beside ? state.records.length : 0));
  put(ui.trained, 'data-curve', String(trainedCurve()?.records.length ?? 0));
  if (!model) return;
  put(ui.loadTrained, 'disabled', state.running || fetching() || holds || (beside && state.step > 0));
  put(ui.trainBeside, 'hidden', !holds || state.step !== state.trained.steps);
  put(ui.trainBeside, 'disabled', state.running || fetching());
  put(ui.trainedInfo, 'textContent', fetching() ? state.trainedProgress
    : state.trainedState === 'error' ? 'Not loaded (see the message above).'
    : beside ? `Training from scratch beside ${model.name} (trained for ${model.steps.toLocaleString('en-US')} steps; same model, task and seed): `
      + `its ${trainedCurve() ? 'training curves' : 'scores'} dotted on the loss and accuracy charts, its depth sweep dashed, its solutions under this run's.`
    : trainedSummary(model, holds));
}
const fetching = () => ['fetching', 'loading', 'starting'].includes(state.trainedState);

// "3,000 steps, 87.0% exact on test (98.2% of cells), 331 KiB": a manifest entry's one line (and the size of its
// training curves, where it ships them).
function trainedSummary(model, loaded) {
  const heldOut = model.splits.find((s) => s.split !== 'train') || model.splits[0];
  const score = heldOut ? `, ${percent(heldOut.exact)} exact on ${heldOut.split} (${percent(heldOut.accuracy)} of tokens)` : '';
  const what = `trained natively for ${model.steps.toLocaleString('en-US')} steps${score}`;
  const curves = model.history ? ` + ${kib(model.history.bytes)} of training curves` : '';
  return loaded ? `The lab holds ${model.name}, ${what}.` : `${model.name}: ${what}; ${kib(model.bytes)}${curves}, fetched when asked.`;
}
const kib = (bytes) => `${Math.max(1, Math.round(bytes / 1024)).toLocaleString('en-US')} KiB`;

// "42 s", "3 min 05 s", "1 h 02 min".
function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, '0')} min`;
}

// The main thread loads the wasm module too, only to list presets and check settings (no lab, no device).
let form;
try {
  await init();
  form = new ConfigForm({ select: $('preset'), description: $('preset-desc'), fields: $('fields') });
} catch (e) {
  // Before there is a form to render: the one message written directly.
  Object.assign(ui.message, { textContent: `Could not load the wasm module: ${errorMessage(e)}`, className: 'message error', hidden: false });
  throw e;
}

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
// The twin's overrides in compare mode (null when off, or when the settings do not validate: the lab says why).
function twin() {
  if (state.compare === null) return null;
  try {
    return twinOverrides(presetConfig(form.preset, form.overrides()), form.overrides(), state.compare);
  } catch {
    return null;
  }
}
const speed = () => (ui.speed.value === 'auto' ? 'auto' : Number(ui.speed.value));
const send = (type, extra = {}) => worker.postMessage({
  type, preset: form.preset, overrides: form.overrides(), backend: state.backend, twin: twin(), speed: speed(), ...extra,
});
// The URL hash: the settings, the compare mode and the backend; `shownHash` is the one the address bar shows.
let shownHash = location.hash;
const pageHash = () => hashOf({ preset: form.preset, overrides: form.overrides(), compare: state.compare, backend: state.backend });

function clearRun() {
  state.step = 0;
  state.rate = null;
  state.records = [];
  state.trainedS = 0;
  lossChart.clear();
  accChart.clear();
  normChart.clear();
  putOverlays();
  depthView.clear();
  state.latest = { loss: '–', trainAcc: '–', testAcc: '–', twinAcc: '–' };
  solveView.clear();
  state.solveError = null;
  programView.clear();
  probes.clear();
  banditView.clear();
  auditView.clear();
  splitView.clear();
}

const percent = (x) => `${(100 * x).toFixed(1)}%`;

// The phases shaded on the accuracy chart: the lab's records', after the trained model's shipped curve when the
// lab holds that model (Train on continues its run; a fresh run beside it has phases of its own).
function showPhases() {
  const curve = state.trained ? trainedCurve() : null;
  const records = curve ? [...curve.records, ...state.records] : state.records;
  accChart.setBands(phaseBands(records.length ? phases(records, PHASE_THRESHOLD) : null));
}

function onRecords(records, twinRecords, step, stepsPerS) {
  state.step = step;
  if (stepsPerS > 0) state.rate = state.rate == null ? stepsPerS : 0.7 * state.rate + 0.3 * stepsPerS;
  const first = records[0] || twinRecords[0];
  if (first && !state.splits.length) setSeries(splitScores(first).map(([name]) => name));
  const add = (rs, prefix) => {
    if (!rs.length) return;
    lossChart.add({ [`${prefix}loss`]: rs.map((r) => [r.step, r.loss]), [`${prefix}test_loss`]: rs.map((r) => [r.step, r.test_loss]) });
    normChart.add({ [`${prefix}weight_norm`]: rs.map((r) => [r.step, r.weight_norm]) });  // null (older histories) is skipped
    const points = {};
    for (const r of rs) for (const [split, acc] of splitScores(r)) (points[prefix + split] ||= []).push([r.step, acc]);
    accChart.add(points);
  };
  add(records, '');
  add(twinRecords, 'twin:');
  if (records.length) {
    state.records.push(...records);
    showPhases();
    const last = records[records.length - 1];
    splitView.show(last);
    Object.assign(state.latest, { loss: last.loss.toFixed(4), trainAcc: percent(last.train_acc), testAcc: percent(last.test_acc) });
  }
  if (twinRecords.length) state.latest.twinAcc = percent(twinRecords[twinRecords.length - 1].test_acc);
}


worker.onmessage = ({ data: msg }) => {
  switch (msg.type) {
    case FROM_WORKER.ready:
      clearRun();
      state.ready = true;
      state.stepping = false;
      state.total = Number(msg.total);
      state.trained = msg.source === 'trained' ? msg.trained : null;
      state.reference = msg.source === 'beside' ? msg.reference.model : null;
      state.trainedState = state.trained ? 'loaded' : state.reference ? 'beside' : '';
      if (msg.source === 'file' || msg.source === 'trained' || msg.source === 'beside') {
        form.fromConfig(msg.config);
        state.compare = null;  // a file is one model
      }
      state.splits = [];
      setSeries([]);
      onRecords(msg.history, msg.twin?.history || [], msg.step, 0);
      state.trainedS = msg.trainedS || 0;
      state.solvable = ['sudoku', 'maze'].includes(msg.config.task.kind);
      for (const v of [banditView, auditView, programView, selfImproveView]) v.setTask(msg.config.task.kind);
      state.device = `${msg.device}${msg.fallback ? ' · software adapter' : ''}`;
      state.deviceNote = deviceNote({ backend: msg.backend, fallback: msg.fallback, adapter: msg.adapter || {} }) || '';
      state.memory = msg.memory?.text ?? null;
      state.cpuOffer = state.recoverOffer = false;
      clearMessage();
      showTrainedScores();
      showPhases();
      state.saveKey = msg.saveKey;
      offerTrained();
      const readyNote = [msg.note, lostSteps(msg)].filter(Boolean).join('\n');
      if (readyNote) showMessage(readyNote, msg.noteKind || 'info');
      // A problem with the URL (an unknown preset) outlives the lab's first start.
      if (hashProblem) showMessage(hashProblem);
      hashProblem = null;
      break;
    case FROM_WORKER.note:
      showMessage(msg.message, msg.kind || 'info');
      break;
    case FROM_WORKER.memory:
      if (msg.id === planned) state.memory = msg.memory?.text ?? null;
      break;
    case FROM_WORKER.saved:
      state.savedStep = msg.step;
      break;
    case FROM_WORKER.depths:
      if (msg.reference) depthView.showReference(msg.sweep, state.reference?.name);
      else depthView.show(msg.sweep);
      break;
    case FROM_WORKER.checkpoint:
      download(`looplab-${form.preset}-step${msg.step}.safetensors`, new Blob([msg.bytes], { type: 'application/octet-stream' }));
      break;
    case FROM_WORKER.export:
      download(`looplab-${form.preset}-${msg.name}.${msg.format}`, new Blob([msg.text], { type: msg.format === 'csv' ? 'text/csv' : 'application/json' }));
      break;
    case FROM_WORKER.records:
      onRecords(msg.records, msg.twinRecords, msg.step, msg.stepsPerS);
      state.trainedS = msg.trainedS;
      state.stepping = false;
      break;
    case FROM_WORKER.state:
      state.running = msg.running;
      state.stepping = false;
      break;
    case FROM_WORKER.solution:
      if (msg.solution.kind === 'automaton') {
        programView.receive(msg);
        break;
      }
      state.solving = false;
      state.solveText = msg.solution.text;
      solveView.show(msg.solution, msg.reference && { name: state.reference?.name, solution: msg.reference });
      break;
    case FROM_WORKER.solveError:
      if (programView.busy) {
        programView.receive(msg);
        break;
      }
      state.solving = false;
      state.solveError = msg.message;
      solveView.clear();
      break;
    case FROM_WORKER.probe:
    case FROM_WORKER.probeError:
      probes.receive(msg);
      break;
    case FROM_WORKER.bandit:
      banditView.receive(msg);
      break;
    case FROM_WORKER.audit:
      auditView.receive(msg);
      break;
    case FROM_WORKER.done:
      state.stepping = false;
      showMessage('Training finished: reached the configured number of steps.', 'info');
      break;
    case FROM_WORKER.error: {
      // The core's kind says what happened (protocol.js ERROR); the text is only shown.
      const noAdapter = msg.kind === ERROR.noAdapter;
      if (state.trainedState === 'starting') {
        state.trainedState = 'loaded';  // the trained model's lab is kept
        showMessage(`Could not start a run beside ${state.trained?.name}: ${msg.message}`);
        break;
      }
      if (fetching()) {
        trainedFailed(`the lab refused it: ${msg.message}`);
        if (!noAdapter) break;
      }
      state.running = false;
      state.solving = false;
      state.stepping = false;
      if (!state.ready && !noAdapter) state.device = 'not started';
      showMessage(noAdapter ? `${msg.message} You can train on the CPU backend instead.`
        : msg.kind === ERROR.diverged ? `${msg.message}\nTraining is paused; going back to the last good state…` : msg.message);
      if (noAdapter) {
        state.device = 'no WebGPU adapter';
        state.cpuOffer = true;
      }
      if (msg.kind === ERROR.device) {
        state.ready = false;
        state.device = 'GPU device lost';
        showMessage(`The GPU device was lost, so training stopped (${msg.message}). You can continue from the last autosave, on the GPU (a new device) or on the CPU.`);
        state.recoverOffer = true;
      }
      break;
    }
  }
  render();
};

function startSolve(text) {
  state.solveError = null;
  state.solving = true;
  render();
  send(TO_WORKER.solve, { text });
}
solve.run.addEventListener('click', () => startSolve(solve.input.value));
solve.draw.addEventListener('click', () => startSolve(null));

worker.onerror = (event) => {
  showMessage(`The training worker failed: ${event.message || 'unknown error'}`);
  state.running = false;
  render();
};

ui.start.addEventListener('click', () => {
  clearMessage();
  // A trained model at its last step trains on for as many steps again.
  if (state.trained && state.step >= state.total) {
    state.total = state.step + state.trained.steps;
    send(TO_WORKER.trainOn, { steps: state.total });
  }
  state.running = true;
  render();
  send(TO_WORKER.start);
});
ui.pause.addEventListener('click', () => send(TO_WORKER.pause));
ui.stepOnce.addEventListener('click', () => {
  clearMessage();
  state.stepping = true;  // until the step's records come back
  render();
  send(TO_WORKER.step);
});
ui.speed.addEventListener('change', () => send(TO_WORKER.speed));
ui.depthRefresh.addEventListener('click', () => send(TO_WORKER.depths));
ui.compare.addEventListener('change', () => {
  state.compare = ui.compare.value === 'off' ? null : ui.compare.value;
  newSettings(state.compare && !twin() ? 'Compare mode needs a recurrent model (model.arch looped, trm or hrm) and valid settings.' : null);
});
ui.backend.addEventListener('change', () => {
  state.backend = ui.backend.value;
  state.cpuOffer = false;
  state.device = `starting the ${state.backend.toUpperCase()} backend…`;
  newSettings(null);
});
// Reset asks first when it would delete a run (and its autosave).
ui.reset.addEventListener('click', () => {
  if (state.step === 0) return reset();
  state.confirmingReset = true;
  render();
});
ui.resetNo.addEventListener('click', () => { state.confirmingReset = false; render(); });
ui.resetYes.addEventListener('click', reset);
function reset() {
  state.confirmingReset = false;
  // Reset drops the trained model a run trains beside (the worker builds a plain lab).
  state.reference = null;
  if (state.trainedState === 'beside') state.trainedState = '';
  clearMessage();
  clearRun();
  state.running = false;
  state.ready = false;
  render();
  send(TO_WORKER.reset);
}
ui.useCpu.addEventListener('click', () => {
  state.backend = 'cpu';
  clearMessage();
  state.cpuOffer = false;
  state.device = 'starting the CPU backend…';
  render();
  send(TO_WORKER.create, { autosave: true });
});
function recover(backend) {
  state.backend = backend;
  clearMessage();
  state.recoverOffer = false;
  state.device = `starting the ${backend.toUpperCase()} backend…`;
  render();
  send(TO_WORKER.create, { autosave: true, recover: true });
}
ui.recoverGpu.addEventListener('click', () => recover('gpu'));
ui.recoverCpu.addEventListener('click', () => recover('cpu'));
// The `looplab train` line of these settings, shown (and copied where the browser lets the page write the
// clipboard).
ui.copyCli.addEventListener('click', async () => {
  state.cli = cliCommand({ preset: form.preset, overrides: form.overrides(), backend: state.backend });
  render();
  try {
    await navigator.clipboard.writeText(state.cli);
    state.copied = true;
    render();
    setTimeout(() => { state.copied = false; render(); }, 1500);
  } catch { /* refused: the command stays shown to copy by hand */ }
});
ui.save.addEventListener('click', () => send(TO_WORKER.checkpoint));
ui.exportCsv.addEventListener('click', () => send(TO_WORKER.export, { format: 'csv' }));
ui.exportJson.addEventListener('click', () => send(TO_WORKER.export, { format: 'json' }));
// The file's bytes go to the worker (transferred, not copied); its config replaces the form's once it loads.
ui.loadFile.addEventListener('change', async () => {
  const file = ui.loadFile.files[0];
  ui.loadFile.value = '';
  if (!file) return;
  clearMessage();
  try {
    const bytes = await file.arrayBuffer();
    worker.postMessage({ type: TO_WORKER.load, bytes, name: file.name, backend: state.backend }, [bytes]);
  } catch (e) {
    showMessage(`Could not read ${file.name}: ${errorMessage(e)}`);
  }
  render();
});

// The memory the lab needs, planned in the worker (the line under the settings; hidden for invalid settings).
let planned = 0;
let planTimer = null;
function planMemory() {
  clearTimeout(planTimer);
  planTimer = setTimeout(() => send(TO_WORKER.plan, { id: ++planned }), 300);
}

// Leaving the page (a reload, a closed tab, a hidden one): the worker autosaves at once, best effort (a closing page
// does not wait for it), and the step shown is kept here, so the next visit can say exactly what was not saved.
const LEFT = 'looplab-left-at';
function leaving() {
  if (!state.ready) return;
  worker.postMessage({ type: TO_WORKER.save });
  try {
    localStorage.setItem(LEFT, JSON.stringify({ key: state.saveKey, step: state.step }));
  } catch { /* storage may be off: the note is then missing, nothing else */ }
}
addEventListener('pagehide', leaving);
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') leaving(); });
// The steps trained after the autosave a run resumed from (or started again without), read once.
function lostSteps(ready) {
  let left = null;
  try {
    left = JSON.parse(localStorage.getItem(LEFT));
  } catch { /* nothing recorded */ }
  if (!left || left.key !== ready.saveKey) return null;
  localStorage.removeItem(LEFT);
  const step = Number(ready.step);
  if (!(left.step > step)) return null;
  const saved = step > 0 ? `the autosave holds step ${step}` : 'no autosave had been made';
  return `Steps ${step + 1} to ${left.step}, trained before the page was left, were not saved (${saved}) and are lost.`;
}

// Settings are checked as they are typed; the URL follows them so a link reproduces the run.
function settingsChanged() {
  const problem = form.check();
  if (problem) showMessage(problem);
  else clearMessage();
  if (problem) state.memory = null;
  else planMemory();
  render();
  offerTrained();
}
// ---- trained models: www/models, written by `looplab export` (docs/cli.md), listed in its manifest ----
const MANIFEST = new URL('./models/manifest.json', import.meta.url);
let manifest = null;  // the promise of the manifest's entries, fetched once per visit ([] when there is none)
function loadManifest() {
  manifest ||= fetch(MANIFEST).then(async (r) => {
    if (!r.ok) throw new Error(`${MANIFEST.pathname} answered ${r.status} ${r.statusText}`);
    const m = await r.json();
    if (!Array.isArray(m?.models)) throw new Error(`${MANIFEST.pathname} has no "models" list`);
    return m.models;
  }).catch((e) => {
    console.warn(`No trained models are offered: ${errorMessage(e)}`);
    return [];
  });
  return manifest;
}
// Offers the manifest's model of the form's preset and overrides (its step budget aside), if it has one.
async function offerTrained() {
  const models = await loadManifest();
  const overrides = form.overrides();
  const model = models.find((m) => m.preset === form.preset && sameModel(m.overrides || [], overrides)) || null;
  if (model !== state.model) state.trainedState = '';
  state.model = model;
  render();
}
// The scores of the trained model the lab holds or trains beside, from its manifest entry: where it shipped no
// history (no curves to draw), dotted lines on the accuracy chart (and, beside a fresh run, on the loss chart at
// its held-out loss); and the numbers: the lab's own when it holds the model, the twin row's beside it.
const NO_HISTORY = 'no history shipped: Train on adds one';
function showTrainedScores() {
  const model = state.trained || state.reference;
  const lines = model && !trainedCurve();
  lossChart.options.empty = accChart.options.empty = state.trained && lines ? NO_HISTORY : undefined;
  const name = state.reference ? `${model.name} (trained)` : model?.name;
  accChart.setReferences(lines ? model.splits.map((s, i) => ({ y: s.accuracy, label: `${name} ${s.split}`, color: splitColor(s.split, i) })) : []);
  const train = model?.splits.find((s) => s.split === 'train');
  const heldOut = model?.splits.find((s) => s.split !== 'train');
  // (the held-out loss only: a trained model's train loss can be many decades lower, and would squash the curves)
  lossChart.setReferences(lines && state.reference && heldOut ? [{ y: heldOut.loss, label: `${name} ${heldOut.split} loss`, color: PALETTE.vermillion }] : []);
  if (state.reference) state.latest.twinAcc = heldOut ? percent(heldOut.accuracy) : '–';
  if (!state.trained) return;
  Object.assign(state.latest, {
    loss: train ? train.loss.toFixed(4) : '–',
    trainAcc: train ? percent(train.accuracy) : '–',
    testAcc: heldOut ? percent(heldOut.accuracy) : '–',
  });
}
function trainedFailed(why) {
  state.trainedState = 'error';
  showMessage(`Could not load the trained model ${state.model?.name ?? ''}: ${why}`);
}
// Fetches the file (the line beside the button counts its bytes), then the worker builds the lab from it and
// checks it against the manifest's sha256.
ui.loadTrained.addEventListener('click', async () => {
  const model = state.model;
  if (!model) return;
  clearMessage();
  state.trainedState = 'fetching';
  state.trainedProgress = `Fetching ${model.file}…`;
  render();
  const url = new URL(model.file, MANIFEST);
  let bytes;
  try {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url.pathname} answered ${r.status} ${r.statusText}`);
    const total = Number(r.headers.get('content-length')) || model.bytes;
    const reader = r.body.getReader();
    const chunks = [];
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.length;
      state.trainedProgress = `Fetching ${model.file}: ${kib(got)} of ${kib(total)}…`;
      render();
    }
    bytes = new Uint8Array(got);
    let at = 0;
    for (const c of chunks) { bytes.set(c, at); at += c.length; }
  } catch (e) {
    trainedFailed(`fetching ${url.pathname} failed: ${errorMessage(e)}`);
    render();
    return;
  }
  if (model.history) {
    const historyUrl = new URL(model.history.file, MANIFEST);
    state.trainedProgress = `Fetching its training curves, ${model.history.file} (${kib(model.history.bytes)})…`;
    render();
    try {
      const r = await fetch(historyUrl);
      if (!r.ok) throw new Error(`${historyUrl.pathname} answered ${r.status} ${r.statusText}`);
      const records = readHistory(await r.text(), model.history.file, model.history.sha256);
      state.curve = { model: model.name, records };
    } catch (e) {
      trainedFailed(`its training history ${historyUrl.pathname}: ${errorMessage(e)}`);
      render();
      return;
    }
  }
  state.trainedState = 'loading';
  state.trainedProgress = `Building the lab from ${model.file} (${kib(bytes.length)}), checking its sha256…`;
  render();
  worker.postMessage({ type: TO_WORKER.loadTrained, bytes: bytes.buffer, name: `models/${model.file}`, model, backend: state.backend }, [bytes.buffer]);
});

// A fresh lab of the loaded model's settings (the worker keeps the trained model beside it): Start trains it from
// step 0 while the charts, the depth plots and the solving view show the trained model too.
ui.trainBeside.addEventListener('click', () => {
  clearMessage();
  state.trainedState = 'starting';
  state.trainedProgress = `Building a fresh lab of ${state.trained.name}'s settings beside it…`;
  render();
  send(TO_WORKER.beside);
});

$('fields').addEventListener('input', settingsChanged);
$('fields').addEventListener('change', settingsChanged);
// A new preset (or a hash edited by hand) rebuilds the form and the lab.
function newSettings(problem) {
  clearRun();
  state.ready = false;
  if (problem) showMessage(problem);
  else clearMessage();
  render();
  send(TO_WORKER.create, { autosave: true });
  offerTrained();
}
form.select.addEventListener('change', () => {
  form.build(form.select.value);
  newSettings(null);
});
window.addEventListener('hashchange', () => {
  if (state.running || state.step > 0) return;
  const parsed = parseHash(location.hash);
  state.compare = parsed.compare;
  state.backend = parsed.backend;
  newSettings(form.fromHash(parsed) || parsed.problems[0] || null);
});

const firstHash = parseHash(location.hash);
let hashProblem = form.fromHash(firstHash) || firstHash.problems[0] || null;
if (hashProblem) showMessage(hashProblem);
const noWebgpu = webgpuProblem({ secure: window.isSecureContext, hasGpu: !!navigator.gpu, origin: location.origin });
if (noWebgpu && state.backend === 'gpu') {
  showMessage(noWebgpu);
  state.device = 'no WebGPU';
  state.cpuOffer = true;
} else {
  send(TO_WORKER.create, { autosave: true });
}
render();
