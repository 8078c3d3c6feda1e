// @ts-check
// Other runs drawn over the loss, accuracy and weight-norm charts: a history.json or history.csv (the files
// `looplab train` writes into its run folder, or the page's own History JSON / CSV) chosen or dropped on the
// charts, read by the core as `looplab plot` reads them, or a run autosaved in this browser. Each run's series
// keep the page's colours, dotted, labelled with the run's name, and switch on and off together. The names and the series are pure: unit-tested in tests/js.
import { PALETTE } from './plot.js';
import { splitColor, splitScores } from './phases.js';

// One dash per overlaid run, none of them the twin's.
const RUN_DASHES = [[2, 3], [9, 3, 2, 3], [1, 5], [12, 4]];

/**
 * A history file's run name, as `looplab plot` names it: the file's stem less `.history`
 * (`looped.history.json` and `looped.history.csv` are both `looped`). @param {string} file
 */
export function runName(file) {
  return file.replace(/\.(json|csv)$/i, '').replace(/\.history$/i, '') || file;
}

/**
 * The run of a history file: its name and records, read by `read(text, file)` (the core's reader, wasm
 * `readHistory`: JSON, or CSV for a `.csv` name, as `looplab plot` reads them). Throws an Error naming the file,
 * with the core's message of what is wrong.
 * @param {string} file @param {string} text @param {(text: string, file: string) => any[]} read
 */
export function overlayFile(file, text, read) {
  try {
    return { name: runName(file), records: read(text, file) };
  } catch (e) {
    throw new Error(`Could not overlay ${file}: ${/** @type {Error} */ (e).message}.`);
  }
}

/**
 * A run's series are keyed `<key>:<series>` (`key` defaults to `run<id>`) and dashed `dash` (default: by its
 * place in the list); a trained model's shipped history is drawn as a run too (app.js).
 * @typedef {{id: number, name: string, records: any[], shown: boolean, key?: string, dash?: number[]}} Run
 * @typedef {'loss' | 'accuracy' | 'norm'} Plot
 */

/** @param {Run} run @returns {(k: string) => string} */
const keyOf = (run) => (k) => `${run.key || `run${run.id}`}:${k}`;

/**
 * The series of `run` on `plot`.
 * @param {Run} run @param {Plot} plot @param {number} index the run's place in the list (its dash)
 */
export function runSeries(run, plot, index) {
  const dash = run.dash || RUN_DASHES[index % RUN_DASHES.length];
  const key = keyOf(run);
  if (plot === 'loss') {
    return [
      { key: key('loss'), label: `${run.name} train loss`, color: PALETTE.blue, dash },
      { key: key('test_loss'), label: `${run.name} test loss`, color: PALETTE.vermillion, dash },
    ];
  }
  if (plot === 'norm') {
    return run.records.some((r) => r.weight_norm != null) ? [{ key: key('weight_norm'), label: `${run.name} weight norm`, color: PALETTE.green, dash }] : [];
  }
  const splits = splitScores(run.records[0]).map(([split]) => split);
  return splits.map((split, i) => ({ key: key(split), label: `${run.name} ${split}`, color: splitColor(split, i), dash }));
}

/** The points of `run` on `plot`: {seriesKey: [[step, value], ...]}. @param {Run} run @param {Plot} plot */
export function runPoints(run, plot) {
  const key = keyOf(run);
  const rs = run.records;
  if (plot === 'loss') return { [key('loss')]: rs.map((r) => [r.step, r.loss]), [key('test_loss')]: rs.map((r) => [r.step, r.test_loss]) };
  if (plot === 'norm') return { [key('weight_norm')]: rs.map((r) => [r.step, r.weight_norm]) };
  /** @type {Record<string, [number, number][]>} */
  const points = {};
  for (const r of rs) for (const [split, acc] of splitScores(r)) (points[key(split)] ||= []).push([r.step, acc]);
  return points;
}

// The Runs control: a file input, a list of the runs autosaved in this browser, and one line per overlaid run
// (a checkbox that shows or hides it, and a button that removes it). `changed()` redraws the charts.
export class Overlays {
  // el: {panel, file, saved, error, list, drop}; `listSaved()` resolves to [{label, history}] (the autosaves);
  // `read(text, file)` reads a history file (overlayFile).
  constructor(el, listSaved, changed, read) {
    Object.assign(this, { el, listSaved, changed, read });
    /** @type {Run[]} */
    this.runs = [];
    this.nextId = 1;
    /** @type {{label: string, history: any[]}[]} */
    this.saved = [];
    el.file.addEventListener('change', async () => {
      for (const file of [...el.file.files]) this.addFile(file.name, await file.text());
      el.file.value = '';
    });
    el.saved.addEventListener('change', () => {
      const s = this.saved[Number(el.saved.value)];
      el.saved.value = '';
      if (s) this.add(s.label, s.history);
    });
    el.panel.addEventListener('toggle', () => { if (el.panel.open) this.refreshSaved(); });
    el.drop.addEventListener('dragover', (e) => { e.preventDefault(); });
    el.drop.addEventListener('drop', async (e) => {
      e.preventDefault();
      el.panel.open = true;
      for (const file of [...(e.dataTransfer?.files || [])]) this.addFile(file.name, await file.text());
    });
  }

  // A file's history, or its problem named in the error box.
  addFile(name, text) {
    this.el.error.hidden = true;
    try {
      const run = overlayFile(name, text, this.read);
      this.add(run.name, run.records);
    } catch (e) {
      this.el.error.textContent = e.message;
      this.el.error.hidden = false;
    }
  }

  add(name, records) {
    const taken = new Set(this.runs.map((r) => r.name));
    let unique = name;
    for (let n = 2; taken.has(unique); n++) unique = `${name} (${n})`;
    this.runs.push({ id: this.nextId++, name: unique, records, shown: true });
    this.render();
  }

  /** Every shown run's series on `plot`. @param {Plot} plot */
  series(plot) {
    return this.runs.flatMap((r, i) => (r.shown ? runSeries(r, plot, i) : []));
  }

  /** Every shown run's points on `plot`. @param {Plot} plot */
  points(plot) {
    return Object.assign({}, ...this.runs.filter((r) => r.shown).map((r) => runPoints(r, plot)));
  }

  async refreshSaved() {
    try {
      this.saved = await this.listSaved();
    } catch {
      this.saved = [];  // storage off: nothing to list
    }
    const options = this.saved.map((s, i) => new Option(s.label, String(i)));
    this.el.saved.replaceChildren(new Option(this.saved.length ? 'a run autosaved here…' : 'no autosaved runs', ''), ...options);
    this.el.saved.disabled = !this.saved.length;
  }

  render() {
    this.el.list.replaceChildren(...this.runs.map((run) => {
      const li = document.createElement('li');
      const show = Object.assign(document.createElement('input'), { type: 'checkbox', checked: run.shown });
      show.addEventListener('change', () => { run.shown = show.checked; this.changed(); });
      const label = document.createElement('label');
      const last = run.records[run.records.length - 1];
      label.append(show, ` ${run.name} (${run.records.length} records, to step ${last.step.toLocaleString('en-US')})`);
      const remove = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Remove', title: `Remove ${run.name} from the charts` });
      remove.addEventListener('click', () => { this.runs = this.runs.filter((r) => r !== run); this.render(); });
      li.append(label, remove);
      return li;
    }));
    this.el.panel.dataset.runs = String(this.runs.length);
    this.changed();
  }
}
