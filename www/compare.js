// Compare mode: a looped model trains beside its feedforward twin on the same data (same seed). The twin is the
// same config with these overrides; the lab validates it like any other.


// Layer applications per iteration: trm updates z `inner` times then y once with its one block; hrm runs its L
// block `inner` times then its H block once.
function layersPerIteration(m) {
  return m.arch === 'trm' || m.arch === 'hrm' ? m.layers * (m.inner + 1) : m.layers;
}

// Distinct layers (weights): hrm has two blocks, the others one.
function distinctLayers(m) {
  return m.arch === 'hrm' ? 2 * m.layers : m.layers;
}

const RECURRENT_KEYS = ['model.arch', 'model.layers', 'model.loops', 'model.inner', 'train.depth', 'train.backprop', 'train.segments'];

// The twin's `key=value` overrides for `config` (the looped model's validated config, from `overrides`), or null
// when `config` is not recurrent. "same parameters": as many distinct layers; "same FLOPs": as many layer
// applications per forward pass (capped at 64, the most model.layers allows).
export function twinOverrides(config, overrides, mode) {
  const m = config.model;
  if (m.arch === 'feedforward') return null;
  const layers = Math.min(64, mode === 'flops' ? layersPerIteration(m) * m.loops : distinctLayers(m));
  return [
    ...overrides.filter((o) => !RECURRENT_KEYS.includes(o.split('=')[0])),
    'model.arch=feedforward', `model.layers=${layers}`, 'model.loops=1', 'model.inner=0',
    'train.depth=fixed', 'train.backprop=0', 'train.segments=1',
  ];
}
