// Page tests: the probe view.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/probes.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  browser, useBrowser, openPage, pixels, SMALL, SUDOKU, trainPast, download, probe, dataset, seriesCounts, LOOPLAB, near,
} from './helpers.mjs';

useBrowser();

test('the probe view draws a looped model\'s probes, agrees with the native probe, and names a refusal', async (t) => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    assert.equal(await page.isEnabled('#probe-run'), true, 'probing is offered before training');
    await trainPast(page, 3);
    await probe(page);
    assert.equal(await page.isHidden('#probe-error'), true, `no error: ${await page.textContent('#probe-error')}`);
    assert.match(await page.textContent('#probe-status'), /^Step \d+: 16 examples of split `test` \(\d+ tokens\), 2 iterations\.$/);
    const { name, bytes } = await download(page, '#probe-download');
    assert.match(name, /^looplab-probe-step\d+\.json$/);
    const report = JSON.parse(bytes.toString('utf8'));
    assert.equal(report.iterations, 2, 'grokking loops its block twice');
    assert.equal(report.convergence.per_token.length, 1, 'one transition between 2 iterations');

    // Every canvas holds what the report says: heatmap dimensions, one line per series.
    assert.deepEqual(await dataset(page, '#probe-tokens'), { rows: '1', cols: String(report.seq) }, 'token x transition heatmap');
    const map = await dataset(page, '#probe-map');
    assert.deepEqual([map.rows, map.cols, map.state], [String(report.seq), String(report.attention.keys), '2.0.0.0'], 'query x key map of head 0 at the last iteration');
    assert.equal((await dataset(page, '#probe-change')).points, '1', 'one relative change');
    assert.equal(Object.keys(await seriesCounts(page, '#probe-entropy')).length, report.attention.heads, 'an entropy line per head');
    assert.deepEqual(await seriesCounts(page, '#probe-lens'), { s0: 2, s1: 2 }, 'token and exact accuracy at 2 iterations');
    assert.equal((await dataset(page, '#probe-lens')).points, '4');
    assert.equal((await dataset(page, '#probe-cka')).rows, '0', 'no twin, no CKA matrix');
    const before = await pixels(page, '#probe-map');
    await page.selectOption('#probe-head', '1');
    assert.equal((await dataset(page, '#probe-map')).state, '2.0.0.1', 'the head selector picks the map');
    await page.$eval('#probe-step', (s) => { s.value = 1; s.dispatchEvent(new Event('input')); });
    assert.equal((await dataset(page, '#probe-map')).state, '1.0.0.1', 'the slider picks the iteration');
    assert.notEqual(await pixels(page, '#probe-map'), before, 'the map is redrawn');

    // The verdict panel: every line of the report with its numbers.
    const lines = await page.$$eval('#probe-verdict li', (li) => li.map((e) => e.textContent));
    assert.equal(lines.length, report.verdict.length);
    report.verdict.forEach((v, i) => assert.equal(lines[i], `${v.question} ${v.answer}${v.evidence}`));
    assert.match(lines.find((l) => l.startsWith('fixed point reached?')), /relative change from iteration 1 to 2: answer state \d/);
    assert.match(await page.textContent('#probe-path'), /^Path independence: .* cosine mean -?\d\.\d{4}/);
    assert.equal(await page.$$eval('#probe-phases tr', (tr) => tr.length), 1 + report.phases.splits.length, 'a phase row per split');

    // The same checkpoint and history through `looplab probe` on the native cpu backend.
    if (!existsSync(LOOPLAB)) t.diagnostic(`${LOOPLAB} is not built: skipped the comparison with the native probe`);
    else {
      const dir = await mkdtemp(join(tmpdir(), 'looplab-probe-'));
      await writeFile(join(dir, 'model.safetensors'), (await download(page, '#save')).bytes);
      await writeFile(join(dir, 'history.json'), (await download(page, '#export-json')).bytes);
      const native = JSON.parse(execFileSync(LOOPLAB, ['probe', '--checkpoint', join(dir, 'model.safetensors'), '--examples', '16', '--backend', 'cpu', '--json'], { encoding: 'utf8' }));
      await rm(dir, { recursive: true, force: true });
      assert.deepEqual([report.split, report.examples, report.seq, report.states], [native.split, native.examples, native.seq, native.states]);
      assert.deepEqual(report.phases, native.phases, 'phases of the same history');
      report.lens.forEach((l, i) => {
        near(l.token_accuracy, native.lens[i].token_accuracy, 1e-9, `lens token accuracy at iteration ${i + 1}`);
        near(l.mean_rank, native.lens[i].mean_rank, 1e-9, `lens mean rank at iteration ${i + 1}`);
      });
      const [c, n] = [report.convergence.series[0].changes[0], native.convergence.series[0].changes[0]];
      near(c.relative_change, n.relative_change, 1e-4, 'relative change 1 -> 2');
      near(c.cosine, n.cosine, 1e-5, 'cosine 1 -> 2');
      report.attention.series[0].entropy[1].forEach((e, h) => near(e, native.attention.series[0].entropy[1][h], 1e-4, `entropy of head ${h}`));
      near(report.path.mean_cosine, native.path.mean_cosine, 1e-4, 'path independence mean cosine');
      t.diagnostic(`page (WebGPU) vs native cpu: relative change ${c.relative_change} vs ${n.relative_change}, path cosine ${report.path.mean_cosine} vs ${native.path.mean_cosine}`);
      assert.deepEqual(report.verdict.map((v) => v.question), native.verdict.map((v) => v.question));
    }
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }

  // An MLP-mixer model: the probes read attention maps, so they refuse it and say why.
  const { page: mixer, errors: mixerErrors } = await openPage(browser, `${SUDOKU}&model.arch=trm&model.inner=2&model.mixer=mlp`);
  try {
    await probe(mixer);
    assert.match(await mixer.textContent('#probe-error'), /model\.mixer=mlp/);
    assert.equal(await mixer.isHidden('#probe-result'), true);
    assert.deepEqual(mixerErrors, [], 'no console errors');
  } finally {
    await mixer.close();
  }
});

test('an untrained model\'s verdict says it is too untrained to judge how it computes', async () => {
  const { page, errors } = await openPage(browser, `#task.p=11&${SMALL}`);
  try {
    await probe(page);  // step 0: the lab's initial weights
    assert.equal(await page.isHidden('#probe-error'), true, `no error: ${await page.textContent('#probe-error')}`);
    const lines = await page.$$eval('#probe-verdict li', (li) => li.map((e) => ({ question: e.querySelector('.question').textContent.trim(), answer: e.querySelector('strong').textContent, evidence: e.querySelector('.evidence').textContent })));
    for (const question of ['fixed point reached?', 'attention stabilized?', 'path independent?']) {
      const line = lines.find((l) => l.question === question);
      assert.equal(line?.answer, 'too untrained to judge', `${question} ${JSON.stringify(line)}`);
      assert.match(line.evidence, /^the best token accuracy of the logit lens, \d\.\d{3}, is less than 0\.1 above chance/);
    }
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});
