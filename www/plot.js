// Small hand-written line charts on a canvas: log-scale step axis, linear or log y axis, ticks, labels, legend.

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
export const PALETTE = { blue: '#0072B2', orange: '#E69F00', green: '#009E73', vermillion: '#D55E00', purple: '#CC79A7' };

const INK = '#1d1d1f';
const MUTED = '#6b6b70';
const GRID = '#ececef';
const MARGIN = { left: 60, right: 18, top: 34, bottom: 42 };

const log10 = Math.log10;

function formatStep(v) {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return String(v);
}

export function formatY(v, percent) {
  if (percent) return `${Math.round(v * 100)}%`;
  if (v >= 1000 || v < 0.01) return v.toExponential(0);
  return String(+v.toPrecision(3));
}

// Ticks of a log axis over [lo, hi]: decades, plus 2 and 5 when the range spans few decades.
export function logTicks(lo, hi) {
  const major = [];
  const minor = [];
  const few = log10(hi / lo) < 2.5;
  for (let e = Math.floor(log10(lo)); e <= Math.ceil(log10(hi)); e++) {
    for (let m = 1; m < 10; m++) {
      const v = m * 10 ** e;
      if (v < lo * 0.999 || v > hi * 1.001) continue;
      if (m === 1 || (few && (m === 2 || m === 5))) major.push(v);
      else minor.push(v);
    }
  }
  return { major, minor };
}

export class Chart {
  // options: {title, yLabel, yLog, yRange: [lo, hi] | null, percent, series: [{key, label, color, dash}]}
  constructor(canvas, options) {
    this.canvas = canvas;
    this.options = options;
    this.data = Object.fromEntries(options.series.map((s) => [s.key, []]));
    this.pending = false;
    new ResizeObserver(() => this.redraw()).observe(canvas);
  }

  clear() {
    for (const key of Object.keys(this.data)) this.data[key] = [];
    this.redraw();
  }

  // points: {seriesKey: [[x, y], ...]}
  add(points) {
    for (const [key, pts] of Object.entries(points)) {
      for (const [x, y] of pts) if (x > 0 && Number.isFinite(y)) this.data[key].push([x, y]);
    }
    this.redraw();
  }

  pointCount() {
    return Object.values(this.data).reduce((n, pts) => n + pts.length, 0);
  }

  redraw() {
    this.canvas.dataset.points = String(this.pointCount());
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  // From step 1 to the smallest of 1, 2, 5 x 10^k at or above the last step (at least 10).
  xDomain() {
    let hi = 10;
    for (const pts of Object.values(this.data)) if (pts.length) hi = Math.max(hi, pts[pts.length - 1][0]);
    const decade = 10 ** Math.floor(log10(hi));
    const nice = [1, 2, 5, 10].map((m) => m * decade).find((v) => v >= hi);
    return [1, nice];
  }

  yDomain() {
    if (this.options.yRange) return this.options.yRange;
    let lo = Infinity;
    let hi = -Infinity;
    for (const pts of Object.values(this.data)) for (const [, y] of pts) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
    if (!Number.isFinite(lo)) return this.options.yLog ? [0.01, 10] : [0, 1];
    if (this.options.yLog) {
      lo = Math.max(lo, 1e-6);
      return [10 ** Math.floor(log10(lo)), 10 ** Math.ceil(log10(Math.max(hi, lo * 1.01)))];
    }
    return [Math.min(0, lo), hi > 0 ? hi * 1.05 : 1];
  }

  draw() {
    const { canvas, options } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);

    const x0 = MARGIN.left;
    const x1 = w - MARGIN.right;
    const y0 = h - MARGIN.bottom;
    const y1 = MARGIN.top;
    const [xlo, xhi] = this.xDomain();
    const [ylo, yhi] = this.yDomain();
    const sx = (x) => x0 + (log10(x) - log10(xlo)) / (log10(xhi) - log10(xlo)) * (x1 - x0);
    const sy = options.yLog
      ? (y) => y0 - (log10(Math.max(y, ylo)) - log10(ylo)) / (log10(yhi) - log10(ylo)) * (y0 - y1)
      : (y) => y0 - (y - ylo) / (yhi - ylo) * (y0 - y1);

    ctx.font = '12px system-ui, sans-serif';
    ctx.lineWidth = 1;

    // Grid and ticks.
    const xt = logTicks(xlo, xhi);
    const yt = options.yLog ? logTicks(ylo, yhi)
      : { major: Array.from({ length: 5 }, (_, i) => ylo + (yhi - ylo) * i / 4), minor: [] };
    ctx.strokeStyle = GRID;
    ctx.beginPath();
    for (const x of [...xt.major, ...xt.minor]) { ctx.moveTo(sx(x) + 0.5, y0); ctx.lineTo(sx(x) + 0.5, y1); }
    for (const y of yt.major) { ctx.moveTo(x0, Math.round(sy(y)) + 0.5); ctx.lineTo(x1, Math.round(sy(y)) + 0.5); }
    ctx.stroke();

    ctx.fillStyle = MUTED;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const x of xt.major) ctx.fillText(formatStep(x), sx(x), y0 + 6);
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const y of yt.major) ctx.fillText(formatY(y, options.percent), x0 - 6, sy(y));

    // Axes.
    ctx.strokeStyle = INK;
    ctx.beginPath();
    ctx.moveTo(x0 + 0.5, y1);
    ctx.lineTo(x0 + 0.5, y0 + 0.5);
    ctx.lineTo(x1, y0 + 0.5);
    ctx.stroke();

    // Axis labels and title.
    ctx.fillStyle = INK;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.fillText('step (log scale)', (x0 + x1) / 2, h - 4);
    ctx.save();
    ctx.translate(14, (y0 + y1) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle';
    ctx.fillText(options.yLabel, 0, 0);
    ctx.restore();
    ctx.font = '600 13px system-ui, sans-serif';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(options.title, x0, y1 / 2 + 2);

    // Legend, top right.
    ctx.font = '12px system-ui, sans-serif';
    let lx = x1;
    for (const s of [...options.series].reverse()) {
      const tw = ctx.measureText(s.label).width;
      lx -= tw;
      ctx.fillStyle = INK;
      ctx.fillText(s.label, lx, y1 / 2 + 2);
      lx -= 26;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2.5;
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      ctx.moveTo(lx, y1 / 2 + 2);
      ctx.lineTo(lx + 20, y1 / 2 + 2);
      ctx.stroke();
      ctx.setLineDash([]);
      lx -= 16;
    }

    // Series.
    ctx.save();
    ctx.beginPath();
    ctx.rect(x0, y1, x1 - x0, y0 - y1);
    ctx.clip();
    ctx.lineJoin = 'round';
    for (const s of options.series) {
      const pts = this.data[s.key];
      if (!pts.length) continue;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      pts.forEach(([x, y], i) => (i ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
      ctx.stroke();
      if (pts.length === 1) {
        ctx.fillStyle = s.color;
        ctx.beginPath();
        ctx.arc(sx(pts[0][0]), sy(pts[0][1]), 3, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    ctx.restore();
    ctx.setLineDash([]);

    if (this.pointCount() === 0) {
      ctx.fillStyle = MUTED;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText('no data yet: press Start', (x0 + x1) / 2, (y0 + y1) / 2);
    }
  }
}
