// Page tests: the solving view (Sudoku and maze).
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/solve.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  browser, useBrowser, openPage, SUDOKU, PUZZLE, solve, scrub,
} from './helpers.mjs';

useBrowser();

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
