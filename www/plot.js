// Small hand-written charts on a canvas: a log-scale step axis (or a linear one), linear or log y axis, ticks,
// labels, legend; lines or bars; shaded x bands (training phases) and vertical markers (the training depth).

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
  if (v === 0) return '0';
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
  // options: {title, yLabel, yLog, yRange: [lo, hi] | null, percent, series: [{key, label, color, dash}],
  //   xLinear, xLabel, xRange: [lo, hi] (linear x only), bars (series drawn as bars), legend: [{label, color, dash}]
  //   (replaces the series' entries), empty (the text shown without data)}
  constructor(canvas, options) {
    this.canvas = canvas;
    this.options = options;
    this.bands = [];    // [{from, to, label, color}]: shaded x intervals
    this.markers = [];  // [{x, label}]: dashed vertical lines
    this.setSeries(options.series);
    this.pending = false;
    new ResizeObserver(() => this.redraw()).observe(canvas);
  }

  // Replaces the series (keeping the points of keys that stay).
  setSeries(series) {
    const old = this.data || {};
    this.options.series = series;
    this.data = Object.fromEntries(series.map((s) => [s.key, old[s.key] || []]));
    this.redraw();
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

  // Replaces every series' points: {seriesKey: [[x, y], ...]}.
  set(points) {
    for (const key of Object.keys(this.data)) this.data[key] = [];
    this.add(points);
  }

  clear() {
    for (const key of Object.keys(this.data)) this.data[key] = [];
    this.bands = [];
    this.markers = [];
    this.canvas.dataset.bands = '';
    this.redraw();
  }

  // points: {seriesKey: [[x, y], ...]}
  add(points) {
    for (const [key, pts] of Object.entries(points)) {
      if (!this.data[key]) continue;
      for (const [x, y] of pts) if (x > 0 && Number.isFinite(y)) this.data[key].push([x, y]);
    }
    this.redraw();
  }

  pointCount() {
    return Object.values(this.data).reduce((n, pts) => n + pts.length, 0);
  }

  redraw() {
    this.canvas.dataset.points = String(this.pointCount());
    this.canvas.dataset.series = Object.entries(this.data).map(([key, pts]) => `${key}:${pts.length}`).join(' ');
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  // From step 1 to the smallest of 1, 2, 5 x 10^k at or above the last step (at least 10).
  xDomain() {
    if (this.options.xLinear) {
      if (this.options.xRange) return this.options.xRange;
      let hi = 1;
      for (const pts of Object.values(this.data)) for (const [x] of pts) hi = Math.max(hi, x);
      return [this.options.bars ? 0.5 : 1, this.options.bars ? hi + 0.5 : Math.max(hi, 2)];
    }
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
    ctx.fillStyle = '#ffffff';  // opaque, so the PNG download has a background
    ctx.fillRect(0, 0, w, h);

    const x0 = MARGIN.left;
    const x1 = w - MARGIN.right;
    const y0 = h - MARGIN.bottom;
    const y1 = MARGIN.top;
    const [xlo, xhi] = this.xDomain();
    const [ylo, yhi] = this.yDomain();
    const sx = options.xLinear
      ? (x) => x0 + (x - xlo) / (xhi - xlo) * (x1 - x0)
      : (x) => x0 + (log10(x) - log10(xlo)) / (log10(xhi) - log10(xlo)) * (x1 - x0);
    const sy = options.yLog
      ? (y) => y0 - (log10(Math.max(y, ylo)) - log10(ylo)) / (log10(yhi) - log10(ylo)) * (y0 - y1)
      : (y) => y0 - (y - ylo) / (yhi - ylo) * (y0 - y1);

    ctx.font = '12px system-ui, sans-serif';
    ctx.lineWidth = 1;

    // Shaded bands (behind everything), each labelled at its top left.
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

    // Grid and ticks.
    const xt = options.xLinear ? linearTicks(xlo, xhi) : logTicks(xlo, xhi);
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
    for (const x of xt.major) ctx.fillText(options.xLinear ? String(x) : formatStep(x), sx(x), y0 + 6);
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
    ctx.fillText(options.xLabel || 'step (log scale)', (x0 + x1) / 2, h - 4);
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
    for (const s of [...(options.legend || options.series)].reverse()) {
      const tw = ctx.measureText(s.label).width;
      lx -= tw;
      ctx.fillStyle = INK;
      ctx.fillText(s.label, lx, y1 / 2 + 2);
      lx -= 26;
      if (options.bars) {
        ctx.fillStyle = s.color;
        ctx.fillRect(lx + 4, y1 / 2 - 4, 12, 12);
      } else {
        ctx.strokeStyle = s.color;
        ctx.lineWidth = 2.5;
        ctx.setLineDash(s.dash || []);
        ctx.beginPath();
        ctx.moveTo(lx, y1 / 2 + 2);
        ctx.lineTo(lx + 20, y1 / 2 + 2);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      lx -= 16;
    }

    // Series.
    ctx.save();
    ctx.beginPath();
    ctx.rect(x0, y1, x1 - x0, y0 - y1);
    ctx.clip();
    ctx.lineJoin = 'round';
    const barWidth = options.bars ? Math.max(1, (sx(2) - sx(1)) * 0.8 / options.series.length) : 0;
    options.series.forEach((s, i) => {
      const pts = this.data[s.key];
      if (!pts.length) return;
      if (options.bars) {
        ctx.fillStyle = s.color;
        for (const [x, y] of pts) {
          const left = sx(x) - barWidth * options.series.length / 2 + i * barWidth;
          ctx.fillRect(left, sy(y), barWidth, y0 - sy(y));
        }
        return;
      }
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
    });
    ctx.restore();
    ctx.setLineDash([]);
    // Markers over the series: dashed vertical lines, labelled at the top.
    for (const m of this.markers) {
      ctx.strokeStyle = INK;
      ctx.lineWidth = 1.5;
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(sx(m.x), y0);
      ctx.lineTo(sx(m.x), y1);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.textAlign = sx(m.x) > (x0 + x1) / 2 ? 'right' : 'left';
      const tx = sx(m.x) + (ctx.textAlign === 'right' ? -4 : 4);
      const tw = ctx.measureText(m.label).width;
      ctx.fillStyle = 'rgba(255,255,255,0.85)';  // legible over bars and curves
      ctx.fillRect(ctx.textAlign === 'right' ? tx - tw - 2 : tx - 2, y1 + 10, tw + 4, 16);
      ctx.fillStyle = INK;
      ctx.fillText(m.label, tx, y1 + 18);
    }

    if (this.pointCount() === 0) {
      ctx.fillStyle = MUTED;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(options.empty || 'no data yet: press Start', (x0 + x1) / 2, (y0 + y1) / 2);
    }
  }
}

// Integer ticks over [lo, hi], about six of them.
function linearTicks(lo, hi) {
  const step = Math.max(1, [1, 2, 5, 10, 20, 50, 100].find((s) => (hi - lo) / s <= 8) || 100);
  const major = [];
  for (let v = Math.ceil(lo / step) * step || step; v <= hi; v += step) major.push(v);
  if (!major.includes(1) && lo <= 1) major.unshift(1);
  return { major, minor: [] };
}

// Adds a "PNG" button to `canvas`'s figure that downloads the chart as `name`.png.
export function pngButton(canvas, name) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'png';
  button.textContent = 'PNG';
  button.title = `Download this plot as ${name}.png`;
  button.setAttribute('aria-label', `Download the ${canvas.getAttribute('aria-label') || name} plot as PNG`);
  button.addEventListener('click', () => canvas.toBlob((blob) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${name}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }, 'image/png'));
  canvas.parentElement.appendChild(button);
  return button;
}
