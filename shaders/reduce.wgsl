// out[0] = (accumulate ? out[0] : 0) + sum(x) or sum(x^2), by one workgroup in a fixed order so the result
// is the same on every run: strided partial sums per thread, then a tree in workgroup memory.
struct Params {
    n: u32, squares: u32, accumulate: u32, _pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let v = x[i];
        acc += select(v, v * v, p.squares != 0u);
    }
    partial[t] = acc;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) { partial[t] += partial[t + half]; }
        workgroupBarrier();
    }
    if (t == 0u) {
        var total = partial[0];
        if (p.accumulate != 0u) { total += out[0]; }
        out[0] = total;
    }
}
