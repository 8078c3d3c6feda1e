// Token + position embeddings. Bindings are shared by the three entry points: 1 is the written tensor,
// 2 the [rows or vocab, d] tensor read (table forward, d_out backward), then tokens and positions.
struct Params {
    rows: u32, seq: u32, d: u32,
    vocab: u32, // embedding_forward: 1 when positions are added, 0 when the model has none
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> tokens: array<u32>;
@group(0) @binding(4) var<storage, read> positions: array<f32>;

// out[i,c] = table[tokens[i],c] + positions[i % seq,c]; one thread per output element.
@compute @workgroup_size(256)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= p.rows * p.d) { return; }
    let i = e / p.d;
    let c = e % p.d;
    var x = src[tokens[i] * p.d + c];
    if (p.vocab != 0u) { x += positions[(i % p.seq) * p.d + c]; }
    dst[e] = x;
}

// d_table[v,c] += sum of d_out[i,c] over rows with tokens[i] == v: gathers instead of scattering, so no
// atomics and a fixed summation order. Workgroup (c, y) handles column c of tokens v = y, y + nwg.y, ...; its
// threads stride the rows.
@compute @workgroup_size(256)
fn embedding_backward_table(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let c = wg.x;
    for (var v = wg.y; v < p.vocab; v += nwg.y) {
        var sum = 0.0;
        for (var i = t; i < p.rows; i += WG) {
            if (tokens[i] == v) { sum += src[i * p.d + c]; }
        }
        let total = workgroup_sum(t, sum);
        if (t == 0u) { dst[v * p.d + c] += total; }
    }
}

// d_positions[q,c] += sum of d_out[i,c] over rows i = q, q+seq, ...; workgroup (c, q), threads striding them.
@compute @workgroup_size(256)
fn embedding_backward_positions(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let c = wg.x;
    let q = wg.y;
    var sum = 0.0;
    for (var i = q + t * p.seq; i < p.rows; i += WG * p.seq) {
        sum += src[i * p.d + c];
    }
    let total = workgroup_sum(t, sum);
    if (t == 0u) { dst[q * p.d + c] += total; }
}
