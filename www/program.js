// The program view (automaton task): one program (rule, tape, steps) through the current model (WebLab.program
// in the worker), the space-time diagram the model predicts after each iteration beside the true execution, a
// slider and Play to scrub iterations, and the verdict. Row t of a diagram is the tape after t steps; a
// predicted 1 is shaded by its probability, wrong cells are outlined, and the rows the model has right from
// the start are ticked on the left.
import { PALETTE } from './plot.js';
import { Scrub } from './scrub.js';

const INK = '#1d1d1f';
const UNKNOWN = '#c8c8cc';
const MAX_CELL = 22;

// `rgb` (#rrggbb) at `alpha` over white.
function tint(rgb, alpha) {
  const mix = (i) => Math.round(255 + (parseInt(rgb.slice(i, i + 2), 16) - 255) * alpha);
  return `rgb(${mix(1)}, ${mix(3)}, ${mix(5)})`;
}

export class ProgramView {
  // root: the #program section; request(text) asks the worker to run `text` ('' draws a held-out program).
  constructor(root, request) {
    const q = (id) => root.querySelector(`#${id}`);
    this.el = {
      root, input: q('program-input'), run: q('program-run'), draw: q('program-draw'), error: q('program-error'),
      result: q('program-result'), note: q('program-note'), model: q('program-model'), truth: q('program-truth'),
      slider: q('program-slider'), play: q('program-play'), step: q('program-step'), verdict: q('program-verdict'),
    };
    this.busy = false;
    this.execution = null;
    const go = (text) => {
      this.busy = true;
      this.el.error.hidden = true;
      this.enable(false);
      request(text);
    };
    this.el.run.addEventListener('click', () => go(this.el.input.value));
    this.el.draw.addEventListener('click', () => go(''));
    this.scrub = new Scrub(this.el.slider, this.el.play, () => this.draw());
  }

  setTask(kind) {
    this.el.root.hidden = kind !== 'automaton';
  }

  enable(idle) {
    this.el.run.disabled = this.el.draw.disabled = !idle || this.busy;
  }

  clear() {
    this.scrub.stop();
    this.execution = null;
    this.el.result.hidden = true;
    this.el.error.hidden = true;
  }

  // A worker message: {execution} or {message} for a bad program or a failed run.
  receive(msg) {
    this.busy = false;
    if (msg.message) {
      this.clear();
      this.el.error.textContent = msg.message;
      this.el.error.hidden = false;
      return;
    }
    this.show(msg.execution);
  }

  show(execution) {
    this.scrub.stop();
    this.execution = execution;
    this.el.input.value = execution.text;
    const n = execution.iterations.length;
    Object.assign(this.el.slider, { min: 1, max: n, value: execution.exit_iteration });
    this.el.note.textContent = `${execution.note}. ${execution.steps} steps on ${execution.cells} cells, `
      + `${n} iterations (at least one per step).`;
    this.el.verdict.textContent = `Answer at the exit iteration (${execution.exit_iteration} of ${n}): ${execution.verdict}.`;
    this.el.verdict.className = execution.valid ? 'verdict ok' : 'verdict bad';
    this.el.result.hidden = false;
    this.el.root.dataset.valid = String(execution.valid);
    this.draw();
  }

  draw() {
    const ex = this.execution;
    if (!ex) return;
    const t = Number(this.el.slider.value);
    const it = ex.iterations[t - 1];
    const wrong = it.wrong.flat().filter(Boolean).length;
    this.el.step.textContent = `iteration ${t} of ${ex.iterations.length} · steps 1-${it.right_rows} right`
      .replace('steps 1-0 right', 'no step right yet')
      + ` · ${wrong} wrong cell${wrong === 1 ? '' : 's'}` + (t === ex.exit_iteration ? ' · exit' : '');
    this.el.root.dataset.iteration = String(t);
    this.el.root.dataset.rightRows = String(it.right_rows);
    const model = ex.truth.map((row, r) => (r === 0 ? row.map((c) => ({ c, p: 1 }))
      : it.rows[r - 1].map((c, j) => ({ c, p: it.confidence[r - 1][j], wrong: it.wrong[r - 1][j] }))));
    diagram(this.el.model, model, it.right_rows);
    diagram(this.el.truth, ex.truth.map((row) => row.map((c) => ({ c, p: 1 }))), 0);
  }
}

// A space-time diagram: rows of {c: 0 | 1 | null, p: probability, wrong}; rows 1..rightRows ticked.
function diagram(canvas, rows, rightRows) {
  const h = rows.length;
  const w = rows[0].length;
  const margin = 8;
  const cell = Math.max(4, Math.min(MAX_CELL, Math.floor(((canvas.parentElement?.clientWidth || 300) - margin) / w)));
  const dpr = window.devicePixelRatio || 1;
  const [cw, ch] = [margin + w * cell, h * cell];
  canvas.style.width = `${cw}px`;
  canvas.style.height = `${ch}px`;
  canvas.width = Math.round(cw * dpr);
  canvas.height = Math.round(ch * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cw, ch);
  rows.forEach((row, r) => {
    if (r > 0 && r <= rightRows) {
      ctx.fillStyle = PALETTE.green;
      ctx.fillRect(0, r * cell + 1, margin - 3, cell - 2);
    }
    row.forEach(({ c, p, wrong }, j) => {
      const [x, y] = [margin + j * cell, r * cell];
      ctx.fillStyle = c == null ? UNKNOWN : c === 1 ? (r === 0 || p === 1 ? INK : tint(PALETTE.blue, 0.35 + 0.65 * p)) : '#ffffff';
      ctx.fillRect(x, y, cell, cell);
      ctx.strokeStyle = '#e4e4e8';
      ctx.lineWidth = 0.5;
      ctx.strokeRect(x + 0.25, y + 0.25, cell - 0.5, cell - 0.5);
      if (wrong) {
        ctx.strokeStyle = PALETTE.vermillion;
        ctx.lineWidth = Math.max(1.5, cell * 0.14);
        ctx.strokeRect(x + ctx.lineWidth / 2, y + ctx.lineWidth / 2, cell - ctx.lineWidth, cell - ctx.lineWidth);
      }
    });
  });
}
