// The config form: a preset picker and the settings that matter for the preset's task. The URL hash (hash.js)
// holds the whole config: the values that differ from the preset, plus any other config key given there (passed
// to the lab as it is). The wasm `presetConfig` checks a config without building a lab.
import { presets, presetConfig } from './pkg/looplab.js';
import { DEFAULT_PRESET, shorten } from './hash.js';

const CHOICES = {
  'model.arch': ['feedforward', 'looped', 'trm', 'hrm'],
  'model.attention': ['global', 'local'],
  'model.positions': ['learned', 'none'],
  'train.depth': ['fixed', 'random', 'progressive'],
};

const MODEL = [
  ['model.arch', 'architecture'], ['model.layers', 'layers'], ['model.loops', 'loops'],
  ['model.inner', 'inner steps (trm, hrm)'], ['model.d_model', 'width (d_model)'], ['model.attention', 'attention'],
  ['model.radius', 'radius (local)'], ['model.positions', 'positions'],
  ['train.steps', 'steps'], ['train.lr', 'learning rate'], ['train.weight_decay', 'weight decay'],
  ['train.depth', 'depth'], ['train.backprop', 'backprop iterations (0 = all)'], ['train.segments', 'segments'],
  ['seed', 'seed'],
];

// The size knobs of each task kind.
const TASK = {
  modular: [['task.p', 'p (modulus)'], ['task.train_fraction', 'train fraction']],
  random: [['task.vocab', 'vocabulary'], ['task.seq_len', 'sequence length'], ['task.examples', 'examples']],
  sudoku: [['task.size', 'board side'], ['task.givens', 'givens'], ['task.examples', 'training puzzles'], ['task.test_examples', 'test puzzles']],
  maze: [['task.size', 'cells per side'], ['task.test_size', 'test cells per side'], ['task.maze_loops', 'walls removed (0-1)'],
    ['task.examples', 'training mazes'], ['task.test_examples', 'test mazes']],
  'prefix-sums': [['task.size', 'bits'], ['task.test_size', 'test bits'], ['task.examples', 'training examples'], ['task.test_examples', 'test examples']],
  'pointer-chasing': [['task.size', 'nodes'], ['task.hops', 'hops'], ['task.examples', 'training examples'], ['task.test_examples', 'test examples']],
  composition: [['task.entities', 'entities'], ['task.relations', 'relations'], ['task.hops', 'hops'], ['task.phi', 'phi'],
    ['task.ood_fraction', 'OOD fraction'], ['task.test_examples', 'test examples']],
  automaton: [['task.size', 'tape cells'], ['task.steps', 'program steps'], ['task.test_size', 'wide-test cells'],
    ['task.test_steps', 'long-test steps'], ['task.ood_fraction', 'rule classes held out'], ['task.examples', 'training programs'],
    ['task.test_examples', 'test programs']],
};

const valueAt = (config, key) => key.split('.').reduce((o, k) => o?.[k], config);
const errorText = (e) => (e && e.message) ? e.message : String(e);

export class ConfigForm {
  constructor({ select, description, fields }) {
    Object.assign(this, { select, description, fields });
    this.list = presets();
    for (const p of this.list) select.append(new Option(p.name, p.name));
    this.inputs = [];
    this.extras = [];
  }

  // Fills the form from a parsed URL hash (hash.js); returns what is wrong with it (an unknown preset, an
  // invalid value) or null.
  fromHash({ preset, settings }) {
    let name = preset;
    let problem = null;
    if (!this.list.some((p) => p.name === name)) {
      problem = `Unknown preset "${shorten(name, 40)}" in the URL; showing ${DEFAULT_PRESET}. Presets: ${this.list.map((p) => p.name).join(', ')}.`;
      name = DEFAULT_PRESET;
    }
    this.build(name);
    for (const [key, value] of settings) {
      const input = this.inputs.find((i) => i.name === key);
      if (input) setValue(input, value);
      else this.extras.push(`${key}=${value}`);
    }
    const invalid = this.check();
    return problem || invalid;
  }

  // Fills the form with a whole config (a loaded checkpoint's): the preset of its task that differs from it in the
  // fewest keys, plus those keys.
  fromConfig(config) {
    const flat = flatten(config);
    const best = this.nearest(flat);
    this.build(best.name);
    for (const key of best.differ) {
      const input = this.inputs.find((i) => i.name === key);
      if (input) setValue(input, String(flat[key]));
      else this.extras.push(`${key}=${flat[key]}`);
    }
  }

  // The preset that differs from a flattened config in the fewest keys, and those keys.
  nearest(flat) {
    let best = null;
    for (const p of this.list) {
      const defaults = flatten(presetConfig(p.name, []));
      const differ = Object.keys(flat).filter((k) => String(flat[k]) !== String(defaults[k]));
      if (!best || differ.length < best.differ.length) best = { name: p.name, differ };
    }
    return best;
  }

  // "grokking task.p=11 model.d_model=32": a config as its nearest preset and the keys that differ (cut short).
  describe(config) {
    const flat = flatten(config);
    const { name, differ } = this.nearest(flat);
    return shorten([name, ...differ.map((k) => `${k}=${flat[k]}`)].join(' '), 80);
  }

  // Shows `name`'s settings at their preset values (valid: a preset is).
  build(name) {
    this.preset = name;
    this.select.value = name;
    this.extras = [];
    this.invalid = false;
    this.defaults = presetConfig(name, []);
    this.description.textContent = this.list.find((p) => p.name === name).description;
    const keys = [...(TASK[this.defaults.task.kind] || []), ...MODEL];
    this.inputs = keys.map(([key, label]) => {
      const input = CHOICES[key] ? document.createElement('select') : document.createElement('input');
      for (const c of CHOICES[key] || []) input.append(new Option(c, c));
      if (!CHOICES[key]) Object.assign(input, { type: 'text', inputMode: 'decimal', spellcheck: false });
      input.name = key;
      input.id = key.replaceAll('.', '-');
      setValue(input, String(valueAt(this.defaults, key)));
      const wrap = document.createElement('label');
      wrap.append(label, input);
      return input;
    });
    this.fields.replaceChildren(...this.inputs.map((i) => i.parentElement));
  }

  // "key=value" for every setting that differs from the preset, then the hash's other keys.
  overrides() {
    const changed = this.inputs.filter((i) => i.value.trim() !== String(valueAt(this.defaults, i.name)));
    return [...changed.map((i) => `${i.name}=${i.value.trim()}`), ...this.extras];
  }

  // Validates the settings: marks the field the validator's error names (aria-invalid; the error's `key`),
  // sets `invalid`, and returns the message, or null.
  check() {
    let error = null;
    try {
      presetConfig(this.preset, this.overrides());
    } catch (e) {
      error = e;
    }
    for (const input of this.inputs) {
      if (error?.key === input.name) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    this.invalid = error !== null;
    return error && errorText(error);
  }

  set disabled(value) {
    this.select.disabled = value;
    for (const input of this.inputs) input.disabled = value;
  }
}

// {"task.kind": "modular", ...}: every leaf of a config under its dotted key.
function flatten(config, prefix = '', out = {}) {
  for (const [k, v] of Object.entries(config)) {
    if (v && typeof v === 'object') flatten(v, `${prefix}${k}.`, out);
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

// A select shows a value it does not list as an extra option, so the validation message can name it.
function setValue(input, value) {
  if (input.tagName === 'SELECT' && ![...input.options].some((o) => o.value === value)) input.append(new Option(value, value));
  input.value = value;
}
