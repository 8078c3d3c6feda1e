// RMSNorm, one thread per row (d up to ~512 stays cheap in a loop); d_weight one workgroup per column.
// The `_unit` entry points are the weightless norm: they never touch the weight, so it is not bound.
// Forward and backward bind different tensors at the same numbers; each entry point uses one set only.
struct Params {
    rows: u32, d: u32,
    eps: f32,           // forward
    accumulate_dx: u32, // backward
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>; // out, d_x or d_weight
@group(0) @binding(3) var<storage, read> x: array<f32>;

// Forward: [out, rstd_out, x, weight].
@group(0) @binding(2) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
// Backward: [d_x, rstd, x, d_out, weight_bwd, d_weight].
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> d_out: array<f32>;
@group(0) @binding(5) var<storage, read> weight_bwd: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_weight: array<f32>;

// Stores rstd for row r and returns it.
fn store_rstd(r: u32) -> f32 {
    var sum_sq = 0.0;
    for (var c = 0u; c < p.d; c++) {
        let v = x[r * p.d + c];
        sum_sq += v * v;
    }
    let s = 1.0 / sqrt(sum_sq / f32(p.d) + p.eps);
    rstd_out[r] = s;
    return s;
}

@compute @workgroup_size(256)
fn rmsnorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.rows) { return; }
    let s = store_rstd(r);
    for (var c = 0u; c < p.d; c++) {
        dst[r * p.d + c] = x[r * p.d + c] * s * weight[c];
    }
}

@compute @workgroup_size(256)
fn rmsnorm_forward_unit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.rows) { return; }
    let s = store_rstd(r);
    for (var c = 0u; c < p.d; c++) {
        dst[r * p.d + c] = x[r * p.d + c] * s;
    }
}

// d_x[r,c] = rstd*g[c] - x[r,c]*rstd^3/d * sum_c' g[c']*x[r,c'] with g = w*dy; `k` is everything after x[r,c].
fn store_dx(i: u32, s: f32, g: f32, k: f32) {
    let v = s * g - x[i] * k;
    if (p.accumulate_dx != 0u) { dst[i] += v; } else { dst[i] = v; }
}

fn backward_dx_row(r: u32) {
    let s = rstd[r];
    var dot = 0.0;
    for (var c = 0u; c < p.d; c++) {
        dot += d_out[r * p.d + c] * weight_bwd[c] * x[r * p.d + c];
    }
    let k = s * s * s / f32(p.d) * dot;
    for (var c = 0u; c < p.d; c++) {
        store_dx(r * p.d + c, s, weight_bwd[c] * d_out[r * p.d + c], k);
    }
}

@compute @workgroup_size(256)
fn rmsnorm_backward_dx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.rows) { return; }
    backward_dx_row(r);
}

// d_x and d_weight in one dispatch: the first ceil(rows / WG) workgroups take a row per thread, the next d
// workgroups a column each (two jobs that read the same tensors and write different ones).
@compute @workgroup_size(256)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) t: u32) {
    let wg = wid.x + wid.y * nwg.x;
    let row_groups = (p.rows + WG - 1u) / WG;
    if (wg < row_groups) {
        let r = wg * WG + t;
        if (r < p.rows) { backward_dx_row(r); }
    } else if (wg < row_groups + p.d) {
        let c = wg - row_groups;
        let total = workgroup_sum(t, weight_column_sum(c, t));
        if (t == 0u) { d_weight[c] += total; }
    }
}

@compute @workgroup_size(256)
fn rmsnorm_backward_dx_unit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= p.rows) { return; }
    let s = rstd[r];
    var dot = 0.0;
    for (var c = 0u; c < p.d; c++) {
        dot += d_out[r * p.d + c] * x[r * p.d + c];
    }
    let k = s * s * s / f32(p.d) * dot;
    for (var c = 0u; c < p.d; c++) {
        store_dx(r * p.d + c, s, d_out[r * p.d + c], k);
    }
}

// Thread t's share of d_weight[c] = sum_r dy[r,c]*x[r,c]*rstd[r]: the rows t, t + WG, ...
fn weight_column_sum(c: u32, t: u32) -> f32 {
    var sum = 0.0;
    for (var r = t; r < p.rows; r += WG) {
        sum += d_out[r * p.d + c] * x[r * p.d + c] * rstd[r];
    }
    return sum;
}
