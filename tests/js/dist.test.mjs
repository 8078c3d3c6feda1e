// The page's files: everything index.html loads, following its modules' imports, workers and fetches
// (`new URL('./x', import.meta.url)`), exists in www/, and every www/*.js is reached, so `./build.sh dist` (which
// ships index.html, style.css, www/*.js, the wasm package and www/models) ships what the page needs and no more.
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const WWW = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'www');
const local = (ref) => !/^(data:|[a-z]+:\/\/|#)/.test(ref);

// The relative paths a file refers to, resolved against its folder (relative to www/).
function references(file) {
  const text = readFileSync(join(WWW, file), 'utf8');
  const patterns = file.endsWith('.html')
    ? [/<script[^>]*\ssrc="([^"]+)"/g, /<link[^>]*\shref="([^"]+)"/g, /<img[^>]*\ssrc="([^"]+)"/g]
    : file.endsWith('.css')
      ? [/url\(\s*['"]?([^'")]+)['"]?\s*\)/g]
      : [/\bfrom\s+'([^']+)'/g, /\bimport\s+'([^']+)'/g, /\bimport\(\s*'([^']+)'\s*\)/g, /new URL\(\s*'([^']+)',\s*import\.meta\.url\)/g];
  return patterns.flatMap((p) => [...text.matchAll(p)].map((m) => m[1])).filter(local)
    .map((ref) => normalize(join(dirname(file), ref)));
}

// pkg/ is built by ./build.sh after the JS unit stage: on a fresh checkout its files are named, not followed.
const PKG_BUILT = existsSync(join(WWW, 'pkg', 'looplab.js'));

function reachable() {
  const seen = new Set();
  const queue = ['index.html'];
  while (queue.length) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    if (file.startsWith('pkg/') && !PKG_BUILT) continue;
    assert.ok(existsSync(join(WWW, file)), `www/${file} is referenced but missing`);
    if (/\.(html|css|js)$/.test(file)) queue.push(...references(file));
  }
  return seen;
}

test('every file the page loads exists in www/, and every www/*.js is one of them', () => {
  const files = reachable();
  const needed = ['app.js', 'worker.js', 'environment.js', 'style.css', 'pkg/looplab.js', 'models/manifest.json'];
  if (PKG_BUILT) needed.push('pkg/looplab_bg.wasm');
  for (const must of needed) {
    assert.ok(files.has(must), `the page loads ${must}`);
  }
  const modules = readdirSync(WWW).filter((f) => f.endsWith('.js'));
  const unused = modules.filter((f) => !files.has(f));
  assert.deepEqual(unused, [], 'www/*.js files the page never loads would be shipped by ./build.sh dist');
});

test('every model the manifest lists is in www/models, with its history where it lists one', () => {
  const manifest = JSON.parse(readFileSync(join(WWW, 'models', 'manifest.json'), 'utf8'));
  assert.ok(manifest.models.length > 0);
  for (const m of manifest.models) {
    assert.ok(m.file && existsSync(join(WWW, 'models', m.file)), `www/models/${m.file} (${m.name})`);
    if (m.history) assert.ok(/\.history\.json$/.test(m.history.file) && existsSync(join(WWW, 'models', m.history.file)), `www/models/${m.history.file} (${m.name})`);
  }
});
