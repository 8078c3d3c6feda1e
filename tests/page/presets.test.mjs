// Page tests: every preset starts on the page.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/presets.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  browser, useBrowser, openPage, stepCount,
} from './helpers.mjs';

useBrowser();

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
      // Two steps (each an evaluation record, eval_every=1) and points on the loss chart: the chart holds a train
      // and a test point per record where there is a test split, so its count alone does not say two steps ran.
      // The timeout is only a safety net: on a busy 2-core machine the slowest presets took over three minutes.
      await page.waitForFunction(() => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) >= 2
        && Number(document.getElementById('chart-loss').dataset.points) >= 2, null, { timeout: 300_000 })
        .catch(async (e) => {
          const at = `step ${await page.textContent('#step-count')}, message ${JSON.stringify(await page.textContent('#message'))}`;
          throw new Error(`${name}: did not record two steps (${at}): ${e.message}`);
        });
      await page.click('#pause');
      assert.ok(await stepCount(page) >= 2, `${name} trained`);
      errors.push(...own);
    } finally {
      await page.close();
    }
  }
  assert.deepEqual(errors, [], 'no console errors');
});
