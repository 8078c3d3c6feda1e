// Multi-head attention over qkv [batch*seq, 3*d]: queries, keys and values side by side, head h owning columns
// h*head_dim.. of each (attention.rs), flash-attention style. A workgroup takes ROWS rows of one (example,
// head), one per thread, and walks the other side in tiles of TILE rows staged in workgroup memory; the
// forward keeps a running max and sum per query (online softmax) and stores only the output and the
// log-sum-exp, from which the backward recomputes every probability. attention.rs prepends four constants:
// ROWS (up to 64) and TILE (up to 16), picked per sequence length to pad the least, DC, the number
// of head dimensions a thread holds in registers, and STAGED (attention_backward_short only); heads wider
// than DC are walked in chunks: the scores sum over every chunk, and workgroup z picks which chunk of the
// output this workgroup writes. attention_backward_short, for sequences that fit one workgroup, takes whole
// (example, head) pairs instead: its tile is the whole sequence (TILE = seq) and its ROWS threads are
// ROWS / TILE pairs.
// Each entry point numbers its own bindings in the order its launch lists them, so one binding number names
// different tensors in different entry points.
struct Params {
    batch: u32, seq: u32, heads: u32, head_dim: u32,
    causal: u32, scale: f32, has_bias: u32, _pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
// [seq, seq] when has_bias; otherwise some other read-only tensor that is never read.
@group(0) @binding(2) var<storage, read> bias: array<f32>;

// attention_forward: qkv, bias, out, lse
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
// attention_backward_query: qkv, bias, out_in, lse_in, d_out, d_qkv, delta
@group(0) @binding(3) var<storage, read> out_in: array<f32>;
@group(0) @binding(4) var<storage, read> lse_in: array<f32>;
@group(0) @binding(5) var<storage, read> d_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_qkv: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
// attention_backward_key: qkv, bias, delta_in, lse_in, d_out, d_qkv
@group(0) @binding(3) var<storage, read> delta_in: array<f32>;
// attention_backward_short: qkv, bias, out_in, lse_in, d_out, d_qkv
// attention_probs: qkv, bias, probs
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const Q: u32 = 0u;
const K: u32 = 1u;
const V: u32 = 2u;
const LOWEST: f32 = -3.4028234e38;

// Two tiles of TILE rows x DC dimensions: keys and values (forward, dQ pass), or queries and output
// gradients (dK/dV pass); at most 16 x 64 each, 8 KiB in all.
var<workgroup> tile_a: array<f32, TILE * DC>;
var<workgroup> tile_b: array<f32, TILE * DC>;
// The dK/dV pass's per-query statistics for the tile.
var<workgroup> tile_lse: array<f32, TILE>;
var<workgroup> tile_delta: array<f32, TILE>;

// A thread's own row, one chunk of it: two operands and two accumulators, and a tile's scores.
var<private> mine_a: array<f32, DC>;
var<private> mine_b: array<f32, DC>;
var<private> acc_a: array<f32, DC>;
var<private> acc_b: array<f32, DC>;
var<private> s: array<f32, TILE>;
var<private> dp: array<f32, TILE>;

fn d() -> u32 { return p.heads * p.head_dim; }
fn chunks() -> u32 { return (p.head_dim + DC - 1u) / DC; }

// Index of column c of head h of part (Q, K or V) for token `token` (= b*seq + position).
fn qkv_at(token: u32, part: u32, h: u32, c: u32) -> u32 {
    return token * 3u * d() + part * d() + h * p.head_dim + c;
}

fn head_at(token: u32, h: u32, c: u32) -> u32 {
    return token * d() + h * p.head_dim + c;
}

fn bias_at(i: u32, j: u32) -> f32 {
    if (p.has_bias == 0u) { return 0.0; }
    return bias[i * p.seq + j];
}

// Whether query i sees key j.
fn visible(i: u32, j: u32) -> bool {
    return i < p.seq && j < p.seq && (p.causal == 0u || j <= i);
}

// One workgroup's rows: example b, head h, rows first..first+ROWS, output chunk `chunk`; `ok` false for the
// padding workgroups of the x*y spread.
struct Block { b: u32, h: u32, first: u32, chunk: u32, ok: bool }

fn block_of(wg: vec3<u32>, nwg: vec3<u32>) -> Block {
    let w = wg.x + wg.y * nwg.x;
    let blocks = (p.seq + ROWS - 1u) / ROWS;
    let bh = w / blocks;
    return Block(bh / p.heads, bh % p.heads, (w % blocks) * ROWS, wg.z, w < blocks * p.batch * p.heads);
}

// The dimension chunk of step `step` of a walk over all chunks, ending on the output chunk, so the tiles
// still hold that chunk when the step loop ends.
fn chunk_at(step: u32, out_chunk: u32) -> u32 {
    return (out_chunk + 1u + step) % chunks();
}

// Column c of chunk dc, or 0 past the head (the padding adds nothing to any dot product).
fn in_head(dc: u32, c: u32) -> bool {
    return dc * DC + c < p.head_dim;
}

// Part `part` of token `token`'s head h, chunk dc, into mine_a or mine_b (zero-padded; zeros for a padding row).
fn load_mine_a(row_ok: bool, token: u32, part: u32, h: u32, dc: u32) {
    for (var c = 0u; c < DC; c++) {
        mine_a[c] = select(0.0, qkv[qkv_at(token, part, h, dc * DC + c)], row_ok && in_head(dc, c));
    }
}

fn load_mine_b(row_ok: bool, token: u32, part: u32, h: u32, dc: u32) {
    for (var c = 0u; c < DC; c++) {
        mine_b[c] = select(0.0, qkv[qkv_at(token, part, h, dc * DC + c)], row_ok && in_head(dc, c));
    }
}

fn load_mine_b_d_out(row_ok: bool, token: u32, h: u32, dc: u32) {
    for (var c = 0u; c < DC; c++) {
        mine_b[c] = select(0.0, d_out[head_at(token, h, dc * DC + c)], row_ok && in_head(dc, c));
    }
}

// Keys into tile_a and (when `values`) values into tile_b: rows first..first+TILE of example b, head h,
// chunk dc, zero past the sequence or the head. Every thread of the workgroup takes a share.
fn load_keys_values(t: u32, b: u32, h: u32, first: u32, dc: u32, values: bool) {
    for (var e = t; e < TILE * DC; e += ROWS) {
        let r = e / DC;
        let c = e % DC;
        let ok = first + r < p.seq && in_head(dc, c);
        let token = b * p.seq + first + r;
        tile_a[e] = select(0.0, qkv[qkv_at(token, K, h, dc * DC + c)], ok);
        if (values) { tile_b[e] = select(0.0, qkv[qkv_at(token, V, h, dc * DC + c)], ok); }
    }
}

// mine_a · row j of tile_a, and mine_b · row j of tile_b.
fn dot_a(j: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < DC; c++) { acc = fma(mine_a[c], tile_a[j * DC + c], acc); }
    return acc;
}

fn dot_b(j: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < DC; c++) { acc = fma(mine_b[c], tile_b[j * DC + c], acc); }
    return acc;
}

// Keys past which no query of the block looks.
fn key_end(first: u32) -> u32 {
    return select(p.seq, min(p.seq, first + ROWS), p.causal != 0u);
}

@compute @workgroup_size(ROWS)
fn attention_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let blk = block_of(wg, nwg);
    if (!blk.ok) { return; }
    let i = blk.first + t;
    let row_ok = i < p.seq;
    let token = blk.b * p.seq + i;
    let n = chunks();
    var m = LOWEST;
    var l = 0.0;
    for (var c = 0u; c < DC; c++) { acc_a[c] = 0.0; }
    if (n == 1u) { load_mine_a(row_ok, token, Q, blk.h, 0u); }
    for (var k0 = 0u; k0 < key_end(blk.first); k0 += TILE) {
        for (var j = 0u; j < TILE; j++) { s[j] = 0.0; }
        for (var step = 0u; step < n; step++) {
            let dc = chunk_at(step, blk.chunk);
            if (n > 1u) { load_mine_a(row_ok, token, Q, blk.h, dc); }
            workgroupBarrier();
            load_keys_values(t, blk.b, blk.h, k0, dc, dc == blk.chunk);
            workgroupBarrier();
            for (var j = 0u; j < TILE; j++) { s[j] += dot_a(j); }
        }
        var tile_max = LOWEST;
        for (var j = 0u; j < TILE; j++) {
            s[j] = select(LOWEST, s[j] * p.scale + bias_at(i, k0 + j), visible(i, k0 + j));
            tile_max = max(tile_max, s[j]);
        }
        // Rescale what was summed under the old maximum; masked keys add exactly 0.
        let m_new = max(m, tile_max);
        let correction = exp(m - m_new);
        l *= correction;
        for (var c = 0u; c < DC; c++) { acc_a[c] *= correction; }
        for (var j = 0u; j < TILE; j++) {
            let e = select(0.0, exp(s[j] - m_new), visible(i, k0 + j));
            l += e;
            for (var c = 0u; c < DC; c++) { acc_a[c] = fma(e, tile_b[j * DC + c], acc_a[c]); }
        }
        m = m_new;
    }
    if (!row_ok) { return; }
    for (var c = 0u; c < DC; c++) {
        if (in_head(blk.chunk, c)) { out[head_at(token, blk.h, blk.chunk * DC + c)] = acc_a[c] / l; }
    }
    if (blk.chunk == 0u) { lse[(blk.b * p.heads + blk.h) * p.seq + i] = m + log(l); }
}

// dQ_i = scale · Σ_j P_ij (dP_ij − delta_i) K_j with P_ij = exp(score − lse_i), dP_ij = dO_i·V_j and
// delta_i = dO_i·O_i (stored for the dK/dV pass). Registers: Q_i (mine_a), dO_i (mine_b), dQ_i (acc_a).
@compute @workgroup_size(ROWS)
fn attention_backward_query(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let blk = block_of(wg, nwg);
    if (!blk.ok) { return; }
    let i = blk.first + t;
    let row_ok = i < p.seq;
    let token = blk.b * p.seq + i;
    let row = (blk.b * p.heads + blk.h) * p.seq + i;
    let n = chunks();
    var dd = 0.0;
    var row_lse = 0.0;
    if (row_ok) {
        for (var c = 0u; c < p.head_dim; c++) {
            dd = fma(d_out[head_at(token, blk.h, c)], out_in[head_at(token, blk.h, c)], dd);
        }
        row_lse = lse_in[row];
        if (blk.chunk == 0u) { delta[row] = dd; }
    }
    for (var c = 0u; c < DC; c++) { acc_a[c] = 0.0; }
    if (n == 1u) {
        load_mine_a(row_ok, token, Q, blk.h, 0u);
        load_mine_b_d_out(row_ok, token, blk.h, 0u);
    }
    for (var k0 = 0u; k0 < key_end(blk.first); k0 += TILE) {
        for (var j = 0u; j < TILE; j++) {
            s[j] = 0.0;
            dp[j] = 0.0;
        }
        for (var step = 0u; step < n; step++) {
            let dc = chunk_at(step, blk.chunk);
            if (n > 1u) {
                load_mine_a(row_ok, token, Q, blk.h, dc);
                load_mine_b_d_out(row_ok, token, blk.h, dc);
            }
            workgroupBarrier();
            load_keys_values(t, blk.b, blk.h, k0, dc, true);
            workgroupBarrier();
            for (var j = 0u; j < TILE; j++) {
                s[j] += dot_a(j);
                dp[j] += dot_b(j);
            }
        }
        for (var j = 0u; j < TILE; j++) {
            let pr = select(0.0, exp(s[j] * p.scale + bias_at(i, k0 + j) - row_lse), visible(i, k0 + j));
            let ds = pr * (dp[j] - dd);
            for (var c = 0u; c < DC; c++) { acc_a[c] = fma(ds, tile_a[j * DC + c], acc_a[c]); }
        }
    }
    if (!row_ok) { return; }
    for (var c = 0u; c < DC; c++) {
        if (in_head(blk.chunk, c)) { d_qkv[qkv_at(token, Q, blk.h, blk.chunk * DC + c)] = acc_a[c] * p.scale; }
    }
}

// Queries into tile_a, their output gradients into tile_b (rows first..first+TILE, chunk dc), and at the
// first chunk step their lse and delta.
fn load_queries(t: u32, b: u32, h: u32, first: u32, dc: u32, stats: bool) {
    for (var e = t; e < TILE * DC; e += ROWS) {
        let r = e / DC;
        let c = e % DC;
        let ok = first + r < p.seq && in_head(dc, c);
        let token = b * p.seq + first + r;
        tile_a[e] = select(0.0, qkv[qkv_at(token, Q, h, dc * DC + c)], ok);
        tile_b[e] = select(0.0, d_out[head_at(token, h, dc * DC + c)], ok);
    }
    if (stats && t < TILE) {
        let ok = first + t < p.seq;
        let row = (b * p.heads + h) * p.seq + first + t;
        tile_lse[t] = select(0.0, lse_in[select(0u, row, ok)], ok);
        tile_delta[t] = select(0.0, delta_in[select(0u, row, ok)], ok);
    }
}

// dK_j = scale · Σ_i dS_ij Q_i and dV_j = Σ_i P_ij dO_i, one thread per key j, over the queries that see it.
// Registers: K_j (mine_a), V_j (mine_b), dK_j (acc_a), dV_j (acc_b).
@compute @workgroup_size(ROWS)
fn attention_backward_key(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let blk = block_of(wg, nwg);
    if (!blk.ok) { return; }
    let j = blk.first + t;
    let key_ok = j < p.seq;
    let token = blk.b * p.seq + j;
    let n = chunks();
    for (var c = 0u; c < DC; c++) {
        acc_a[c] = 0.0;
        acc_b[c] = 0.0;
    }
    if (n == 1u) {
        load_mine_a(key_ok, token, K, blk.h, 0u);
        load_mine_b(key_ok, token, V, blk.h, 0u);
    }
    // Causal: queries before the block's first key see none of its keys.
    let q_start = select(0u, (blk.first / TILE) * TILE, p.causal != 0u);
    for (var i0 = q_start; i0 < p.seq; i0 += TILE) {
        for (var r = 0u; r < TILE; r++) {
            s[r] = 0.0;
            dp[r] = 0.0;
        }
        for (var step = 0u; step < n; step++) {
            let dc = chunk_at(step, blk.chunk);
            if (n > 1u) {
                load_mine_a(key_ok, token, K, blk.h, dc);
                load_mine_b(key_ok, token, V, blk.h, dc);
            }
            workgroupBarrier();
            load_queries(t, blk.b, blk.h, i0, dc, step == 0u);
            workgroupBarrier();
            for (var r = 0u; r < TILE; r++) {
                s[r] += dot_a(r);
                dp[r] += dot_b(r);
            }
        }
        for (var r = 0u; r < TILE; r++) {
            let i = i0 + r;
            let pr = select(0.0, exp(s[r] * p.scale + bias_at(i, j) - tile_lse[r]), visible(i, j));
            let ds = pr * (dp[r] - tile_delta[r]);
            for (var c = 0u; c < DC; c++) {
                acc_a[c] = fma(ds, tile_a[r * DC + c], acc_a[c]);
                acc_b[c] = fma(pr, tile_b[r * DC + c], acc_b[c]);
            }
        }
    }
    if (!key_ok) { return; }
    for (var c = 0u; c < DC; c++) {
        if (in_head(blk.chunk, c)) {
            d_qkv[qkv_at(token, K, blk.h, blk.chunk * DC + c)] = acc_a[c] * p.scale;
            d_qkv[qkv_at(token, V, blk.h, blk.chunk * DC + c)] = acc_b[c];
        }
    }
}

// attention_backward_short's workgroup memory: the first STAGED of a pair's K, Q, dO and V (in that order,
// each [TILE, DC], zero past the head), then every row's lse and delta; the rest is read from global memory.
// V goes last: the inner loops read it once per key where they read each of the others twice.
const PART_K: u32 = 0u;
const PART_Q: u32 = 1u;
const PART_DO: u32 = 2u;
const PART_V: u32 = 3u;
var<workgroup> staged: array<f32, max(1u, STAGED * ROWS * DC)>;
var<workgroup> row_lse: array<f32, ROWS>;
var<workgroup> row_delta: array<f32, ROWS>;

// Column c of row `row` of part `part` (PART_*) of the workgroup's pair g = (example b, head h).
fn short_part(part: u32, g: u32, b: u32, h: u32, row: u32, c: u32) -> f32 {
    if (part < STAGED) { return staged[((part * (ROWS / TILE) + g) * TILE + row) * DC + c]; }
    if (c >= p.head_dim) { return 0.0; }
    let token = b * p.seq + row;
    if (part == PART_DO) { return d_out[head_at(token, h, c)]; }
    return qkv[qkv_at(token, select(select(Q, V, part == PART_V), K, part == PART_K), h, c)];
}

// The whole backward of one (example, head) per TILE threads, in one dispatch: thread r of pair g computes
// query r's dQ (as attention_backward_query, over the keys it sees), then key r's dK and dV (as
// attention_backward_key, over the queries that see it), every operand from workgroup memory where it fits.
// Registers: Q_r, dO_r, dQ_r (mine_a, mine_b, acc_a), then K_r, V_r, dK_r, dV_r (mine_a, mine_b, acc_a, acc_b).
@compute @workgroup_size(ROWS)
fn attention_backward_short(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let pairs = ROWS / TILE;
    let g = t / TILE;
    let r = t % TILE;
    let pair = (wg.x + wg.y * nwg.x) * pairs + g;
    let ok = pair < p.batch * p.heads;
    let b = select(0u, pair / p.heads, ok);
    let h = pair % p.heads;
    let token = b * p.seq + r;
    for (var e = t; e < STAGED * ROWS * DC; e += ROWS) {
        let c = e % DC;
        let row = (e / DC) % TILE;
        let g_e = (e / (DC * TILE)) % pairs;
        let part = e / (DC * ROWS);
        let pair_e = (wg.x + wg.y * nwg.x) * pairs + g_e;
        var v = 0.0;
        if (pair_e < p.batch * p.heads && c < p.head_dim) {
            let tok = (pair_e / p.heads) * p.seq + row;
            let h_e = pair_e % p.heads;
            if (part == PART_DO) {
                v = d_out[head_at(tok, h_e, c)];
            } else {
                v = qkv[qkv_at(tok, select(select(Q, V, part == PART_V), K, part == PART_K), h_e, c)];
            }
        }
        staged[e] = v;
    }
    var dd = 0.0;
    var lse_r = 0.0;
    if (ok) {
        for (var c = 0u; c < p.head_dim; c++) {
            dd = fma(d_out[head_at(token, h, c)], out_in[head_at(token, h, c)], dd);
        }
        lse_r = lse_in[(b * p.heads + h) * p.seq + r];
    }
    row_lse[t] = lse_r;
    row_delta[t] = dd;
    workgroupBarrier();
    if (!ok) { return; }
    let base = g * TILE;

    for (var c = 0u; c < DC; c++) {
        mine_a[c] = short_part(PART_Q, g, b, h, r, c);
        mine_b[c] = short_part(PART_DO, g, b, h, r, c);
        acc_a[c] = 0.0;
    }
    for (var j = 0u; j < select(p.seq, r + 1u, p.causal != 0u); j++) {
        var sc = 0.0;
        var dpj = 0.0;
        for (var c = 0u; c < DC; c++) {
            sc = fma(mine_a[c], short_part(PART_K, g, b, h, j, c), sc);
            dpj = fma(mine_b[c], short_part(PART_V, g, b, h, j, c), dpj);
        }
        let ds = exp(sc * p.scale + bias_at(r, j) - lse_r) * (dpj - dd);
        for (var c = 0u; c < DC; c++) { acc_a[c] = fma(ds, short_part(PART_K, g, b, h, j, c), acc_a[c]); }
    }
    for (var c = 0u; c < p.head_dim; c++) { d_qkv[qkv_at(token, Q, h, c)] = acc_a[c] * p.scale; }

    for (var c = 0u; c < DC; c++) {
        mine_a[c] = short_part(PART_K, g, b, h, r, c);
        mine_b[c] = short_part(PART_V, g, b, h, r, c);
        acc_a[c] = 0.0;
        acc_b[c] = 0.0;
    }
    for (var i = select(0u, r, p.causal != 0u); i < p.seq; i++) {
        var sc = 0.0;
        var dpi = 0.0;
        for (var c = 0u; c < DC; c++) {
            sc = fma(mine_a[c], short_part(PART_Q, g, b, h, i, c), sc);
            dpi = fma(mine_b[c], short_part(PART_DO, g, b, h, i, c), dpi);
        }
        let pr = exp(sc * p.scale + bias_at(i, r) - row_lse[base + i]);
        let ds = pr * (dpi - row_delta[base + i]);
        for (var c = 0u; c < DC; c++) {
            acc_a[c] = fma(ds, short_part(PART_Q, g, b, h, i, c), acc_a[c]);
            acc_b[c] = fma(pr, short_part(PART_DO, g, b, h, i, c), acc_b[c]);
        }
    }
    for (var c = 0u; c < p.head_dim; c++) {
        d_qkv[qkv_at(token, K, h, c)] = acc_a[c] * p.scale;
        d_qkv[qkv_at(token, V, h, c)] = acc_b[c];
    }
}

fn score(b: u32, h: u32, i: u32, j: u32) -> f32 {
    let q = qkv_at(b * p.seq + i, Q, h, 0u);
    let k = qkv_at(b * p.seq + j, K, h, 0u);
    var acc = 0.0;
    for (var c = 0u; c < p.head_dim; c++) { acc = fma(qkv[q + c], qkv[k + c], acc); }
    return acc * p.scale + bias_at(i, j);
}

// The dense map, one thread per (b, h, i) row of probs [batch, heads, seq, seq]: scores, then the softmax in
// place (subtracting the maximum keeps exp finite); masked entries 0.
@compute @workgroup_size(256)
fn attention_probs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.batch * p.heads * p.seq) { return; }
    let b = r / (p.heads * p.seq);
    let h = (r / p.seq) % p.heads;
    let i = r % p.seq;
    let base = r * p.seq;
    let n = select(p.seq, i + 1u, p.causal != 0u);
    var mx = LOWEST;
    for (var j = 0u; j < n; j++) {
        let x = score(b, h, i, j);
        probs[base + j] = x;
        mx = max(mx, x);
    }
    var sum = 0.0;
    for (var j = 0u; j < n; j++) {
        let e = exp(probs[base + j] - mx);
        probs[base + j] = e;
        sum += e;
    }
    for (var j = 0u; j < n; j++) { probs[base + j] /= sum; }
    for (var j = n; j < p.seq; j++) { probs[base + j] = 0.0; }
}
