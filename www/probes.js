// @ts-check
// The probe view: `looplab probe` on the current model (WebLab.probe in the worker), drawn on canvases:
// fixed-point convergence per iteration and per token, attention maps (a head at an iteration) with entropy
// and Jensen-Shannon divergence per head, the logit lens, the CKA matrix against a feedforward twin, path
// independence, the phases of the run and the verdict with the numbers behind each answer.
import { Chart, heatmap, message, lineStyle, download } from './plot.js';

// A line per series over categorical x (iterations, transitions): `values[i]` at `x[i]`.
const lines = (series) => Object.fromEntries(series.map((q) => [q.key, q.values.map((v, i) => [i, v])]));

const fixed = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

export class ProbeView {
  // el: {panel, run, examples, iterations, download, status, error, result, canvases: {...}, selectors:
  // {series, head, step, stepLabel}, path, phases, verdict}; `request(examples, iterations)` asks the worker.
  constructor(el, request) {
    this.el = el;
    this.probed = null;
    this.busy = false;
    el.run.addEventListener('click', () => {
      this.busy = true;
      el.error.hidden = true;
      el.status.textContent = 'probing…';
      this.enable(false);
      request(Number(el.examples.value) || 0, Number(el.iterations.value) || 0);
    });
    el.download.addEventListener('click', () => this.download());
    for (const s of [el.selectors.series, el.selectors.head]) s.addEventListener('change', () => this.drawAttention());
    el.selectors.step.addEventListener('input', () => this.drawAttention());
    const c = el.canvases;
    const line = (canvas) => new Chart(canvas, { title: '', yLabel: '', x: 'category', dots: true, series: [], empty: '' });
    this.charts = { change: line(c.change), cosine: line(c.cosine), entropy: line(c.entropy), js: line(c.js), lens: line(c.lens), rank: line(c.rank) };
    new ResizeObserver(() => this.draw()).observe(el.result);
  }

  // Draws `series` ([{label, values, color, dash}]) on one of the line charts, or says why there is nothing.
  plot(name, options, series, empty) {
    const chart = this.charts[name];
    if (empty) {
      chart.show({ title: options.title, yLabel: options.yLabel, xLabel: options.xLabel, categories: [], series: [], empty }, {});
      chart.setReferences([]);
      return;
    }
    const { x, ...rest } = options;
    const keyed = series.map((q, i) => ({ ...q, key: `s${i}` }));
    chart.show({ yLog: false, yRange: null, percent: false, ...rest, categories: x, series: keyed }, lines(keyed));
  }

  // The button is offered while the lab is idle (paused, finished or not started).
  enable(idle) {
    this.el.run.disabled = !idle || this.busy;
    this.el.download.disabled = !this.probed;
  }

  clear() {
    this.probed = null;
    this.el.result.hidden = true;
    this.el.error.hidden = true;
    this.el.status.textContent = '';
    this.el.download.disabled = true;
  }

  // A worker message: {type: 'probe', probed} or {type: 'probe-error', message}.
  receive(msg) {
    this.busy = false;
    if (msg.type === 'probe-error') {
      this.clear();
      this.el.error.textContent = msg.message;
      this.el.error.hidden = false;
      return;
    }
    this.show(msg.probed);
  }

  show(probed) {
    this.probed = probed;
    const r = probed.report;
    const unit = r.step_unit;
    // Iterations, or a feedforward model's layers.
    this.steps = r.states.reduce((m, s) => Math.max(m, s.step), 1);
    this.el.status.textContent = `Step ${probed.step}${probed.twin_step == null ? '' : ` (twin at step ${probed.twin_step})`}: `
      + `${r.examples} examples of split \`${r.split}\` (${r.seq} tokens), ${this.steps} ${unit}${this.steps === 1 ? '' : 's'}`
      + `${unit === 'layer' ? ' (a feedforward model: its layers stand in for iterations)' : ''}.`;
    const sel = this.el.selectors;
    sel.series.replaceChildren(...r.attention.series.map((s, i) => new Option(this.seriesName(s), String(i))));
    sel.series.parentElement.hidden = r.attention.series.length < 2;
    sel.head.replaceChildren(...Array.from({ length: r.attention.heads }, (_, i) => new Option(String(i), String(i))));
    Object.assign(sel.step, { min: 1, max: this.steps, value: this.steps });
    this.el.result.hidden = false;
    this.el.download.disabled = false;
    this.texts();
    this.draw();
    this.el.panel.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  seriesName(s) {
    const r = this.probed.report;
    if (r.step_unit === 'layer') return 'layers';
    const parts = [];
    if (r.calls_per_iteration > 1) parts.push(`call ${s.call}`);
    if (r.block_layers > 1 || !parts.length) parts.push(`layer ${s.layer}`);
    return parts.join(' · ');
  }

  draw() {
    if (!this.probed || this.el.result.hidden) return;
    this.drawConvergence();
    this.drawAttention();
    this.drawLens();
    this.drawCka();
  }

  drawConvergence() {
    const { report: r } = this.probed;
    const c = this.el.canvases;
    const conv = r.convergence;
    const unit = r.step_unit;
    const transitions = (conv.series[0]?.changes || []).map((_, t) => `${t + 1}→${t + 2}`);
    const few = transitions.length ? null : `needs at least 2 ${unit}s`;
    const series = (pick) => conv.series.map((s, i) => ({
      label: `${this.seriesName(s)}${i === conv.answer_series && conv.series.length > 1 ? ' (answer)' : ''}`,
      values: s.changes.map(pick),
      ...lineStyle(i),
    }));
    this.plot('change', {
      title: 'Fixed point: relative change', xLabel: `${unit} t → t+1`, yLabel: '‖h[t+1]−h[t]‖/‖h[t]‖ (log)', yLog: true, x: transitions,
    }, series((ch) => ch.relative_change), few);
    this.plot('cosine', {
      title: 'Fixed point: cosine', xLabel: `${unit} t → t+1`, yLabel: 'cos(h[t+1], h[t])', x: transitions,
    }, series((ch) => ch.cosine), few);
    const rows = conv.per_token;
    if (!rows.length) message(c.tokens, `per-token change needs at least 2 ${unit}s`);
    else {
      heatmap(c.tokens, {
        title: 'Relative change per token (answer state)', xLabel: 'token', yLabel: `${unit} t → t+1`,
        rows: rows.length, cols: rows[0].length, value: (t, i) => rows[t][i], rowLabel: (t) => `${t + 1}→${t + 2}`,
        colLabel: (i) => String(i), lo: 1e-4, hi: 1, log: true, scaleLabel: 'relative change (log)',
      });
    }
  }

  drawAttention() {
    if (!this.probed) return;
    const { report: r } = this.probed;
    const a = r.attention;
    const c = this.el.canvases;
    const sel = this.el.selectors;
    const series = a.series[Number(sel.series.value) || 0];
    const head = Number(sel.head.value) || 0;
    const step = Number(sel.step.value) || 1;
    const unit = r.step_unit;
    sel.stepLabel.textContent = `${unit} ${step} of ${this.steps}`;
    const at = r.states.findIndex((s) => s.step === step && s.call === series.call && s.layer === series.layer);
    const map = a.maps[at];
    const per = a.seq * a.keys;
    const values = map.slice(head * per, (head + 1) * per);
    const r0 = a.local ? Math.round((Math.sqrt(a.keys) - 1) / 2) : 0;
    const side = 2 * r0 + 1;
    // Local windows are row-major over (dy, dx) in -r..=r; a 1-D task uses the middle row.
    const keyLabel = a.local ? (k) => `${Math.floor(k / side) - r0},${(k % side) - r0}` : (k) => String(k);
    c.map.dataset.state = `${step}.${series.call}.${series.layer}.${head}`;
    heatmap(c.map, {
      title: `Attention of example ${a.map_example}: head ${head}, ${unit} ${step}`, xLabel: a.local ? 'key offset (dy,dx)' : 'key token',
      yLabel: 'query token', rows: a.seq, cols: a.keys, value: (q, k) => values[q * a.keys + k], rowLabel: String, colLabel: keyLabel,
      lo: 0, hi: values.reduce((m, v) => Math.max(m, v), 1e-6), log: false, scaleLabel: 'probability',
    });
    const heads = (rows) => Array.from({ length: a.heads }, (_, h) => ({ label: `head ${h}`, values: rows.map((row) => row[h]), ...lineStyle(h) }));
    this.plot('entropy', {
      title: `Attention entropy per head (uniform ${Math.log(a.keys).toFixed(2)})`, xLabel: unit, yLabel: 'entropy (nats)',
      x: series.entropy.map((_, t) => String(t + 1)),
    }, heads(series.entropy));
    this.plot('js', {
      title: 'Attention change per head (Jensen-Shannon)', xLabel: `${unit} t → t+1`, yLabel: 'JS divergence (nats, log)', yLog: true,
      x: series.js.map((_, t) => `${t + 1}→${t + 2}`),
    }, heads(series.js), series.js.length ? null : `JS divergence needs at least 2 ${unit}s`);
  }

  drawLens() {
    const { report: r } = this.probed;
    const x = r.lens.map((l) => String(l.iteration));
    const bridges = r.bridges.map((b, i) => ({ b, style: lineStyle(i + 2) }));
    this.plot('lens', {
      title: 'Logit lens: accuracy after each iteration', xLabel: 'iteration', yLabel: 'accuracy', yRange: [0, 1], percent: true, x,
    }, [
      { label: 'token', values: r.lens.map((l) => l.token_accuracy), ...lineStyle(0) },
      { label: 'exact', values: r.lens.map((l) => l.exact_accuracy), ...lineStyle(1) },
      ...bridges.map(({ b, style }) => ({ label: `bridge b${b.bridge} on top`, values: b.top_share, ...style })),
    ]);
    // Chance: always giving the most common answer (the verdict reads the lens against it).
    this.charts.lens.setReferences(r.chance ? [{ y: r.chance, label: `chance ${(100 * r.chance).toFixed(0)}%`, color: lineStyle(0).color }] : []);
    this.plot('rank', {
      title: 'Logit lens: rank of the answer (1 = top)', xLabel: 'iteration', yLabel: 'mean rank (log)', yLog: true, x,
    }, [
      { label: 'answer', values: r.lens.map((l) => l.mean_rank), ...lineStyle(0) },
      ...bridges.map(({ b, style }) => ({ label: `bridge b${b.bridge}`, values: b.mean_rank, ...style })),
    ]);
  }

  drawCka() {
    const { report: r } = this.probed;
    const canvas = this.el.canvases.cka;
    const k = r.cka;
    if (!k) {
      message(canvas, 'Stage mirroring needs a feedforward twin trained on the same task (compare mode).');
      return;
    }
    heatmap(canvas, {
      title: `Stage mirroring: linear CKA (pattern: ${k.pattern})`, xLabel: 'twin layer', yLabel: `loop state (${r.step_unit}.call.layer)`,
      rows: k.values.length, cols: k.twin_layers, value: (i, l) => k.values[i][l],
      rowLabel: (i) => { const s = r.states[i]; return `${s.step}.${s.call}.${s.layer}`; }, colLabel: (l) => `L${l}`,
      lo: 0, hi: 1, log: false, scaleLabel: 'CKA (outlined: best twin layer)', mark: (i, l) => k.best[i] === l,
    });
  }

  // Path independence, phases and the verdict, in the words and numbers `looplab probe` prints.
  texts() {
    const { report: r } = this.probed;
    const p = r.path;
    this.el.path.textContent = p
      ? `Path independence: final answer state after ${p.iterations} iterations from the true start vs from start + N(0, ${fixed(p.noise_std, 3)}²): `
        + `cosine mean ${fixed(p.mean_cosine, 4)}, min ${fixed(p.min_cosine, 4)}; relative distance ${p.mean_relative_distance.toExponential(3)}.`
      : 'Path independence: not applicable (a feedforward model starts from its input).';
    const ph = r.phases;
    const step = (s) => (s == null ? 'never' : String(s));
    const row = (prefix) => (s) => [prefix + s.split, step(s.accuracy_step), step(s.exact_step), fixed(s.best_accuracy, 4), fixed(s.final_accuracy, 4)];
    const rows = ph ? ph.splits.map(row('')).concat(r.twin_phases ? r.twin_phases.splits.map(row('twin ')) : []) : [];
    const cell = (tag, text) => Object.assign(document.createElement(tag), { textContent: text });
    const caption = ph ? `Phases: first recorded step with accuracy ≥ ${ph.threshold} (${ph.records} records up to step ${ph.last_step})` : 'Phases: no history';
    const head = document.createElement('tr');
    head.append(...['split', 'token acc', 'exact', 'best', 'final'].map((t) => cell('th', t)));
    this.el.phases.replaceChildren(cell('caption', caption), head, ...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.append(...row.map((t) => cell('td', t)));
      return tr;
    }));
    this.el.verdict.replaceChildren(...r.verdict.map((v) => {
      const li = document.createElement('li');
      const q = cell('span', `${v.question} `);
      q.className = 'question';
      const a = cell('strong', v.answer);
      const e = cell('div', v.evidence);
      e.className = 'evidence';
      li.append(q, a, e);
      return li;
    }));
  }

  // The report as `looplab probe --json` writes it.
  download() {
    if (!this.probed) return;
    download(`looplab-probe-step${this.probed.step}.json`, new Blob([JSON.stringify(this.probed.report, null, 2)], { type: 'application/json' }));
  }
}
