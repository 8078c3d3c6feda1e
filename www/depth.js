// The iteration-depth view: accuracy of every split against the number of test-time iterations (1 to twice the
// training depth, the training depth marked), and how many iterations each test example used under the adaptive
// KL exit. The worker refreshes both from `WebLab.depths` as training goes; beside a trained model, its sweep is
// drawn too (dashed curves, dark bars).
import { Chart, INK, TWIN_DASH } from './plot.js';
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
    this.sweep = this.reference = null;
    this.depth.options.title = 'Accuracy vs test-time iterations';
    this.exit.options.title = 'Iterations used under adaptive exit';
    this.exit.options.xLabel = 'exit iteration';
    this.depth.setSeries([]);
    this.exit.setSeries([]);
    this.depth.clear();
    this.exit.clear();
  }

  // `sweep`: {step, training_depth, splits: [{split, accuracy, exact}], exit: {split, rule, histogram,
  // mean_iterations, exact_at_exit, exact_at_depth, examples} | null}: the lab's.
  show(sweep) {
    this.sweep = sweep;
    this.draw();
  }

  // The sweep of the trained model `name` the lab trains beside, drawn dashed (and its exit bars beside the
  // lab's), or null.
  showReference(sweep, name) {
    this.reference = sweep && { sweep, name };
    this.draw();
  }

  draw() {
    const own = this.sweep;
    const ref = this.reference;
    const any = own || ref?.sweep;
    if (!any) return;
    const deepest = Math.max(own?.splits[0]?.accuracy.length || 1, ref?.sweep.splits[0]?.accuracy.length || 1);
    this.depth.options.title = own ? `Accuracy vs iterations (step ${own.step.toLocaleString('en-US')})` : 'Accuracy vs iterations';
    this.depth.options.xRange = [1, Math.max(2, deepest)];
    const lines = (sw, prefix, label, dash) => sw.splits.map((s, i) => ({ key: prefix + s.split, label: label + s.split, color: splitColor(s.split, i), dash }));
    const curves = (sw, prefix) => Object.fromEntries(sw.splits.map((s) => [prefix + s.split, s.accuracy.map((a, d) => [d + 1, a])]));
    this.depth.setSeries([...(own ? lines(own, '', '', undefined) : []), ...(ref ? lines(ref.sweep, 'trained:', `${ref.name} `, TWIN_DASH) : [])]);
    this.depth.set({ ...(own ? curves(own, '') : {}), ...(ref ? curves(ref.sweep, 'trained:') : {}) });
    this.depth.setMarkers([{ x: any.training_depth, label: `trained at ${any.training_depth}` }]);

    const e = own?.exit;
    const re = ref?.sweep.exit;
    if (!e && !re) {
      this.exit.options.title = 'Iterations used under adaptive exit (feedforward: one pass)';
      this.exit.setSeries([]);
      this.exit.setMarkers([]);
      return;
    }
    const first = e || re;
    const summary = (x) => `mean ${x.mean_iterations.toFixed(1)} · exact ${(100 * x.exact_at_exit).toFixed(0)}%`
      + ` (${(100 * x.exact_at_depth).toFixed(0)}% at ${x.histogram.length})`;
    this.exit.options.title = `Adaptive exit (${first.rule}), ${first.examples} ${first.split} examples`;
    this.exit.options.xLabel = `exit iteration · ${[e && summary(e), re && `${ref.name}: ${summary(re)}`].filter(Boolean).join(' · ')}`;
    const longest = Math.max(e?.histogram.length || 0, re?.histogram.length || 0);
    this.exit.options.xRange = [0.5, longest + 0.5];
    this.exit.options.yRange = [0, 4 * Math.ceil(Math.max(1, ...(e?.histogram || []), ...(re?.histogram || [])) / 4)];  // integer ticks
    this.exit.options.legend = e && re ? null : [];  // two models' bars: say which is which
    this.exit.setSeries([
      ...(e ? [{ key: 'exit', label: 'examples exiting', color: splitColor(e.split, 1) }] : []),
      ...(re ? [{ key: 'trained:exit', label: `${ref.name} examples exiting`, color: INK }] : []),
    ]);
    this.exit.set({ ...(e ? { exit: e.histogram.map((n, t) => [t + 1, n]) } : {}), ...(re ? { 'trained:exit': re.histogram.map((n, t) => [t + 1, n]) } : {}) });
    this.exit.setMarkers([{ x: any.training_depth, label: `trained at ${any.training_depth}` }]);
  }
}
