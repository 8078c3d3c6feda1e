// MLP activations, one thread per output element; their gradients run in matmul.wgsl's epilogue (the
// functions they share are in common.wgsl). Bindings: 1 the output, 2 x.
struct Params {
    n: u32,      // threads
    hidden: u32, // SwiGLU: x rows are [gate (hidden), up (hidden)]
    _pad0: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

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
fn gelu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    let v = x[i];
    dst[i] = 0.5 * v * (1.0 + gelu_tanh(v));
}
