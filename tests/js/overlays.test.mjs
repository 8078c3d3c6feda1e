// Unit tests of the overlaid runs' pure functions (www/overlays.js): reading a history.json, a run's series and points.
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { readHistory, runSeries, runPoints } from '../../www/overlays.js';

const FIXTURE = new URL('../page/fixtures/grokking-p11.json', import.meta.url);

test('a history.json of looplab train reads as its records; a bad one says what is wrong', async () => {
  const records = readHistory(await readFile(FIXTURE, 'utf8'));
  assert.deepEqual(records.map((r) => r.step), [2, 4, 6]);
  assert.throws(() => readHistory('step,loss'), /^Error: it is not JSON \(/);
  assert.throws(() => readHistory('{"step": 1}'), /it is not a history: expected a JSON array of records/);
  assert.throws(() => readHistory('[]'), /the history has no records/);
  assert.throws(() => readHistory('[{"step": 1}, {"step": "2"}]'), /record 2 of 2 has no numeric "step"/);
});

test('a run\'s series are keyed by its id, labelled with its name, dashed by its place', async () => {
  const run = { id: 3, name: 'p11', records: readHistory(await readFile(FIXTURE, 'utf8')), shown: true };
  assert.deepEqual(runSeries(run, 'loss', 0).map((s) => [s.key, s.label]), [['run3:loss', 'p11 train loss'], ['run3:test_loss', 'p11 test loss']]);
  assert.deepEqual(runSeries(run, 'accuracy', 0).map((s) => s.label), ['p11 train', 'p11 test']);
  assert.notDeepEqual(runSeries(run, 'norm', 0)[0].dash, runSeries(run, 'norm', 1)[0].dash, 'two runs, two dashes');
  assert.deepEqual(runPoints(run, 'accuracy')['run3:test'].map(([step]) => step), [2, 4, 6]);
  assert.equal(runPoints(run, 'norm')['run3:weight_norm'][2][1], run.records[2].weight_norm);
  // A history written before the weight norm was recorded has no norm series.
  const old = { ...run, records: run.records.map(({ weight_norm, ...r }) => r) };
  assert.deepEqual(runSeries(old, 'norm', 0), []);
});
