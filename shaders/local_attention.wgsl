// Multi-head attention over a grid neighbourhood (local_attention.rs). qkv [batch*seq, 3*d] as in attention.wgsl;
// each example's seq = height*width tokens form a row-major grid. probs and d_scores are
// [batch, heads, seq, window]: offset o = (dy+radius)*(2*radius+1) + (dx+radius) of query (y, x) is key
// (y+dy, x+dx); offsets whose key lies outside the grid hold 0. Each entry point numbers its own bindings from
// 1 in the order its launch lists them, so one binding number names different tensors in different entry points.
struct Params {
    batch: u32, height: u32, width: u32, heads: u32,
    head_dim: u32, radius: u32, scale: f32, _pad0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;

// local_attention_probs: qkv, probs, bias
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// local_attention_out: qkv, probs_in, out
@group(0) @binding(2) var<storage, read> probs_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// local_attention_d_scores: qkv, probs_in, d_out, d_scores;
// local_attention_d_qkv: qkv, probs_in, d_out, d_scores_in, d_qkv
@group(0) @binding(3) var<storage, read> d_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_scores: array<f32>;
@group(0) @binding(4) var<storage, read> d_scores_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_qkv: array<f32>;
// local_attention_d_bias: d_scores_of_bias, d_bias
@group(0) @binding(1) var<storage, read> d_scores_of_bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> d_bias: array<f32>;

const Q: u32 = 0u;
const K: u32 = 1u;
const V: u32 = 2u;
const LOWEST: f32 = -3.4028234e38;

fn seq() -> u32 { return p.height * p.width; }
fn d() -> u32 { return p.heads * p.head_dim; }
fn window() -> u32 {
    let side = 2u * p.radius + 1u;
    return side * side;
}

// Index of column c of head h of part (Q, K or V) for token `token` (= b*seq + position).
fn qkv_at(token: u32, part: u32, h: u32, c: u32) -> u32 {
    return token * 3u * d() + part * d() + h * p.head_dim + c;
}

fn d_out_at(token: u32, h: u32, c: u32) -> u32 {
    return token * d() + h * p.head_dim + c;
}

// Offset of row (b, h, i) in probs / d_scores.
fn prob_row(b: u32, h: u32, i: u32) -> u32 {
    return ((b * p.heads + h) * seq() + i) * window();
}

// The position at offset o from position t (sign 1: the key query t sees there), or the position that sees t
// through offset o (sign -1: the query of key t); -1 outside the grid.
fn shifted(t: u32, o: u32, sign: i32) -> i32 {
    let side = 2 * i32(p.radius) + 1;
    let y = i32(t / p.width) + sign * (i32(o) / side - i32(p.radius));
    let x = i32(t % p.width) + sign * (i32(o) % side - i32(p.radius));
    if (y < 0 || y >= i32(p.height) || x < 0 || x >= i32(p.width)) { return -1; }
    return y * i32(p.width) + x;
}

// One row of probs / d_scores: batch b, head h, query i, the offset of the row.
struct Row { b: u32, h: u32, i: u32, base: u32 }

fn row_of(r: u32) -> Row {
    return Row(r / (p.heads * seq()), (r / seq()) % p.heads, r % seq(), r * window());
}

// Softmax over the in-grid offsets, one thread per (b, h, i) row; out-of-grid offsets get exactly 0.
@compute @workgroup_size(256)
fn local_attention_probs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * seq()) { return; }
    let row = row_of(r);
    let q = qkv_at(row.b * seq() + row.i, Q, row.h, 0u);
    var mx = LOWEST;
    for (var o = 0u; o < window(); o++) {
        let j = shifted(row.i, o, 1);
        if (j < 0) { continue; }
        let k = qkv_at(row.b * seq() + u32(j), K, row.h, 0u);
        var s = 0.0;
        for (var c = 0u; c < p.head_dim; c++) { s = fma(qkv[q + c], qkv[k + c], s); }
        s = s * p.scale + bias[row.h * window() + o];
        probs[row.base + o] = s;
        mx = max(mx, s);
    }
    // Subtracting the maximum keeps exp finite; the query's own position is always inside, so sum >= 1.
    var sum = 0.0;
    for (var o = 0u; o < window(); o++) {
        var e = 0.0;
        if (shifted(row.i, o, 1) >= 0) { e = exp(probs[row.base + o] - mx); }
        probs[row.base + o] = e;
        sum += e;
    }
    for (var o = 0u; o < window(); o++) { probs[row.base + o] /= sum; }
}

// out = Σ_o P[o] V[key at o]: one thread per element (token, h, c) of out [batch*seq, d].
@compute @workgroup_size(256)
fn local_attention_out(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= p.batch * seq() * d()) { return; }
    let token = e / d();
    let h = (e % d()) / p.head_dim;
    let c = e % p.head_dim;
    let b = token / seq();
    let i = token % seq();
    let prow = prob_row(b, h, i);
    var acc = 0.0;
    for (var o = 0u; o < window(); o++) {
        let j = shifted(i, o, 1);
        if (j >= 0) { acc = fma(probs_in[prow + o], qkv[qkv_at(b * seq() + u32(j), V, h, c)], acc); }
    }
    out[e] = acc;
}

// Softmax backward per (b, h, i) row: dP[o] = dO_i·V_j, then dS = P ⊙ (dP − rowsum(dP ⊙ P)). dS excludes the
// 1/sqrt(head_dim) scale, which local_attention_d_qkv applies.
@compute @workgroup_size(256)
fn local_attention_d_scores(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * seq()) { return; }
    let row = row_of(r);
    let go = d_out_at(row.b * seq() + row.i, row.h, 0u);
    var rowsum = 0.0;
    for (var o = 0u; o < window(); o++) {
        let j = shifted(row.i, o, 1);
        var dp = 0.0;
        if (j >= 0) {
            let v = qkv_at(row.b * seq() + u32(j), V, row.h, 0u);
            for (var c = 0u; c < p.head_dim; c++) { dp = fma(d_out[go + c], qkv[v + c], dp); }
        }
        d_scores[row.base + o] = dp;
        rowsum = fma(dp, probs_in[row.base + o], rowsum);
    }
    for (var o = 0u; o < window(); o++) {
        d_scores[row.base + o] = probs_in[row.base + o] * (d_scores[row.base + o] - rowsum);
    }
}

// dQ_i = scale · Σ_o dS[i,o] K[key at o]
fn grad_query(b: u32, h: u32, i: u32, c: u32) -> f32 {
    let s = prob_row(b, h, i);
    var acc = 0.0;
    for (var o = 0u; o < window(); o++) {
        let j = shifted(i, o, 1);
        if (j >= 0) { acc = fma(d_scores_in[s + o], qkv[qkv_at(b * seq() + u32(j), K, h, c)], acc); }
    }
    return acc * p.scale;
}

// dK_j = scale · Σ_o dS[i,o] Q_i over the queries i that see j through offset o (gathered: no atomics).
fn grad_key(b: u32, h: u32, j: u32, c: u32) -> f32 {
    var acc = 0.0;
    for (var o = 0u; o < window(); o++) {
        let i = shifted(j, o, -1);
        if (i >= 0) { acc = fma(d_scores_in[prob_row(b, h, u32(i)) + o], qkv[qkv_at(b * seq() + u32(i), Q, h, c)], acc); }
    }
    return acc * p.scale;
}

// dV_j = Σ_o P[i,o] dO_i over the same queries.
fn grad_value(b: u32, h: u32, j: u32, c: u32) -> f32 {
    var acc = 0.0;
    for (var o = 0u; o < window(); o++) {
        let i = shifted(j, o, -1);
        if (i >= 0) { acc = fma(probs_in[prob_row(b, h, u32(i)) + o], d_out[d_out_at(b * seq() + u32(i), h, c)], acc); }
    }
    return acc;
}

// One thread per element of d_qkv [batch*seq, 3*d]; its column picks the query, key or value gradient.
@compute @workgroup_size(256)
fn local_attention_d_qkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= p.batch * seq() * 3u * d()) { return; }
    let token = e / (3u * d());
    let col = e % (3u * d());
    let part = col / d();
    let h = (col % d()) / p.head_dim;
    let c = col % p.head_dim;
    let b = token / seq();
    let i = token % seq();
    var g: f32;
    switch part {
        case Q: { g = grad_query(b, h, i, c); }
        case K: { g = grad_key(b, h, i, c); }
        default: { g = grad_value(b, h, i, c); }
    }
    d_qkv[e] = g;
}

// d_bias[h,o] += Σ_{b,i} dS[b,h,i,o]: one workgroup per (o, h); each thread sums a fixed stride of the
// batch*seq rows, then a tree in workgroup memory, so the order (and the result) never varies.
@compute @workgroup_size(256)
fn local_attention_d_bias(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let o = wg.x;
    let h = wg.y;
    var sum = 0.0;
    for (var r = t; r < p.batch * seq(); r += WG) {
        sum += d_scores_of_bias[prob_row(r / seq(), h, r % seq()) + o];
    }
    let total = workgroup_sum(t, sum);
    if (t == 0u) { d_bias[h * window() + o] += total; }
}
