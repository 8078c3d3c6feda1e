// The config form: a preset picker and the settings that matter for the preset's task, as the core lists them
// (wasm `settings`: each key's label, one line of help and its named values). The URL hash (hash.js) holds the
// whole config: the values that differ from the preset, plus any other config key given there (passed to the lab
// as it is). The wasm `presetConfig` checks a config without building a lab.
import { presets, presetConfig, settings, closestPreset } from './pkg/looplab.js';
import { DEFAULT_PRESET, shorten } from './hash.js';
import { explain } from './help.js';

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
  // fewest keys (the core's `closestPreset`), plus those keys.
  fromConfig(config) {
    const { preset, overrides } = closestPreset(config);
    this.build(preset);
    for (const assignment of overrides) {
      const at = assignment.indexOf('=');
      const input = this.inputs.find((i) => i.name === assignment.slice(0, at));
      if (input) setValue(input, assignment.slice(at + 1));
      else this.extras.push(assignment);
    }
  }

  // "grokking task.p=11 model.d_model=32": a config as its closest preset and the keys that differ (cut short).
  static describe(config) {
    const { preset, overrides } = closestPreset(config);
    return shorten([preset, ...overrides].join(' '), 80);
  }

  // Shows `name`'s settings at their preset values (valid: a preset is).
  build(name) {
    this.preset = name;
    this.select.value = name;
    this.extras = [];
    this.invalid = false;
    this.defaults = presetConfig(name, []);
    this.description.textContent = this.list.find((p) => p.name === name).description;
    this.inputs = settings(this.defaults.task.kind).map(({ key, label, help, choices }) => {
      const input = choices.length ? document.createElement('select') : document.createElement('input');
      for (const c of choices) input.append(new Option(c, c));
      if (!choices.length) Object.assign(input, { type: 'text', inputMode: 'decimal', spellcheck: false });
      input.name = key;
      input.id = key.replaceAll('.', '-');
      setValue(input, String(valueAt(this.defaults, key)));
      const wrap = document.createElement('label');
      wrap.append(Object.assign(document.createElement('span'), { textContent: label }), input);
      explain(wrap, help);
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

// A select shows a value it does not list as an extra option, so the validation message can name it.
function setValue(input, value) {
  if (input.tagName === 'SELECT' && ![...input.options].some((o) => o.value === value)) input.append(new Option(value, value));
  input.value = value;
}
