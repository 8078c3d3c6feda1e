// Page tests: the mechanism views: bandit rollout, multiplication audit, split bars, self-improvement.
// Run: LOOPLAB_URL=http://127.0.0.1:8080/ node --test tests/page/mechanisms.test.mjs (./build.sh test serves the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  browser, useBrowser, openPage, points, trainPast, download, seriesCounts, dataset, LOOPLAB, TINY,
} from './helpers.mjs';

useBrowser();

test('the bandit view rolls the current model out and its baselines match the native rollout', async (t) => {
  const { page, errors } = await openPage(browser, `#preset=bandit&${TINY}&task.seq_len=8&task.test_examples=20`);
  try {
    assert.equal(await page.isHidden('#audit'), true, 'no audit for a bandit model');
    assert.equal(await page.isHidden('#splits-panel'), true, 'train and test only: no split bars');
    await trainPast(page, 2);
    await page.click('#bandit-run');
    await page.waitForSelector('#bandit-run:enabled', { timeout: 60_000 });
    assert.equal(await page.isHidden('#bandit-error'), true, `no error: ${await page.textContent('#bandit-error')}`);
    assert.match(await page.textContent('#bandit-status'), /^Step \d+: 100 unseen 5-armed tasks, 8 steps, block looped 1 time\. Lines are means over tasks; "model blind"/);
    const policies = ['model', 'model-argmax', 'model-blind', 'thompson', 'random', 'greedy'];
    assert.deepEqual(await seriesCounts(page, '#chart-bandit'), Object.fromEntries(policies.map((p) => [p, 8])), 'a line of 8 steps per policy');
    const summary = await page.textContent('#bandit-summary');
    assert.match(summary, /^Model regret per step: \d\.\d{3} over steps 1-2, .* In-context learning: (yes|not shown)/);

    // The baselines depend only on the seed and the tasks: `looplab bandit` on the same weights gives the same numbers.
    if (!existsSync(LOOPLAB)) t.diagnostic(`${LOOPLAB} is not built: skipped the comparison with the native rollout`);
    else {
      const dir = await mkdtemp(join(tmpdir(), 'looplab-bandit-'));
      await writeFile(join(dir, 'model.safetensors'), (await download(page, '#save')).bytes);
      const native = JSON.parse(execFileSync(LOOPLAB, ['bandit', '--checkpoint', join(dir, 'model.safetensors'), '--tasks', '100', '--backend', 'cpu', '--json'], { encoding: 'utf8' }));
      await rm(dir, { recursive: true, force: true });
      const i = native.in_context;
      assert.ok(summary.includes(`random ${i.random_late.toFixed(3)}, teacher ${i.teacher_late.toFixed(3)} over the last 2`), `${summary} vs native ${JSON.stringify(i)}`);
    }
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('the audit view of a multiplication model has a table row per answer digit', async () => {
  const { page, errors } = await openPage(browser, `#preset=multiplication&${TINY}&task.test_examples=20`);
  try {
    assert.equal(await page.isHidden('#bandit'), true, 'no bandit rollout for a multiplication model');
    await trainPast(page, 2);
    await page.click('#audit-run');
    await page.waitForSelector('#audit-run:enabled', { timeout: 60_000 });
    assert.equal(await page.isHidden('#audit-error'), true, `no error: ${await page.textContent('#audit-error')}`);
    assert.match(await page.textContent('#audit-status'), /^Step \d+: 20 test problems, exact \(whole product right\) \d+\.\d%\.$/);
    const rows = await page.$$eval('#audit-table tr', (tr) => tr.map((r) => [...r.children].map((c) => c.textContent)));
    assert.deepEqual(rows[0], ['digit', 'depth', 'accuracy', 'right+seen', 'right+unseen', 'wrong+seen', 'wrong+unseen', 'local', 'propagation']);
    assert.equal(rows.length - 1, 3 + 2, 'a row per answer digit of a 3-digit x 2-digit product');
    for (const [digit, , , ...counts] of rows.slice(1)) {
      const [rs, ru, ws, wu, local, propagation] = counts.map(Number);
      assert.equal(rs + ru + ws + wu, 20, `digit ${digit}: every problem counted once`);
      assert.equal(local + propagation, ws + wu, `digit ${digit}: every wrong digit is local or propagated`);
    }
    const depths = new Set(rows.slice(1).map((r) => r[1]));
    assert.equal(await points(page, '#chart-audit'), depths.size, 'a bar per graph depth');
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});

test('passkey shows a bar per distance split; the self-improve report picker shows under addition only and draws its heatmap', async () => {
  const { page: passkey, errors: passkeyErrors } = await openPage(browser, `#preset=passkey-window&${TINY}&task.test_examples=8`);
  try {
    assert.equal(await passkey.isHidden('#splits-panel'), true, 'no bars before an evaluation');
    assert.equal(await passkey.isHidden('#selfimprove'), true, 'no self-improvement report under passkey');
    await trainPast(passkey, 2);
    await passkey.waitForSelector('#splits-panel:not([hidden])', { timeout: 30_000 });
    const distances = Object.keys(await seriesCounts(passkey, '#chart-acc')).filter((s) => /^d\d+$/.test(s));
    assert.ok(distances.length >= 2, `distance splits: ${distances}`);
    assert.equal(await points(passkey, '#chart-splits'), distances.length, 'a bar per distance split');
    assert.deepEqual(passkeyErrors, [], 'no console errors');
  } finally {
    await passkey.close();
  }
  const { page, errors } = await openPage(browser, `#preset=self-improve-addition&${TINY}`);
  try {
    assert.equal(await page.isVisible('#selfimprove'), true, 'the report picker under addition');
    assert.equal(await page.isHidden('#splits-panel'), true, 'no bars before an evaluation');
    const round = (r, accuracy) => ({ round: r, frontier: 2 + r, labelled_length: r ? 2 + r : null, accuracy, accuracy_frontier: r });
    const report = { options: { filter: 'both' }, lengths: [1, 2, 3, 4], rounds: [round(0, [1, 0.9, 0.2, 0]), round(1, [1, 1, 0.8, 0.1]), round(2, [1, 1, 0.9, 0.6])] };
    await page.setInputFiles('#selfimprove-file', { name: 'self_improve.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(report)) });
    await page.waitForSelector('#selfimprove-result:not([hidden])');
    assert.deepEqual(await dataset(page, '#selfimprove-map'), { rows: '3', cols: '4' }, 'rounds x lengths');
    assert.match(await page.textContent('#selfimprove-summary'), /^self_improve\.json: 2 rounds, filter both; every length up to 2/);
    await page.setInputFiles('#selfimprove-file', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"rounds": 3}') });
    // The page reads the file asynchronously (file.text()); the error box appears when it has.
    await page.waitForSelector('#selfimprove-error:not([hidden])', { timeout: 30_000 });
    assert.match(await page.textContent('#selfimprove-error'), /^Could not read bad\.json: it is not a `looplab self-improve` report/);
    assert.equal(await page.isHidden('#selfimprove-result'), true);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
});
