// Screenshots of the page's main views for the README: docs/page.png (training in compare mode: curves with
// phases, depth plot, exit histogram), docs/page-probes.png (the probe view of that run, CKA against its twin)
// and docs/page-solve.png (the solving view on a Sudoku checkpoint trained by `looplab train`). Needs the page
// served from www/ (build it first with ./build.sh serve, or wasm-pack as build.sh does):
//   python3 -m http.server -d www 8099 &
//   LOOPLAB_URL=http://127.0.0.1:8099/ node docs/screenshots.mjs runs/sudoku-4x4/model.safetensors [TRAIN_SECONDS]
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const BASE = process.env.LOOPLAB_URL || 'http://127.0.0.1:8099/';
const [sudokuCheckpoint, trainSeconds = '150'] = process.argv.slice(2);
if (!sudokuCheckpoint) throw new Error('usage: node docs/screenshots.mjs SUDOKU_CHECKPOINT [TRAIN_SECONDS]');
const docs = (name) => new URL(name, import.meta.url).pathname;
const { binary, args } = JSON.parse(await readFile(new URL('../webdriver.json', import.meta.url), 'utf8'))['goog:chromeOptions'];

const browser = await chromium.launch({ executablePath: binary, args });
const open = async (hash) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.goto(BASE + hash);
  await page.waitForFunction(() => !document.getElementById('device').textContent.startsWith('starting'), null, { timeout: 60_000 });
  return page;
};
const minutes = 60_000;
try {
  // A small grokking run beside its iso-FLOP feedforward twin.
  const page = await open('#task.p=23&task.train_fraction=0.6&model.d_model=32&model.mlp_hidden=64&train.eval_every=20&compare=flops');
  await page.click('#start');
  await page.waitForTimeout(Number(trainSeconds) * 1000);
  await page.click('#pause');
  await page.waitForSelector('#pause:disabled', { timeout: minutes });
  await page.waitForFunction(() => Number(document.getElementById('chart-exit').dataset.points) > 0, null, { timeout: 5 * minutes });
  await page.screenshot({ path: docs('page.png') });
  await page.click('#probe-run');
  await page.waitForSelector('#probe-run:enabled', { timeout: 5 * minutes });
  await (await page.$('#probes')).screenshot({ path: docs('page-probes.png') });
  console.log(`compare run: step ${await page.textContent('#step-count')}, ${await page.textContent('#steps-per-s')} steps/s`);
  await page.close();

  // The solving view on a natively trained Sudoku model, a test puzzle stopped halfway through its iterations.
  const solve = await open('#preset=sudoku-4x4');
  await solve.setInputFiles('#load-file', { name: 'sudoku-4x4.safetensors', mimeType: 'application/octet-stream', buffer: await readFile(sudokuCheckpoint) });
  await solve.waitForFunction(() => /Loaded/.test(document.getElementById('message').textContent), null, { timeout: minutes });
  await solve.click('#solve-new');
  await solve.waitForSelector('#solve-result:not([hidden])', { timeout: 5 * minutes });
  await solve.$eval('#solve-slider', (s) => { s.value = Math.ceil(Number(s.max) / 2); s.dispatchEvent(new Event('input')); });
  await (await solve.$('#solve')).screenshot({ path: docs('page-solve.png') });
  console.log(`solve: ${await solve.textContent('#solve-step')} | ${await solve.textContent('#solve-verdict')}`);
} finally {
  await browser.close();
}
