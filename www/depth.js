// The iteration-depth view: accuracy of every split against the number of test-time iterations (1 to twice the
// training depth, the training depth marked), and how many iterations each test example used under the adaptive
// KL exit. The worker refreshes both from `WebLab.depths` as training goes.
import { Chart } from './plot.js';
import { splitColor } from './phases.js';

export class DepthView {
  constructor({ depthCanvas, exitCanvas }) {
    this.depth = new Chart(depthCanvas, {
      title: 'Accuracy vs test-time iterations', yLabel: 'token accuracy', yRange: [0, 1], percent: true,
      x: 'linear', xLabel: 'iterations at test time', series: [], empty: 'refreshed after evaluations',
    });
    this.exit = new Chart(exitCanvas, {
      title: 'Iterations used under adaptive exit', yLabel: 'examples', x: 'linear', bars: true, legend: [],
      xLabel: 'exit iteration', series: [], empty: 'recurrent models only; refreshed after evaluations',
    });
  }

  clear() {
    this.depth.options.title = 'Accuracy vs test-time iterations';
    this.exit.options.title = 'Iterations used under adaptive exit';
    this.exit.options.xLabel = 'exit iteration';
    this.depth.setSeries([]);
    this.exit.setSeries([]);
    this.depth.clear();
    this.exit.clear();
  }

  // `sweep`: {step, training_depth, splits: [{split, accuracy, exact}], exit: {split, rule, histogram,
  // mean_iterations, exact_at_exit, exact_at_depth, examples} | null}
  show(sweep) {
    const deepest = sweep.splits[0]?.accuracy.length || 1;
    this.depth.options.title = `Accuracy vs iterations (step ${sweep.step.toLocaleString('en-US')})`;
    this.depth.options.xRange = [1, Math.max(2, deepest)];
    this.depth.setSeries(sweep.splits.map((s, i) => ({ key: s.split, label: s.split, color: splitColor(s.split, i) })));
    this.depth.set(Object.fromEntries(sweep.splits.map((s) => [s.split, s.accuracy.map((a, d) => [d + 1, a])])));
    this.depth.setMarkers([{ x: sweep.training_depth, label: `trained at ${sweep.training_depth}` }]);

    const e = sweep.exit;
    if (!e) {
      this.exit.options.title = 'Iterations used under adaptive exit (feedforward: one pass)';
      this.exit.setSeries([]);
      this.exit.setMarkers([]);
      return;
    }
    this.exit.options.title = `Adaptive exit (${e.rule}), ${e.examples} ${e.split} examples`;
    this.exit.options.xLabel = `exit iteration · mean ${e.mean_iterations.toFixed(1)} · exact ${(100 * e.exact_at_exit).toFixed(0)}%`
      + ` (${(100 * e.exact_at_depth).toFixed(0)}% at ${e.histogram.length})`;
    this.exit.options.xRange = [0.5, e.histogram.length + 0.5];
    this.exit.options.yRange = [0, 4 * Math.ceil(Math.max(1, ...e.histogram) / 4)];  // integer ticks
    this.exit.setSeries([{ key: 'exit', label: 'examples exiting', color: splitColor(e.split, 1) }]);
    this.exit.set({ exit: e.histogram.map((n, t) => [t + 1, n]) });
    this.exit.setMarkers([{ x: sweep.training_depth, label: `trained at ${sweep.training_depth}` }]);
  }
}
