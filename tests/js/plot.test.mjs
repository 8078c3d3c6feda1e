// Unit tests of the chart module's pure functions (no browser): ticks, number formats, nearest points, colours.
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logTicks, niceTicks, thin, nearest, formatStep, formatY, formatValue, viridis, tint, translucent, lineStyle } from '../../www/plot.js';

test('log ticks are decades, with 2 and 5 over few decades', () => {
  assert.deepEqual(logTicks(1, 1000).major, [1, 10, 100, 1000]);
  assert.deepEqual(logTicks(1, 20), { major: [1, 2, 5, 10, 20], minor: [3, 4, 6, 7, 8, 9] });
  assert.deepEqual(logTicks(0.01, 10).major, [0.01, 0.1, 1, 10]);
});

test('linear ticks fall on round steps inside the range', () => {
  assert.deepEqual(niceTicks(0, 1), { ticks: [0, 0.5, 1], decimals: 1 });
  assert.deepEqual(niceTicks(0, 100).ticks, [0, 50, 100]);
  assert.deepEqual(niceTicks(0.5, 8.5, { count: 9, integer: true }).ticks, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(niceTicks(0.5, 8.5, { count: 8, integer: true }).ticks, [2, 4, 6, 8], 'at most about `count` ticks');
  assert.deepEqual(niceTicks(1, 2, { integer: true }).ticks, [1, 2], 'an integer axis never steps below 1');
  const { ticks, decimals } = niceTicks(-0.013, 0.042);
  assert.equal(decimals, 2);
  assert.deepEqual(ticks, [0, 0.02, 0.04]);
  for (const t of niceTicks(3.7, 1234.5).ticks) assert.ok(t >= 3.7 && t <= 1234.5, `${t} inside`);
});

test('thinning keeps the first and the last index', () => {
  assert.deepEqual(thin(5, 10), [0, 1, 2, 3, 4]);
  assert.deepEqual(thin(10, 4), [0, 3, 6, 9]);
  assert.deepEqual(thin(11, 3), [0, 5, 10]);
});

test('nearest finds the closest value of a sorted list', () => {
  assert.equal(nearest([], 3), -1);
  assert.equal(nearest([1, 2, 10, 20], 14), 2);
  assert.equal(nearest([1, 2, 10, 20], 16), 3);
  assert.equal(nearest([1, 2, 10, 20], -5), 0);
  assert.equal(nearest([5], 100), 0);
});

test('numbers are formatted for ticks and readouts', () => {
  assert.deepEqual([1, 20, 1500, 20000, 2.5e6].map(formatStep), ['1', '20', '1.5k', '20k', '2.5M']);
  assert.deepEqual([0, 0.5, 0.003, 2500].map((v) => formatY(v)), ['0', '0.5', '3e-3', '3e+3']);
  assert.equal(formatY(0.756, true), '76%');
  assert.equal(formatValue(0.75613, true), '75.6%');
  assert.equal(formatValue(2.345678), '2.346');
  assert.equal(formatValue(0.0001234), '1.234e-4');
  assert.equal(formatValue(NaN), 'NaN');
});

test('colours: viridis ends, tints over white, line styles cycle with dashes', () => {
  assert.equal(viridis(0), 'rgb(68, 1, 84)');
  assert.equal(viridis(1), 'rgb(253, 231, 37)');
  assert.equal(viridis(NaN), viridis(0));
  assert.equal(tint('#0072B2', 0), 'rgb(255, 255, 255)');
  assert.equal(tint('#0072B2', 1), 'rgb(0, 114, 178)');
  assert.equal(translucent('#E69F00', 0.13), 'rgba(230,159,0,0.13)');
  assert.deepEqual(lineStyle(0).dash, []);
  assert.equal(lineStyle(8).color, lineStyle(0).color);
  assert.notDeepEqual(lineStyle(8).dash, lineStyle(0).dash);
});
