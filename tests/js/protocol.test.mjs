// Unit tests of the worker protocol (no browser): error kinds read from the core's Error.name, never from the
// text; a prefixed error keeps its kind; both sides name their messages through the protocol's constants.
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TO_WORKER, FROM_WORKER, ERROR, errorKind, errorMessage, withPrefix } from '../../www/protocol.js';

test('errors are told apart by the core\'s kind, never by their text', () => {
  const lost = Object.assign(new Error('the GPU device failed: lost'), { name: ERROR.device });
  assert.equal(errorKind(lost), 'Device');
  assert.equal(errorKind(new Error('the GPU device failed: lost')), undefined, 'the text alone is no kind');
  assert.equal(errorKind(new TypeError('x')), undefined);
  assert.equal(errorKind('a string'), undefined);
  assert.equal(errorKind(null), undefined);
  assert.equal(errorMessage(lost), 'the GPU device failed: lost');
  assert.equal(errorMessage('plain'), 'plain');
  assert.equal(errorMessage(undefined), 'undefined');
});

test('the twin\'s errors say so and keep their kind', () => {
  const diverged = Object.assign(new Error('training diverged at step 3'), { name: ERROR.diverged });
  const twin = withPrefix('the feedforward twin: ', diverged);
  assert.equal(twin.message, 'the feedforward twin: training diverged at step 3');
  assert.equal(errorKind(twin), ERROR.diverged);
  assert.equal(errorKind(withPrefix('x: ', new RangeError('y'))), undefined, 'no kind is made up');
});

test('message names are unique per direction, and the page and the worker use only the constants', () => {
  for (const names of [TO_WORKER, FROM_WORKER]) assert.equal(new Set(Object.values(names)).size, Object.values(names).length);
  for (const file of ['www/app.js', 'www/worker.js']) {
    const source = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
    // (`new Worker(url, { type: 'module' })` is the one `type:` that is not a message.)
    const literal = source.match(/(case |type: |send\(|msg\.type === )'(?!module')[a-z-]+'/g);
    assert.equal(literal, null, `${file} names a message by a string literal: ${literal}`);
  }
});
