// Page tests: runs that outlive the page: checkpoint files, the autosave, a lost device.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/runs.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  browser, useBrowser, labReady, openPage, stepCount, points, SMALL, stepIs, trainPast, download, safetensorsHeader,
  injectIntoWorker, REMEMBER_DEVICES, stepAbove, confirmReset,
} from './helpers.mjs';

useBrowser();

test('save a checkpoint, export the history, load the checkpoint back; a garbage file is named', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    const saved = await trainPast(page, 3);
    const ckpt = await download(page, '#save');
    assert.match(ckpt.name, new RegExp(`step${saved}\\.safetensors$`));
    const meta = safetensorsHeader(ckpt.bytes).__metadata__;
    assert.equal(meta.format, 'looplab-checkpoint-1');
    assert.ok(meta.tensor_crc32 && meta.metadata_crc32, 'the checksums are stored');
    assert.equal(meta.step, String(saved), 'the metadata holds the step');
    assert.equal(JSON.parse(meta.config).task.p, 11, 'the metadata holds the config');

    const csv = (await download(page, '#export-csv')).bytes.toString('utf8').trim().split('\n');
    assert.equal(csv[0], 'step,loss,train_acc,test_acc,train_exact,test_exact,test_loss,grad_norm,lr,elapsed_s,weight_norm,train_loss');
    assert.ok(csv.length >= 2 && csv.slice(1).every((row) => row.split(',').length === csv[0].split(',').length), `one row per record: ${csv.join(' | ')}`);
    const json = JSON.parse((await download(page, '#export-json')).bytes.toString('utf8'));
    assert.equal(json.length, csv.length - 1, 'the JSON has the same records');

    // Reset and change a setting: loading the file brings back its step and its config.
    await confirmReset(page);
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

    await confirmReset(page);
    await stepIs(page, 0);
    // The device line stays from before Reset: wait for the page's status, which says "ready" once the worker has
    // deleted the autosave and built the new lab.
    await page.waitForFunction(() => document.getElementById('status').textContent === 'ready', null, { timeout: 30_000 });
    await page.reload();
    await labReady(page);
    assert.equal(await stepCount(page), 0, 'after Reset a reload starts from step 0');
    assert.equal(await page.isHidden('#message'), true, `no message: ${await page.textContent('#message')}`);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('a reload before the first evaluation comes back at the step it left, or names the steps it lost', async () => {
  const { page, errors } = await openPage(browser, '#task.p=11&model.d_model=32&model.mlp_hidden=64&train.eval_every=50');
  try {
    // Two single steps of a fresh run, each autosaved (the page says which step its autosave holds).
    for (const s of [1, 2]) {
      await page.click('#step');
      await page.waitForFunction((s) => document.body.dataset.savedStep === String(s), s, { timeout: 30_000 });
    }
    await page.reload();
    await labReady(page);
    assert.equal(await stepCount(page), 2, 'back at step 2, before any evaluation record');
    assert.match(await page.textContent('#message'), /Resumed from the autosave of step 2 /);
    assert.doesNotMatch(await page.textContent('#message'), /lost/);

    // Leaving while training: the page autosaves on the way out, best effort, and the next visit says which
    // steps that save (or the last one before it) does not hold.
    await page.click('#start');
    await stepAbove(page, 4);
    await page.reload();
    await labReady(page);
    const step = await stepCount(page);
    const message = await page.textContent('#message');
    assert.match(message, new RegExp(`Resumed from the autosave of step ${step} `));
    assert.ok(step >= 2, `resumed at ${step}`);
    const lost = message.match(/Steps (\d+) to (\d+), trained before the page was left, were not saved/);
    if (lost) assert.ok(Number(lost[1]) === step + 1 && Number(lost[2]) > step, message);
    console.log(`left while training: resumed at step ${step}; ${lost ? lost[0] : 'nothing lost'}`);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('a full storage quota is named with what to do, and training goes on', async () => {
  const full = `IDBObjectStore.prototype.put = function () { throw new DOMException('quota', 'QuotaExceededError'); };`;
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`, injectIntoWorker(full));
  try {
    await page.click('#step');
    await page.waitForFunction(() => /Autosave failed/.test(document.getElementById('message').textContent), null, { timeout: 30_000 });
    const message = await page.textContent('#message');
    assert.match(message, /storage for this page is full \(QuotaExceededError\)\. Free space/);
    assert.match(message, /Save checkpoint/);
    await trainPast(page, 1);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('a lost GPU device stops training and the run recovers from the autosave on the CPU', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`, injectIntoWorker(REMEMBER_DEVICES));
  try {
    const saved = await trainPast(page, 3);
    await page.click('#start');
    // A real loss through the WebGPU API: the worker's devices are destroyed while it trains.
    const destroyed = await page.workers()[0].evaluate(() => {
      for (const d of self.looplabDevices) d.destroy();
      return self.looplabDevices.length;
    });
    assert.ok(destroyed >= 1, 'the lab made a device');
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
