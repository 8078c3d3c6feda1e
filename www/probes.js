// The probe view: `looplab probe` on the current model (WebLab.probe in the worker), drawn on canvases:
// fixed-point convergence per iteration and per token, attention maps (a head at an iteration) with entropy
// and Jensen-Shannon divergence per head, the logit lens, the CKA matrix against a feedforward twin, path
// independence, the phases of the run and the verdict with the numbers behind each answer.
import { PALETTE, formatY, logTicks } from './plot.js';

const INK = '#1d1d1f';
const MUTED = '#6b6b70';
const GRID = '#ececef';
const MARGIN = { left: 68, right: 14, top: 30, bottom: 40 };
// Okabe-Ito, in an order that keeps neighbours apart; dashes tell lines apart beyond eight.
const COLORS = [PALETTE.blue, PALETTE.orange, PALETTE.green, PALETTE.vermillion, PALETTE.purple, '#56B4E9', '#000000', '#F0E442'];
const DASHES = [[], [6, 3], [2, 3]];
// Viridis (perceptually uniform and readable with colour-vision deficiencies), as stops to interpolate.
const VIRIDIS = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];

const lineStyle = (i) => ({ color: COLORS[i % COLORS.length], dash: DASHES[Math.floor(i / COLORS.length) % DASHES.length] });

function viridis(x) {
  const t = Math.min(1, Math.max(0, Number.isFinite(x) ? x : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t));
  const f = t - i;
  const c = (hex, k) => parseInt(hex.slice(1 + 2 * k, 3 + 2 * k), 16);
  const mix = (k) => Math.round(c(VIRIDIS[i], k) + (c(VIRIDIS[i + 1], k) - c(VIRIDIS[i], k)) * f);
  return `rgb(${mix(0)}, ${mix(1)}, ${mix(2)})`;
}

// A canvas sized to its box, cleared, with the device pixel ratio applied; null while it is not laid out.
function surface(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (w === 0 || h === 0) return null;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '12px system-ui, sans-serif';
  return { ctx, w, h };
}

function title(ctx, text, x) {
  ctx.fillStyle = INK;
  ctx.font = '600 13px system-ui, sans-serif';
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, x, MARGIN.top / 2);
  ctx.font = '12px system-ui, sans-serif';
}

function axisLabels(ctx, w, h, x0, x1, y0, y1, xLabel, yLabel) {
  ctx.fillStyle = INK;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText(xLabel, (x0 + x1) / 2, h - 3);
  ctx.save();
  ctx.translate(12, (y0 + y1) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
}

// At most `most` of `n` indices, evenly spaced, always the first and the last.
function thin(n, most) {
  if (n <= most) return [...Array(n).keys()];
  const step = Math.ceil((n - 1) / (most - 1));
  const out = [];
  for (let i = 0; i < n - 1; i += step) out.push(i);
  out.push(n - 1);
  return out;
}

// Ticks of a linear axis over [lo, hi] at a round step, labelled with the decimals that step needs.
function linearTicks(lo, hi) {
  const raw = (hi - lo) / 4 || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-6; v += step) ticks.push(v);
  return { ticks, label: (v) => v.toFixed(decimals) };
}

// A line chart over categorical x (iterations, transitions): options {title, xLabel, yLabel, x: [labels],
// yLog, yRange, percent, series: [{label, values, color, dash}]}. Sets data-series and data-points.
function lineChart(canvas, o) {
  const points = o.series.reduce((n, s) => n + s.values.filter(Number.isFinite).length, 0);
  canvas.dataset.series = String(o.series.length);
  canvas.dataset.points = String(points);
  const s = surface(canvas);
  if (!s) return;
  const { ctx, w, h } = s;
  // Legend entries in rows under the title; the plot starts below them.
  const [x0, x1, y0] = [MARGIN.left, w - MARGIN.right, h - MARGIN.bottom];
  const legend = [];
  let [lx, ly] = [x0, MARGIN.top + 4];
  for (const q of o.series) {
    const tw = ctx.measureText(q.label).width + 34;
    if (lx + tw > x1 && lx > x0) [lx, ly] = [x0, ly + 15];
    legend.push([q, lx, ly]);
    lx += tw;
  }
  const y1 = ly + 14;
  const all = o.series.flatMap((q) => q.values).filter((v) => Number.isFinite(v) && (!o.yLog || v > 0));
  let [lo, hi] = o.yRange || [all.reduce((m, v) => Math.min(m, v), Infinity), all.reduce((m, v) => Math.max(m, v), -Infinity)];
  if (!all.length && !o.yRange) [lo, hi] = o.yLog ? [1e-3, 1] : [0, 1];
  let ticks;
  let sy;
  if (o.yLog) {
    [lo, hi] = [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi * 1.0001))];
    if (hi <= lo) hi = lo * 10;
    ticks = { ticks: logTicks(lo, hi).major, label: (v) => formatY(v, false) };
    sy = (v) => y0 - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * (y0 - y1);
  } else {
    if (hi - lo < 1e-9) [lo, hi] = [lo - 0.5 * Math.max(Math.abs(lo) * 1e-3, 1e-6), hi + 0.5 * Math.max(Math.abs(hi) * 1e-3, 1e-6)];
    const pad = o.yRange ? 0 : (hi - lo) * 0.06;
    [lo, hi] = [lo - pad, hi + pad];
    ticks = o.percent ? { ticks: [0, 0.25, 0.5, 0.75, 1], label: (v) => formatY(v, true) } : linearTicks(lo, hi);
    sy = (v) => y0 - (v - lo) / (hi - lo) * (y0 - y1);
  }
  const n = o.x.length;
  const sx = (i) => (n <= 1 ? (x0 + x1) / 2 : x0 + 10 + i / (n - 1) * (x1 - x0 - 20));

  ctx.strokeStyle = GRID;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const v of ticks.ticks) { ctx.moveTo(x0, Math.round(sy(v)) + 0.5); ctx.lineTo(x1, Math.round(sy(v)) + 0.5); }
  ctx.stroke();
  ctx.fillStyle = MUTED;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of ticks.ticks) ctx.fillText(ticks.label(v), x0 - 5, sy(v));
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const i of thin(n, Math.max(2, Math.floor((x1 - x0) / 42)))) ctx.fillText(o.x[i], sx(i), y0 + 5);
  ctx.strokeStyle = INK;
  ctx.beginPath();
  ctx.moveTo(x0 + 0.5, y1 - 6);
  ctx.lineTo(x0 + 0.5, y0 + 0.5);
  ctx.lineTo(x1, y0 + 0.5);
  ctx.stroke();
  axisLabels(ctx, w, h, x0, x1, y0, y1, o.xLabel, o.yLabel);
  title(ctx, o.title, x0);

  for (const [q, lx, ly] of legend) {
    ctx.strokeStyle = q.color;
    ctx.lineWidth = 2.5;
    ctx.setLineDash(q.dash || []);
    ctx.beginPath(); ctx.moveTo(lx, ly); ctx.lineTo(lx + 20, ly); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = INK;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(q.label, lx + 24, ly);
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(x0, y1 - 8, x1 - x0, y0 - y1 + 8);
  ctx.clip();
  for (const q of o.series) {
    ctx.strokeStyle = ctx.fillStyle = q.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(q.dash || []);
    ctx.beginPath();
    let open = false;
    q.values.forEach((v, i) => {
      if (!Number.isFinite(v) || (o.yLog && v <= 0)) { open = false; return; }
      if (open) ctx.lineTo(sx(i), sy(v)); else ctx.moveTo(sx(i), sy(v));
      open = true;
    });
    ctx.stroke();
    ctx.setLineDash([]);
    q.values.forEach((v, i) => {
      if (!Number.isFinite(v) || (o.yLog && v <= 0)) return;
      ctx.beginPath(); ctx.arc(sx(i), sy(v), 2.5, 0, 2 * Math.PI); ctx.fill();
    });
  }
  ctx.restore();
}

// A heatmap: options {title, xLabel, yLabel, rows, cols, value(r, c), rowLabel(r), colLabel(c), lo, hi, log,
// scaleLabel, mark(r, c)}. Colour is viridis over [lo, hi] (log10 when `log`), with a colour bar on the
// right; `mark` outlines cells. Sets data-rows and data-cols.
export function heatmap(canvas, o) {
  canvas.dataset.rows = String(o.rows);
  canvas.dataset.cols = String(o.cols);
  const s = surface(canvas);
  if (!s) return;
  const { ctx, w, h } = s;
  const bar = 54;
  const [x0, x1, y0, y1] = [MARGIN.left, w - MARGIN.right - bar, h - MARGIN.bottom, MARGIN.top];
  const f = o.log ? (v) => Math.log10(Math.max(v, 1e-30)) : (v) => v;
  const [flo, fhi] = [f(o.lo), f(o.hi)];
  const unit = (v) => (fhi > flo ? (f(v) - flo) / (fhi - flo) : 0);
  const cw = (x1 - x0) / Math.max(o.cols, 1);
  const ch = (y0 - y1) / Math.max(o.rows, 1);
  for (let r = 0; r < o.rows; r++) {
    for (let c = 0; c < o.cols; c++) {
      ctx.fillStyle = viridis(unit(o.value(r, c)));
      // Overlap by a pixel fraction so no seams show between cells.
      ctx.fillRect(x0 + c * cw, y1 + r * ch, cw + 0.5, ch + 0.5);
    }
  }
  if (o.mark) {
    ctx.strokeStyle = '#ffffff';
    ctx.lineWidth = 1.5;
    for (let r = 0; r < o.rows; r++) {
      for (let c = 0; c < o.cols; c++) if (o.mark(r, c)) ctx.strokeRect(x0 + c * cw + 1.5, y1 + r * ch + 1.5, cw - 3, ch - 3);
    }
  }
  ctx.strokeStyle = INK;
  ctx.lineWidth = 1;
  ctx.strokeRect(x0 + 0.5, y1 + 0.5, x1 - x0, y0 - y1);
  ctx.fillStyle = MUTED;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const c of thin(o.cols, Math.max(2, Math.floor((x1 - x0) / 30)))) ctx.fillText(o.colLabel(c), x0 + (c + 0.5) * cw, y0 + 4);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const r of thin(o.rows, Math.max(2, Math.floor((y0 - y1) / 15)))) ctx.fillText(o.rowLabel(r), x0 - 5, y1 + (r + 0.5) * ch);
  axisLabels(ctx, w, h, x0, x1, y0, y1, o.xLabel, o.yLabel);
  title(ctx, o.title, x0);

  // Colour bar with its scale.
  const bx = x1 + 14;
  const steps = 48;
  for (let i = 0; i < steps; i++) {
    ctx.fillStyle = viridis(1 - i / (steps - 1));
    ctx.fillRect(bx, y1 + i * (y0 - y1) / steps, 10, (y0 - y1) / steps + 0.5);
  }
  ctx.strokeStyle = INK;
  ctx.strokeRect(bx + 0.5, y1 + 0.5, 10, y0 - y1);
  ctx.fillStyle = MUTED;
  ctx.textAlign = 'left';
  const ticks = o.log ? { ticks: logTicks(o.lo, o.hi).major, label: (v) => formatY(v, false) } : linearTicks(o.lo, o.hi);
  for (const v of ticks.ticks) ctx.fillText(ticks.label(v), bx + 13, y0 - unit(v) * (y0 - y1));
  ctx.save();
  ctx.translate(w - 6, (y0 + y1) / 2);
  ctx.rotate(Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.fillStyle = INK;
  ctx.fillText(o.scaleLabel, 0, 0);
  ctx.restore();
}

// A canvas that has nothing to draw says why, wrapped to its width.
function message(canvas, text) {
  canvas.dataset.rows = canvas.dataset.cols = canvas.dataset.points = '0';
  const s = surface(canvas);
  if (!s) return;
  const { ctx, w, h } = s;
  const lines = [''];
  for (const word of text.split(' ')) {
    const next = lines[lines.length - 1] ? `${lines[lines.length - 1]} ${word}` : word;
    if (ctx.measureText(next).width > w - 40 && lines[lines.length - 1]) lines.push(word);
    else lines[lines.length - 1] = next;
  }
  ctx.fillStyle = MUTED;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  lines.forEach((line, i) => ctx.fillText(line, w / 2, h / 2 + (i - (lines.length - 1) / 2) * 16));
}

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
    new ResizeObserver(() => this.draw()).observe(el.result);
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
    if (!transitions.length) {
      message(c.change, `needs at least 2 ${unit}s`);
      message(c.cosine, `needs at least 2 ${unit}s`);
    } else {
      const series = (pick) => conv.series.map((s, i) => ({
        label: `${this.seriesName(s)}${i === conv.answer_series && conv.series.length > 1 ? ' (answer)' : ''}`,
        values: s.changes.map(pick),
        ...lineStyle(i),
      }));
      lineChart(c.change, {
        title: 'Fixed point: relative change', xLabel: `${unit} t → t+1`, yLabel: '‖h[t+1]−h[t]‖/‖h[t]‖ (log)', yLog: true,
        x: transitions, series: series((ch) => ch.relative_change),
      });
      lineChart(c.cosine, {
        title: 'Fixed point: cosine', xLabel: `${unit} t → t+1`, yLabel: 'cos(h[t+1], h[t])',
        x: transitions, series: series((ch) => ch.cosine),
      });
    }
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
    lineChart(c.entropy, {
      title: `Attention entropy per head (uniform ${Math.log(a.keys).toFixed(2)})`, xLabel: unit, yLabel: 'entropy (nats)',
      x: series.entropy.map((_, t) => String(t + 1)), series: heads(series.entropy),
    });
    if (!series.js.length) message(c.js, `JS divergence needs at least 2 ${unit}s`);
    else {
      lineChart(c.js, {
        title: 'Attention change per head (Jensen-Shannon)', xLabel: `${unit} t → t+1`, yLabel: 'JS divergence (nats, log)', yLog: true,
        x: series.js.map((_, t) => `${t + 1}→${t + 2}`), series: heads(series.js),
      });
    }
  }

  drawLens() {
    const { report: r } = this.probed;
    const c = this.el.canvases;
    const x = r.lens.map((l) => String(l.iteration));
    const bridges = r.bridges.map((b, i) => ({ b, style: lineStyle(i + 2) }));
    lineChart(c.lens, {
      title: 'Logit lens: accuracy after each iteration', xLabel: 'iteration', yLabel: 'accuracy', yRange: [0, 1], percent: true, x,
      series: [
        { label: 'token', values: r.lens.map((l) => l.token_accuracy), ...lineStyle(0) },
        { label: 'exact', values: r.lens.map((l) => l.exact_accuracy), ...lineStyle(1) },
        ...bridges.map(({ b, style }) => ({ label: `bridge b${b.bridge} on top`, values: b.top_share, ...style })),
      ],
    });
    lineChart(c.rank, {
      title: 'Logit lens: rank of the answer (1 = top)', xLabel: 'iteration', yLabel: 'mean rank (log)', yLog: true, x,
      series: [
        { label: 'answer', values: r.lens.map((l) => l.mean_rank), ...lineStyle(0) },
        ...bridges.map(({ b, style }) => ({ label: `bridge b${b.bridge}`, values: b.mean_rank, ...style })),
      ],
    });
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
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([JSON.stringify(this.probed.report, null, 2)], { type: 'application/json' }));
    a.download = `looplab-probe-step${this.probed.step}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
}
