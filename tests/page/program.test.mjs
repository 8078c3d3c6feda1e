// Page tests: the program view (automaton task): a typed program, a longer one, a drawn held-out one, and
// bad programs named.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/program.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browser, useBrowser, openPage } from './helpers.mjs';

useBrowser();

// A tiny automaton model: 4 steps on 6 cells, the block looped 6 times.
const AUTOMATON = '#preset=automaton&task.size=6&task.test_size=0&task.test_steps=0&task.examples=64&task.test_examples=8'
  + '&model.loops=6&model.d_model=16&model.mlp_hidden=32&train.eval_every=2';

// Runs the text in the box (or draws a held-out program) and waits until the view is idle again.
async function run(page, text) {
  if (text == null) await page.click('#program-draw');
  else {
    await page.fill('#program-input', text);
    await page.click('#program-run');
  }
  await page.waitForSelector('#program-run:enabled', { timeout: 60_000 });
}

// Moves the slider through every iteration and checks the diagrams follow; returns the iteration count.
async function scrub(page) {
  const n = Number(await page.$eval('#program-slider', (s) => s.max));
  for (let t = 1; t <= n; t++) {
    await page.$eval('#program-slider', (s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }, t);
    assert.match(await page.textContent('#program-step'), new RegExp(`^iteration ${t} of ${n} · `));
    assert.equal(await page.$eval('#program', (e) => e.dataset.iteration), String(t));
  }
  return n;
}

test('an automaton model runs a typed, a longer and a drawn held-out program; bad programs are named', async () => {
  const { page, errors } = await openPage(browser, AUTOMATON);
  try {
    await page.waitForSelector('#program:not([hidden])', { timeout: 30_000 });
    assert.equal(await page.isHidden('#solve'), true, 'the Sudoku/maze view stays hidden');

    await run(page, '110 000100 4');
    assert.equal(await page.isHidden('#program-error'), true, `no error: ${await page.textContent('#program-error')}`);
    assert.equal(await scrub(page), 6, 'one prediction per loop');
    assert.match(await page.textContent('#program-note'), /^rule 110 is (held out|a training rule) .*4 steps on 6 cells, 6 iterations/);
    // Untrained: the answer may be wrong, but the verdict is shown either way, and matches the view's state.
    const verdict = await page.textContent('#program-verdict');
    assert.match(verdict, /^Answer at the exit iteration \([1-6] of 6\): (valid|not valid): .+/);
    assert.equal(await page.$eval('#program', (e) => e.dataset.valid), String(verdict.includes('): valid')));
    const [w, h] = await page.$eval('#program-truth', (c) => [c.width, c.height]);
    assert.ok(w > h && h > 0, `the true diagram is drawn (5 rows of 6 cells): ${w}x${h}`);

    // More steps than the model loops: it runs one iteration per step.
    await run(page, '30 ..#... 8');
    assert.equal(await page.isHidden('#program-error'), true, `no error: ${await page.textContent('#program-error')}`);
    assert.equal(await page.inputValue('#program-input'), '30 001000 8', 'the program is shown in the text format');
    assert.equal(await scrub(page), 8);

    await run(page, null);
    assert.match(await page.inputValue('#program-input'), /^\d{1,3} [01]{6} 4$/, 'the drawn program is shown');
    assert.match(await page.textContent('#program-note'), /is held out: neither it nor its relatives/);

    await run(page, '300 0101 3');
    assert.match(await page.textContent('#program-error'), /the rule "300" is not a Wolfram code; expected a whole number from 0 to 255/);
    assert.equal(await page.isHidden('#program-result'), true);
    await run(page, '110 01x1 3');
    assert.match(await page.textContent('#program-error'), /the tape has 'x' at cell 3/);
    await run(page, '110 0101');
    assert.match(await page.textContent('#program-error'), /expected three words, RULE TAPE STEPS/);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});
