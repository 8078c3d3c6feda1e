// @ts-check
// The page's one chart module: every view draws with it. Colours (all of the page's), ticks and number formats
// (pure functions, unit-tested in tests/js), `Chart` (lines or bars over a log, linear or categorical x axis,
// linear or log y; shaded x bands, vertical markers, horizontal reference lines; a legend that wraps and toggles
// series; a readout of the values under the pointer or the arrow keys), `heatmap` with a colour bar, `message`
// for a canvas with nothing to draw, and the PNG download button.

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
export const PALETTE = {
  blue: '#0072B2', orange: '#E69F00', green: '#009E73', vermillion: '#D55E00', purple: '#CC79A7',
  sky: '#56B4E9', black: '#000000', yellow: '#F0E442',
};
export const INK = '#1d1d1f';
export const MUTED = '#6b6b70';
export const GRID = '#ececef';
export const PAPER = '#ffffff';
// The solving and program views' cells.
export const WALL = '#3a3a40';
export const UNKNOWN = '#c8c8cc';
export const CELL_LINE = '#e4e4e8';
export const FAINT = '#8a8a90';
// A second model drawn beside the first (the twin, an overlaid run): the same colours, dashed.
export const TWIN_DASH = [7, 4];

// Line colours in an order that keeps neighbours apart; dashes tell lines apart beyond eight.
const LINE_COLORS = [PALETTE.blue, PALETTE.orange, PALETTE.green, PALETTE.vermillion, PALETTE.purple, PALETTE.sky, PALETTE.black, PALETTE.yellow];
const DASHES = [[], [6, 3], [2, 3]];
/** @param {number} i */
export const lineStyle = (i) => ({ color: LINE_COLORS[i % LINE_COLORS.length], dash: DASHES[Math.floor(i / LINE_COLORS.length) % DASHES.length] });

// Viridis (perceptually uniform and readable with colour-vision deficiencies), as stops to interpolate.
const VIRIDIS = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];
const channel = (/** @type {string} */ hex, /** @type {number} */ k) => parseInt(hex.slice(1 + 2 * k, 3 + 2 * k), 16);

/** Viridis at `x` in [0, 1] (clamped; not a number reads as 0). @param {number} x */
export function viridis(x) {
  const t = Math.min(1, Math.max(0, Number.isFinite(x) ? x : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t));
  const f = t - i;
  const mix = (k) => Math.round(channel(VIRIDIS[i], k) + (channel(VIRIDIS[i + 1], k) - channel(VIRIDIS[i], k)) * f);
  return `rgb(${mix(0)}, ${mix(1)}, ${mix(2)})`;
}

/** `rgb` (#rrggbb) at `alpha` over white, so text on it stays readable. @param {string} rgb @param {number} alpha */
export function tint(rgb, alpha) {
  const mix = (k) => Math.round(255 + (channel(rgb, k) - 255) * alpha);
  return `rgb(${mix(0)}, ${mix(1)}, ${mix(2)})`;
}

/** `rgb` (#rrggbb) as a translucent fill. @param {string} rgb @param {number} alpha */
export const translucent = (rgb, alpha) => `rgba(${channel(rgb, 0)},${channel(rgb, 1)},${channel(rgb, 2)},${alpha})`;

// ---- numbers and ticks (pure) ----

/** "20k", "1.5M". @param {number} v */
export function formatStep(v) {
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

/** A tick label: percent, or three significant digits (exponents outside [0.01, 1000)). @param {number} v @param {boolean} [percent] */
export function formatY(v, percent) {
  if (percent) return `${Math.round(v * 100)}%`;
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000 || Math.abs(v) < 0.01) return v.toExponential(0);
  return String(+v.toPrecision(3));
}

/** A value in a readout: more digits than a tick. @param {number} v @param {boolean} [percent] */
export function formatValue(v, percent) {
  if (!Number.isFinite(v)) return String(v);
  if (percent) return `${(100 * v).toFixed(1)}%`;
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(3);
  return String(+v.toPrecision(4));
}

/** Ticks of a log axis over [lo, hi]: decades, plus 2 and 5 when the range spans few decades. @param {number} lo @param {number} hi */
export function logTicks(lo, hi) {
  const major = [];
  const minor = [];
  const few = Math.log10(hi / lo) < 2.5;
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (let m = 1; m < 10; m++) {
      const v = m * 10 ** e;
      if (v < lo * 0.999 || v > hi * 1.001) continue;
      if (m === 1 || (few && (m === 2 || m === 5))) major.push(v);
      else minor.push(v);
    }
  }
  return { major, minor };
}

/**
 * Ticks of a linear axis over [lo, hi] at a round step (1, 2 or 5 x 10^k) giving at most about `count` of them;
 * `integer` keeps the step at 1 or more. Returns the ticks and the decimals their labels need.
 * @param {number} lo @param {number} hi @param {{count?: number, integer?: boolean}} [o]
 */
export function niceTicks(lo, hi, { count = 5, integer = false } = {}) {
  const raw = (hi - lo) / Math.max(1, count - 1) || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * 0.999) || 10 * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-6; v += step) ticks.push(+v.toFixed(decimals));
  return { ticks, decimals };
}

/** At most `most` of `n` indices, evenly spaced, always the first and the last. @param {number} n @param {number} most */
export function thin(n, most) {
  if (n <= most) return [...Array(n).keys()];
  const step = Math.ceil((n - 1) / Math.max(1, most - 1));
  const out = [];
  for (let i = 0; i < n - 1; i += step) out.push(i);
  out.push(n - 1);
  return out;
}

/** The index of the value in `sorted` (ascending) nearest to `v`; -1 when empty. @param {number[]} sorted @param {number} v */
export function nearest(sorted, v) {
  if (!sorted.length) return -1;
  let lo = 0;
  let hi = sorted.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= v) lo = mid; else hi = mid;
  }
  return Math.abs(sorted[hi] - v) < Math.abs(sorted[lo] - v) ? hi : lo;
}

/** `text`, cut with an ellipsis to fit `width` pixels in `ctx`'s font. @param {CanvasRenderingContext2D} ctx @param {string} text @param {number} width */
export function fitText(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let n = text.length;
  while (n > 1 && ctx.measureText(`${text.slice(0, n)}…`).width > width) n--;
  return `${text.slice(0, n)}…`;
}

// ---- the canvas ----

const FONT = '12px system-ui, sans-serif';
const TITLE_FONT = '600 13px system-ui, sans-serif';
const LEGEND_ROW = 16;

/** A canvas sized to its box, cleared to white (so a PNG has a background); null while it is not laid out. @param {HTMLCanvasElement} canvas */
function surface(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (w === 0 || h === 0) return null;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, w, h);
  ctx.font = FONT;
  ctx.lineWidth = 1;
  return { ctx, w, h };
}

function yAxisLabel(ctx, text, y0, y1) {
  ctx.save();
  ctx.fillStyle = INK;
  ctx.translate(12, (y0 + y1) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(fitText(ctx, text, y0 - y1), 0, 0);
  ctx.restore();
}

/**
 * @typedef {{key: string, label: string, color: string, dash?: number[]}} Series
 * @typedef {{title: string, yLabel: string, xLabel?: string, x?: 'log' | 'linear' | 'category', categories?: string[],
 *   xRange?: [number, number], yLog?: boolean, yRange?: [number, number] | null, percent?: boolean, bars?: boolean,
 *   dots?: boolean, legend?: {label: string, color: string, dash?: number[]}[] | null, empty?: string,
 *   series: Series[]}} ChartOptions
 */

export class Chart {
  // options: title, yLabel, xLabel; x: 'log' (steps, the default), 'linear' or 'category' (x is an index into
  // `categories`, its labels); xRange (linear x); yLog, yRange, percent; bars (series drawn as bars); dots (a dot
  // on every point); legend (entries replacing the series', not toggles); empty (the text shown without data).
  /** @param {HTMLCanvasElement} canvas @param {ChartOptions} options */
  constructor(canvas, options) {
    this.canvas = canvas;
    this.options = options;
    /** @type {{from: number, to: number, label: string, color: string}[]} shaded x intervals */
    this.bands = [];
    /** @type {{x: number, label: string}[]} dashed vertical lines */
    this.markers = [];
    /** @type {{y: number, label: string, color: string, dash?: number[]}[]} horizontal reference lines */
    this.references = [];
    /** @type {Set<string>} series keys switched off in the legend */
    this.hidden = new Set();
    /** @type {number | null} the x value the readout shows */
    this.hoverX = null;
    /** @type {{key: string, x0: number, x1: number, y0: number, y1: number}[]} legend entries, for clicks */
    this.legendBoxes = [];
    this.pending = false;
    /** @type {Record<string, [number, number][]>} */
    this.data = {};
    this.setSeries(options.series);
    canvas.tabIndex = 0;
    canvas.addEventListener('mousemove', (e) => this.pointAt(e.offsetX, e.offsetY));
    canvas.addEventListener('mouseleave', () => this.hover(null));
    canvas.addEventListener('click', (e) => this.click(e.offsetX, e.offsetY));
    canvas.addEventListener('keydown', (e) => this.key(e));
    canvas.addEventListener('blur', () => this.hover(null));
    new ResizeObserver(() => this.redraw()).observe(canvas);
  }

  /** Replaces the series (keeping the points of keys that stay). @param {Series[]} series */
  setSeries(series) {
    const old = this.data;
    this.options.series = series;
    this.data = Object.fromEntries(series.map((s) => [s.key, old[s.key] || []]));
    for (const key of [...this.hidden]) if (!(key in this.data)) this.hidden.delete(key);
    this.redraw();
  }

  /** Sets options, series and their points in one go (a view redrawn from a new report). */
  show(options, points) {
    Object.assign(this.options, options);
    if (options.series) this.setSeries(options.series);
    this.set(points);
  }

  setBands(bands) {
    this.bands = bands;
    this.canvas.dataset.bands = bands.map((b) => b.label).join(',');
    this.redraw();
  }

  setMarkers(markers) {
    this.markers = markers;
    this.redraw();
  }

  setReferences(references) {
    this.references = references;
    this.canvas.dataset.references = String(references.length);
    this.redraw();
  }

  /** Replaces every series' points: {seriesKey: [[x, y], ...]}. */
  set(points) {
    for (const key of Object.keys(this.data)) this.data[key] = [];
    this.add(points);
  }

  /** Replaces the points of the series named in `points` only (another run's, drawn over this one's). */
  replace(points) {
    for (const key of Object.keys(points)) if (this.data[key]) this.data[key] = [];
    this.add(points);
  }

  clear() {
    for (const key of Object.keys(this.data)) this.data[key] = [];
    this.bands = [];
    this.markers = [];
    this.references = [];
    this.canvas.dataset.references = '0';
    this.hoverX = null;
    if (this.canvas.dataset.bands) this.canvas.dataset.bands = '';
    this.redraw();
  }

  /** Appends points: {seriesKey: [[x, y], ...]}; non-finite values and (on a log x axis) x <= 0 are skipped. */
  add(points) {
    const log = (this.options.x || 'log') === 'log';
    for (const [key, pts] of Object.entries(points)) {
      if (!this.data[key]) continue;
      for (const [x, y] of pts) if ((!log || x > 0) && Number.isFinite(y)) this.data[key].push([x, y]);
    }
    this.redraw();
  }

  pointCount() {
    return Object.values(this.data).reduce((n, pts) => n + pts.length, 0);
  }

  visible() {
    return this.options.series.filter((s) => !this.hidden.has(s.key));
  }

  /** Switches a series on or off (its legend entry stays, greyed). @param {string} key */
  toggle(key) {
    if (this.hidden.has(key)) this.hidden.delete(key); else if (key in this.data) this.hidden.add(key);
    if (this.hidden.size) this.canvas.dataset.hidden = [...this.hidden].join(' ');
    else delete this.canvas.dataset.hidden;
    this.hover(this.hoverX);  // the readout lists the visible series only
  }

  redraw() {
    this.canvas.dataset.points = String(this.pointCount());
    this.canvas.dataset.series = Object.entries(this.data).map(([key, pts]) => `${key}:${pts.length}`).join(' ');
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  /** Every distinct x of the visible series, ascending. */
  xs() {
    const set = new Set();
    for (const s of this.visible()) for (const [x] of this.data[s.key]) set.add(x);
    return [...set].sort((a, b) => a - b);
  }

  /** The readout at `x` (null: none): sets data-readout, "x: v · label: v · ...", then redraws. @param {number | null} x */
  hover(x) {
    this.hoverX = x;
    const lines = x == null ? null : this.readout(x);
    if (lines) this.canvas.dataset.readout = lines.join(' · ');
    else delete this.canvas.dataset.readout;
    this.redraw();
  }

  /** The readout's lines at `x`: the x value, then each visible series' value there (the nearest point). */
  readout(x) {
    const o = this.options;
    const kind = o.x || 'log';
    const xText = kind === 'category' ? (o.categories?.[x] ?? String(x)) : formatValue(x);
    const lines = [`${o.xLabel ? o.xLabel.split(' (')[0].split(' ·')[0] : 'step'} ${xText}`];
    for (const s of this.visible()) {
      const pts = this.data[s.key];
      if (!pts.length) continue;
      const i = nearest(pts.map((p) => p[0]), x);
      if (pts[i][0] === x) lines.push(`${s.label}: ${formatValue(pts[i][1], o.percent)}`);
    }
    return lines.length > 1 ? lines : null;
  }

  pointAt(px, py) {
    const f = this.frame;
    if (!f || px < f.x0 - 4 || px > f.x1 + 4 || py < f.y1 || py > f.y0) {
      if (this.hoverX != null) this.hover(null);
      return;
    }
    const xs = this.xs();
    const i = nearest(xs.map(f.sx), px);
    if (i >= 0 && xs[i] !== this.hoverX) this.hover(xs[i]);
  }

  click(px, py) {
    if (this.options.legend) return;
    const hit = this.legendBoxes.find((b) => px >= b.x0 && px <= b.x1 && py >= b.y0 && py <= b.y1);
    if (hit) this.toggle(hit.key);
  }

  // Arrow keys move the readout from point to point; 1-9 switch the n-th series; Escape hides the readout.
  key(e) {
    const xs = this.xs();
    if ((e.key === 'ArrowLeft' || e.key === 'ArrowRight') && xs.length) {
      const at = this.hoverX == null ? (e.key === 'ArrowLeft' ? xs.length : -1) : nearest(xs, this.hoverX);
      this.hover(xs[Math.min(xs.length - 1, Math.max(0, at + (e.key === 'ArrowLeft' ? -1 : 1)))]);
      e.preventDefault();
    } else if (/^[1-9]$/.test(e.key) && !this.options.legend) {
      const s = this.options.series[Number(e.key) - 1];
      if (s) this.toggle(s.key);
    } else if (e.key === 'Escape') this.hover(null);
  }

  xDomain() {
    const o = this.options;
    const kind = o.x || 'log';
    if (kind === 'category') return [0, Math.max(1, (o.categories?.length || 1) - 1)];
    let hi = kind === 'log' ? 10 : 1;
    for (const pts of Object.values(this.data)) for (const [x] of pts) hi = Math.max(hi, x);
    if (kind === 'linear') {
      if (o.xRange) return o.xRange;
      return [o.bars ? 0.5 : 1, o.bars ? hi + 0.5 : Math.max(hi, 2)];
    }
    // From step 1 to the smallest of 1, 2, 5 x 10^k at or above the last step (at least 10).
    const decade = 10 ** Math.floor(Math.log10(hi));
    return [1, [1, 2, 5, 10].map((m) => m * decade).find((v) => v >= hi)];
  }

  yDomain() {
    const o = this.options;
    if (o.yRange) return o.yRange;
    let lo = Infinity;
    let hi = -Infinity;
    const values = [...this.visible().flatMap((s) => this.data[s.key].map((p) => p[1])), ...this.references.map((r) => r.y)];
    for (const y of values) if (!o.yLog || y > 0) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
    if (!Number.isFinite(lo)) return o.yLog ? [0.01, 10] : [0, 1];
    if (o.yLog) {
      lo = Math.max(lo, 1e-12);
      return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(Math.max(hi, lo * 1.01)))];
    }
    if (o.bars) return [Math.min(0, lo), hi > 0 ? hi * 1.05 : 1];
    if (hi - lo < 1e-9) [lo, hi] = [lo - Math.max(Math.abs(lo) * 1e-3, 1e-6), hi + Math.max(Math.abs(hi) * 1e-3, 1e-6)];
    const pad = (hi - lo) * 0.06;
    return [lo - pad, hi + pad];
  }

  draw() {
    const s = surface(this.canvas);
    if (!s) return;
    const { ctx, w, h } = s;
    const o = this.options;
    const kind = o.x || 'log';
    const [ylo, yhi] = this.yDomain();
    const yt = o.yLog ? { ticks: logTicks(ylo, yhi).major, decimals: 0 } : o.percent && o.yRange?.[0] === 0 && o.yRange?.[1] === 1
      ? { ticks: [0, 0.25, 0.5, 0.75, 1], decimals: 0 } : niceTicks(ylo, yhi);
    const yLabelOf = (v) => (o.yLog || o.percent ? formatY(v, o.percent) : v.toFixed(yt.decimals));

    // Title, then the legend in rows under it (wrapping to the width), then the plot.
    const x0 = 26 + Math.max(24, ...yt.ticks.map((v) => ctx.measureText(yLabelOf(v)).width)) + 6;
    const x1 = w - 14;
    ctx.font = TITLE_FONT;
    ctx.fillStyle = INK;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(fitText(ctx, o.title, w - x0 - 40), x0, 13);
    ctx.font = FONT;
    const entries = o.legend || o.series;
    const rows = [];
    let lx = x1 + 1;
    let ly = 13;
    for (const e of entries) {
      const width = ctx.measureText(e.label).width + 30;
      if (lx + width > x1) { lx = x0; ly += LEGEND_ROW; }
      rows.push({ e, lx, ly, width });
      lx += width + 8;
    }
    const y1 = ly + 14;
    const y0 = h - 36;
    if (y0 - y1 < 30) return;  // too small to draw anything useful
    const [xlo, xhi] = this.xDomain();
    const sx = kind === 'log'
      ? (x) => x0 + (Math.log10(x) - Math.log10(xlo)) / (Math.log10(xhi) - Math.log10(xlo)) * (x1 - x0)
      : kind === 'category' ? (x) => ((o.categories?.length || 0) <= 1 ? (x0 + x1) / 2 : x0 + 10 + (x - xlo) / (xhi - xlo) * (x1 - x0 - 20))
        : (x) => x0 + (x - xlo) / (xhi - xlo) * (x1 - x0);
    const sy = o.yLog
      ? (y) => y0 - (Math.log10(Math.max(y, ylo)) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo)) * (y0 - y1)
      : (y) => y0 - (y - ylo) / (yhi - ylo) * (y0 - y1);
    this.frame = { x0, x1, y0, y1, sx };

    // Shaded bands (behind everything), each labelled at its top left when it fits.
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    for (const b of this.bands) {
      const bx0 = Math.max(x0, sx(Math.max(b.from, xlo)));
      const bx1 = Math.min(x1, sx(Math.min(b.to, xhi)));
      if (bx1 <= bx0) continue;
      ctx.fillStyle = b.color;
      ctx.fillRect(bx0, y1, bx1 - bx0, y0 - y1);
      ctx.fillStyle = MUTED;
      if (bx1 - bx0 > ctx.measureText(b.label).width + 8) ctx.fillText(b.label, bx0 + 4, y1 + 4);
    }

    // Grid, ticks (x labels thinned so none overlaps the previous one) and axes.
    const xt = kind === 'log' ? logTicks(xlo, xhi)
      : kind === 'category' ? { major: thin(o.categories?.length || 0, Math.max(2, Math.floor((x1 - x0) / 36))), minor: [] }
        : { major: niceTicks(xlo, xhi, { count: Math.max(2, Math.min(8, Math.floor((x1 - x0) / 40))), integer: true }).ticks, minor: [] };
    const xLabelOf = (x) => (kind === 'log' ? formatStep(x) : kind === 'category' ? (o.categories?.[x] ?? '') : String(x));
    ctx.strokeStyle = GRID;
    ctx.beginPath();
    for (const x of [...xt.major, ...xt.minor]) { ctx.moveTo(sx(x) + 0.5, y0); ctx.lineTo(sx(x) + 0.5, y1); }
    for (const y of yt.ticks) { ctx.moveTo(x0, Math.round(sy(y)) + 0.5); ctx.lineTo(x1, Math.round(sy(y)) + 0.5); }
    ctx.stroke();
    ctx.fillStyle = MUTED;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    let lastRight = -Infinity;
    for (const x of xt.major) {
      const label = xLabelOf(x);
      const half = ctx.measureText(label).width / 2;
      if (sx(x) - half < lastRight + 4) continue;
      ctx.fillText(label, sx(x), y0 + 6);
      lastRight = sx(x) + half;
    }
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const y of yt.ticks) ctx.fillText(yLabelOf(y), x0 - 6, sy(y));
    ctx.strokeStyle = INK;
    ctx.beginPath();
    ctx.moveTo(x0 + 0.5, y1);
    ctx.lineTo(x0 + 0.5, y0 + 0.5);
    ctx.lineTo(x1, y0 + 0.5);
    ctx.stroke();
    ctx.fillStyle = INK;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.fillText(fitText(ctx, o.xLabel || 'step (log scale)', x1 - x0), (x0 + x1) / 2, h - 4);
    yAxisLabel(ctx, o.yLabel, y0, y1);

    // The legend: a swatch per entry; a switched-off series greyed and struck through.
    this.legendBoxes = [];
    for (const { e, lx: ex, ly: ey, width } of rows) {
      const off = 'key' in e && this.hidden.has(/** @type {Series} */ (e).key);
      ctx.globalAlpha = off ? 0.35 : 1;
      if (o.bars) {
        ctx.fillStyle = e.color;
        ctx.fillRect(ex + 4, ey - 6, 12, 12);
      } else {
        ctx.strokeStyle = e.color;
        ctx.lineWidth = 2.5;
        ctx.setLineDash(e.dash || []);
        ctx.beginPath(); ctx.moveTo(ex, ey); ctx.lineTo(ex + 20, ey); ctx.stroke();
        ctx.setLineDash([]);
      }
      ctx.fillStyle = INK;
      ctx.textAlign = 'left';
      ctx.textBaseline = 'middle';
      ctx.fillText(e.label, ex + 26, ey);
      if (off) ctx.fillRect(ex + 26, ey, width - 30, 1);
      ctx.globalAlpha = 1;
      ctx.lineWidth = 1;
      if ('key' in e) this.legendBoxes.push({ key: /** @type {Series} */ (e).key, x0: ex, x1: ex + width, y0: ey - 8, y1: ey + 8 });
    }

    // Series, clipped to the plot.
    ctx.save();
    ctx.beginPath();
    ctx.rect(x0, y1 - 4, x1 - x0, y0 - y1 + 4);
    ctx.clip();
    ctx.lineJoin = 'round';
    const shown = this.visible();
    const barWidth = o.bars ? Math.max(1, (sx(2) - sx(1)) * 0.8 / Math.max(1, shown.length)) : 0;
    shown.forEach((q, i) => {
      const pts = this.data[q.key];
      if (!pts.length) return;
      ctx.fillStyle = q.color;
      if (o.bars) {
        for (const [x, y] of pts) ctx.fillRect(sx(x) - barWidth * shown.length / 2 + i * barWidth, sy(y), barWidth, y0 - sy(y));
        return;
      }
      ctx.strokeStyle = q.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(q.dash || []);
      ctx.beginPath();
      pts.forEach(([x, y], j) => (j ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
      ctx.stroke();
      ctx.setLineDash([]);
      if (o.dots || pts.length === 1) {
        for (const [x, y] of pts) { ctx.beginPath(); ctx.arc(sx(x), sy(y), 2.5, 0, 2 * Math.PI); ctx.fill(); }
      }
    });
    // Horizontal reference lines (another model's final scores), labelled at the right end.
    for (const r of this.references) {
      ctx.strokeStyle = r.color;
      ctx.lineWidth = 1.5;
      ctx.setLineDash(r.dash || [2, 3]);
      ctx.beginPath(); ctx.moveTo(x0, sy(r.y)); ctx.lineTo(x1, sy(r.y)); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = r.color;
      ctx.textAlign = 'right';
      ctx.textBaseline = 'bottom';
      ctx.fillText(r.label, x1 - 4, sy(r.y) - 2);
    }
    ctx.restore();

    // Markers over the series: dashed vertical lines, labelled at the top on a white backing.
    for (const m of this.markers) {
      ctx.strokeStyle = INK;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(sx(m.x), y0); ctx.lineTo(sx(m.x), y1); ctx.stroke();
      ctx.setLineDash([]);
      ctx.textAlign = sx(m.x) > (x0 + x1) / 2 ? 'right' : 'left';
      ctx.textBaseline = 'middle';
      const tx = sx(m.x) + (ctx.textAlign === 'right' ? -4 : 4);
      const tw = ctx.measureText(m.label).width;
      ctx.fillStyle = 'rgba(255,255,255,0.85)';
      ctx.fillRect(ctx.textAlign === 'right' ? tx - tw - 2 : tx - 2, y1 + 10, tw + 4, 16);
      ctx.fillStyle = INK;
      ctx.fillText(m.label, tx, y1 + 18);
    }

    if (this.pointCount() === 0) {
      ctx.fillStyle = MUTED;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(fitText(ctx, o.empty || 'no data yet: press Start', x1 - x0 - 8), (x0 + x1) / 2, (y0 + y1) / 2 + 12);
    }
    if (this.hoverX != null) this.drawReadout(ctx, sx(this.hoverX), x0, x1, y0, y1);
  }

  // A guide line at the hovered x and a box with the values there.
  drawReadout(ctx, hx, x0, x1, y0, y1) {
    const lines = this.readout(this.hoverX);
    if (!lines) return;
    ctx.strokeStyle = MUTED;
    ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(hx + 0.5, y0); ctx.lineTo(hx + 0.5, y1); ctx.stroke();
    const width = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 12;
    const height = lines.length * 15 + 8;
    const bx = hx + 8 + width > x1 ? Math.max(x0, hx - 8 - width) : hx + 8;
    ctx.fillStyle = 'rgba(255,255,255,0.93)';
    ctx.strokeStyle = GRID;
    ctx.fillRect(bx, y1 + 4, width, height);
    ctx.strokeRect(bx + 0.5, y1 + 4.5, width, height);
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    lines.forEach((l, i) => { ctx.fillStyle = i ? INK : MUTED; ctx.fillText(l, bx + 6, y1 + 9 + 15 * i); });
  }
}

/**
 * A heatmap: options {title, xLabel, yLabel, rows, cols, value(r, c), rowLabel(r), colLabel(c), lo, hi, log,
 * scaleLabel, mark(r, c)}. Colour is viridis over [lo, hi] (log10 when `log`), with a colour bar on the right;
 * `mark` outlines cells. Sets data-rows and data-cols.
 * @param {HTMLCanvasElement} canvas
 */
export function heatmap(canvas, o) {
  canvas.dataset.rows = String(o.rows);
  canvas.dataset.cols = String(o.cols);
  const s = surface(canvas);
  if (!s) return;
  const { ctx, w, h } = s;
  const bar = 54;
  const [x0, x1, y0, y1] = [68, w - 14 - bar, h - 40, 30];
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
    ctx.strokeStyle = PAPER;
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
  ctx.fillStyle = INK;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText(fitText(ctx, o.xLabel, x1 - x0), (x0 + x1) / 2, h - 3);
  yAxisLabel(ctx, o.yLabel, y0, y1);
  ctx.font = TITLE_FONT;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText(fitText(ctx, o.title, w - x0 - 8), x0, 15);
  ctx.font = FONT;

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
  const nice = niceTicks(o.lo, o.hi);
  const ticks = o.log ? logTicks(o.lo, o.hi).major.map((v) => [v, formatY(v)]) : nice.ticks.map((v) => [v, v.toFixed(nice.decimals)]);
  for (const [v, label] of ticks) ctx.fillText(label, bx + 13, y0 - unit(v) * (y0 - y1));
  ctx.save();
  ctx.translate(w - 6, (y0 + y1) / 2);
  ctx.rotate(Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.fillStyle = INK;
  ctx.fillText(fitText(ctx, o.scaleLabel, y0 - y1), 0, 0);
  ctx.restore();
}

/** A canvas that has nothing to draw says why, wrapped to its width. @param {HTMLCanvasElement} canvas @param {string} text */
export function message(canvas, text) {
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

/** Offers `blob` as a file called `name`. @param {string} name @param {Blob} blob */
export function download(name, blob) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** Adds a "PNG" button to `canvas`'s figure that downloads the chart as `name`.png. @param {HTMLCanvasElement} canvas @param {string} name */
export function pngButton(canvas, name) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'png';
  button.textContent = 'PNG';
  button.title = `Download this plot as ${name}.png`;
  button.setAttribute('aria-label', `Download the ${canvas.getAttribute('aria-label') || name} plot as PNG`);
  button.addEventListener('click', () => canvas.toBlob((blob) => blob && download(`${name}.png`, blob), 'image/png'));
  canvas.parentElement?.appendChild(button);
  return button;
}
