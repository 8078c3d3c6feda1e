// @ts-check
// The messages between the page (app.js) and the training worker (worker.js), and the error kinds the core
// names (`LabError::kind`, the JS `Error.name` of every error the wasm lab throws). Both sides use these
// constants; a message is a plain object with a `type`. Pure: unit-tested in tests/js.

/**
 * What every command from the page carries (the worker builds or checks its lab from it).
 * @typedef {{preset: string, overrides: string[], backend: 'gpu' | 'cpu', twin: string[] | null, speed: 'auto' | number}} Settings
 */

/** Page -> worker: each message is `{type, ...Settings}` plus what its line says. */
export const TO_WORKER = Object.freeze({
  /** {autosave, recover?}: a new lab; with `autosave`, resumed from this config's autosave if there is one */
  create: 'create',
  /** deletes the autosave, then a new lab from step 0 */
  reset: 'reset',
  /** {bytes, name}: a checkpoint file */
  load: 'load',
  /** {bytes, name, model}: a trained model's weights-only file and its manifest entry (www/models/manifest.json),
   * refused unless its sha256 is the entry's */
  loadTrained: 'load-trained',
  /** a fresh lab of the loaded trained model's config, trained from step 0 beside the trained model (kept for the
   * charts, the depth plots and the solving view) */
  beside: 'beside',
  /** {steps}: a lab at its last step trains on to this total (a trained model's Start) */
  trainOn: 'train-on',
  /** {json}: a matmul tuning table kept from an earlier `ready` (the GPU skips its startup trial) */
  matmulTuning: 'matmul-tuning',
  start: 'start',
  step: 'step',
  pause: 'pause',
  /** steps per frame: the settings' `speed`, 'auto' or a number */
  speed: 'speed',
  /** {text: string | null}: null draws from the test split */
  solve: 'solve',
  checkpoint: 'checkpoint',
  depths: 'depths',
  /** {format: 'csv' | 'json'} */
  export: 'export',
  /** {examples, iterations} (0: the defaults; in compare mode, also CKA against the twin) */
  probe: 'probe',
  /** `looplab bandit` on the current weights */
  bandit: 'bandit',
  /** `looplab audit` on the current weights */
  audit: 'audit',
  /** {id}: the memory a lab of these settings needs (answered by FROM_WORKER.memory with the same id) */
  plan: 'plan',
  /** the page is hidden or closing: autosave now (best effort) */
  save: 'save',
});

/** Worker -> page. */
export const FROM_WORKER = Object.freeze({
  /** {device, fallback, adapter (the browser's adapter info on the gpu backend, else null), config, step, total, backend, history, trainedS, memory, saveKey, matmulTuning, twin, source, note, noteKind,
   * trained: the manifest entry when `source` is 'trained', reference: {model} (the trained model's manifest entry)
   * when `source` is 'beside'} */
  ready: 'ready',
  /** {records, twinRecords, step, stepsPerS, trainedS} */
  records: 'records',
  /** {running} */
  state: 'state',
  /** the configured number of steps is reached */
  done: 'done',
  /** {step}: the autosave holds this step */
  saved: 'saved',
  /** {sweep, reference?: true (the trained model's, beside which the lab trains)} */
  depths: 'depths',
  /** {message, kind?: 'error' | 'info'} */
  note: 'note',
  /** {id, memory} or {id, message} */
  memory: 'memory',
  /** {bytes, step} */
  checkpoint: 'checkpoint',
  /** {format, text, name} */
  export: 'export',
  /** {solution, reference: the trained model's solution of the same puzzle beside a trained model, else null} */
  solution: 'solution',
  /** {message} */
  solveError: 'solve-error',
  /** {probed: {step, twin_step, report}} */
  probe: 'probe',
  /** {message} */
  probeError: 'probe-error',
  /** {result} or {message} */
  bandit: 'bandit',
  /** {result} or {message} */
  audit: 'audit',
  /** {message, kind: an ERROR value, or undefined for errors of other origins} */
  error: 'error',
});

/** `LabError::kind` of the core's errors (src/error.rs), plus the wasm face's own. */
export const ERROR = Object.freeze({
  invalid: 'Invalid',
  unknownKey: 'UnknownKey',
  unknownPreset: 'UnknownPreset',
  usage: 'Usage',
  input: 'Input',
  noAdapter: 'NoAdapter',
  /** a lost device: the lab is unusable after it */
  device: 'Device',
  tooLarge: 'TooLarge',
  /** the weights are NaN/Inf; the last autosave is the last good state */
  diverged: 'Diverged',
  checkpoint: 'Checkpoint',
  io: 'Io',
  /** a call while another one runs */
  busy: 'Busy',
});

/** The message of an error (or of anything thrown). @param {unknown} e */
export function errorMessage(e) {
  if (e && typeof e === 'object' && 'message' in e && e.message) return String(e.message);
  return String(e);
}

/** The core's kind of an error (its `name`), or undefined for errors of other origins. @param {unknown} e */
export function errorKind(e) {
  const name = e && typeof e === 'object' && 'name' in e ? String(e.name) : '';
  return Object.values(ERROR).includes(/** @type {any} */ (name)) ? name : undefined;
}

/**
 * `e` with `prefix` before its message and its kind kept (the twin's errors say they are the twin's and still
 * count as what they are). @param {string} prefix @param {unknown} e
 */
export function withPrefix(prefix, e) {
  const error = new Error(`${prefix}${errorMessage(e)}`);
  const kind = errorKind(e);
  if (kind) error.name = kind;
  return error;
}
