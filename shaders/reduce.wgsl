// out[0] = (accumulate ? out[0] : 0) + sum(x) or sum(x^2), by one workgroup in a fixed order so the result
// is the same on every run: strided partial sums per thread, then a tree in workgroup memory.
struct Params {
    n: u32, squares: u32, accumulate: u32, _pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let v = x[i];
        acc += select(v, v * v, p.squares != 0u);
    }
    var total = workgroup_sum(t, acc);
    if (t == 0u) {
        if (p.accumulate != 0u) { total += out[0]; }
        out[0] = total;
    }
}

// One thread per example: is every supervised row correct? (Exact-match accuracy; see ExactMatch in reduce.rs.)
// Its own uniform and bindings: WGSL lets entry points of one module reuse binding numbers.
struct ExactParams {
    batch: u32, seq: u32, _pad0: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> q: ExactParams;
@group(0) @binding(1) var<storage, read> correct: array<f32>;
@group(0) @binding(2) var<storage, read> supervised: array<f32>;
@group(0) @binding(3) var<storage, read_write> exact: array<f32>;
@group(0) @binding(4) var<storage, read_write> has_target: array<f32>;

@compute @workgroup_size(256)
fn exact_match(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = linear_id(gid, nwg);
    if (b >= q.batch) { return; }
    var any = false;
    var all = true;
    for (var r = b * q.seq; r < (b + 1u) * q.seq; r++) {
        if (supervised[r] > 0.5) {
            any = true;
            all = all && correct[r] > 0.5;
        }
    }
    has_target[b] = select(0.0, 1.0, any);
    exact[b] = select(0.0, 1.0, any && all);
}
