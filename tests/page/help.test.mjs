// Page tests: a first visit explains itself: the intro and its link to the manual, a line of help for every
// setting of every preset (tooltip, and shown under the field while it has focus), a sentence per view.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/help.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browser, useBrowser, openPage, URL } from './helpers.mjs';

useBrowser();

// Every visible setting (the form's fields, the page's selects, the probe controls): its id, its label's tooltip,
// the text of the line its aria-describedby names, and whether that line is shown.
const settings = (page) => page.$$eval('aside select, aside input:not([type=file]), .probe-controls input', (controls) => controls
  .filter((c) => c.offsetParent !== null)
  .map((c) => ({
    id: c.id,
    title: c.closest('label')?.title || '',
    help: document.getElementById(c.getAttribute('aria-describedby') || '')?.textContent || '',
    shown: document.getElementById(c.getAttribute('aria-describedby') || '')?.offsetParent != null,
  })));

test('the intro links to the manual, every setting of every preset has its help, every view says what it shows', async () => {
  // The cpu backend: changing presets builds each preset's lab, which the page does not wait for here.
  const { page } = await openPage(browser, '#backend=cpu');
  try {
    assert.match(await page.textContent('#intro'), /looped transformers.*Start/s);
    const manual = await page.$eval('#intro a', (a) => a.href);
    const response = await page.request.get(manual);
    assert.equal(response.status(), 200, `${manual} is served`);
    assert.match(await response.text(), /^# The page/);

    const presets = await page.$$eval('#preset option', (o) => o.map((e) => e.value));
    assert.ok(presets.length > 10, `the presets: ${presets}`);
    const checked = new Set();
    for (const preset of presets) {
      await page.selectOption('#preset', preset);
      const all = await settings(page);
      assert.ok(all.length >= 15, `${preset}: ${all.length} settings`);
      for (const s of all) {
        assert.ok(s.title.length > 20, `${preset}: #${s.id} has a tooltip: "${s.title}"`);
        assert.equal(s.help, s.title, `${preset}: #${s.id}'s help line is its tooltip`);
        assert.equal(s.shown, false, `${preset}: #${s.id}'s help is hidden until it has focus`);
        checked.add(s.id);
      }
    }
    for (const id of ['task-p', 'model-loops', 'model-inner', 'train-depth', 'train-backprop', 'train-segments', 'task-givens', 'task-hops', 'compare', 'speed']) {
      assert.ok(checked.has(id), `#${id} was checked`);
    }
    // Focus shows the line (Tab reaches it).
    await page.focus('#train-depth');
    assert.equal((await settings(page)).find((s) => s.id === 'train-depth').shown, true, 'the focused field\'s help shows');
    assert.match(await page.textContent('#train-depth-help'), /^fixed: .*random: .*progressive: /);

    // Every view has its sentences.
    assert.match(await page.textContent('#views-help'), /^Loss: .*Accuracy:\s.*token\s+accuracy .*Iterations:\s.*Exit:\s.*adaptive exit/s);
    for (const id of ['#probes > .hint', '#norm-panel .hint', '#runs .hint']) {
      assert.ok((await page.textContent(id)).trim().length > 40, `${id} says what it shows`);
    }
  } finally {
    await page.close();
  }
});
