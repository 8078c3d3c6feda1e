// Prepended to every shader (see src/ops/mod.rs). 1-D kernels run 256 threads per workgroup over a grid
// spread across x and y (one dimension may not exceed 65535 workgroups).
const WG: u32 = 256u;

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

var<workgroup> wg_partial: array<f32, WG>;

// The sum of `x` over the 256 threads of a workgroup (thread t passes its own), by a tree in workgroup memory:
// a fixed order, so the result never varies. Every thread must call it; all get the total.
fn workgroup_sum(t: u32, x: f32) -> f32 {
    wg_partial[t] = x;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) { wg_partial[t] += wg_partial[t + half]; }
        workgroupBarrier();
    }
    let total = wg_partial[0];
    workgroupBarrier();
    return total;
}

// MLP activations (activation.wgsl) and their gradients (matmul.wgsl's epilogue); CPU twins in ops/activation.rs.
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

// SwiGLU's (d_gate, d_up) at gate g and up given dy = dL/d(silu(g) * up).
fn swiglu_grad(g: f32, up: f32, dy: f32) -> vec2<f32> {
    let s = sigmoid(g);
    return vec2<f32>(dy * up * s * (1.0 + g * (1.0 - s)), dy * g * s);
}

// GELU's gradient at v given dy = dL/d gelu(v).
fn gelu_grad(v: f32, dy: f32) -> f32 {
    let t = gelu_tanh(v);
    let dt = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * v * v);
    return dy * (0.5 * (1.0 + t) + 0.5 * v * dt);
}
