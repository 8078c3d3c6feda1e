// The solving view: one Sudoku or maze through the current model (WebLab.solve in the worker), the prediction
// after each iteration on a canvas grid, a slider and Play to scrub iterations, and the validator's verdict.
// Cell shading is the probability of the predicted token; givens are bold; rule-breaking cells are outlined.
// Beside a trained model, its solution of the same puzzle is drawn under the lab's at the same iteration.
import { PALETTE, INK, FAINT, WALL, PAPER, tint } from './plot.js';
import { Scrub } from './scrub.js';

export class SolveView {
  constructor(el) {
    this.el = el;
    this.solution = null;
    this.scrub = new Scrub(el.slider, el.play, () => this.draw());
  }

  // `reference`: {name, solution} of the trained model beside which the lab trains, or null.
  show(solution, reference = null) {
    this.scrub.stop();
    this.solution = solution;
    this.reference = reference;
    const n = Math.max(solution.iterations.length, reference?.solution.iterations.length || 0);
    Object.assign(this.el.slider, { min: 1, max: n, value: 1 });
    this.el.result.hidden = false;
    verdict(this.el.verdict, solution);
    this.el.reference.hidden = !reference;
    if (reference) {
      this.el.referenceCaption.textContent = `The trained model ${reference.name}, on the same puzzle:`;
      verdict(this.el.referenceVerdict, reference.solution);
    }
    this.draw();
  }

  clear() {
    this.scrub.stop();
    this.solution = this.reference = null;
    this.el.result.hidden = true;
  }

  draw() {
    const sol = this.solution;
    if (!sol) return;
    const t = Number(this.el.slider.value);
    const at = Math.min(t, sol.iterations.length);
    const it = sol.iterations[at - 1];
    const changed = at > 1 ? it.predictions.filter((p, i) => p !== sol.iterations[at - 2].predictions[i]).length : null;
    this.el.step.textContent = `iteration ${at} of ${sol.iterations.length}`
      + (changed == null ? '' : ` · ${changed} changed`)
      + (it.valid ? ' · valid' : ' · not valid')
      + (at === sol.exit_iteration ? ' · exit' : '');
    drawGrid(this.el.canvas, sol, at);
    if (this.reference) drawGrid(this.el.referenceCanvas, this.reference.solution, Math.min(t, this.reference.solution.iterations.length));
  }
}

function verdict(el, solution) {
  el.textContent = `Answer at the exit iteration (${solution.exit_iteration} of ${solution.iterations.length}): ${solution.verdict}.`;
  el.className = solution.valid ? 'verdict ok' : 'verdict bad';
}

// `sol`'s prediction after iteration `t` on `canvas`.
function drawGrid(canvas, sol, t) {
  const it = sol.iterations[t - 1];
  canvas.dataset.iteration = String(t);
  const dpr = window.devicePixelRatio || 1;
  const css = canvas.clientWidth || 300;
  canvas.width = canvas.height = Math.round(css * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, css, css);
  const [h, w] = sol.grid;
  const cell = css / Math.max(h, w);
  (sol.kind === 'sudoku' ? drawSudoku : drawMaze)(ctx, sol, it, cell);
}

function drawSudoku(ctx, sol, it, cell) {
  const n = sol.grid[0];
  const [br, bc] = n === 6 ? [2, 3] : [Math.sqrt(n), Math.sqrt(n)];
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  for (let i = 0; i < n * n; i++) {
    const [x, y] = [(i % n) * cell, Math.floor(i / n) * cell];
    const given = sol.tokens[i] !== 0;
    ctx.fillStyle = tint(PALETTE.blue, 0.6 * it.confidence[i]);
    ctx.fillRect(x, y, cell, cell);
    const p = it.predictions[i];
    ctx.font = `${given ? 700 : 400} ${Math.round(cell * 0.5)}px system-ui, sans-serif`;
    ctx.fillStyle = it.marked[i] ? PALETTE.vermillion : INK;
    ctx.fillText(p === 0 ? '·' : String(p), x + cell / 2, y + cell / 2 + 1);
    if (it.marked[i]) {
      ctx.strokeStyle = PALETTE.vermillion;
      ctx.lineWidth = 3;
      ctx.strokeRect(x + 2.5, y + 2.5, cell - 5, cell - 5);
    }
  }
  for (let k = 0; k <= n; k++) {
    const line = (thick, x0, y0, x1, y1) => {
      ctx.strokeStyle = thick ? INK : FAINT;
      ctx.lineWidth = thick ? 2 : 0.6;
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
    };
    line(k % br === 0, 0, k * cell, n * cell, k * cell);
    line(k % bc === 0, k * cell, 0, k * cell, n * cell);
  }
}

function drawMaze(ctx, sol, it, cell) {
  const [h, w] = sol.grid;
  const endpoint = { 2: ['S', PALETTE.green], 3: ['G', PALETTE.orange] };
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.font = `700 ${Math.round(cell * 0.6)}px system-ui, sans-serif`;
  for (let i = 0; i < h * w; i++) {
    const [x, y] = [(i % w) * cell, Math.floor(i / w) * cell];
    const token = sol.tokens[i];
    const onPath = it.predictions[i] === 1;
    ctx.fillStyle = token === 0 ? WALL : onPath ? tint(PALETTE.blue, it.confidence[i]) : PAPER;
    if (endpoint[token]) ctx.fillStyle = endpoint[token][1];
    ctx.fillRect(x, y, cell, cell);
    if (endpoint[token]) {
      ctx.fillStyle = PAPER;
      ctx.fillText(endpoint[token][0], x + cell / 2, y + cell / 2 + 1);
    }
    if (it.marked[i]) {
      ctx.strokeStyle = PALETTE.vermillion;
      ctx.lineWidth = Math.max(1.5, cell * 0.15);
      ctx.strokeRect(x + ctx.lineWidth / 2, y + ctx.lineWidth / 2, cell - ctx.lineWidth, cell - ctx.lineWidth);
    }
  }
}
