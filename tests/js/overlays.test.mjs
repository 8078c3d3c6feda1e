// Unit tests of the overlaid runs' pure functions (www/overlays.js): a history file's run name and refusal, a run's series and points.
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { runName, overlayFile, runSeries, runPoints } from '../../www/overlays.js';

const FIXTURE = new URL('../page/fixtures/grokking-p11.json', import.meta.url);

test('a history file is named as looplab plot names it; a bad one is refused naming the file, with the reader\'s message', async () => {
  assert.equal(runName('grokking-p11.json'), 'grokking-p11');
  assert.equal(runName('looped.history.csv'), 'looped');
  assert.equal(runName('looped.history.JSON'), 'looped');
  assert.equal(runName('notes'), 'notes');
  const text = await readFile(FIXTURE, 'utf8');
  const run = overlayFile('p11.history.json', text, (t) => JSON.parse(t));
  assert.deepEqual([run.name, run.records.map((r) => r.step)], ['p11', [2, 4, 6]]);
  // The reader is the core's (wasm readHistory, tested natively in tests/properties.rs and in the page test).
  const refuse = () => { throw Object.assign(new Error('odd.csv: line 3: `loss` is not a number: "x"'), { name: 'Input' }); };
  assert.throws(() => overlayFile('odd.csv', 'step,loss', refuse), { message: 'Could not overlay odd.csv: odd.csv: line 3: `loss` is not a number: "x".' });
});

test('a run\'s series are keyed by its id, labelled with its name, dashed by its place', async () => {
  const run = { id: 3, name: 'p11', records: JSON.parse(await readFile(FIXTURE, 'utf8')), shown: true };
  assert.deepEqual(runSeries(run, 'loss', 0).map((s) => [s.key, s.label]), [['run3:loss', 'p11 train loss'], ['run3:test_loss', 'p11 test loss']]);
  assert.deepEqual(runSeries(run, 'accuracy', 0).map((s) => s.label), ['p11 train', 'p11 test']);
  assert.notDeepEqual(runSeries(run, 'norm', 0)[0].dash, runSeries(run, 'norm', 1)[0].dash, 'two runs, two dashes');
  assert.deepEqual(runPoints(run, 'accuracy')['run3:test'].map(([step]) => step), [2, 4, 6]);
  assert.equal(runPoints(run, 'norm')['run3:weight_norm'][2][1], run.records[2].weight_norm);
  // A history written before the weight norm was recorded has no norm series.
  const old = { ...run, records: run.records.map(({ weight_norm, ...r }) => r) };
  assert.deepEqual(runSeries(old, 'norm', 0), []);
  // A trained model's shipped history: its own key and dash, wherever it is drawn.
  const trained = { ...run, key: 'trained', dash: [1, 2] };
  assert.deepEqual(runSeries(trained, 'loss', 3).map((s) => [s.key, s.dash]), [['trained:loss', [1, 2]], ['trained:test_loss', [1, 2]]]);
  assert.deepEqual(Object.keys(runPoints(trained, 'accuracy')), ['trained:train', 'trained:test']);
});
