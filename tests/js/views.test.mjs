// Unit tests of the views' pure functions (no browser): the URL hash round trip, the compare mode's twin and the
// phase bands.
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHash, hashOf, shorten, cliCommand, shellQuote, sameModel } from '../../www/hash.js';
import { twinOverrides } from '../../www/compare.js';
import { phaseBands } from '../../www/phases.js';

test('compare mode: the twin has as many parameters or as many layer applications', () => {
  const config = (arch, layers, loops, inner = 0) => ({ model: { arch, layers, loops, inner } });
  const keep = ['task.p=23', 'model.loops=4', 'train.depth=random'];
  const params = twinOverrides(config('looped', 2, 4), keep, 'params');
  assert.deepEqual(params, ['task.p=23', 'model.arch=feedforward', 'model.layers=2', 'model.loops=1', 'model.inner=0',
    'train.depth=fixed', 'train.backprop=0', 'train.segments=1']);
  assert.ok(twinOverrides(config('looped', 2, 4), [], 'flops').includes('model.layers=8'));
  assert.ok(twinOverrides(config('trm', 2, 3, 2), [], 'flops').includes('model.layers=18'), 'trm: layers x (inner + 1) x loops');
  assert.ok(twinOverrides(config('hrm', 2, 3, 2), [], 'params').includes('model.layers=4'), 'hrm: two blocks');
  assert.ok(twinOverrides(config('looped', 8, 20), [], 'flops').includes('model.layers=64'), 'capped at 64');
  assert.equal(twinOverrides(config('feedforward', 4, 1), [], 'flops'), null);
});

test('a run goes through the URL hash and back', () => {
  const runs = [
    { preset: 'grokking', overrides: [], compare: null, backend: 'gpu' },
    { preset: 'maze', overrides: ['model.loops=7', 'task.test_size=9'], compare: 'flops', backend: 'cpu' },
    { preset: 'sudoku-4x4', overrides: ['train.lr=1e-3', 'task.note=a b&c'], compare: 'params', backend: 'gpu' },
  ];
  for (const run of runs) {
    const hash = hashOf(run);
    const back = parseHash(hash);
    assert.deepEqual(
      { preset: back.preset, overrides: back.settings.map(([k, v]) => `${k}=${v}`), compare: back.compare, backend: back.backend },
      run, hash,
    );
    assert.deepEqual(back.problems, []);
  }
  assert.equal(hashOf(runs[1]), '#preset=maze&model.loops=7&task.test_size=9&compare=flops&backend=cpu');
  assert.equal(parseHash('').preset, 'grokking');
});

test('the hash names a bad backend, ignores a bad compare mode, and survives junk', () => {
  const p = parseHash('#%zz&&compare=bogus&model.loops=x&backend=tpu');
  assert.equal(p.compare, null);
  assert.equal(p.backend, 'gpu');
  assert.deepEqual(p.problems, ['Unknown backend "tpu" in the URL; using gpu. Backends: gpu, cpu.']);
  assert.deepEqual(p.settings.map(([k]) => k), ['%zz', 'model.loops'], 'settings in order, for the form to judge');
  assert.equal(parseHash('#compare=toString').compare, null, 'no inherited property counts as a mode');
  assert.equal(parseHash('#compare=params').compare, 'params');
  const long = parseHash(`#backend=${'x'.repeat(5000)}`).problems[0];
  assert.ok(long.length < 200 && long.includes('(5000 characters)'), long);
  assert.equal(shorten('abc', 3), 'abc');
  assert.equal(shorten('abcd', 3), 'abc… (4 characters)');
});

test('the CLI command has the hash keys as --set, quoted for a shell', () => {
  assert.equal(cliCommand({ preset: 'grokking', overrides: [] }), 'looplab train --preset grokking');
  assert.equal(
    cliCommand({ preset: 'maze', overrides: ['model.loops=7', 'task.note=a b'], backend: 'cpu' }),
    "looplab train --preset maze --set model.loops=7 --set 'task.note=a b' --backend cpu",
  );
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(shellQuote(''), "''");
});

test('phase bands follow the detector\'s steps', () => {
  const at = (train, test, ood) => ({
    last_step: 400,
    splits: [{ split: 'train', accuracy_step: train }, { split: ood === undefined ? 'test' : 'test_id', accuracy_step: test },
      ...(ood === undefined ? [] : [{ split: 'test_ood', accuracy_step: ood }])],
  });
  const bands = (p) => phaseBands(p).map((b) => [b.label, b.from, b.to]);
  assert.deepEqual(bands(at(20, 200, 400)), [['memorization', 20, 200], ['ID generalization', 200, 400], ['OOD generalization', 400, 400]]);
  assert.deepEqual(bands(at(20, 200)), [['memorization', 20, 200], ['generalization', 200, 400]]);
  assert.deepEqual(bands(at(20, null)), [['memorization', 20, 400]]);
  assert.deepEqual(bands(at(null, null)), []);
  assert.deepEqual(bands(at(50, 50)), [['generalization', 50, 400]], 'no memorization when both cross together');
  assert.deepEqual(phaseBands(null), []);
});

test('a trained model is offered for its preset and overrides whatever the step budget', () => {
  assert.ok(sameModel(['train.steps=3000'], []));
  assert.ok(sameModel(['task.p=11', 'train.steps=10'], ['train.steps=99', 'task.p=11']));
  assert.ok(!sameModel(['task.p=11'], []));
  assert.ok(!sameModel(['train.lr=0.01', 'train.steps=3000'], ['train.steps=3000']));
});
