// C[m,n] = (accumulate ? C : residual ? R : 0) + op(A)[m,k] . op(B)[k,n]
// op(A)[i,kk] = A[i*a_i + kk*a_k] and op(B)[kk,j] = B[kk*b_k + j*b_j]: the strides express the transposes
// gradients need (dX = dY.W^T, dW = X^T.dY) without copies.
// Split-K (k_chunk > 0): workgroup z adds k in [z*k_chunk, (z+1)*k_chunk) into its own copy of c, split_stride
// apart (copies of the gradient layout that every weight gradient of a backward accumulates into);
// matmul_fold_splits adds the `splits` copies in order once at the end of the backward. Weight gradients
// (k = batch rows, small m,n) need it: without it a few workgroups walk all k alone.
// Activation gradient (activation 1 SwiGLU, 2 GELU): the product is dL/d(activation output) and never stored;
// the residual binding holds the activation's input x and c gets dL/dx (SwiGLU: [m, 2n], gate then up).
// Normalized input (the module built with NORM; p.norm 1, or 2 with a weight; A row-major, never split):
// C = rmsnorm(A) . op(B) with rmsnorm(x) = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps). A thread walks
// all of k for its rows anyway, so it sums their squares on the way; B's rows are scaled by the weight as they
// load, and the epilogue multiplies by rstd. The x-threads of each row write the normalized row and its rstd for
// the backward. The other module (NORM false) compiles none of this.
struct Params {
    m: u32, n: u32, k: u32, accumulate: u32,
    a_i: u32, a_k: u32, b_k: u32, b_j: u32,
    k_chunk: u32, splits: u32, residual: u32, split_stride: u32,
    activation: u32, norm: u32, norm_eps: f32, _pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>; // the residual or x (an input stands in without one)
// The normalized input's weight, the normalized rows and their rstd (without a norm an input stands in for the
// weight and spare ranges for the other two: never touched).
@group(0) @binding(5) var<storage, read> norm_weight: array<f32>;
@group(0) @binding(6) var<storage, read_write> normed: array<f32>;
@group(0) @binding(7) var<storage, read_write> norm_rstd: array<f32>;
@group(0) @binding(8) var<storage, read> norm_x: array<f32>; // A again, as scalars (the vec4 paths bind it as vec4s)

// The same matrices seen as vec4 rows, for the vec4 paths (chosen when the contiguous dimensions are multiples of 4).
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

// matmul_fold_splits: `splits` copies of the output's layout (zeroed once read) and the output (n elements).
@group(0) @binding(1) var<storage, read_write> parts: array<f32>;
@group(0) @binding(2) var<storage, read_write> folded: array<f32>;

// The k range of split z: all of k without splitting.
fn k_range(z: u32) -> vec2<u32> {
    if (p.k_chunk == 0u) { return vec2<u32>(0u, p.k); }
    return vec2<u32>(min(z * p.k_chunk, p.k), min((z + 1u) * p.k_chunk, p.k));
}

// Element (i, j) of C, or of split slice `base`, with the epilogue: accumulate, the residual, or an activation
// gradient.
fn store_one(base: u32, i: u32, j: u32, sum: f32) {
    if (p.activation == 1u) {
        let gi = i * 2u * p.n + j;
        let d = swiglu_grad(residual[gi], residual[gi + p.n], sum);
        c[gi] = d.x;
        c[gi + p.n] = d.y;
        return;
    }
    if (p.activation == 2u) {
        c[i * p.n + j] = gelu_grad(residual[i * p.n + j], sum);
        return;
    }
    var v = sum;
    if (p.accumulate != 0u) { v += c[base + i * p.n + j]; }
    if (p.residual != 0u) { v += residual[i * p.n + j]; }
    c[base + i * p.n + j] = v;
}

// The norm's weight for element kk of A's rows (1 without a weight, or without a norm).
fn norm_scale(kk: u32) -> f32 {
    if (p.norm == 2u) { return norm_weight[kk]; }
    return 1.0;
}

fn norm_scale4(kk: u32) -> vec4<f32> {
    return vec4<f32>(norm_scale(kk), norm_scale(kk + 1u), norm_scale(kk + 2u), norm_scale(kk + 3u));
}

// rstd of a row of A from its sum of squares; x-thread `first` of `step` along the row writes its share of the
// normalized row (and the first its rstd). Rows past the edge are never written.
fn normalize_row(i: u32, sum_sq: f32, first: u32, step: u32) -> f32 {
    let rstd = 1.0 / sqrt(sum_sq / f32(p.k) + p.norm_eps);
    if (i < p.m) {
        if (first == 0u) { norm_rstd[i] = rstd; }
        for (var kk = first; kk < p.k; kk += step) {
            normed[i * p.k + kk] = norm_x[i * p.k + kk] * rstd * norm_scale(kk);
        }
    }
    return rstd;
}

// A 4x4 block's rows normalized: acc scaled by each row's rstd.
fn normalize_block(row0: u32, sum_sq: vec4<f32>, first: u32, step: u32, acc: ptr<function, array<vec4<f32>, 4>>) {
    for (var r = 0u; r < 4u; r++) {
        (*acc)[r] *= normalize_row(row0 + r, sum_sq[r], first, step);
    }
}

// Each thread owns a 4x4 block of C (acc[r] is row r); a 16x16 workgroup covers 64x64. Split z writes its slice.
fn store(row0: u32, col0: u32, z: u32, acc: array<vec4<f32>, 4>) {
    let base = z * p.split_stride;
    for (var r = 0u; r < 4u; r++) {
        let i = row0 + r;
        if (i >= p.m) { break; }
        for (var s = 0u; s < 4u; s++) {
            let j = col0 + s;
            if (j >= p.n) { break; }
            store_one(base, i, j, acc[r][s]);
        }
    }
}

@compute @workgroup_size(256)
fn matmul_fold_splits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    var v = 0.0;
    for (var z = 0u; z < p.splits; z++) {
        v += parts[z * p.split_stride + i];
        parts[z * p.split_stride + i] = 0.0;
    }
    folded[i] += v;
}

// Registers only: fastest on CPU rasterizers (lavapipe, SwiftShader), where barriers are expensive.
@compute @workgroup_size(16, 16)
fn matmul_blocked(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    var rows: array<u32, 4>;
    var cols: array<u32, 4>;
    for (var r = 0u; r < 4u; r++) {
        rows[r] = min(row0 + r, p.m - 1u) * p.a_i; // clamped loads; rows past the edge are never stored
        cols[r] = min(col0 + r, p.n - 1u) * p.b_j;
    }
    var acc: array<vec4<f32>, 4>;
    var sum_sq = vec4<f32>(0.0);
    let ks = k_range(gid.z);
    for (var kk = ks.x; kk < ks.y; kk++) {
        let ak = kk * p.a_k;
        let bk = kk * p.b_k;
        var bv = vec4<f32>(b[bk + cols[0]], b[bk + cols[1]], b[bk + cols[2]], b[bk + cols[3]]);
        let av = vec4<f32>(a[rows[0] + ak], a[rows[1] + ak], a[rows[2] + ak], a[rows[3] + ak]);
        if (NORM) {
            bv *= norm_scale(kk);
            sum_sq = fma(av, av, sum_sq);
        }
        for (var r = 0u; r < 4u; r++) {
            acc[r] = fma(vec4<f32>(av[r]), bv, acc[r]);
        }
    }
    if (NORM) { normalize_block(row0, sum_sq, gid.x, (p.n + 3u) / 4u, &acc); }
    store(row0, col0, gid.z, acc);
}

// vec4 paths: four values per load along the contiguous dimension. `nn`: A [m,k] and B [k,n] row-major
// (forward x·W; needs k, n % 4 == 0). `nt`: B stored [n,k] (dX = dY·Wᵀ; k % 4 == 0). `tn`: A stored [k,m]
// (dW = Xᵀ·dY; m, n % 4 == 0). Rows and columns past the edge are clamped on load and never stored.
@compute @workgroup_size(16, 16)
fn matmul_vec4_nn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    if (row0 >= p.m || gid.x * 4u >= p.n) { return; }
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    var rows: array<u32, 4>;
    for (var r = 0u; r < 4u; r++) { rows[r] = min(row0 + r, p.m - 1u) * k4; }
    var acc: array<vec4<f32>, 4>;
    var sum_sq = vec4<f32>(0.0);
    let ks = k_range(gid.z) / 4u; // k_chunk is a multiple of 4 on the vec4 paths
    for (var kk = ks.x; kk < ks.y; kk++) {
        var b0 = b4[(kk * 4u) * n4 + gid.x];
        var b1 = b4[(kk * 4u + 1u) * n4 + gid.x];
        var b2 = b4[(kk * 4u + 2u) * n4 + gid.x];
        var b3 = b4[(kk * 4u + 3u) * n4 + gid.x];
        if (NORM) {
            let g = norm_scale4(kk * 4u);
            b0 *= g.x;
            b1 *= g.y;
            b2 *= g.z;
            b3 *= g.w;
        }
        for (var r = 0u; r < 4u; r++) {
            let av = a4[rows[r] + kk];
            if (NORM) { sum_sq[r] += dot(av, av); }
            acc[r] = fma(vec4<f32>(av.x), b0, fma(vec4<f32>(av.y), b1, fma(vec4<f32>(av.z), b2, fma(vec4<f32>(av.w), b3, acc[r]))));
        }
    }
    if (NORM) { normalize_block(row0, sum_sq, gid.x, n4, &acc); }
    store(row0, gid.x * 4u, gid.z, acc);
}

@compute @workgroup_size(16, 16)
fn matmul_vec4_nt(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let k4 = p.k / 4u;
    var rows: array<u32, 4>;
    var cols: array<u32, 4>;
    for (var r = 0u; r < 4u; r++) {
        rows[r] = min(row0 + r, p.m - 1u) * k4;
        cols[r] = min(col0 + r, p.n - 1u) * k4;
    }
    var acc: array<vec4<f32>, 4>;
    var sum_sq = vec4<f32>(0.0);
    let ks = k_range(gid.z) / 4u;
    for (var kk = ks.x; kk < ks.y; kk++) {
        var g = vec4<f32>(1.0);
        if (NORM) { g = norm_scale4(kk * 4u); }
        let b0 = b4[cols[0] + kk] * g;
        let b1 = b4[cols[1] + kk] * g;
        let b2 = b4[cols[2] + kk] * g;
        let b3 = b4[cols[3] + kk] * g;
        for (var r = 0u; r < 4u; r++) {
            let av = a4[rows[r] + kk];
            if (NORM) { sum_sq[r] += dot(av, av); }
            acc[r] += vec4<f32>(dot(av, b0), dot(av, b1), dot(av, b2), dot(av, b3));
        }
    }
    if (NORM) { normalize_block(row0, sum_sq, gid.x, (p.n + 3u) / 4u, &acc); }
    store(row0, col0, gid.z, acc);
}

@compute @workgroup_size(16, 16)
fn matmul_vec4_tn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    if (row0 >= p.m || gid.x * 4u >= p.n) { return; }
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    var acc: array<vec4<f32>, 4>;
    let ks = k_range(gid.z);
    for (var kk = ks.x; kk < ks.y; kk++) {
        let av = a4[kk * m4 + gid.y];
        let bv = b4[kk * n4 + gid.x];
        acc[0] = fma(vec4<f32>(av.x), bv, acc[0]);
        acc[1] = fma(vec4<f32>(av.y), bv, acc[1]);
        acc[2] = fma(vec4<f32>(av.z), bv, acc[2]);
        acc[3] = fma(vec4<f32>(av.w), bv, acc[3]);
    }
    store(row0, gid.x * 4u, gid.z, acc);
}

// Workgroup tiles: each slice of A (`width` rows) and B (`width` columns), 1024 / width deep, is staged in
// workgroup memory once and reused by all 256 threads; the paths for real GPUs, where global memory
// bandwidth is the limit. The 64x64 and 128x128 paths share the two 4 KiB stages.
const TILE: u32 = 64u;
const DEPTH: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [1024 / width][width]
var<workgroup> tile_b: array<f32, 1024>;

// Thread t's share of staging the slice of k from k0 (up to the split's end) for the tile at (row, col).
fn stage(t: u32, k0: u32, k_end: u32, tile_row: u32, tile_col: u32, width: u32) {
    for (var e = t; e < 1024u; e += 256u) {
        let kk = k0 + e / width;
        let x = e % width;
        let i = tile_row + x;
        let j = tile_col + x;
        var va = 0.0;
        var vb = 0.0;
        if (kk < k_end && i < p.m) { va = a[i * p.a_i + kk * p.a_k]; }
        if (kk < k_end && j < p.n) {
            vb = b[kk * p.b_k + j * p.b_j];
            if (NORM) { vb *= norm_scale(kk); }
        }
        tile_a[e] = va;
        tile_b[e] = vb;
    }
}

@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = lid.y * 16u + lid.x;
    let tile_row = wid.y * TILE;
    let tile_col = wid.x * TILE;
    var acc: array<vec4<f32>, 4>;
    var sum_sq = vec4<f32>(0.0);
    let ks = k_range(wid.z);
    for (var k0 = ks.x; k0 < ks.y; k0 += DEPTH) {
        stage(t, k0, ks.y, tile_row, tile_col, TILE);
        workgroupBarrier();
        for (var d = 0u; d < DEPTH; d++) {
            let av = vec4<f32>(tile_a[d * TILE + lid.y * 4u], tile_a[d * TILE + lid.y * 4u + 1u],
                               tile_a[d * TILE + lid.y * 4u + 2u], tile_a[d * TILE + lid.y * 4u + 3u]);
            let bv = vec4<f32>(tile_b[d * TILE + lid.x * 4u], tile_b[d * TILE + lid.x * 4u + 1u],
                               tile_b[d * TILE + lid.x * 4u + 2u], tile_b[d * TILE + lid.x * 4u + 3u]);
            if (NORM) { sum_sq = fma(av, av, sum_sq); } // staged zeros past k add nothing
            for (var r = 0u; r < 4u; r++) {
                acc[r] = fma(vec4<f32>(av[r]), bv, acc[r]);
            }
        }
        workgroupBarrier();
    }
    if (NORM) { normalize_block(tile_row + lid.y * 4u, sum_sq, wid.x * 16u + lid.x, nwg.x * 16u, &acc); }
    store(tile_row + lid.y * 4u, tile_col + lid.x * 4u, wid.z, acc);
}

// Wide tiles for real GPUs: a 128x128 tile per workgroup, 8x8 outputs per thread (rows ty + 16i, columns
// tx + 16j, so neighbouring threads read neighbouring workgroup-memory words), 8-deep slices: twice the reuse
// of every loaded value of the 64x64 path for the same 8 KiB of workgroup memory.
const WIDE: u32 = 128u;
const WIDE_DEPTH: u32 = 8u;

@compute @workgroup_size(16, 16)
fn matmul_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = lid.y * 16u + lid.x;
    let tile_row = wid.y * WIDE;
    let tile_col = wid.x * WIDE;
    var acc: array<array<f32, 8>, 8>;
    var sum_sq: array<f32, 8>;
    let ks = k_range(wid.z);
    for (var k0 = ks.x; k0 < ks.y; k0 += WIDE_DEPTH) {
        stage(t, k0, ks.y, tile_row, tile_col, WIDE);
        workgroupBarrier();
        for (var d = 0u; d < WIDE_DEPTH; d++) {
            var bv: array<f32, 8>;
            for (var j = 0u; j < 8u; j++) { bv[j] = tile_b[d * WIDE + lid.x + 16u * j]; }
            for (var i = 0u; i < 8u; i++) {
                let av = tile_a[d * WIDE + lid.y + 16u * i];
                if (NORM) { sum_sq[i] = fma(av, av, sum_sq[i]); }
                for (var j = 0u; j < 8u; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
            }
        }
        workgroupBarrier();
    }
    if (NORM) {
        for (var i = 0u; i < 8u; i++) {
            let rstd = normalize_row(tile_row + lid.y + 16u * i, sum_sq[i], wid.x * 16u + lid.x, nwg.x * 16u);
            for (var j = 0u; j < 8u; j++) { acc[i][j] *= rstd; }
        }
    }
    let base = wid.z * p.split_stride;
    for (var i = 0u; i < 8u; i++) {
        let row = tile_row + lid.y + 16u * i;
        if (row >= p.m) { break; }
        for (var j = 0u; j < 8u; j++) {
            let col = tile_col + lid.x + 16u * j;
            if (col < p.n) { store_one(base, row, col, acc[i][j]); }
        }
    }
}
