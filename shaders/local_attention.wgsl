// Multi-head attention over a grid neighbourhood (local_attention.rs). qkv [batch*seq, 3*d] as in attention.wgsl;
// each example's seq = height*width tokens form a row-major grid. Offset o = (dy+radius)*(2*radius+1) + (dx+radius)
// of query (y, x) is key (y+dy, x+dx); offsets whose key lies outside the grid take no part. One thread per row
// (query, or key in the dK/dV pass) with an online softmax over the window: only the output and the row's
// log-sum-exp are stored, and the backward recomputes the probabilities. The window is small and its keys are
// a row's neighbours, so they are read straight from memory (caches serve the overlap between rows). DC
// (prepended by local_attention.rs) is the number of head dimensions a thread accumulates in registers; z picks
// which chunk of a wider head it writes. Each entry point numbers its own bindings in the order its launch
// lists them, so one binding number names different tensors in different entry points.
struct Params {
    batch: u32, height: u32, width: u32, heads: u32,
    head_dim: u32, radius: u32, scale: f32, _pad0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;

// local_attention_forward: qkv, bias, out, lse
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
// local_attention_backward_query: qkv, bias, out_in, lse_in, d_out, d_qkv, delta
@group(0) @binding(3) var<storage, read> out_in: array<f32>;
@group(0) @binding(4) var<storage, read> lse_in: array<f32>;
@group(0) @binding(5) var<storage, read> d_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_qkv: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
// local_attention_backward_key: qkv, bias, delta_in, lse_in, d_out, d_qkv;
// local_attention_d_bias: qkv, bias, delta_in, lse_in, d_out, d_bias
@group(0) @binding(3) var<storage, read> delta_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_bias: array<f32>;
// local_attention_probs: qkv, bias, probs
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const Q: u32 = 0u;
const K: u32 = 1u;
const V: u32 = 2u;
const LOWEST: f32 = -3.4028234e38;

var<private> acc_a: array<f32, DC>;
var<private> acc_b: array<f32, DC>;

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

fn head_at(token: u32, h: u32, c: u32) -> u32 {
    return token * d() + h * p.head_dim + c;
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

// One row of the [batch, heads, seq] statistics: example b, head h, position i.
struct Row { b: u32, h: u32, i: u32 }

fn row_of(r: u32) -> Row {
    return Row(r / (p.heads * seq()), (r / seq()) % p.heads, r % seq());
}

fn row_index(b: u32, h: u32, i: u32) -> u32 {
    return (b * p.heads + h) * seq() + i;
}

// score(i, o) with key j: scale·q_i·k_j + bias[h, o], for tokens of example b.
fn score(b: u32, h: u32, i: u32, j: u32, o: u32) -> f32 {
    let q = qkv_at(b * seq() + i, Q, h, 0u);
    let k = qkv_at(b * seq() + j, K, h, 0u);
    var acc = 0.0;
    for (var c = 0u; c < p.head_dim; c++) { acc = fma(qkv[q + c], qkv[k + c], acc); }
    return acc * p.scale + bias[h * window() + o];
}

// dO_i · V_j for tokens of example b.
fn d_prob(b: u32, h: u32, i: u32, j: u32) -> f32 {
    let g = head_at(b * seq() + i, h, 0u);
    let v = qkv_at(b * seq() + j, V, h, 0u);
    var acc = 0.0;
    for (var c = 0u; c < p.head_dim; c++) { acc = fma(d_out[g + c], qkv[v + c], acc); }
    return acc;
}

// Column c of chunk `chunk` lies inside the head.
fn in_head(chunk: u32, c: u32) -> bool {
    return chunk * DC + c < p.head_dim;
}

// The score gradient p·(dO_i·V_j − delta_i) of query i at offset o (key j), with p from lse_i.
fn d_score(b: u32, h: u32, i: u32, j: u32, o: u32, row_lse: f32, row_delta: f32) -> vec2<f32> {
    let pr = exp(score(b, h, i, j, o) - row_lse);
    return vec2<f32>(pr, pr * (d_prob(b, h, i, j) - row_delta));
}

@compute @workgroup_size(256)
fn local_attention_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * seq()) { return; }
    let row = row_of(r);
    let chunk = gid.z;
    var m = LOWEST;
    var l = 0.0;
    for (var c = 0u; c < DC; c++) { acc_a[c] = 0.0; }
    // The query's own position is always inside, so l >= 1 at the end.
    for (var o = 0u; o < window(); o++) {
        let j = shifted(row.i, o, 1);
        if (j < 0) { continue; }
        let s = score(row.b, row.h, row.i, u32(j), o);
        let m_new = max(m, s);
        let correction = exp(m - m_new);
        let e = exp(s - m_new);
        l = l * correction + e;
        let v = qkv_at(row.b * seq() + u32(j), V, row.h, chunk * DC);
        for (var c = 0u; c < DC; c++) {
            let vc = select(0.0, qkv[v + c], in_head(chunk, c));
            acc_a[c] = fma(e, vc, acc_a[c] * correction);
        }
        m = m_new;
    }
    let token = row.b * seq() + row.i;
    for (var c = 0u; c < DC; c++) {
        if (in_head(chunk, c)) { out[head_at(token, row.h, chunk * DC + c)] = acc_a[c] / l; }
    }
    if (chunk == 0u) { lse[r] = m + log(l); }
}

// dQ_i = scale · Σ_o dS[i,o] K[key at o], with delta_i = dO_i·O_i stored for the other passes.
@compute @workgroup_size(256)
fn local_attention_backward_query(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * seq()) { return; }
    let row = row_of(r);
    let chunk = gid.z;
    let token = row.b * seq() + row.i;
    var dd = 0.0;
    for (var c = 0u; c < p.head_dim; c++) {
        dd = fma(d_out[head_at(token, row.h, c)], out_in[head_at(token, row.h, c)], dd);
    }
    if (chunk == 0u) { delta[r] = dd; }
    let row_lse = lse_in[r];
    for (var c = 0u; c < DC; c++) { acc_a[c] = 0.0; }
    for (var o = 0u; o < window(); o++) {
        let j = shifted(row.i, o, 1);
        if (j < 0) { continue; }
        let ds = d_score(row.b, row.h, row.i, u32(j), o, row_lse, dd).y;
        let k = qkv_at(row.b * seq() + u32(j), K, row.h, chunk * DC);
        for (var c = 0u; c < DC; c++) { acc_a[c] = fma(ds, select(0.0, qkv[k + c], in_head(chunk, c)), acc_a[c]); }
    }
    for (var c = 0u; c < DC; c++) {
        if (in_head(chunk, c)) { d_qkv[qkv_at(token, Q, row.h, chunk * DC + c)] = acc_a[c] * p.scale; }
    }
}

// dK_j = scale · Σ_o dS[i,o] Q_i and dV_j = Σ_o P[i,o] dO_i over the queries i that see j through offset o
// (gathered: no atomics). One thread per key row.
@compute @workgroup_size(256)
fn local_attention_backward_key(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * seq()) { return; }
    let key = row_of(r);
    let chunk = gid.z;
    for (var c = 0u; c < DC; c++) {
        acc_a[c] = 0.0;
        acc_b[c] = 0.0;
    }
    for (var o = 0u; o < window(); o++) {
        let i = shifted(key.i, o, -1);
        if (i < 0) { continue; }
        let qrow = row_index(key.b, key.h, u32(i));
        let g = d_score(key.b, key.h, u32(i), key.i, o, lse_in[qrow], delta_in[qrow]);
        let q = qkv_at(key.b * seq() + u32(i), Q, key.h, chunk * DC);
        let go = head_at(key.b * seq() + u32(i), key.h, chunk * DC);
        for (var c = 0u; c < DC; c++) {
            let inside = in_head(chunk, c);
            acc_a[c] = fma(g.y, select(0.0, qkv[q + c], inside), acc_a[c]);
            acc_b[c] = fma(g.x, select(0.0, d_out[go + c], inside), acc_b[c]);
        }
    }
    let token = key.b * seq() + key.i;
    for (var c = 0u; c < DC; c++) {
        if (in_head(chunk, c)) {
            d_qkv[qkv_at(token, K, key.h, chunk * DC + c)] = acc_a[c] * p.scale;
            d_qkv[qkv_at(token, V, key.h, chunk * DC + c)] = acc_b[c];
        }
    }
}

// d_bias[h,o] += Σ_{b,i} dS[b,h,i,o]: one workgroup per (o, h); each thread recomputes a fixed stride of the
// batch*seq rows' score gradients, then a tree in workgroup memory, so the order (and the result) never varies.
@compute @workgroup_size(256)
fn local_attention_d_bias(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let o = wg.x;
    let h = wg.y;
    var sum = 0.0;
    for (var r = t; r < p.batch * seq(); r += WG) {
        let b = r / seq();
        let i = r % seq();
        let j = shifted(i, o, 1);
        if (j < 0) { continue; }
        let qrow = row_index(b, h, i);
        sum += d_score(b, h, i, u32(j), o, lse_in[qrow], delta_in[qrow]).y;
    }
    let total = workgroup_sum(t, sum);
    if (t == 0u) { d_bias[h * window() + o] += total; }
}

// The dense map, one thread per (b, h, i) row of probs [batch, heads, seq, window]: softmax over the in-grid
// offsets, exactly 0 at the others.
@compute @workgroup_size(256)
fn local_attention_probs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * seq()) { return; }
    let row = row_of(r);
    let base = r * window();
    var mx = LOWEST;
    for (var o = 0u; o < window(); o++) {
        let j = shifted(row.i, o, 1);
        if (j < 0) { continue; }
        let s = score(row.b, row.h, row.i, u32(j), o);
        probs[base + o] = s;
        mx = max(mx, s);
    }
    var sum = 0.0;
    for (var o = 0u; o < window(); o++) {
        var e = 0.0;
        if (shifted(row.i, o, 1) >= 0) { e = exp(probs[base + o] - mx); }
        probs[base + o] = e;
        sum += e;
    }
    for (var o = 0u; o < window(); o++) { probs[base + o] /= sum; }
}
