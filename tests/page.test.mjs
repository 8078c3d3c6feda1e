// End-to-end test of the real page: Playwright drives the system Chromium (WebGPU on SwiftShader) against the
// server that `./build.sh test` starts. Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page.test.mjs
// Set LOOPLAB_SCREENSHOT=/tmp/page.png to save a screenshot of the page after training.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

// A fresh page at 1280x720 that records console errors and uncaught exceptions (page and worker).
async function openPage(b = browser, hash = '') {
  const page = await b.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') errors.push(`worker console: ${m.text()}`); }));
  await page.goto(URL + hash);
  // The worker has built a lab once the device is named.
  await page.waitForFunction(() => {
    const d = document.getElementById('device').textContent;
    return d && !d.startsWith('starting');
  }, null, { timeout: 30_000 });
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
  // lr x weight_decay > 2 makes decoupled weight decay flip and grow the weights every step: a real divergence.
  const { page, errors } = await openPage(browser, `#task.p=23&train.lr=5&${SMALL}`);
  try {
    assert.equal(await page.inputValue('#task-p'), '23', 'a hash key with an input fills it');
    await page.click('#start');
    await page.waitForSelector('#message:not([hidden])', { timeout: 60_000 });
    assert.match(await page.textContent('#message'), /diverged/);
    await page.waitForSelector('#start:enabled', { timeout: 30_000 });
    assert.equal(await page.isDisabled('#pause'), true, 'training stopped');
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
