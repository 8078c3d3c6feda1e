// Prepended to every shader (see src/ops/mod.rs). 1-D kernels run 256 threads per workgroup over a grid
// spread across x and y (one dimension may not exceed 65535 workgroups).
const WG: u32 = 256u;

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

var<workgroup> wg_partial: array<f32, WG>;

// The sum of `x` over the 256 threads of a workgroup (thread t passes its own), by a tree in workgroup memory:
// a fixed order, so the result never varies. Every thread must call it; all get the total.
fn workgroup_sum(t: u32, x: f32) -> f32 {
    wg_partial[t] = x;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) { wg_partial[t] += wg_partial[t + half]; }
        workgroupBarrier();
    }
    let total = wg_partial[0];
    workgroupBarrier();
    return total;
}
