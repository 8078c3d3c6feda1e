// Unit tests of the views' pure functions (no browser): the compare mode's twin and the phase bands.
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { twinOverrides, compareFromHash } from '../../www/compare.js';
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

test('the compare mode comes from the URL hash, or is off', () => {
  assert.equal(compareFromHash('#preset=maze&compare=flops'), 'flops');
  assert.equal(compareFromHash('#compare=params'), 'params');
  assert.equal(compareFromHash('#compare=bogus'), null);
  assert.equal(compareFromHash('#compare=toString'), null, 'no inherited property counts as a mode');
  assert.equal(compareFromHash(''), null);
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
