// Page tests: other runs overlaid on the charts: a history.json of `looplab train` (tests/page/fixtures/grokking-p11.json,
// and the history.csv beside it, grokking-p11.history.csv,
// the run folder's file of `looplab train --preset grokking --set task.p=11 --set model.d_model=32 --set model.mlp_hidden=64
// --set train.eval_every=2 --steps 6 --backend cpu`) chosen and dropped, bad files, and a run autosaved in this browser.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/overlays.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browser, useBrowser, openPage, SMALL, stepIs, seriesCounts, dataset, confirmReset, labReady } from './helpers.mjs';

useBrowser();

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'grokking-p11.json');
// The history.csv the same command writes beside it.
const CSV_FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'grokking-p11.history.csv');
const runs = (page, n) => page.waitForSelector(`#runs[data-runs="${n}"]`, { timeout: 30_000 });
const bad = (name, text) => ({ name, mimeType: 'application/json', buffer: Buffer.from(text) });
// Chooses a bad file and returns the message naming it (the page reads a file asynchronously).
async function refusal(page, name, text) {
  await page.setInputFiles('#runs-file', bad(name, text));
  await page.waitForFunction((name) => document.getElementById('runs-error').textContent.startsWith(`Could not overlay ${name}:`), name, { timeout: 30_000 });
  return page.textContent('#runs-error');
}

test('a CLI history.json and an autosaved run are overlaid with their names; a bad file is named', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    await page.click('#runs summary');
    await page.setInputFiles('#runs-file', FIXTURE);
    await runs(page, 1);
    assert.match(await page.textContent('#runs-list'), /^ grokking-p11 \(3 records, to step 6\)Remove$/);
    assert.deepEqual(await seriesCounts(page, '#chart-loss'), { loss: 0, test_loss: 0, 'run1:loss': 3, 'run1:test_loss': 3 });
    assert.deepEqual(await seriesCounts(page, '#chart-acc'), { 'run1:train': 3, 'run1:test': 3 });
    assert.deepEqual(await seriesCounts(page, '#chart-norm'), { weight_norm: 0, 'run1:weight_norm': 3 });
    // The series carry the file's name: the readout at its last step.
    await page.focus('#chart-loss');
    await page.keyboard.press('ArrowLeft');
    assert.equal((await dataset(page, '#chart-loss')).readout, 'step 6 · grokking-p11 train loss: 2.667 · grokking-p11 test loss: 2.631');
    await page.focus('#chart-norm');
    await page.keyboard.press('ArrowLeft');
    assert.equal((await dataset(page, '#chart-norm')).readout, 'step 6 · grokking-p11 weight norm: 29.51');

    // Its checkbox hides and shows all of its series.
    await page.uncheck('#runs-list input[type=checkbox]');
    assert.deepEqual(await seriesCounts(page, '#chart-loss'), { loss: 0, test_loss: 0 });
    await page.check('#runs-list input[type=checkbox]');
    assert.equal((await seriesCounts(page, '#chart-acc'))['run1:test'], 3);

    // Bad files: the core's reader names what is wrong (the message `looplab plot` prints), and nothing is added.
    assert.equal(await refusal(page, 'notes.json', 'step,loss\n1,2'), 'Could not overlay notes.json: notes.json: the history is not valid (expected value at line 1 column 1).');
    assert.match(await refusal(page, 'config.json', '{"task": {}}'), /^Could not overlay config\.json: config\.json: the history is not valid \(invalid type: map, expected a sequence at line 1 column \d+\)\.$/);
    assert.match(await refusal(page, 'odd.json', '[{"step": 2, "loss": 1}]'), /^Could not overlay odd\.json: odd\.json: the history is not valid \(missing field `\w+` at line 1 column \d+\)\.$/);
    assert.equal(await refusal(page, 'empty.json', '[]'), 'Could not overlay empty.json: empty.json: the history has no records yet.');
    assert.match(await refusal(page, 'short.csv', 'step,loss\n1,2'), /^Could not overlay short\.csv: short\.csv: line 1: no `train_acc` column/);
    assert.equal((await dataset(page, '#runs')).runs, '1');
    // The same run's history.csv (the run folder's other file) is read as `looplab plot` reads it, named like it.
    await page.setInputFiles('#runs-file', CSV_FIXTURE);
    await runs(page, 2);
    assert.match(await page.textContent('#runs-list li:nth-child(2)'), /^ grokking-p11 \(2\) \(3 records, to step 6\)Remove$/);
    assert.equal((await seriesCounts(page, '#chart-acc'))['run2:test'], 3);
    assert.equal((await seriesCounts(page, '#chart-norm'))['run2:weight_norm'], 3);
    await page.click('#runs-list li:nth-child(2) button');
    await runs(page, 1);
    // A file dropped on the charts is overlaid too, under its own name.
    await page.evaluate(async (text) => {
      const data = new DataTransfer();
      data.items.add(new File([text], 'dropped.json', { type: 'application/json' }));
      document.getElementById('plots').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    }, await readFile(FIXTURE, 'utf8'));
    await runs(page, 2);
    assert.equal((await seriesCounts(page, '#chart-norm'))['run3:weight_norm'], 3);
    await page.click('#runs-list li:nth-child(2) button');
    await runs(page, 1);

    // A run of the page: trained to its first evaluation and autosaved, then Reset; the overlay stays on the
    // charts, and the autosaved run is offered until Reset deletes it.
    await page.click('#step');
    await stepIs(page, 1);
    await page.waitForSelector('#step:enabled', { timeout: 30_000 });
    await page.click('#step');
    await page.waitForFunction(() => document.body.dataset.savedStep === '2', null, { timeout: 30_000 });
    await page.click('#runs summary');
    await page.click('#runs summary');  // opening the panel lists the autosaves afresh
    await page.waitForFunction(() => document.getElementById('runs-saved').options.length > 1, null, { timeout: 30_000 });
    const label = await page.$eval('#runs-saved', (s) => s.options[1].textContent);
    assert.equal(label, 'grokking model.d_model=32 model.mlp_hidden=64 task.p=11 train.eval_every=2 · step 2', 'the closest preset, the keys that differ, the step');
    await page.selectOption('#runs-saved', '0');
    await runs(page, 2);
    assert.equal((await seriesCounts(page, '#chart-acc'))['run4:test'], 1, 'the autosave\'s one evaluation record');
    await confirmReset(page);
    await stepIs(page, 0);
    await labReady(page);
    assert.deepEqual(await seriesCounts(page, '#chart-loss'), { loss: 0, test_loss: 0, 'run1:loss': 3, 'run1:test_loss': 3, 'run4:loss': 1, 'run4:test_loss': 1 });
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});
