// Prepended to every shader (see src/ops/mod.rs). 1-D kernels run 256 threads per workgroup over a grid
// spread across x and y (one dimension may not exceed 65535 workgroups).
const WG: u32 = 256u;

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}
