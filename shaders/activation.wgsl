// MLP activations, one thread per output element (SwiGLU backward: per (row, j), writing gate and up).
// Bindings: 1 the output, 2 x, 3 d_out (backward only).
struct Params {
    n: u32,      // threads
    hidden: u32, // SwiGLU: x rows are [gate (hidden), up (hidden)]
    _pad0: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> d_out: array<f32>;

const SQRT_2_OVER_PI: f32 = 0.7978846;
const GELU_CUBIC: f32 = 0.044715;

fn sigmoid(g: f32) -> f32 {
    return 1.0 / (1.0 + exp(-g));
}

// Clamped because some drivers compute tanh as a ratio of exponentials that overflows to NaN for large
// arguments; tanh(±15) is ±1 in f32 already.
fn gelu_tanh(v: f32) -> f32 {
    return tanh(clamp(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v), -15.0, 15.0));
}

// Index of the gate element for output (r, j); the up element is `hidden` further.
fn gate_index(i: u32) -> u32 {
    return (i / p.hidden) * 2u * p.hidden + i % p.hidden;
}

@compute @workgroup_size(256)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    let gi = gate_index(i);
    let g = x[gi];
    dst[i] = g * sigmoid(g) * x[gi + p.hidden];
}

@compute @workgroup_size(256)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    let gi = gate_index(i);
    let g = x[gi];
    let up = x[gi + p.hidden];
    let dy = d_out[i];
    let s = sigmoid(g);
    dst[gi] = dy * up * s * (1.0 + g * (1.0 - s));
    dst[gi + p.hidden] = dy * g * s;
}

@compute @workgroup_size(256)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    let v = x[i];
    dst[i] = 0.5 * v * (1.0 + gelu_tanh(v));
}

@compute @workgroup_size(256)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    let v = x[i];
    let t = gelu_tanh(v);
    let dt = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * v * v);
    dst[i] = d_out[i] * (0.5 * (1.0 + t) + 0.5 * v * dt);
}
