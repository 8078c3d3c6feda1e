// ACT's halting head: a logit per example from its first token (see halting.rs). Each entry point numbers its
// own bindings from 1 in the order its launch lists them.
struct Params {
    batch: u32, seq: u32, d: u32,
    scale: f32, // halt_forward: weight of the loss's gradient
}
@group(0) @binding(0) var<uniform> p: Params;

// halt_forward: x, weight, bias, exact, has_target, q, losses, d_q
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> exact: array<f32>;
@group(0) @binding(5) var<storage, read> has_target: array<f32>;
@group(0) @binding(6) var<storage, read_write> q: array<f32>;
@group(0) @binding(7) var<storage, read_write> losses: array<f32>;
@group(0) @binding(8) var<storage, read_write> d_q: array<f32>;

@compute @workgroup_size(256)
fn halt_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = linear_id(gid, nwg);
    if (b >= p.batch) { return; }
    var logit = bias[0];
    for (var c = 0u; c < p.d; c++) { logit += x[b * p.seq * p.d + c] * weight[c]; }
    q[b] = logit;
    if (has_target[b] > 0.5) {
        let t = exact[b];
        // Binary cross-entropy of sigmoid(logit), written so no exponential overflows.
        losses[b] = max(logit, 0.0) - logit * t + log(1.0 + exp(-abs(logit)));
        d_q[b] = (1.0 / (1.0 + exp(-logit)) - t) * p.scale / f32(p.batch);
    } else {
        losses[b] = 0.0;
        d_q[b] = 0.0;
    }
}

// halt_d_x: weight, d_q, d_x (first token of each example, accumulated); one thread per (b, c).
@group(0) @binding(1) var<storage, read> weight_x: array<f32>;
@group(0) @binding(2) var<storage, read> d_q_x: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_x: array<f32>;

@compute @workgroup_size(256)
fn halt_d_x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= p.batch * p.d) { return; }
    let b = e / p.d;
    let c = e % p.d;
    d_x[b * p.seq * p.d + c] += d_q_x[b] * weight_x[c];
}

// halt_d_weight: x, d_q, d_weight (accumulated); one thread per column, examples in order.
@group(0) @binding(1) var<storage, read> x_w: array<f32>;
@group(0) @binding(2) var<storage, read> d_q_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_weight: array<f32>;

@compute @workgroup_size(256)
fn halt_d_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = linear_id(gid, nwg);
    if (c >= p.d) { return; }
    var sum = 0.0;
    for (var b = 0u; b < p.batch; b++) { sum += d_q_w[b] * x_w[b * p.seq * p.d + c]; }
    d_weight[c] += sum;
}

// halt_d_bias: d_q, d_bias (accumulated); one thread.
@group(0) @binding(1) var<storage, read> d_q_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> d_bias: array<f32>;

@compute @workgroup_size(1)
fn halt_d_bias() {
    var sum = 0.0;
    for (var b = 0u; b < p.batch; b++) { sum += d_q_b[b]; }
    d_bias[0] += sum;
}
