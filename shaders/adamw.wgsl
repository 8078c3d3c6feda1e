// AdamW over the whole flat parameter buffer and the EMA of weights; one thread per element.
struct Params {
    n: u32, decay_len: u32,
    beta1: f32, beta2: f32, eps: f32, weight_decay: f32, clip: f32,
    _pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> grads: array<f32>;
@group(0) @binding(5) var<storage, read> step_info: array<f32>; // [t, lr]
@group(0) @binding(6) var<storage, read> grad_norm_sq: array<f32>;

// Exponent bits all ones: inf or NaN. A bit test, because compilers may fold `x - x == 0.0` to true.
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    let norm_sq = grad_norm_sq[0];
    if (!is_finite(norm_sq)) { return; } // a diverged step leaves weights and moments untouched
    var scale = 1.0;
    if (p.clip > 0.0) { scale = min(1.0, p.clip / (sqrt(norm_sq) + 1e-6)); }
    let t = step_info[0];
    let lr = step_info[1];
    let g = grads[i] * scale;
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    var w = params[i];
    if (i < p.decay_len) { w -= lr * p.weight_decay * w; }
    w -= lr * (mi / (1.0 - pow(p.beta1, t))) / (sqrt(vi / (1.0 - pow(p.beta2, t))) + p.eps);
    params[i] = w;
}

// EMA: its own uniform and bindings (each entry point uses one set).
struct EmaParams {
    n: u32, decay: f32,
    _pad0: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> ep: EmaParams;
@group(0) @binding(1) var<storage, read_write> ema_out: array<f32>;
@group(0) @binding(2) var<storage, read> ema_params: array<f32>;

@compute @workgroup_size(256)
fn ema(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= ep.n) { return; }
    ema_out[i] = ep.decay * ema_out[i] + (1.0 - ep.decay) * ema_params[i];
}
