// End-to-end test of the real page: Playwright drives the system Chromium (WebGPU on SwiftShader) against the
// server that `./build.sh test` starts. Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page.test.mjs
// Set LOOPLAB_SCREENSHOT=/tmp/page.png to save a screenshot of the page after training.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const URL = process.env.LOOPLAB_URL || 'http://127.0.0.1:8080/';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=vulkan',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
after(async () => { await browser?.close(); });

// Waits until the worker has built a lab (the device is named).
const labReady = (page) => page.waitForFunction(() => {
  const d = document.getElementById('device').textContent;
  return d && !d.startsWith('starting');
}, null, { timeout: 30_000 });

// A fresh page at 1280x720 that records console errors and uncaught exceptions (page and worker).
async function openPage(b = browser, hash = '') {
  const page = await b.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') errors.push(`worker console: ${m.text()}`); }));
  await page.goto(URL + hash);
  await labReady(page);
  return { page, errors };
}

const stepCount = (page) => page.$eval('#step-count', (e) => Number(e.textContent.replace(/,/g, '')));
const points = (page, id) => page.$eval(id, (e) => Number(e.dataset.points));
const pixels = (page, id) => page.$eval(id, (c) => c.toDataURL());

// SwiftShader runs a few GFLOP/s: the tests train a small version of the grokking preset, set through the URL hash.
const SMALL = 'model.d_model=32&model.mlp_hidden=64&train.eval_every=2';

test('page loads, shows the device, trains, pauses and resets', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    const device = await page.textContent('#device');
    assert.ok(device.length > 0 && !/no WebGPU/i.test(device), `device shown: ${device}`);
    assert.equal(await page.isHidden('#message'), true, `no message at load: ${await page.textContent('#message')}`);
    assert.equal(await stepCount(page), 0);
    const emptyLoss = await pixels(page, '#chart-loss');

    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('chart-acc').dataset.points) >= 10, null, { timeout: 30_000 });
    const s1 = await stepCount(page);
    assert.ok(s1 > 0, 'the step counter advanced');
    await page.waitForFunction((s) => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) > s, s1, { timeout: 30_000 });
    assert.notEqual(await pixels(page, '#chart-loss'), emptyLoss, 'the loss curve was drawn');
    assert.match(await page.textContent('#steps-per-s'), /^[0-9.]+$/, 'steps/s shown');

    await page.click('#pause');
    await page.waitForSelector('#pause:disabled', { timeout: 30_000 });
    const paused = await stepCount(page);
    const pausedPoints = await points(page, '#chart-loss');
    await page.waitForTimeout(600);
    assert.equal(await stepCount(page), paused, 'pause stops the counter');
    assert.equal(await points(page, '#chart-loss'), pausedPoints, 'pause stops the curves');

    // Resume continues from where it stopped.
    await page.click('#start');
    await page.waitForFunction((s) => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) > s, paused, { timeout: 30_000 });
    await page.click('#pause');
    await page.waitForSelector('#pause:disabled', { timeout: 30_000 });
    if (process.env.LOOPLAB_SCREENSHOT) await page.screenshot({ path: process.env.LOOPLAB_SCREENSHOT });

    await page.click('#reset');
    await page.waitForFunction(() => document.getElementById('step-count').textContent === '0'
      && document.getElementById('chart-loss').dataset.points === '0'
      && !document.getElementById('device').textContent.startsWith('starting'), null, { timeout: 30_000 });
    assert.equal(await points(page, '#chart-acc'), 0, 'reset clears the curves');
    assert.equal(await page.isEnabled('#task-p'), true, 'settings editable after reset');

    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('an invalid setting is reported in the message area', async () => {
  const { page, errors } = await openPage(browser, `#${SMALL}`);
  try {
    await page.fill('#task-p', '1');
    await page.click('#start');
    await page.waitForSelector('#message:not([hidden])', { timeout: 30_000 });
    const message = await page.textContent('#message');
    assert.match(message, /task\.p/, `the message names the key: ${message}`);
    assert.equal(await stepCount(page), 0, 'nothing trained');
    assert.equal(await page.isEnabled('#start'), true, 'start stays available to retry');

    // Fixing the value and starting again trains and clears the message.
    await page.fill('#task-p', '23');
    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) > 0, null, { timeout: 30_000 });
    assert.equal(await page.isHidden('#message'), true, 'message cleared');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('settings from the URL hash reach the lab; divergence is reported in the message area', async () => {
  // lr x weight_decay > 2 makes decoupled weight decay flip and grow the weights every step: a real divergence,
  // here (x 100) before the first evaluation, so there is no earlier state to go back to.
  const { page, errors } = await openPage(browser, `#task.p=23&train.lr=1&train.weight_decay=100&${SMALL}`);
  try {
    assert.equal(await page.inputValue('#task-p'), '23', 'a hash key with an input fills it');
    await page.click('#start');
    await page.waitForFunction(() => /diverged/.test(document.getElementById('message').textContent)
      && /No earlier state|last good state/.test(document.getElementById('message').textContent), null, { timeout: 60_000 });
    const message = await page.textContent('#message');
    assert.match(message, /train\.lr/, `the message says what to change: ${message}`);
    await page.waitForSelector('#start:enabled', { timeout: 30_000 });
    assert.equal(await page.isDisabled('#pause'), true, 'training stopped');
    assert.equal(await page.textContent('#status'), 'paused');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('without WebGPU the page says so and offers the CPU backend', async () => {
  // Headless Chromium without the WebGPU flags has navigator.gpu but no adapter.
  const plain = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  try {
    const { page, errors } = await openPage(plain, `#${SMALL}`);
    assert.match(await page.textContent('#message'), /WebGPU/, 'the message names WebGPU');
    assert.equal(await page.isVisible('#use-cpu'), true, 'a CPU button is offered');
    await page.click('#use-cpu');
    await page.waitForFunction(() => /cpu/i.test(document.getElementById('device').textContent), null, { timeout: 30_000 });
    assert.equal(await page.isHidden('#message'), true, 'message cleared once the CPU lab is ready');
    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) > 0, null, { timeout: 30_000 });
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await plain.close();
  }
});

test('the preset picker rebuilds the form and round-trips through the URL hash', async () => {
  const { page, errors } = await openPage(browser, '#preset=maze&model.loops=7');
  try {
    assert.equal(await page.inputValue('#preset'), 'maze');
    assert.equal(await page.inputValue('#model-loops'), '7', 'a hash key fills its input');
    assert.equal(await page.inputValue('#task-test_size'), '6', 'the maze knobs are shown at the preset values');
    assert.equal(await page.isVisible('#solve'), true, 'a maze preset offers the solving view');

    await page.selectOption('#preset', 'sudoku-4x4');
    await page.waitForFunction(() => location.hash === '#preset=sudoku-4x4');
    assert.equal(await page.inputValue('#task-givens'), '6', 'the form shows the new preset');
    assert.equal(await page.$('#task-test_size'), null, 'knobs of other tasks are gone');
    await page.fill('#model-loops', '5');
    await page.selectOption('#model-arch', 'trm');
    const hash = await page.evaluate(() => location.hash);
    assert.equal(hash, '#preset=sudoku-4x4&model.arch=trm&model.loops=5', 'changed settings are written to the hash');

    const { page: again } = await openPage(browser, hash);
    assert.equal(await again.inputValue('#preset'), 'sudoku-4x4');
    assert.equal(await again.inputValue('#model-loops'), '5');
    assert.equal(await again.inputValue('#model-arch'), 'trm');
    await again.close();

    const { page: bad } = await openPage(browser, '#preset=grokking&model.arch=spiral');
    assert.match(await bad.textContent('#message'), /model\.arch/, 'an invalid hash value is named');
    assert.equal(await bad.isHidden('#solve'), true, 'no solving view for modular arithmetic');
    await bad.close();
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('the backend switch moves the lab to the CPU and into the hash; an unknown backend is named', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    assert.equal(await page.inputValue('#backend'), 'gpu');
    await page.selectOption('#backend', 'cpu');
    await page.waitForFunction(() => document.getElementById('device').textContent.startsWith('cpu'), null, { timeout: 30_000 });
    assert.match(await page.evaluate(() => location.hash), /&backend=cpu$/);
    await trainPast(page, 2);
    assert.equal(await page.isDisabled('#backend'), true, 'the backend is fixed once a run has steps');
    const { page: bad } = await openPage(browser, `#task.p=11&${SMALL}&backend=tpu`);
    assert.match(await bad.textContent('#message'), /Unknown backend "tpu".*gpu, cpu/);
    assert.equal(await bad.inputValue('#backend'), 'gpu');
    await bad.close();
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

// Every preset builds on the page and records two evaluations. The wasm cpu backend (one thread) with small
// splits and batches keeps the 9x9 Sudoku and the deep recurrent presets to seconds; the gpu path of the same
// kernels is covered by the other tests and the native ones.
test('every preset starts and its curves advance', async () => {
  const { page: first, errors } = await openPage(browser);
  const presets = await first.$$eval('#preset option', (o) => o.map((e) => e.value));
  await first.close();
  assert.ok(presets.length >= 20, `the picker lists the presets: ${presets}`);
  for (const name of presets) {
    const { page, errors: own } = await openPage(browser, `#preset=${name}&task.examples=64&task.test_examples=8&train.batch_size=8&train.eval_every=1&backend=cpu`);
    try {
      assert.equal(await page.isHidden('#message'), true, `${name}: ${await page.textContent('#message')}`);
      await page.click('#start');
      await page.waitForFunction(() => Number(document.getElementById('chart-loss').dataset.points) >= 2, null, { timeout: 180_000 });
      await page.click('#pause');
      assert.ok(await stepCount(page) >= 2, `${name} trained`);
      errors.push(...own);
    } finally {
      await page.close();
    }
  }
  assert.deepEqual(errors, [], 'no console errors');
});

// A tiny 4x4 Sudoku model: SwiftShader trains a few steps of it per second.
const SUDOKU = '#preset=sudoku-4x4&model.d_model=16&model.mlp_hidden=32&task.examples=64&task.test_examples=8&train.eval_every=5';
const PUZZLE = '1.3. .4.2 2.4. .3.1';

// Solves the text in the box (or draws with New puzzle) and waits for the result or the error.
async function solve(page, text) {
  if (text == null) await page.click('#solve-new');
  else {
    await page.fill('#solve-input', text);
    await page.click('#solve-run');
  }
  await page.waitForSelector('#solve-run:enabled', { timeout: 60_000 });
}

// Moves the slider through every iteration and checks the grid follows; returns the iteration count.
async function scrub(page) {
  const n = Number(await page.$eval('#solve-slider', (s) => s.max));
  for (let t = 1; t <= n; t++) {
    await page.$eval('#solve-slider', (s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }, t);
    assert.match(await page.textContent('#solve-step'), new RegExp(`^iteration ${t} of ${n}`));
    assert.equal(await page.$eval('#solve-grid', (c) => c.dataset.iteration), String(t));
  }
  return n;
}

test('a Sudoku model solves a typed puzzle step by step; bad puzzles are named', async () => {
  const { page, errors } = await openPage(browser, SUDOKU);
  try {
    await page.click('#start');
    assert.equal(await page.isDisabled('#solve-run'), true, 'no solving while training');
    await page.waitForFunction(() => Number(document.getElementById('step-count').textContent) >= 2, null, { timeout: 60_000 });
    await page.click('#pause');
    await page.waitForSelector('#pause:disabled', { timeout: 30_000 });

    await solve(page, PUZZLE);
    assert.equal(await page.isHidden('#solve-error'), true, `no error: ${await page.textContent('#solve-error')}`);
    assert.equal(await scrub(page), 4, 'one prediction per loop');
    // Untrained: the answer may be wrong, but the validator's word is shown either way.
    assert.match(await page.textContent('#solve-verdict'), /^Answer at the exit iteration \([1-4] of 4\): (valid|not valid: .+)/);
    await page.$eval('#solve-slider', (s) => { s.value = 1; s.dispatchEvent(new Event('input')); });
    await page.click('#solve-play');
    await page.waitForFunction(() => document.getElementById('solve-step').textContent.startsWith('iteration 4 of 4'), null, { timeout: 10_000 });

    await solve(page, '1.3. .4.2 2.4');
    assert.match(await page.textContent('#solve-error'), /wrong length: expected 16 cells/);
    assert.equal(await page.isHidden('#solve-result'), true);
    await solve(page, '1.3. .4.2 2.4. .3.3');
    assert.match(await page.textContent('#solve-error'), /givens break a rule/);
    await solve(page, null);
    assert.match(await page.inputValue('#solve-input'), /^[1-4.]{16}$/, 'New puzzle shows the drawn puzzle');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('a maze model solves a drawn and a typed maze; a bad maze is named', async () => {
  const MAZE = '#preset=maze&task.size=2&task.test_size=3&model.loops=3&model.d_model=16&model.mlp_hidden=32&task.examples=16&task.test_examples=4';
  const { page, errors } = await openPage(browser, MAZE);
  try {
    await solve(page, null);
    assert.equal(await page.isHidden('#solve-error'), true, `no error: ${await page.textContent('#solve-error')}`);
    assert.match(await page.inputValue('#solve-input'), /^#######\n/, 'the drawn 3x3-cell maze is shown as text');
    assert.equal(await scrub(page), 3);
    assert.match(await page.textContent('#solve-verdict'), /: (valid|not valid: .+)/);

    await solve(page, '#####\n#S..#\n###.#\n#G..#\n#####');
    assert.equal(await page.isHidden('#solve-error'), true, `no error: ${await page.textContent('#solve-error')}`);
    assert.equal(await scrub(page), 3);
    await solve(page, '#####\n#S..#\n###.#\n#G.x#\n#####');
    assert.match(await page.textContent('#solve-error'), /unknown character 'x' at line 4/);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

const stepAbove = (page, s) => page.waitForFunction((s) => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) > s, s, { timeout: 60_000 });
const stepIs = (page, s) => page.waitForFunction((s) => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) === s, s, { timeout: 30_000 });

// Trains until the counter passes `s`, then pauses; returns the step it paused at.
async function trainPast(page, s) {
  await page.click('#start');
  await stepAbove(page, s);
  await page.click('#pause');
  await page.waitForSelector('#pause:disabled', { timeout: 30_000 });
  return stepCount(page);
}

// Clicks `selector` and returns the downloaded file's name and bytes.
async function download(page, selector) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click(selector)]);
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

// The JSON header of a safetensors file: an 8-byte little-endian length, then that many bytes of JSON.
function safetensorsHeader(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  assert.ok(n > 0 && 8 + n <= bytes.length, `header length ${n} fits in ${bytes.length} bytes`);
  return JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
}

test('save a checkpoint, export the history, load the checkpoint back; a garbage file is named', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    const saved = await trainPast(page, 3);
    const ckpt = await download(page, '#save');
    assert.match(ckpt.name, new RegExp(`step${saved}\\.safetensors$`));
    const meta = safetensorsHeader(ckpt.bytes).__metadata__;
    assert.equal(meta.format, 'looplab-checkpoint-1');
    assert.equal(meta.step, String(saved), 'the metadata holds the step');
    assert.equal(JSON.parse(meta.config).task.p, 11, 'the metadata holds the config');

    const csv = (await download(page, '#export-csv')).bytes.toString('utf8').trim().split('\n');
    assert.equal(csv[0], 'step,loss,train_acc,test_acc,train_exact,test_exact,test_loss,grad_norm,lr,elapsed_s');
    assert.ok(csv.length >= 2 && csv.slice(1).every((row) => row.split(',').length === 10), `one row per record: ${csv.join(' | ')}`);
    const json = JSON.parse((await download(page, '#export-json')).bytes.toString('utf8'));
    assert.equal(json.length, csv.length - 1, 'the JSON has the same records');

    // Reset and change a setting: loading the file brings back its step and its config.
    await page.click('#reset');
    await stepIs(page, 0);
    await labReady(page);
    await page.fill('#task-p', '13');
    await page.setInputFiles('#load-file', { name: 'run.safetensors', mimeType: 'application/octet-stream', buffer: ckpt.bytes });
    await stepIs(page, saved);
    assert.match(await page.textContent('#message'), /Loaded run\.safetensors/);
    assert.equal(await page.inputValue('#task-p'), '11', 'the checkpoint config replaces the form');
    assert.match(await page.evaluate(() => location.hash), /task\.p=11/, 'and the URL hash');
    assert.ok(await points(page, '#chart-loss') === 0, 'a file alone has no history');
    const loaded = await trainPast(page, saved);
    // The form now describes the file's config exactly: a reload finds the loaded run's autosave under it.
    await page.reload();
    await labReady(page);
    assert.equal(await stepCount(page), loaded, 'a reload resumes the loaded run');

    await page.setInputFiles('#load-file', { name: 'garbage.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a checkpoint at all') });
    await page.waitForFunction(() => /checkpoint garbage\.safetensors: /.test(document.getElementById('message').textContent), null, { timeout: 30_000 });
    assert.equal(await stepCount(page), loaded, 'the current run is kept');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('the run is autosaved and resumed on reload; Reset deletes the autosave', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    const saved = await trainPast(page, 3);
    const curve = await points(page, '#chart-loss');
    await page.reload();
    await labReady(page);
    assert.equal(await stepCount(page), saved, 'resumed at the step it paused at');
    assert.match(await page.textContent('#message'), new RegExp(`Resumed from the autosave of step ${saved}`));
    assert.equal(await points(page, '#chart-loss'), curve, 'the curves come back with the history');
    await trainPast(page, saved);

    await page.click('#reset');
    await stepIs(page, 0);
    await labReady(page);
    await page.reload();
    await labReady(page);
    assert.equal(await stepCount(page), 0, 'after Reset a reload starts from step 0');
    assert.equal(await page.isHidden('#message'), true, `no message: ${await page.textContent('#message')}`);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('a lost GPU device stops training and the run recovers from the autosave on the CPU', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    const saved = await trainPast(page, 3);
    await page.click('#start');
    // SwiftShader cannot be made to lose its device: the worker's test hook fails the next step the same way.
    await page.workers()[0].evaluate(() => self.looplabTest.loseDevice());
    await page.waitForSelector('#recover-offer:not([hidden])', { timeout: 30_000 });
    assert.match(await page.textContent('#message'), /GPU device was lost/);
    assert.equal(await page.isDisabled('#pause'), true, 'training stopped');
    await page.click('#recover-cpu');
    await labReady(page);
    assert.match(await page.textContent('#device'), /cpu/i, 'the lab runs on the cpu backend');
    assert.ok(await stepCount(page) >= saved, 'resumed from the autosave');
    assert.match(await page.textContent('#message'), /Resumed from the autosave/);
    await trainPast(page, await stepCount(page));
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

const seriesCounts = (page, id) => page.$eval(id, (c) => Object.fromEntries(c.dataset.series.split(' ').filter(Boolean).map((kv) => {
  const at = kv.lastIndexOf(':');
  return [kv.slice(0, at), Number(kv.slice(at + 1))];
})));

test('Step trains exactly one step; the depth plots and PNG downloads follow an evaluation', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    for (const expected of [1, 2]) {
      await page.click('#step');
      await stepIs(page, expected);
      await page.waitForSelector('#step:enabled', { timeout: 30_000 });
    }
    assert.equal(await page.textContent('#status'), 'paused');
    assert.match(await page.textContent('#elapsed'), /^\d+ s$/);
    assert.match(await page.textContent('#eta'), /^(\d+ (s|min|h)|–)/);
    // Step 2 is an evaluation: the depth sweep follows (grokking's model loops 2 times: iterations 1..4).
    await page.waitForFunction(() => Number(document.getElementById('chart-depth').dataset.points) > 0, null, { timeout: 60_000 });
    const config = await page.evaluate(async () => (await import('./pkg/looplab.js')).presetConfig('grokking', ['task.p=11']));
    const depth = config.model.loops * config.train.segments;
    assert.deepEqual(await seriesCounts(page, '#chart-depth'), { train: 2 * depth, test: 2 * depth }, 'accuracy at 1..2x the training depth per split');
    await page.waitForFunction(() => Number(document.getElementById('chart-exit').dataset.points) > 0, null, { timeout: 60_000 });
    assert.equal(await points(page, '#chart-exit'), 2 * depth, 'one histogram bar per exit iteration');
    assert.equal(await stepCount(page), 2, 'the sweep trains nothing');

    const png = await download(page, '#chart-acc + button.png');
    assert.equal(png.name, 'accuracy.png');
    assert.deepEqual([...png.bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG file');

    // A fixed speed trains in steps of that size.
    await page.selectOption('#speed', '1');
    await trainPast(page, 4);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('compare mode trains a looped model and its feedforward twin together; both curves advance', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}&compare=flops`);
  try {
    assert.equal(await page.inputValue('#compare'), 'flops', 'the hash sets the mode');
    const downloads = [];
    page.on('download', (d) => downloads.push(d));
    const s1 = await trainPast(page, 4);
    const first = await seriesCounts(page, '#chart-acc');
    for (const key of ['train', 'test', 'twin:train', 'twin:test']) assert.ok(first[key] >= 2, `${key} has points: ${JSON.stringify(first)}`);
    assert.match(await page.textContent('#last-twin-acc'), /%$/);
    await trainPast(page, s1 + 2);
    const second = await seriesCounts(page, '#chart-acc');
    for (const key of ['test', 'twin:test']) assert.ok(second[key] > first[key], `${key} advanced: ${JSON.stringify(second)}`);

    await page.click('#export-csv');
    await page.waitForFunction(() => true);
    for (let i = 0; i < 50 && downloads.length < 2; i++) await page.waitForTimeout(100);
    assert.deepEqual(downloads.map((d) => d.suggestedFilename()).sort(), ['looplab-grokking-history.csv', 'looplab-grokking-twin-history.csv']);

    // The probe view compares with the twin: a CKA row per loop state, the twin's phases, the held-out gain.
    await probe(page);
    assert.equal(await page.isHidden('#probe-error'), true, `no error: ${await page.textContent('#probe-error')}`);
    const report = JSON.parse((await download(page, '#probe-download')).bytes.toString('utf8'));
    assert.equal((await dataset(page, '#probe-cka')).rows, String(report.iterations), 'a CKA row per iteration');
    assert.equal(report.twin_phases.splits.length, report.phases.splits.length, 'the twin has the same splits');
    assert.equal(await page.$$eval('#probe-phases tr', (tr) => tr.length), 1 + 2 * report.phases.splits.length, 'a phase row per split, the twin\'s too');
    const gain = report.verdict.find((v) => v.question === 'held-out gain over the feedforward twin?');
    assert.match(gain.answer, /^(no|yes: .*)$/);
    assert.match(gain.evidence, /^last token accuracy of each held-out split, this model vs the twin: test: \d\.\d{3} /);

    // Changing the mode after Reset goes to the hash.
    await page.click('#reset');
    await stepIs(page, 0);
    await labReady(page);
    await page.selectOption('#compare', 'params');
    assert.match(await page.evaluate(() => location.hash), /&compare=params$/);
    await page.selectOption('#compare', 'off');
    assert.doesNotMatch(await page.evaluate(() => location.hash), /compare/);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

// A history whose train accuracy reaches 90% at step 20 and test_id at step 200, test_ood never.
function plantedHistory(ood) {
  return [10, 20, 50, 100, 200, 400].map((step) => {
    const train = step >= 20 ? 0.95 : 0.5;
    const id = step >= 200 ? 0.92 : 0.1;
    const splits = [{ split: 'train', loss: 1, accuracy: train, exact: 0 }, { split: ood ? 'test_id' : 'test', loss: 1, accuracy: id, exact: 0 }];
    if (ood) splits.push({ split: 'test_ood', loss: 1, accuracy: step >= 400 ? 0.9 : 0.05, exact: 0 });
    return { step, loss: 1, train_acc: train, test_acc: id, train_exact: 0, test_exact: 0, test_loss: 1, grad_norm: 1, lr: 1e-3, elapsed_s: 1, splits };
  });
}

test('phases from the Rust detector are shaded on the accuracy plot', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    const bands = await page.evaluate(async (h) => (await import('./phases.js')).phaseBands(h), plantedHistory(true));
    assert.deepEqual(bands.map((b) => [b.label, b.from, b.to]), [['memorization', 20, 200], ['ID generalization', 200, 400], ['OOD generalization', 400, 400]]);
    await page.evaluate((h) => window.looplabTest.records(h), plantedHistory(false));
    await page.waitForFunction(() => document.getElementById('chart-acc').dataset.bands === 'memorization,generalization');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('the main thread has no task over 50 ms while training', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}&compare=params`);
  try {
    await page.evaluate(() => {
      window.longTasks = [];
      new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
    });
    // A long task is wall time, so a main thread merely descheduled on a busy 2-core machine can show one; page
    // code that blocks shows one in every window. Pass when one of two training windows has none.
    const windows = [];
    for (const until of [8, 16]) {
      await page.evaluate(() => { window.longTasks = []; });
      await trainPast(page, until);
      windows.push(await page.evaluate(() => window.longTasks));
      if (windows.at(-1).length === 0) break;
    }
    assert.deepEqual(windows.at(-1), [], `long tasks (ms) per window: ${windows.map((w) => w.join(', ')).join(' | ')}`);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('a diverging run goes back to its last good state; a config too large for the device names the limit', async () => {
  // Weight decay 100 with a warmup: lr x weight_decay passes 2 at step 3, after the first evaluation's autosave.
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}&train.weight_decay=100&train.lr=0.5&train.warmup=25`);
  try {
    await page.click('#start');
    await page.waitForFunction(() => /autosave of step|No earlier state/.test(document.getElementById('message').textContent), null, { timeout: 90_000 });
    const message = await page.textContent('#message');
    assert.match(message, /training diverged at step \d+.*train\.lr/s);
    const saved = Number(message.match(/the autosave of step (\d+)/)?.[1]);
    assert.ok(saved >= 2, `rolled back to an autosave: ${message}`);
    await stepIs(page, saved);
    assert.equal(await page.textContent('#status'), 'paused');
    assert.equal(await page.isEnabled('#start'), true);

    const { page: big } = await openPage(browser, '#task.p=1000&task.train_fraction=0.9&model.d_model=1024');
    await big.waitForSelector('#message:not([hidden])', { timeout: 60_000 });
    assert.match(await big.textContent('#message'), /needs \d+ MiB for buffer .* device allows \d+ MiB \((maxStorageBufferBindingSize|maxBufferSize)\)/);
    await big.close();

    // A malformed hash still gives a working page.
    const { page: odd, errors: oddErrors } = await openPage(browser, `#%zz&&compare=bogus&model.loops=x&${SMALL}`);
    assert.match(await odd.textContent('#message'), /model\.loops|%zz/);
    assert.equal(await odd.inputValue('#compare'), 'off');
    await odd.fill('#model-loops', '2');
    await odd.close();
    assert.deepEqual([...errors, ...oddErrors], [], 'no console errors');
  } finally {
    await page.close();
  }
});

// Runs the probe view and waits for its report or its error.
async function probe(page) {
  await page.click('#probe-run');
  await page.waitForSelector('#probe-run:enabled', { timeout: 60_000 });
}

const dataset = (page, id) => page.$eval(id, (e) => ({ ...e.dataset }));
// `looplab probe` of the native build; `cargo test --release` (the native stage of ./build.sh test) builds it.
const LOOPLAB = join(dirname(fileURLToPath(import.meta.url)), '..', 'target', 'release', 'looplab');

// a within a relative tolerance of b, naming what differs.
function near(a, b, tol, what) {
  assert.ok(Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-6), `${what}: page ${a} vs native ${b}`);
}

test('the probe view draws a looped model\'s probes, agrees with the native probe, and names a refusal', async (t) => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    assert.equal(await page.isEnabled('#probe-run'), true, 'probing is offered before training');
    await trainPast(page, 3);
    await probe(page);
    assert.equal(await page.isHidden('#probe-error'), true, `no error: ${await page.textContent('#probe-error')}`);
    assert.match(await page.textContent('#probe-status'), /^Step \d+: 16 examples of split `test` \(\d+ tokens\), 2 iterations\.$/);
    const { name, bytes } = await download(page, '#probe-download');
    assert.match(name, /^looplab-probe-step\d+\.json$/);
    const report = JSON.parse(bytes.toString('utf8'));
    assert.equal(report.iterations, 2, 'grokking loops its block twice');
    assert.equal(report.convergence.per_token.length, 1, 'one transition between 2 iterations');

    // Every canvas holds what the report says: heatmap dimensions, one line per series.
    assert.deepEqual(await dataset(page, '#probe-tokens'), { rows: '1', cols: String(report.seq) }, 'token x transition heatmap');
    const map = await dataset(page, '#probe-map');
    assert.deepEqual([map.rows, map.cols, map.state], [String(report.seq), String(report.attention.keys), '2.0.0.0'], 'query x key map of head 0 at the last iteration');
    assert.equal((await dataset(page, '#probe-change')).points, '1', 'one relative change');
    assert.equal((await dataset(page, '#probe-entropy')).series, String(report.attention.heads), 'an entropy line per head');
    assert.deepEqual(await dataset(page, '#probe-lens'), { series: '2', points: '4' }, 'token and exact accuracy at 2 iterations');
    assert.equal((await dataset(page, '#probe-cka')).rows, '0', 'no twin, no CKA matrix');
    const before = await pixels(page, '#probe-map');
    await page.selectOption('#probe-head', '1');
    assert.equal((await dataset(page, '#probe-map')).state, '2.0.0.1', 'the head selector picks the map');
    await page.$eval('#probe-step', (s) => { s.value = 1; s.dispatchEvent(new Event('input')); });
    assert.equal((await dataset(page, '#probe-map')).state, '1.0.0.1', 'the slider picks the iteration');
    assert.notEqual(await pixels(page, '#probe-map'), before, 'the map is redrawn');

    // The verdict panel: every line of the report with its numbers.
    const lines = await page.$$eval('#probe-verdict li', (li) => li.map((e) => e.textContent));
    assert.equal(lines.length, report.verdict.length);
    report.verdict.forEach((v, i) => assert.equal(lines[i], `${v.question} ${v.answer}${v.evidence}`));
    assert.match(lines.find((l) => l.startsWith('fixed point reached?')), /relative change from iteration 1 to 2: answer state \d/);
    assert.match(await page.textContent('#probe-path'), /^Path independence: .* cosine mean -?\d\.\d{4}/);
    assert.equal(await page.$$eval('#probe-phases tr', (tr) => tr.length), 1 + report.phases.splits.length, 'a phase row per split');

    // The same checkpoint and history through `looplab probe` on the native cpu backend.
    if (!existsSync(LOOPLAB)) t.diagnostic(`${LOOPLAB} is not built: skipped the comparison with the native probe`);
    else {
      const dir = await mkdtemp(join(tmpdir(), 'looplab-probe-'));
      await writeFile(join(dir, 'model.safetensors'), (await download(page, '#save')).bytes);
      await writeFile(join(dir, 'history.json'), (await download(page, '#export-json')).bytes);
      const native = JSON.parse(execFileSync(LOOPLAB, ['probe', '--checkpoint', join(dir, 'model.safetensors'), '--examples', '16', '--backend', 'cpu', '--json'], { encoding: 'utf8' }));
      assert.deepEqual([report.split, report.examples, report.seq, report.states], [native.split, native.examples, native.seq, native.states]);
      assert.deepEqual(report.phases, native.phases, 'phases of the same history');
      report.lens.forEach((l, i) => {
        near(l.token_accuracy, native.lens[i].token_accuracy, 1e-9, `lens token accuracy at iteration ${i + 1}`);
        near(l.mean_rank, native.lens[i].mean_rank, 1e-9, `lens mean rank at iteration ${i + 1}`);
      });
      const [c, n] = [report.convergence.series[0].changes[0], native.convergence.series[0].changes[0]];
      near(c.relative_change, n.relative_change, 1e-4, 'relative change 1 -> 2');
      near(c.cosine, n.cosine, 1e-5, 'cosine 1 -> 2');
      report.attention.series[0].entropy[1].forEach((e, h) => near(e, native.attention.series[0].entropy[1][h], 1e-4, `entropy of head ${h}`));
      near(report.path.mean_cosine, native.path.mean_cosine, 1e-4, 'path independence mean cosine');
      t.diagnostic(`page (WebGPU) vs native cpu: relative change ${c.relative_change} vs ${n.relative_change}, path cosine ${report.path.mean_cosine} vs ${native.path.mean_cosine}`);
      assert.deepEqual(report.verdict.map((v) => v.question), native.verdict.map((v) => v.question));
    }
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }

  // An MLP-mixer model: the probes read attention maps, so they refuse it and say why.
  const { page: mixer, errors: mixerErrors } = await openPage(browser, `${SUDOKU}&model.arch=trm&model.inner=2&model.mixer=mlp`);
  try {
    await probe(mixer);
    assert.match(await mixer.textContent('#probe-error'), /model\.mixer=mlp/);
    assert.equal(await mixer.isHidden('#probe-result'), true);
    assert.deepEqual(mixerErrors, [], 'no console errors');
  } finally {
    await mixer.close();
  }
});

// Tiny versions of the mechanism presets: a few steps on SwiftShader suffice for the views to have something to show.
const TINY = 'model.d_model=16&model.mlp_hidden=32&task.examples=200&train.eval_every=2&train.batch_size=8';

test('the bandit view rolls the current model out and its baselines match the native rollout', async (t) => {
  const { page, errors } = await openPage(browser, `#preset=bandit&${TINY}&task.seq_len=8&task.test_examples=20`);
  try {
    assert.equal(await page.isHidden('#audit'), true, 'no audit for a bandit model');
    assert.equal(await page.isHidden('#splits-panel'), true, 'train and test only: no split bars');
    await trainPast(page, 2);
    await page.click('#bandit-run');
    await page.waitForSelector('#bandit-run:enabled', { timeout: 60_000 });
    assert.equal(await page.isHidden('#bandit-error'), true, `no error: ${await page.textContent('#bandit-error')}`);
    assert.match(await page.textContent('#bandit-status'), /^Step \d+: 100 unseen 5-armed tasks, 8 steps, block looped 1 time\. Lines are means over tasks; "model blind"/);
    const policies = ['model', 'model-argmax', 'model-blind', 'thompson', 'random', 'greedy'];
    assert.deepEqual(await seriesCounts(page, '#chart-bandit'), Object.fromEntries(policies.map((p) => [p, 8])), 'a line of 8 steps per policy');
    const summary = await page.textContent('#bandit-summary');
    assert.match(summary, /^Model regret per step: \d\.\d{3} over steps 1-2, .* In-context learning: (yes|not shown)/);

    // The baselines depend only on the seed and the tasks: `looplab bandit` on the same weights gives the same numbers.
    if (!existsSync(LOOPLAB)) t.diagnostic(`${LOOPLAB} is not built: skipped the comparison with the native rollout`);
    else {
      const dir = await mkdtemp(join(tmpdir(), 'looplab-bandit-'));
      await writeFile(join(dir, 'model.safetensors'), (await download(page, '#save')).bytes);
      const native = JSON.parse(execFileSync(LOOPLAB, ['bandit', '--checkpoint', join(dir, 'model.safetensors'), '--tasks', '100', '--backend', 'cpu', '--json'], { encoding: 'utf8' }));
      const i = native.in_context;
      assert.ok(summary.includes(`random ${i.random_late.toFixed(3)}, teacher ${i.teacher_late.toFixed(3)} over the last 2`), `${summary} vs native ${JSON.stringify(i)}`);
    }
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('the audit view of a multiplication model has a table row per answer digit', async () => {
  const { page, errors } = await openPage(browser, `#preset=multiplication&${TINY}&task.test_examples=20`);
  try {
    assert.equal(await page.isHidden('#bandit'), true, 'no bandit rollout for a multiplication model');
    await trainPast(page, 2);
    await page.click('#audit-run');
    await page.waitForSelector('#audit-run:enabled', { timeout: 60_000 });
    assert.equal(await page.isHidden('#audit-error'), true, `no error: ${await page.textContent('#audit-error')}`);
    assert.match(await page.textContent('#audit-status'), /^Step \d+: 20 test problems, exact \(whole product right\) \d+\.\d%\.$/);
    const rows = await page.$$eval('#audit-table tr', (tr) => tr.map((r) => [...r.children].map((c) => c.textContent)));
    assert.deepEqual(rows[0], ['digit', 'depth', 'accuracy', 'right+seen', 'right+unseen', 'wrong+seen', 'wrong+unseen', 'local', 'propagation']);
    assert.equal(rows.length - 1, 3 + 2, 'a row per answer digit of a 3-digit x 2-digit product');
    for (const [digit, , , ...counts] of rows.slice(1)) {
      const [rs, ru, ws, wu, local, propagation] = counts.map(Number);
      assert.equal(rs + ru + ws + wu, 20, `digit ${digit}: every problem counted once`);
      assert.equal(local + propagation, ws + wu, `digit ${digit}: every wrong digit is local or propagated`);
    }
    const depths = new Set(rows.slice(1).map((r) => r[1]));
    assert.equal(await points(page, '#chart-audit'), depths.size, 'a bar per graph depth');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('passkey shows a bar per distance split; a self-improve report draws its round x length heatmap', async () => {
  const { page, errors } = await openPage(browser, `#preset=passkey-window&${TINY}&task.test_examples=8`);
  try {
    assert.equal(await page.isHidden('#splits-panel'), true, 'no bars before an evaluation');
    await trainPast(page, 2);
    await page.waitForSelector('#splits-panel:not([hidden])', { timeout: 30_000 });
    const distances = Object.keys(await seriesCounts(page, '#chart-acc')).filter((s) => /^d\d+$/.test(s));
    assert.ok(distances.length >= 2, `distance splits: ${distances}`);
    assert.equal(await points(page, '#chart-splits'), distances.length, 'a bar per distance split');

    const round = (r, accuracy) => ({ round: r, frontier: 2 + r, labelled_length: r ? 2 + r : null, accuracy, accuracy_frontier: r });
    const report = { options: { filter: 'both' }, lengths: [1, 2, 3, 4], rounds: [round(0, [1, 0.9, 0.2, 0]), round(1, [1, 1, 0.8, 0.1]), round(2, [1, 1, 0.9, 0.6])] };
    await page.setInputFiles('#selfimprove-file', { name: 'self_improve.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(report)) });
    await page.waitForSelector('#selfimprove-result:not([hidden])');
    assert.deepEqual(await dataset(page, '#selfimprove-map'), { rows: '3', cols: '4' }, 'rounds x lengths');
    assert.match(await page.textContent('#selfimprove-summary'), /^self_improve\.json: 2 rounds, filter both; every length up to 2/);
    await page.setInputFiles('#selfimprove-file', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"rounds": 3}') });
    assert.match(await page.textContent('#selfimprove-error'), /^Could not read bad\.json: it is not a `looplab self-improve` report/);
    assert.equal(await page.isHidden('#selfimprove-result'), true);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});
