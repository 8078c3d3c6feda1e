// Appended to matmul.wgsl (its params, bindings, k_range and store) for adapters with wgpu's SUBGROUP feature.
// A 64x64 tile per workgroup, 4x4 outputs per thread as in matmul_blocked, but each lane loads one k of its
// rows' A values and the subgroup passes them around with subgroupShuffle, so A is read once per 16 columns
// groups instead of once per thread. Thread t owns rows 4*(t / 16).. and columns 4*(t % 16)..; lanes of one
// subgroup are consecutive invocations (so a subgroup holds whole 16-thread strips, or part of one when it is
// smaller). The autotuner checks every variant's result against matmul_blocked before it may be chosen.
@compute @workgroup_size(256)
fn matmul_subgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32,
                   @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
    let row0 = wid.y * 64u + (t / 16u) * 4u;
    let col0 = wid.x * 64u + (t % 16u) * 4u;
    let step = min(sg, 16u);
    let first = (lane / step) * step; // the lane holding k offset 0 of this thread's strip
    var rows: array<u32, 4>;
    var cols: array<u32, 4>;
    for (var r = 0u; r < 4u; r++) {
        rows[r] = min(row0 + r, p.m - 1u) * p.a_i; // clamped loads; no early exit before the shuffles
        cols[r] = min(col0 + r, p.n - 1u) * p.b_j;
    }
    var acc: array<vec4<f32>, 4>;
    var sum_sq = vec4<f32>(0.0);
    let ks = k_range(wid.z);
    for (var k0 = ks.x; k0 < ks.y; k0 += step) {
        let mine = k0 + lane % step;
        var av = vec4<f32>(0.0);
        if (mine < ks.y) {
            av = vec4<f32>(a[rows[0] + mine * p.a_k], a[rows[1] + mine * p.a_k], a[rows[2] + mine * p.a_k],
                           a[rows[3] + mine * p.a_k]);
        }
        for (var j = 0u; j < step; j++) {
            let aj = subgroupShuffle(av, first + j);
            if (k0 + j < ks.y) {
                let bk = (k0 + j) * p.b_k;
                var bv = vec4<f32>(b[bk + cols[0]], b[bk + cols[1]], b[bk + cols[2]], b[bk + cols[3]]);
                if (NORM) {
                    bv *= norm_scale(k0 + j);
                    sum_sq = fma(aj, aj, sum_sq);
                }
                for (var r = 0u; r < 4u; r++) { acc[r] = fma(vec4<f32>(aj[r]), bv, acc[r]); }
            }
        }
    }
    if (NORM) { normalize_block(row0, sum_sq, wid.x * 16u + t % 16u, nwg.x * 16u, &acc); }
    if (row0 < p.m && col0 < p.n) { store(row0, col0, wid.z, acc); }
}
