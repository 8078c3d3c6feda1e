// Page tests: the trained models shipped in www/models (Load trained model). On the wasm cpu backend: the depth
// sweep on load takes about 10 s there, about a minute on SwiftShader.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/models.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { browser, useBrowser, openPage, solve, scrub, stepCount, stepAbove, points, probe, confirmReset } from './helpers.mjs';

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
    await page.route('**/models/sudoku-4x4.safetensors', async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      body[body.length - 1] ^= 1;  // one bit of the last weight
      await route.fulfill({ response, body });
    });
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
