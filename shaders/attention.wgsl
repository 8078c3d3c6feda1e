// Multi-head attention over qkv [batch*seq, 3*d]: queries, keys and values side by side, head h owning columns
// h*head_dim.. of each. probs and d_scores are [batch, heads, seq, seq]; masked entries (j > i when causal) are 0.
// Each entry point numbers its own bindings from 1 in the order its launch lists them (attention.rs), so one
// binding number names different tensors in different entry points.
struct Params {
    batch: u32, seq: u32, heads: u32, head_dim: u32,
    causal: u32, scale: f32, _pad0: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;

// attention_probs(_biased): qkv, probs, [bias]
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// attention_out: qkv, probs_in, out
@group(0) @binding(2) var<storage, read> probs_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// attention_d_scores: qkv, probs_in, d_out, d_scores; attention_d_qkv: qkv, probs_in, d_out, d_scores_in, d_qkv
@group(0) @binding(3) var<storage, read> d_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_scores: array<f32>;
@group(0) @binding(4) var<storage, read> d_scores_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_qkv: array<f32>;

const Q: u32 = 0u;
const K: u32 = 1u;
const V: u32 = 2u;
const LOWEST: f32 = -3.4028234e38;

fn d() -> u32 { return p.heads * p.head_dim; }

// Index of column c of head h of part (Q, K or V) for token `token` (= b*seq + position).
fn qkv_at(token: u32, part: u32, h: u32, c: u32) -> u32 {
    return token * 3u * d() + part * d() + h * p.head_dim + c;
}

fn d_out_at(token: u32, h: u32, c: u32) -> u32 {
    return token * d() + h * p.head_dim + c;
}

// Keys query i attends to: 0..visible(i).
fn visible(i: u32) -> u32 {
    return select(p.seq, i + 1u, p.causal != 0u);
}

// Queries that attend to key j: first_query(j)..seq.
fn first_query(j: u32) -> u32 {
    return select(0u, j, p.causal != 0u);
}

// One row of probs / d_scores: batch b, head h, query i, the offset of the row.
struct Row { b: u32, h: u32, i: u32, base: u32 }

fn row_of(r: u32) -> Row {
    return Row(r / (p.heads * p.seq), (r / p.seq) % p.heads, r % p.seq, r * p.seq);
}

fn score(row: Row, j: u32) -> f32 {
    let q = qkv_at(row.b * p.seq + row.i, Q, row.h, 0u);
    let k = qkv_at(row.b * p.seq + j, K, row.h, 0u);
    var s = 0.0;
    for (var c = 0u; c < p.head_dim; c++) { s = fma(qkv[q + c], qkv[k + c], s); }
    return s * p.scale;
}

// probs[row] holds raw scores with maximum mx; turn them into probabilities (subtracting mx keeps exp finite).
fn softmax_in_place(row: Row, mx: f32) {
    let n = visible(row.i);
    var sum = 0.0;
    for (var j = 0u; j < n; j++) {
        let e = exp(probs[row.base + j] - mx);
        probs[row.base + j] = e;
        sum += e;
    }
    for (var j = 0u; j < n; j++) { probs[row.base + j] /= sum; }
    for (var j = n; j < p.seq; j++) { probs[row.base + j] = 0.0; }
}

// One thread per (b, h, i) row. The biased variant is a separate entry point so that the unbiased one binds
// no bias tensor at all.
@compute @workgroup_size(256)
fn attention_probs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * p.seq) { return; }
    let row = row_of(r);
    var mx = LOWEST;
    for (var j = 0u; j < visible(row.i); j++) {
        let s = score(row, j);
        probs[row.base + j] = s;
        mx = max(mx, s);
    }
    softmax_in_place(row, mx);
}

@compute @workgroup_size(256)
fn attention_probs_biased(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * p.seq) { return; }
    let row = row_of(r);
    var mx = LOWEST;
    for (var j = 0u; j < visible(row.i); j++) {
        let s = score(row, j) + bias[row.i * p.seq + j];
        probs[row.base + j] = s;
        mx = max(mx, s);
    }
    softmax_in_place(row, mx);
}

// out = P·V: one thread per element (token, h, c) of out [batch*seq, d].
@compute @workgroup_size(256)
fn attention_out(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= p.batch * p.seq * d()) { return; }
    let token = e / d();
    let h = (e % d()) / p.head_dim;
    let c = e % p.head_dim;
    let b = token / p.seq;
    let i = token % p.seq;
    let prow = ((b * p.heads + h) * p.seq + i) * p.seq;
    var acc = 0.0;
    for (var j = 0u; j < visible(i); j++) {
        acc = fma(probs_in[prow + j], qkv[qkv_at(b * p.seq + j, V, h, c)], acc);
    }
    out[e] = acc;
}

// Softmax backward per (b, h, i) row: dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P)). dS excludes the
// 1/sqrt(head_dim) scale, which attention_d_qkv applies.
@compute @workgroup_size(256)
fn attention_d_scores(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * p.seq) { return; }
    let row = row_of(r);
    let n = visible(row.i);
    let go = d_out_at(row.b * p.seq + row.i, row.h, 0u);
    var rowsum = 0.0;
    for (var j = 0u; j < n; j++) {
        let v = qkv_at(row.b * p.seq + j, V, row.h, 0u);
        var dp = 0.0;
        for (var c = 0u; c < p.head_dim; c++) { dp = fma(d_out[go + c], qkv[v + c], dp); }
        d_scores[row.base + j] = dp;
        rowsum = fma(dp, probs_in[row.base + j], rowsum);
    }
    for (var j = 0u; j < n; j++) {
        d_scores[row.base + j] = probs_in[row.base + j] * (d_scores[row.base + j] - rowsum);
    }
    for (var j = n; j < p.seq; j++) { d_scores[row.base + j] = 0.0; }
}

// dQ[i] = scale · Σ_j dS[i,j] K[j]
fn grad_query(b: u32, h: u32, i: u32, c: u32) -> f32 {
    let s = ((b * p.heads + h) * p.seq + i) * p.seq;
    var acc = 0.0;
    for (var j = 0u; j < visible(i); j++) {
        acc = fma(d_scores_in[s + j], qkv[qkv_at(b * p.seq + j, K, h, c)], acc);
    }
    return acc * p.scale;
}

// dK[j] = scale · Σ_i dS[i,j] Q[i]
fn grad_key(b: u32, h: u32, j: u32, c: u32) -> f32 {
    let s = (b * p.heads + h) * p.seq * p.seq + j;
    var acc = 0.0;
    for (var i = first_query(j); i < p.seq; i++) {
        acc = fma(d_scores_in[s + i * p.seq], qkv[qkv_at(b * p.seq + i, Q, h, c)], acc);
    }
    return acc * p.scale;
}

// dV[j] = Σ_i P[i,j] dO[i]
fn grad_value(b: u32, h: u32, j: u32, c: u32) -> f32 {
    let s = (b * p.heads + h) * p.seq * p.seq + j;
    var acc = 0.0;
    for (var i = first_query(j); i < p.seq; i++) {
        acc = fma(probs_in[s + i * p.seq], d_out[d_out_at(b * p.seq + i, h, c)], acc);
    }
    return acc;
}

// One thread per element of d_qkv [batch*seq, 3*d]; its column picks the query, key or value gradient.
@compute @workgroup_size(256)
fn attention_d_qkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= p.batch * p.seq * 3u * d()) { return; }
    let token = e / (3u * d());
    let col = e % (3u * d());
    let part = col / d();
    let h = (col % d()) / p.head_dim;
    let c = col % p.head_dim;
    let b = token / p.seq;
    let i = token % p.seq;
    var g: f32;
    switch part {
        case Q: { g = grad_query(b, h, i, c); }
        case K: { g = grad_key(b, h, i, c); }
        default: { g = grad_value(b, h, i, c); }
    }
    d_qkv[e] = g;
}
