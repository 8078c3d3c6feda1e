// @ts-check
// One line of help per control, its tooltip and a line under it while it has focus. The settings' lines come
// from the core with the settings (wasm `settings`, src/config/settings.rs); this table holds the page's own
// controls, keyed by the control's id.
export const PAGE_HELP = {
  preset: 'A named starting point: task, model and training together (the line below says what it is).',
  compare: 'Trains a feedforward twin beside this looped model on the same data, with as many parameters or as many FLOPs per pass.',
  backend: 'Where the lab runs: WebGPU shaders, or the same kernels as Rust on the CPU (slower; for checking, or without WebGPU).',
  speed: 'How many steps the worker trains between updates of the page (as fast as possible: calls of about 250 ms).',
  'probe-examples': 'How many examples of the test split the probes run on.',
  'probe-iterations': 'How many iterations the probes run the loop for (empty: the training depth).',
};

/** Gives the control in `label` the help `text`: its tooltip, and a line under it shown while it has focus.
 * @param {HTMLLabelElement} label @param {string} text */
export function explain(label, text) {
  const control = /** @type {HTMLElement} */ (label.querySelector('input, select'));
  label.title = text;
  const line = document.createElement('small');
  line.className = 'field-help';
  line.id = `${control.id}-help`;
  line.textContent = text;
  control.setAttribute('aria-describedby', line.id);
  label.append(line);
}

/** Explains each control of PAGE_HELP (by id) in its label. @param {(id: string) => HTMLElement | null} byId */
export function explainPage(byId) {
  for (const [id, text] of Object.entries(PAGE_HELP)) explain(/** @type {HTMLLabelElement} */ (byId(id)?.closest('label')), text);
}
