// C[m,n] = (accumulate ? C : 0) + op(A)[m,k] . op(B)[k,n]
// op(A)[i,kk] = A[i*a_i + kk*a_k] and op(B)[kk,j] = B[kk*b_k + j*b_j]: the strides express the transposes
// gradients need (dX = dY.W^T, dW = X^T.dY) without copies.
struct Params {
    m: u32, n: u32, k: u32, accumulate: u32,
    a_i: u32, a_k: u32, b_k: u32, b_j: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// Each thread owns a 4x4 block of C; a 16x16 workgroup covers 64x64.
fn store(row0: u32, col0: u32, acc: array<array<f32, 4>, 4>) {
    for (var r = 0u; r < 4u; r++) {
        let i = row0 + r;
        if (i >= p.m) { break; }
        for (var s = 0u; s < 4u; s++) {
            let j = col0 + s;
            if (j >= p.n) { break; }
            var v = acc[r][s];
            if (p.accumulate != 0u) { v += c[i * p.n + j]; }
            c[i * p.n + j] = v;
        }
    }
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
    var acc: array<array<f32, 4>, 4>;
    for (var kk = 0u; kk < p.k; kk++) {
        let ak = kk * p.a_k;
        let bk = kk * p.b_k;
        let av = vec4<f32>(a[rows[0] + ak], a[rows[1] + ak], a[rows[2] + ak], a[rows[3] + ak]);
        let bv = vec4<f32>(b[bk + cols[0]], b[bk + cols[1]], b[bk + cols[2]], b[bk + cols[3]]);
        for (var r = 0u; r < 4u; r++) {
            acc[r][0] = fma(av[r], bv.x, acc[r][0]);
            acc[r][1] = fma(av[r], bv.y, acc[r][1]);
            acc[r][2] = fma(av[r], bv.z, acc[r][2]);
            acc[r][3] = fma(av[r], bv.w, acc[r][3]);
        }
    }
    store(row0, col0, acc);
}

// Workgroup tiles: each 16-deep slice of A (64 rows) and B (64 columns) is staged in workgroup memory once and
// reused by all 256 threads; the path for real GPUs, where global memory bandwidth is the limit.
const TILE: u32 = 64u;
const DEPTH: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [DEPTH][TILE]
var<workgroup> tile_b: array<f32, 1024>; // [DEPTH][TILE]

@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.y * 16u + lid.x;
    let tile_row = wid.y * TILE;
    let tile_col = wid.x * TILE;
    var acc: array<array<f32, 4>, 4>;
    for (var k0 = 0u; k0 < p.k; k0 += DEPTH) {
        for (var e = t; e < DEPTH * TILE; e += 256u) {
            let kk = k0 + e / TILE;
            let x = e % TILE;
            let i = tile_row + x;
            let j = tile_col + x;
            var va = 0.0;
            var vb = 0.0;
            if (kk < p.k && i < p.m) { va = a[i * p.a_i + kk * p.a_k]; }
            if (kk < p.k && j < p.n) { vb = b[kk * p.b_k + j * p.b_j]; }
            tile_a[e] = va;
            tile_b[e] = vb;
        }
        workgroupBarrier();
        for (var d = 0u; d < DEPTH; d++) {
            let av = vec4<f32>(tile_a[d * TILE + lid.y * 4u], tile_a[d * TILE + lid.y * 4u + 1u],
                               tile_a[d * TILE + lid.y * 4u + 2u], tile_a[d * TILE + lid.y * 4u + 3u]);
            let bv = vec4<f32>(tile_b[d * TILE + lid.x * 4u], tile_b[d * TILE + lid.x * 4u + 1u],
                               tile_b[d * TILE + lid.x * 4u + 2u], tile_b[d * TILE + lid.x * 4u + 3u]);
            for (var r = 0u; r < 4u; r++) {
                acc[r][0] = fma(av[r], bv.x, acc[r][0]);
                acc[r][1] = fma(av[r], bv.y, acc[r][1]);
                acc[r][2] = fma(av[r], bv.z, acc[r][2]);
                acc[r][3] = fma(av[r], bv.w, acc[r][3]);
            }
        }
        workgroupBarrier();
    }
    store(tile_row + lid.y * 4u, tile_col + lid.x * 4u, acc);
}
