// The program view (automaton task): one program (rule, tape, steps) through the current model (WebLab.solve in
// the worker, the core's automaton problem), the space-time diagram the model predicts after each iteration
// beside the true execution, a slider and Play to scrub iterations, and the verdict. Row t of a diagram is the tape after t steps; a
// predicted 1 is shaded by its probability, wrong cells are outlined, and the rows the model has right from
// the start are ticked on the left.
import { PALETTE, INK, UNKNOWN, PAPER, CELL_LINE, tint } from './plot.js';
import { Scrub } from './scrub.js';

const MAX_CELL = 22;

export class ProgramView {
  // root: the #program section; request(text) asks the worker to run `text` (null draws a held-out program).
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
    this.el.draw.addEventListener('click', () => go(null));
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

  // A worker message: {solution} or {message} for a bad program or a failed run.
  receive(msg) {
    this.busy = false;
    if (msg.message) {
      this.clear();
      this.el.error.textContent = msg.message;
      this.el.error.hidden = false;
      return;
    }
    this.show(msg.solution);
  }

  // `solution`: the core's solve of an automaton problem (WebLab.solve), read back into diagram rows.
  show(solution) {
    this.scrub.stop();
    this.execution = diagrams(solution);
    const ex = this.execution;
    this.el.input.value = solution.text;
    const n = solution.iterations.length;
    Object.assign(this.el.slider, { min: 1, max: n, value: solution.exit_iteration });
    this.el.note.textContent = `${solution.note}. ${ex.steps} steps on ${ex.cells} cells, `
      + `${n} iterations (at least one per step).`;
    this.el.verdict.textContent = `Answer at the exit iteration (${solution.exit_iteration} of ${n}): ${solution.verdict}.`;
    this.el.verdict.className = solution.valid ? 'verdict ok' : 'verdict bad';
    this.el.result.hidden = false;
    this.el.root.dataset.valid = String(solution.valid);
    this.draw();
  }

  draw() {
    const ex = this.execution;
    if (!ex) return;
    const t = Number(this.el.slider.value);
    const it = ex.iterations[t - 1];
    const wrong = it.rows.flat().filter((c) => c.wrong).length;
    this.el.step.textContent = `iteration ${t} of ${ex.iterations.length} · `
      + (it.rightRows > 0 ? `steps 1-${it.rightRows} right` : 'no step right yet')
      + ` · ${wrong} wrong cell${wrong === 1 ? '' : 's'}` + (t === ex.exitIteration ? ' · exit' : '');
    this.el.root.dataset.iteration = String(t);
    this.el.root.dataset.rightRows = String(it.rightRows);
    diagram(this.el.model, [ex.truth[0], ...it.rows], it.rightRows);
    diagram(this.el.truth, ex.truth, 0);
  }
}

// The program's rows out of a solution's grid (row 0 the tape, then one row per step; the EDGE columns and any
// padding of a model with learned positions left out): the true diagram and, per iteration, the predicted one
// ({c: 0 | 1 | null, p: probability, wrong}) with how many leading steps are right.
function diagrams(solution) {
  const [h, w] = solution.grid;
  const at = (r, j) => r * w + j + 1;
  const firstEdge = solution.tokens.slice(1, w).findIndex((x) => x > 1);
  const cells = firstEdge < 0 ? w - 2 : firstEdge;
  let steps = 0;
  while (steps + 1 < h && solution.tokens[at(steps + 1, 0)] > 2) steps++;
  const row = (r, f) => Array.from({ length: cells }, (_, j) => f(at(r, j)));
  const truth = Array.from({ length: steps + 1 }, (_, r) => row(r, (i) => ({ c: solution.expected[i], p: 1 })));
  const iterations = solution.iterations.map((it) => {
    const rows = Array.from({ length: steps }, (_, r) => row(r + 1, (i) => ({
      c: it.predictions[i] <= 1 ? it.predictions[i] : null, p: it.confidence[i], wrong: it.marked[i],
    })));
    const rightRows = rows.findIndex((cs) => cs.some((c) => c.wrong));
    return { rows, rightRows: rightRows < 0 ? steps : rightRows };
  });
  return { steps, cells, truth, iterations, exitIteration: solution.exit_iteration };
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
      ctx.fillStyle = c == null ? UNKNOWN : c === 1 ? (r === 0 || p === 1 ? INK : tint(PALETTE.blue, 0.35 + 0.65 * p)) : PAPER;
      ctx.fillRect(x, y, cell, cell);
      ctx.strokeStyle = CELL_LINE;
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
