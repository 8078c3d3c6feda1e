// The program view on a natively trained automaton checkpoint: docs/page-program.png shows a held-out rule
// (30) run for 8 steps, twice the training run, stopped at iteration 6. Needs the page served from www/:
//   python3 -m http.server -d www 8099 &
//   LOOPLAB_URL=http://127.0.0.1:8099/ node docs/results/program/page.mjs runs/program/looped-s0/model.safetensors
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const BASE = process.env.LOOPLAB_URL || 'http://127.0.0.1:8099/';
const [checkpoint, program = '30 0001000100 8', iteration = '6'] = process.argv.slice(2);
if (!checkpoint) throw new Error('usage: node docs/results/program/page.mjs CHECKPOINT ["RULE TAPE STEPS"] [ITERATION]');
const { binary, args } = JSON.parse(await readFile(new URL('../../../webdriver.json', import.meta.url), 'utf8'))['goog:chromeOptions'];
const browser = await chromium.launch({ executablePath: binary, args });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.goto(`${BASE}#preset=automaton`);
  await page.waitForFunction(() => !document.getElementById('device').textContent.startsWith('starting'), null, { timeout: 60_000 });
  await page.setInputFiles('#load-file', { name: 'automaton.safetensors', mimeType: 'application/octet-stream', buffer: await readFile(checkpoint) });
  await page.waitForFunction(() => /Loaded/.test(document.getElementById('message').textContent), null, { timeout: 60_000 });
  await page.fill('#program-input', program);
  await page.click('#program-run');
  await page.waitForSelector('#program-result:not([hidden])', { timeout: 300_000 });
  await page.$eval('#program-slider', (s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }, iteration);
  await (await page.$('#program')).screenshot({ path: new URL('../../page-program.png', import.meta.url).pathname });
  console.log(`${await page.textContent('#program-note')}\n${await page.textContent('#program-step')}\n${await page.textContent('#program-verdict')}`);
} finally {
  await browser.close();
}
