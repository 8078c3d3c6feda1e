// @ts-check
// The URL hash, `#preset=NAME&key=value&...&compare=MODE&backend=cpu`: the whole run, so a link reproduces it.
// The config keys are the ones `looplab train --set` takes. Read and written only here (the form checks the
// settings with the wasm validator). Pure: unit-tested in tests/js.

/** @typedef {'params' | 'flops'} CompareMode */
/** @typedef {'gpu' | 'cpu'} BackendName */

export const COMPARE_MODES = Object.freeze({ params: 'same parameters', flops: 'same FLOPs' });
export const BACKENDS = Object.freeze(['gpu', 'cpu']);
export const DEFAULT_PRESET = 'grokking';
// The page's own keys; every other key is a config setting.
const PAGE_KEYS = ['preset', 'compare', 'backend'];

/** `text`, cut to `most` characters with how long it was: a pasted hash is never echoed whole. @param {string} text @param {number} most */
export function shorten(text, most) {
  return text.length <= most ? text : `${text.slice(0, most)}… (${text.length} characters)`;
}

/**
 * The hash's parts: the preset (as written; the form checks it), the config settings [key, value] in order,
 * the compare mode (null: off, or not a mode), the backend, and what is wrong with the page's own keys.
 * @param {string} hash
 * @returns {{preset: string, settings: [string, string][], compare: CompareMode | null, backend: BackendName, problems: string[]}}
 */
export function parseHash(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const problems = [];
  const compare = params.get('compare');
  const backend = params.get('backend');
  if (backend !== null && !BACKENDS.includes(backend)) {
    problems.push(`Unknown backend "${shorten(backend, 40)}" in the URL; using gpu. Backends: ${BACKENDS.join(', ')}.`);
  }
  return {
    preset: params.get('preset') || DEFAULT_PRESET,
    settings: /** @type {[string, string][]} */ ([...params].filter(([k]) => !PAGE_KEYS.includes(k))),
    compare: compare !== null && Object.hasOwn(COMPARE_MODES, compare) ? /** @type {CompareMode} */ (compare) : null,
    backend: backend === 'cpu' ? 'cpu' : 'gpu',
    problems,
  };
}

/**
 * The hash of a run: the preset, its `key=value` overrides, then the page's own keys where they are not the
 * defaults.
 * @param {{preset: string, overrides: string[], compare?: CompareMode | null, backend?: BackendName}} run
 */
export function hashOf({ preset, overrides, compare = null, backend = 'gpu' }) {
  const pairs = overrides.map((o) => [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)]);
  if (compare) pairs.push(['compare', compare]);
  if (backend === 'cpu') pairs.push(['backend', 'cpu']);
  return `#${new URLSearchParams([['preset', preset], ...pairs])}`;
}

/** `word` quoted for a POSIX shell when it needs it. @param {string} word */
export function shellQuote(word) {
  return /^[A-Za-z0-9_.,:=+\/@%-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/**
 * The `looplab train` command that trains the same run natively (`--set` takes the hash's keys).
 * @param {{preset: string, overrides: string[], backend?: BackendName}} run
 */
export function cliCommand({ preset, overrides, backend = 'gpu' }) {
  const words = ['looplab', 'train', '--preset', preset, ...overrides.flatMap((o) => ['--set', o])];
  if (backend === 'cpu') words.push('--backend', 'cpu');
  return words.map(shellQuote).join(' ');
}

/**
 * Two runs' overrides name the same model and data: equal apart from `train.steps`, the step budget, which
 * changes neither (a trained model stands at the step it was trained to whatever the form's budget).
 * @param {string[]} a @param {string[]} b
 */
export function sameModel(a, b) {
  const key = (o) => JSON.stringify(o.filter((x) => !x.startsWith('train.steps=')).sort());
  return key(a) === key(b);
}
