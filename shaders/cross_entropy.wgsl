// Softmax or stablemax cross-entropy per row of logits [rows, vocab]. A row is supervised when its target is
// inside the vocabulary (IGNORE = 0xffffffff never is; out-of-range targets are a caller bug and are skipped too).
// Two entry points: count_supervised (one workgroup) writes count[0]; cross_entropy_rows (one thread per row)
// reads it to scale the gradient of the mean loss. Each entry numbers its own bindings from 1.
struct Params {
    rows: u32, vocab: u32,
    stablemax: u32,
    scale: f32, // multiplies d_logits only
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> targets: array<u32>;

@group(0) @binding(2) var<storage, read_write> count_out: array<f32>;

@group(0) @binding(2) var<storage, read> count: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;
@group(0) @binding(6) var<storage, read_write> correct: array<f32>;
@group(0) @binding(7) var<storage, read_write> supervised: array<f32>;

fn is_supervised(r: u32) -> bool {
    return targets[r] < p.vocab;
}

// Stablemax's s(x) and s'(x): the two pieces meet at s(0) = 1 with slope 1.
fn stable(x: f32) -> f32 {
    if (x >= 0.0) { return x + 1.0; }
    return 1.0 / (1.0 - x);
}

fn stable_slope(x: f32) -> f32 {
    if (x >= 0.0) { return 1.0; }
    return 1.0 / ((1.0 - x) * (1.0 - x));
}

// p_j = weight(x_j) / Σ_k weight(x_k), so d loss / d x_j = slope(x_j) / Σ_k weight(x_k) - [j = t] d_log_weight(x_t).
// Softmax's weight is exp(x - mx): the row maximum mx keeps exp finite and cancels in p.
fn weight(x: f32, mx: f32) -> f32 {
    if (p.stablemax != 0u) { return stable(x); }
    return exp(x - mx);
}

fn slope(x: f32, mx: f32) -> f32 {
    if (p.stablemax != 0u) { return stable_slope(x); }
    return exp(x - mx);
}

// log weight(x), written out for softmax so a far-from-maximum target does not underflow to log(0).
fn log_weight(x: f32, mx: f32) -> f32 {
    if (p.stablemax != 0u) { return log(stable(x)); }
    return x - mx;
}

fn d_log_weight(x: f32) -> f32 {
    if (p.stablemax != 0u) { return stable_slope(x) / stable(x); }
    return 1.0;
}

var<workgroup> partial: array<u32, WG>;

// Integer counts, so the order does not matter; a tree keeps it one workgroup without atomics anyway.
@compute @workgroup_size(256)
fn count_supervised(@builtin(local_invocation_index) t: u32) {
    var n = 0u;
    for (var r = t; r < p.rows; r += WG) {
        n += u32(is_supervised(r));
    }
    partial[t] = n;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) { partial[t] += partial[t + half]; }
        workgroupBarrier();
    }
    if (t == 0u) { count_out[0] = f32(partial[0]); }
}

@compute @workgroup_size(256)
fn cross_entropy_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.vocab;
    if (!is_supervised(r)) {
        for (var j = 0u; j < p.vocab; j++) { d_logits[base + j] = 0.0; }
        losses[r] = 0.0;
        correct[r] = 0.0;
        supervised[r] = 0.0;
        return;
    }
    let t = targets[r];
    // Strict > picks the first maximum, as argmax does.
    var argmax = 0u;
    var mx = logits[base];
    for (var j = 1u; j < p.vocab; j++) {
        let v = logits[base + j];
        if (v > mx) { mx = v; argmax = j; }
    }
    var sum = 0.0;
    for (var j = 0u; j < p.vocab; j++) { sum += weight(logits[base + j], mx); }
    let x_t = logits[base + t];
    let n = max(count[0], 1.0);
    for (var j = 0u; j < p.vocab; j++) {
        let at_target = select(0.0, d_log_weight(x_t), j == t);
        d_logits[base + j] = (slope(logits[base + j], mx) / sum - at_target) * p.scale / n;
    }
    losses[r] = log(sum) - log_weight(x_t, mx);
    correct[r] = select(0.0, 1.0, argmax == t);
    supervised[r] = 1.0;
}
