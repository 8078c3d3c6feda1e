// What the page says about where it runs (pure: no DOM, so tests/js/environment.test.mjs runs it in node).

// Why WebGPU cannot be used here, as a sentence, or null when navigator.gpu is present. Browsers hide
// navigator.gpu (and crypto.subtle) outside a secure context: plain http from anywhere but this machine.
export function webgpuProblem({ secure, hasGpu, origin = '' }) {
  if (hasGpu) return null;
  if (!secure) {
    const port = /:(\d+)$/.exec(origin)?.[1] || '80';
    return 'WebGPU is unavailable because this page is not in a secure context: it was opened over plain http'
      + `${origin ? ` (${origin})` : ''}, and browsers offer WebGPU only to https pages and to http://localhost or`
      + ` http://127.0.0.1. Serve it over https, or open http://localhost:${port}/ on the machine that serves it`
      + ` (from another machine, forward the port: ssh -L ${port}:localhost:${port} THAT_MACHINE).`;
  }
  return 'This browser does not support WebGPU (navigator.gpu is missing), so training cannot use the GPU.';
}

// Names of adapters that emulate a GPU on the CPU, as WebGPU's adapter info spells them.
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render/i;

// True when the gpu backend runs on a CPU-emulated adapter: the core says so (`fallback`, wgpu's device type), the
// browser flags a fallback adapter, or the adapter's vendor/architecture/description name a software renderer.
export function isSoftwareAdapter({ backend, fallback = false, adapter = {} }) {
  if (backend !== 'gpu') return false;
  if (fallback || adapter.isFallbackAdapter) return true;
  return SOFTWARE.test([adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' '));
}

// The one-line note under the buttons for a software adapter (null otherwise): it trains correctly but slowly.
export function deviceNote(lab) {
  if (!isSoftwareAdapter(lab)) return null;
  return 'A software adapter: correct but slow. Try smaller settings (fewer train.steps, a smaller model.d_model'
    + ' or model.loops) or Load trained model where the preset has one.';
}
