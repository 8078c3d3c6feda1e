// Unit tests of what the page says about where it runs (www/environment.js): an insecure context named with its
// fix, a browser without WebGPU, and the note on a software adapter.
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webgpuProblem, isSoftwareAdapter, deviceNote } from '../../www/environment.js';

test('with navigator.gpu there is no problem, secure or not', () => {
  assert.equal(webgpuProblem({ secure: true, hasGpu: true }), null);
  assert.equal(webgpuProblem({ secure: false, hasGpu: true, origin: 'http://10.0.0.5:8080' }), null);
});

test('an insecure context is blamed, not the browser, and the fix names https and localhost with the port', () => {
  const text = webgpuProblem({ secure: false, hasGpu: false, origin: 'http://10.0.0.5:8099' });
  assert.match(text, /not in a secure context/);
  assert.match(text, /\(http:\/\/10\.0\.0\.5:8099\)/, 'names the origin it was opened from');
  assert.match(text, /https/);
  assert.match(text, /http:\/\/localhost:8099\//, 'the same port on localhost');
  assert.match(text, /ssh -L 8099:localhost:8099/);
  assert.doesNotMatch(text, /does not support/);
  assert.match(webgpuProblem({ secure: false, hasGpu: false, origin: 'http://lab.example' }), /localhost:80\//,
    'no port in the origin: http\'s 80');
});

test('a secure context without navigator.gpu is the browser\'s lack of WebGPU', () => {
  const text = webgpuProblem({ secure: true, hasGpu: false, origin: 'https://lab.example' });
  assert.match(text, /does not support WebGPU/);
  assert.doesNotMatch(text, /secure context/);
});

test('software adapters are recognised by the core, the browser\'s flag or their name', () => {
  assert.equal(isSoftwareAdapter({ backend: 'gpu', fallback: true }), true, 'the core\'s device type');
  assert.equal(isSoftwareAdapter({ backend: 'gpu', adapter: { isFallbackAdapter: true } }), true);
  assert.equal(isSoftwareAdapter({ backend: 'gpu', adapter: { vendor: 'google', architecture: 'swiftshader' } }), true);
  assert.equal(isSoftwareAdapter({ backend: 'gpu', adapter: { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' } }), true);
  assert.equal(isSoftwareAdapter({ backend: 'gpu', adapter: { description: 'Microsoft Basic Render Driver' } }), true);
  assert.equal(isSoftwareAdapter({ backend: 'gpu', adapter: { vendor: 'nvidia', architecture: 'ada-lovelace' } }), false);
  assert.equal(isSoftwareAdapter({ backend: 'gpu', adapter: { vendor: 'apple', architecture: 'metal-3' } }), false);
  assert.equal(isSoftwareAdapter({ backend: 'gpu' }), false, 'nothing known: no note');
  // The cpu backend is slow by choice (the core calls it a fallback too): no note.
  assert.equal(isSoftwareAdapter({ backend: 'cpu', fallback: true, adapter: { architecture: 'swiftshader' } }), false);
});

test('the note suggests smaller settings or a trained model, only on a software adapter', () => {
  const note = deviceNote({ backend: 'gpu', fallback: false, adapter: { architecture: 'swiftshader' } });
  assert.match(note, /software adapter/);
  assert.match(note, /smaller settings/);
  assert.match(note, /Load trained model/);
  assert.ok(!note.includes('\n'), 'one line');
  assert.equal(deviceNote({ backend: 'gpu', adapter: { vendor: 'amd', architecture: 'rdna-3' } }), null);
  assert.equal(deviceNote({ backend: 'cpu', fallback: true }), null);
});
