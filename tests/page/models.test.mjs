// Page tests: the trained models shipped in www/models (Load trained model). On the wasm cpu backend: the depth
// sweep on load takes about 10 s there, about a minute on SwiftShader.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/models.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { browser, useBrowser, openPage, solve, scrub, stepCount, stepAbove, points, probe, confirmReset, seriesCounts, dataset } from './helpers.mjs';

useBrowser();

const MANIFEST = JSON.parse(await readFile(new URL('../../www/models/manifest.json', import.meta.url), 'utf8'));
const SUDOKU = MANIFEST.models.find((m) => m.name === 'sudoku-4x4');
const percent = (x) => `${(100 * x).toFixed(1)}%`;

// A 4x4 Sudoku none of the repo's examples uses: a valid grid (boxes of 2x2) with its digits relabelled, then
// half its cells blanked, two per row.
function puzzle() {
  const base = [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]];
  const relabel = [0, 3, 1, 4, 2];  // 1->3, 2->1, 3->4, 4->2
  const solution = base.map((row) => row.map((d) => relabel[d]));
  const blank = [[0, 3], [1, 2], [0, 2], [1, 3]];
  const text = solution.map((row, r) => row.map((d, c) => (blank[r].includes(c) ? '.' : String(d))).join('')).join(' ');
  return { text, solution: solution.map((row) => row.join('')).join('') };
}

const HASH = '#preset=sudoku-4x4&backend=cpu';

// Serves the files `glob` matches with one bit of byte `fromEnd` (counted from the end) flipped.
const damage = (page, glob, fromEnd) => page.route(glob, async (route) => {
  const response = await route.fetch();
  const body = Buffer.from(await response.body());
  body[body.length - fromEnd] ^= 1;
  await route.fulfill({ response, body });
});

test('the shipped sudoku-4x4 model loads through the button, solves a typed puzzle at once and trains on', async () => {
  const { page, errors } = await openPage(browser, HASH);
  try {
    await page.waitForSelector('#load-trained:enabled', { timeout: 30_000 });
    const heldOut = SUDOKU.splits.find((s) => s.split === 'test');
    const summary = await page.textContent('#trained-info');
    assert.match(summary, new RegExp(`3,000 steps, ${percent(heldOut.exact)} exact on test`), summary);

    await page.click('#load-trained');
    await page.waitForSelector('#trained[data-state="loaded"]', { timeout: 60_000 });
    assert.equal(await stepCount(page), SUDOKU.steps, 'the lab is at the step the model was trained to');
    assert.equal(await page.textContent('#last-test-acc'), percent(heldOut.accuracy), "the manifest's held-out score");
    assert.match(await page.textContent('#trained-info'), /^The lab holds sudoku-4x4/);
    assert.equal(await page.isDisabled('#load-trained'), true, 'loaded once');

    const { text } = puzzle();
    await solve(page, text);
    assert.equal(await page.isHidden('#solve-error'), true, `no error: ${await page.textContent('#solve-error')}`);
    assert.equal(await scrub(page), SUDOKU.depth, 'one prediction per loop');
    assert.match(await page.textContent('#solve-verdict'), /^Answer at the exit iteration \(\d of \d\): valid: the validator accepts/);
    assert.equal(await page.$eval('#solve-verdict', (e) => e.className), 'verdict ok');

    // The depth plot was swept on load; the probes run on the trained weights.
    await page.waitForFunction(() => Number(document.getElementById('chart-depth').dataset.points) > 0, null, { timeout: 60_000 });
    assert.ok((await points(page, '#chart-depth')) > 0);
    await probe(page);
    assert.equal(await page.isHidden('#probe-error'), true, `no probe error: ${await page.textContent('#probe-error')}`);

    // Training goes on from the trained step, to twice the steps.
    assert.equal(await page.textContent('#start'), 'Train on');
    await page.click('#start');
    await stepAbove(page, SUDOKU.steps);
    await page.click('#pause');
    await page.waitForSelector('#pause:disabled', { timeout: 30_000 });
    assert.match(await page.textContent('#step-total'), new RegExp(`of ${(2 * SUDOKU.steps).toLocaleString('en-US')}`));

    // Reset: a fresh lab from step 0, and the trained model offered again.
    await confirmReset(page);
    await page.waitForSelector('#load-trained:enabled', { timeout: 30_000 });
    assert.equal(await stepCount(page), 0);
    assert.equal(await page.textContent('#start'), 'Start');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('a failed fetch and a tampered model file are named, and the lab is kept', async () => {
  const { page, errors } = await openPage(browser, HASH);
  try {
    await page.waitForSelector('#load-trained:enabled', { timeout: 30_000 });
    await page.route('**/models/sudoku-4x4.safetensors', (route) => route.abort());
    await page.click('#load-trained');
    await page.waitForSelector('#trained[data-state="error"]', { timeout: 30_000 });
    assert.match(await page.textContent('#message'), /Could not load the trained model sudoku-4x4: fetching \/models\/sudoku-4x4\.safetensors failed/);

    await page.unroute('**/models/sudoku-4x4.safetensors');
    await damage(page, '**/models/sudoku-4x4.safetensors', 1);  // one bit of the last weight
    await page.click('#load-trained:enabled');
    await page.waitForSelector('#trained[data-state="error"]', { timeout: 60_000 });
    const message = await page.textContent('#message');
    assert.match(message, /Could not load the trained model sudoku-4x4: the lab refused it: .*sha256 is [0-9a-f]{64}, but the manifest says/, message);
    assert.ok(message.includes(SUDOKU.sha256), 'names the expected sha256');
    assert.equal(await stepCount(page), 0, 'the untrained lab is kept');
    assert.equal(await page.isEnabled('#start'), true);
    assert.deepEqual(errors.filter((e) => !e.includes('net::ERR_FAILED')), [], 'no console errors besides the aborted fetch');
  } finally {
    await page.close();
  }
});

test('a run trains from scratch beside the loaded sudoku-4x4 model: both on the charts, the depth plots and the solving view', async () => {
  const { page, errors } = await openPage(browser, HASH);
  try {
    await page.waitForSelector('#load-trained:enabled', { timeout: 30_000 });
    assert.equal(await page.isHidden('#train-beside'), true, 'offered once the model is loaded');
    await page.click('#load-trained');
    await page.waitForSelector('#trained[data-state="loaded"]', { timeout: 60_000 });
    await page.click('#train-beside:enabled');
    await page.waitForSelector('#trained[data-state="beside"]', { timeout: 60_000 });
    assert.equal(await stepCount(page), 0, 'a fresh lab from step 0');
    assert.equal(await page.textContent('#step-total'), `of ${SUDOKU.steps.toLocaleString('en-US')}`, 'with the trained model\'s step budget');
    assert.equal(await page.textContent('#start'), 'Start');
    const heldOut = SUDOKU.splits.find((s) => s.split === 'test');
    assert.equal(await page.textContent('#twin-row'), 'trained test acc');
    assert.equal(await page.textContent('#last-twin-acc'), percent(heldOut.accuracy), "the trained model's held-out score");
    assert.match(await page.textContent('#trained-info'), /^Training from scratch beside sudoku-4x4 \(trained for 3,000 steps; same model, task and seed\)/);

    // The trained model's scores are reference lines (every split on accuracy, the held-out loss on loss), and
    // its depth sweep is on the depth plot before the fresh run has one.
    assert.equal((await dataset(page, '#chart-acc')).references, String(SUDOKU.splits.length));
    assert.equal((await dataset(page, '#chart-loss')).references, '1');
    await page.waitForFunction(() => /(^| )trained:test:[1-9]/.test(document.getElementById('chart-depth').dataset.series || ''), null, { timeout: 60_000 });

    // A new training recipe before Start (train.* only, here in the URL: small batches evaluated every 2 steps, so
    // the test is quick) keeps the trained model beside the new lab; the page counts the fresh run's evaluation
    // records drawn beside the trained model's scores.
    await page.evaluate((hash) => { location.hash = hash; }, `${HASH}&train.batch_size=8&train.eval_every=2`);
    // The page took the settings once it writes the hash back in its own order (the worker builds the new lab
    // before it takes the Start below).
    await page.waitForFunction(() => location.hash === '#preset=sudoku-4x4&train.batch_size=8&train.eval_every=2&backend=cpu', null, { timeout: 30_000 });
    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('trained').dataset.beside) >= 1, null, { timeout: 120_000 });
    await page.click('#pause');
    // (the worker sweeps the depths of the new model before it stops: about 10 s on the cpu backend)
    await page.waitForSelector('#pause:disabled', { timeout: 120_000 });
    assert.ok((await seriesCounts(page, '#chart-acc')).test >= 1, 'the fresh run\'s curve');
    assert.equal((await dataset(page, '#chart-acc')).references, String(SUDOKU.splits.length), 'the reference lines stay');
    // Paused after an evaluation, the fresh run is swept too: both on the depth plot.
    await page.waitForFunction(() => /(^| )test:[1-9]/.test(document.getElementById('chart-depth').dataset.series || ''), null, { timeout: 120_000 });
    const depth = await seriesCounts(page, '#chart-depth');
    assert.ok(depth.test > 0 && depth['trained:test'] > 0, JSON.stringify(depth));

    // One puzzle, solved by both: the trained model's grid and verdict under the fresh run's.
    const { text } = puzzle();
    await solve(page, text);
    assert.equal(await page.isHidden('#solve-error'), true, `no error: ${await page.textContent('#solve-error')}`);
    assert.equal(await page.isHidden('#solve-reference'), false);
    assert.equal(await page.textContent('#solve-reference-caption'), 'The trained model sudoku-4x4, on the same puzzle:');
    assert.match(await page.textContent('#solve-reference-verdict'), /^Answer at the exit iteration \(\d of \d\): valid: the validator accepts/);
    assert.match(await page.textContent('#solve-verdict'), /^Answer at the exit iteration \(\d of \d\): /);
    assert.equal(await page.$eval('#solve-reference-grid', (c) => c.dataset.iteration), '1');
    assert.equal(await scrub(page), SUDOKU.depth, 'one slider over both');
    assert.equal(await page.$eval('#solve-reference-grid', (c) => c.dataset.iteration), String(SUDOKU.depth));

    // Reset drops the trained model: a plain lab of the settings (a recipe no shipped model has, so none is
    // offered).
    await confirmReset(page);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'ready', null, { timeout: 60_000 });
    assert.equal(await stepCount(page), 0);
    assert.equal(await page.isHidden('#trained'), true);
    assert.equal(await page.isHidden('#twin-row'), true);
    assert.equal((await dataset(page, '#chart-acc')).references, '0');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

// A shipped model with its training history: grokking (its sweep on load is quick, so Train from scratch beside
// it is answered at once).
const GROKKING = MANIFEST.models.find((m) => m.name === 'grokking');
const GROKKING_HISTORY = JSON.parse(await readFile(new URL(`../../www/models/${GROKKING.history.file}`, import.meta.url), 'utf8'));

test('the shipped grokking model draws its own training curves at once: fetched with it, sha256-checked, and kept as the reference beside a fresh run', async () => {
  const { page, errors } = await openPage(browser, '#preset=grokking&backend=cpu');
  try {
    await page.waitForSelector('#load-trained:enabled', { timeout: 30_000 });
    const kib = (bytes) => `${Math.round(bytes / 1024).toLocaleString('en-US')} KiB`;
    const summary = await page.textContent('#trained-info');
    assert.ok(summary.endsWith(`; ${kib(GROKKING.bytes)} + ${kib(GROKKING.history.bytes)} of training curves, fetched when asked.`), summary);
    const fetched = async () => {
      const urls = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
      return [...new Set(urls.map((u) => new URL(u).pathname).filter((p) => p.startsWith('/models/') && !p.endsWith('manifest.json')))].sort();
    };
    assert.deepEqual(await fetched(), [], 'neither the model nor its history is in the first payload');

    // A damaged history is refused by the core's sha256 check, naming the file; the lab is kept.
    const file = `**/models/${GROKKING.history.file}`;
    await damage(page, file, 3);  // one character of the last record
    await page.click('#load-trained');
    await page.waitForSelector('#trained[data-state="error"]', { timeout: 60_000 });
    const message = await page.textContent('#message');
    assert.match(message, /^Could not load the trained model grokking: its training history \/models\/grokking\.history\.json: grokking\.history\.json: its sha256 is [0-9a-f]{64}, but the manifest says/, message);
    assert.ok(message.includes(GROKKING.history.sha256), 'names the expected sha256');
    assert.equal(await stepCount(page), 0, 'the untrained lab is kept');
    await page.unroute(file);

    await page.click('#load-trained:enabled');
    await page.waitForSelector('#trained[data-state="loaded"]', { timeout: 60_000 });
    const n = GROKKING_HISTORY.length;
    await page.waitForFunction((n) => document.getElementById('trained').dataset.curve === String(n), n, { timeout: 30_000 });
    assert.deepEqual(await fetched(), ['/models/grokking.history.json', '/models/grokking.safetensors'], 'fetched on demand, with the model');
    for (const [chart, keys] of [['#chart-loss', ['trained:loss', 'trained:test_loss']], ['#chart-acc', ['trained:train', 'trained:test']]]) {
      const counts = await seriesCounts(page, chart);
      for (const key of keys) assert.equal(counts[key], n, `${chart} ${key}: ${JSON.stringify(counts)}`);
    }
    assert.equal((await dataset(page, '#chart-acc')).references, '0', 'the curves end at the scores: no score lines');
    assert.equal((await dataset(page, '#chart-acc')).bands, 'memorization,generalization', 'its phases shaded');

    // Beside a fresh run the curves stay, the reference it races against.
    await page.click('#train-beside:enabled');
    await page.waitForSelector('#trained[data-state="beside"]', { timeout: 60_000 });
    assert.equal(await page.$eval('#trained', (e) => e.dataset.curve), String(n));
    assert.equal((await seriesCounts(page, '#chart-acc'))['trained:test'], n);
    assert.match(await page.textContent('#trained-info'), /its training curves dotted on the loss and accuracy charts/);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});
