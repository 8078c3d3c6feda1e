// Views of the mechanisms the lab studies beyond accuracy: the bandit rollout (`looplab bandit`, WebLab.bandit)
// and the computation-graph audit of multiplication (`looplab audit`, WebLab.audit), run on the current
// weights while training is paused; the latest accuracy per split for tasks with a test split per length or
// distance; and the round x length heatmap of a `looplab self-improve` report loaded from a file (the rounds
// run only natively).
import { Chart, PALETTE, TWIN_DASH, pngButton, heatmap } from './plot.js';

const percent = (x) => `${(100 * x).toFixed(1)}%`;

// A panel with a run button, a status line and an error box; `request()` asks the worker, `show(result)`
// draws its answer. Offered while the lab is idle and the run's task is `kind`.
class RunPanel {
  constructor(el, kind, request) {
    this.el = el;
    this.kind = kind;
    this.busy = false;
    el.run.addEventListener('click', () => {
      this.busy = true;
      el.error.hidden = true;
      el.status.textContent = 'running on the current weights…';
      this.enable(false);
      request();
    });
  }

  setTask(kind) {
    this.el.panel.hidden = kind !== this.kind;
  }

  enable(idle) {
    this.el.run.disabled = !idle || this.busy;
  }

  clear() {
    this.el.result.hidden = true;
    this.el.error.hidden = true;
    this.el.status.textContent = '';
  }

  // A worker message: {type, result} or {type, message} for an error.
  receive(msg) {
    this.busy = false;
    this.clear();
    if (msg.message) {
      this.el.error.textContent = msg.message;
      this.el.error.hidden = false;
      return;
    }
    this.el.result.hidden = false;
    this.show(msg.result);
  }
}

// Policies in the order of the legend, with their colours and dashes (the model's variants in blue).
const POLICIES = {
  model: { label: 'model', color: PALETTE.blue },
  'model-argmax': { label: 'model argmax', color: PALETTE.blue, dash: TWIN_DASH },
  'model-blind': { label: 'model blind', color: PALETTE.blue, dash: [2, 3] },
  thompson: { label: 'Thompson', color: PALETTE.green },
  random: { label: 'random', color: PALETTE.vermillion },
  greedy: { label: 'greedy', color: PALETTE.orange },
};

export class BanditView extends RunPanel {
  // el: {panel, run, status, error, result, canvas, summary}
  constructor(el, request) {
    super(el, 'bandit', request);
    this.chart = new Chart(el.canvas, {
      title: 'Cumulative regret', yLabel: 'cumulative regret', x: 'linear',
      xLabel: 'episode step', series: [], empty: 'press Roll out',
    });
    pngButton(el.canvas, 'bandit-regret');
  }

  // `rolled`: {step, report} with the report of `looplab bandit --json`.
  show({ step, report }) {
    this.el.status.textContent = `Step ${step}: ${report.tasks} unseen ${report.arms}-armed tasks, ${report.horizon} steps, `
      + `block looped ${report.depth} time${report.depth === 1 ? '' : 's'}. Lines are means over tasks; `
      + '"model blind" is the model shown every reward as 0 (a control that cannot learn from rewards).';
    this.chart.options.xRange = [1, Math.max(2, report.horizon)];
    this.chart.setSeries(report.curves.map((c) => ({ key: c.policy, ...(POLICIES[c.policy] || { label: c.policy, color: PALETTE.purple }) })));
    this.chart.set(Object.fromEntries(report.curves.map((c) => [c.policy, c.cumulative.map((y, t) => [t + 1, y])])));
    const i = report.in_context;
    const w = i.window;
    this.el.summary.textContent = `Model regret per step: ${i.early.toFixed(3)} over steps 1-${w}, ${i.late.toFixed(3)} over steps `
      + `${report.horizon - w + 1}-${report.horizon} (drop ${i.drop.toFixed(3)} ± ${i.drop_stderr.toFixed(3)}); random `
      + `${i.random_late.toFixed(3)}, teacher ${i.teacher_late.toFixed(3)} over the last ${w}. In-context learning: `
      + (i.improves ? 'yes, the regret per step falls within the episode with the weights fixed.'
        : 'not shown, the regret per step does not fall by more than 3 standard errors.');
  }
}

export class AuditView extends RunPanel {
  // el: {panel, run, status, error, result, canvas, table}
  constructor(el, request) {
    super(el, 'multiplication', request);
    this.chart = new Chart(el.canvas, {
      title: 'Accuracy by graph depth', yLabel: 'digit accuracy', yRange: [0, 1], percent: true,
      x: 'linear', bars: true, xLabel: 'graph depth of the answer digit', series: [], empty: 'press Audit',
    });
    pngButton(el.canvas, 'audit-depth');
  }

  // `audited`: {step, audit} with the audit of `looplab audit --json`.
  show({ step, audit }) {
    this.el.status.textContent = `Step ${step}: ${audit.examples} test problems, exact (whole product right) ${percent(audit.exact)}.`;
    this.chart.setSeries([{ key: 'accuracy', label: 'digit accuracy', color: PALETTE.blue }]);
    this.chart.set({ accuracy: audit.by_depth.map((d) => [d.depth, d.accuracy]) });
    const head = ['digit', 'depth', 'accuracy', 'right+seen', 'right+unseen', 'wrong+seen', 'wrong+unseen', 'local', 'propagation'];
    const row = (cells, tag) => {
      const tr = document.createElement('tr');
      for (const c of cells) tr.appendChild(Object.assign(document.createElement(tag), { textContent: String(c) }));
      return tr;
    };
    this.el.table.replaceChildren(
      row(head, 'th'),
      ...audit.digits.map((d) => row([d.digit, d.depth, percent(d.accuracy), d.correct_seen, d.correct_unseen,
        d.wrong_seen, d.wrong_unseen, d.local_errors, d.propagation_errors], 'td')),
    );
  }
}

// Test splits named by a length or distance: passkey's d4, d8, ... and addition's len1, len2, ...
const SIZED = /^(d|len)(\d+)$/;
const SIZE_LABEL = { d: 'distance from the key to the query', len: 'operand digits' };

// The accuracy of every sized split at the latest evaluation, one bar per split, so length generalization and
// the passkey's window-versus-memory contrast read at a glance (the accuracy plot has one line per split).
export class SplitView {
  // el: {panel, canvas}
  constructor(el) {
    this.el = el;
    this.chart = new Chart(el.canvas, {
      title: 'Accuracy by split (latest evaluation)', yLabel: 'token accuracy', yRange: [0, 1], percent: true,
      x: 'linear', bars: true, xLabel: '', series: [{ key: 'accuracy', label: 'test accuracy', color: PALETTE.green }],
    });
    pngButton(el.canvas, 'accuracy-by-split');
    this.clear();
  }

  clear() {
    this.el.panel.hidden = true;
    this.chart.clear();
  }

  // `record`: the latest history record (with `splits: [{split, accuracy}]`).
  show(record) {
    const sized = (record.splits || []).map((s) => [s.split.match(SIZED), s.accuracy]).filter(([m]) => m);
    this.el.panel.hidden = sized.length < 2;
    if (sized.length < 2) return;
    this.chart.options.title = `Accuracy by split at step ${record.step.toLocaleString('en-US')}`;
    this.chart.options.xLabel = SIZE_LABEL[sized[0][0][1]];
    this.chart.set({ accuracy: sized.map(([m, acc]) => [Number(m[2]), acc]) });
  }
}

// The round x length heatmap of a `looplab self-improve` report (self_improve.json) chosen with a file input,
// under an addition run.
export class SelfImproveView {
  // el: {panel, file, error, result, canvas, summary}
  constructor(el) {
    this.el = el;
    this.report = null;
    el.file.addEventListener('change', async () => {
      const file = el.file.files[0];
      if (file) this.load(await file.text(), file.name);
    });
    new ResizeObserver(() => this.draw()).observe(el.result);
  }

  // Offered under the task `looplab self-improve` trains (addition) only.
  setTask(kind) {
    this.el.panel.hidden = kind !== 'addition';
  }

  load(text, name) {
    this.el.error.hidden = true;
    try {
      const r = JSON.parse(text);
      const ok = Array.isArray(r?.lengths) && r.lengths.length > 0 && Array.isArray(r.rounds) && r.rounds.length > 0
        && r.rounds.every((round) => Array.isArray(round.accuracy) && round.accuracy.length === r.lengths.length);
      if (!ok) throw new Error('it is not a `looplab self-improve` report (expected `lengths` and `rounds` with an `accuracy` per length)');
      this.report = r;
    } catch (e) {
      this.report = null;
      this.el.result.hidden = true;
      this.el.error.textContent = `Could not read ${name}: ${e.message}`;
      this.el.error.hidden = false;
      return;
    }
    this.el.result.hidden = false;
    const last = this.report.rounds[this.report.rounds.length - 1];
    this.el.summary.textContent = `${name}: ${this.report.rounds.length - 1} rounds, filter ${this.report.options?.filter ?? '?'}; `
      + `every length up to ${last.accuracy_frontier} at 90% or more after the last round.`;
    this.draw();
  }

  draw() {
    const r = this.report;
    if (!r || this.el.result.hidden) return;
    heatmap(this.el.canvas, {
      title: 'Exact accuracy by round and operand length', xLabel: 'operand digits', yLabel: 'round (0: base model)',
      rows: r.rounds.length, cols: r.lengths.length, value: (i, j) => r.rounds[i].accuracy[j],
      rowLabel: (i) => String(r.rounds[i].round), colLabel: (j) => String(r.lengths[j]), lo: 0, hi: 1, scaleLabel: 'exact accuracy',
      mark: (i, j) => r.lengths[j] <= r.rounds[i].frontier,
    });
  }
}
