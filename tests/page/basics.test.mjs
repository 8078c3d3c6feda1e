// Page tests: the page itself: load, train, pause, reset, settings, the URL hash, no WebGPU, presets, the backend switch.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/basics.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, URL as PAGE_URL, browser, useBrowser, openPage, labReady, stepCount, points, pixels, SMALL, trainPast,
} from './helpers.mjs';

useBrowser();

test('page loads, shows the device, trains, pauses and resets', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    const device = await page.textContent('#device');
    assert.ok(device.length > 0 && !/no WebGPU/i.test(device), `device shown: ${device}`);
    // The page tests run on SwiftShader: the note suggesting something smaller is shown.
    assert.equal(await page.isVisible('#device-note'), true, 'a software adapter gets a note');
    assert.match(await page.textContent('#device-note'), /software adapter.*smaller settings.*Load trained model/);
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
    // Pause is confirmed by the worker (the button is disabled once its loop has stopped), so nothing can
    // arrive later; the wait only gives a broken pause the time to show itself.
    await page.waitForTimeout(600);
    assert.equal(await stepCount(page), paused, 'pause stops the counter');
    assert.equal(await points(page, '#chart-loss'), pausedPoints, 'pause stops the curves');

    // Resume continues from where it stopped.
    await page.click('#start');
    await page.waitForFunction((s) => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) > s, paused, { timeout: 30_000 });
    await page.click('#pause');
    await page.waitForSelector('#pause:disabled', { timeout: 30_000 });
    if (process.env.LOOPLAB_SCREENSHOT) await page.screenshot({ path: process.env.LOOPLAB_SCREENSHOT });

    // Reset asks before it deletes the run; keeping it changes nothing.
    const at = await stepCount(page);
    await page.click('#reset');
    await page.waitForSelector('#reset-confirm:visible');
    assert.match(await page.textContent('#reset-question'), new RegExp(`step ${at.toLocaleString('en-US')}\\) and its autosave`));
    await page.click('#reset-no');
    assert.equal(await page.isHidden('#reset-confirm'), true);
    assert.equal(await stepCount(page), at, 'kept');
    await page.click('#reset');
    await page.click('#reset-yes');
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

test('an invalid setting is reported in the message area, marked, and keeps Start disabled', async () => {
  const { page, errors } = await openPage(browser, `#${SMALL}`);
  try {
    assert.equal(await page.getAttribute('#task-p', 'aria-invalid'), null);
    await page.fill('#task-p', '1');
    await page.waitForSelector('#message:not([hidden])', { timeout: 30_000 });
    const message = await page.textContent('#message');
    assert.match(message, /task\.p/, `the message names the key: ${message}`);
    assert.equal(await page.getAttribute('#task-p', 'aria-invalid'), 'true', 'the field the message names is marked');
    assert.equal(await page.getAttribute('#model-loops', 'aria-invalid'), null, 'and no other');
    assert.equal(await page.isDisabled('#start'), true, 'Start waits for valid settings');
    assert.equal(await page.isDisabled('#step'), true, 'and so does Step');
    assert.equal(await stepCount(page), 0, 'nothing trained');

    // Fixing the value enables Start again; starting trains and clears the message.
    await page.fill('#task-p', '23');
    assert.equal(await page.getAttribute('#task-p', 'aria-invalid'), null, 'the mark goes with the error');
    await page.waitForSelector('#start:enabled');
    await page.click('#start');
    await page.waitForFunction(() => Number(document.getElementById('step-count').textContent.replace(/,/g, '')) > 0, null, { timeout: 30_000 });
    assert.equal(await page.isHidden('#message'), true, 'message cleared');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('the memory a run needs is shown under the settings before Start, and follows them', async () => {
  const { page, errors } = await openPage(browser, `#${SMALL}`);
  try {
    const line = () => page.textContent('#memory');
    const total = (text) => text.match(/^Memory: needs ([0-9.]+ [KMG]i?B):/)?.[1];
    await page.waitForSelector('#memory:not([hidden])', { timeout: 30_000 });
    const before = await line();
    assert.ok(total(before), `the planned total: ${before}`);
    for (const part of ['parameters', 'gradients', 'optimizer', 'activations', 'scratch', 'evaluation']) {
      assert.match(before, new RegExp(`${part} [0-9.]+ [KMG]i?B`), `${part} in: ${before}`);
    }
    assert.equal(await stepCount(page), 0, 'shown before anything trained');
    // A wider model needs more: the worker plans the new settings without building a lab.
    await page.fill('#model-d_model', '64');
    await page.waitForFunction((old) => {
      const m = document.getElementById('memory');
      return !m.hidden && m.textContent !== old;
    }, before, { timeout: 30_000 });
    assert.notEqual(total(await line()), total(before), await line());
    // Settings that do not validate have no plan.
    await page.fill('#task-p', '1');
    await page.waitForSelector('#memory', { state: 'hidden', timeout: 30_000 });
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
  const plain = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox'] });
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

test('over plain http from another host the page names the insecure context and its fix; the CPU backend works', async () => {
  // http://looplab.test is not localhost, so Chromium hides navigator.gpu and crypto.subtle as it would for a
  // page opened from another machine's address; its requests are answered by the real server.
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const real = new URL(PAGE_URL);
  await context.route('http://looplab.test/**', async (route) => {
    const path = new URL(route.request().url()).pathname;
    // A request still in flight when the test closes the context (the worker fetches modules as it starts)
    // fails in route.fetch; it has nobody left to answer.
    const response = await route.fetch({ url: new URL(path, real).href }).catch(() => null);
    if (response) await route.fulfill({ response }).catch(() => {});
  });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await page.goto(`http://looplab.test/#${SMALL}`);
    await labReady(page);
    assert.equal(await page.evaluate(() => window.isSecureContext), false);
    const message = await page.textContent('#message');
    assert.match(message, /not in a secure context/);
    assert.match(message, /https/);
    assert.match(message, /http:\/\/localhost:80\//);
    assert.equal(await page.isVisible('#use-cpu'), true, 'a CPU button is offered');
    await page.click('#use-cpu');
    // The lab's autosave key needs no crypto.subtle: the cpu lab comes up.
    await page.waitForFunction(() => /cpu/i.test(document.getElementById('device').textContent), null, { timeout: 30_000 });
    assert.equal(await page.isHidden('#message'), true, 'message cleared once the CPU lab is ready');
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    await context.close();
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
    // The same settings as the command that trains them natively.
    assert.equal(await page.isHidden('#cli-command'), true);
    await page.click('#copy-cli');
    await page.waitForSelector('#cli-command:visible');
    assert.equal(await page.textContent('#cli-command'), 'looplab train --preset sudoku-4x4 --set model.arch=trm --set model.loops=5');

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
    assert.equal(await page.isHidden('#device-note'), true, 'the cpu backend is slow by choice: no note');
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

test('at phone size the settings stack above the charts, which keep a readable size', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    for (const width of [390, 360]) {
      await page.setViewportSize({ width, height: 844 });
      const layout = await page.evaluate(() => {
        const box = (id) => document.getElementById(id).getBoundingClientRect();
        return {
          scroll: document.documentElement.scrollWidth,
          aside: document.querySelector('aside').getBoundingClientRect(),
          charts: ['chart-loss', 'chart-acc', 'chart-depth', 'chart-exit'].map((id) => ({ id, w: box(id).width, h: box(id).height, top: box(id).top })),
        };
      });
      assert.ok(layout.scroll <= width, `no sideways scrolling at ${width} px: ${layout.scroll}`);
      assert.ok(layout.aside.width >= width - 1, `the settings take the whole width: ${layout.aside.width}`);
      for (const c of layout.charts) {
        assert.ok(c.w >= width - 60 && c.h >= 250, `${c.id} at ${width} px is ${c.w} x ${c.h}`);
        assert.ok(c.top >= layout.aside.bottom, `${c.id} below the settings`);
      }
    }
    await trainPast(page, 2);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('Start, Pause, Step and Reset stay in sight however far the settings scroll', async () => {
  const { page, errors } = await openPage(browser, `#preset=automaton&${SMALL}`);
  try {
    const inSight = () => page.evaluate(() => ['start', 'pause', 'step', 'reset'].every((id) => {
      const r = document.getElementById(id).getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight && r.width > 0;
    }));
    assert.equal(await inSight(), true, 'on arrival');
    const scrolled = await page.evaluate(() => {
      const aside = document.querySelector('aside');
      aside.scrollTop = aside.scrollHeight;
      return aside.scrollTop;
    });
    assert.ok(scrolled > 0, 'the settings are longer than the window');
    assert.equal(await inSight(), true, 'with the settings scrolled to the end');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});
