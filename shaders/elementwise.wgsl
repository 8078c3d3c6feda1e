// Elementwise ops, one thread per output element. Binding 1 is the output in every entry point; the inputs
// follow, so each op binds only what it reads.
struct Params {
    n: u32,
    scalar: f32, // Accumulate's scale, Fill's value
    width: u32,  // Broadcast's row length; Transpose's columns
    height: u32, // Transpose's rows
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = x[i] + y[i];
}

@compute @workgroup_size(256)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    out[i] += p.scalar * x[i];
}

@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = x[i];
}

@compute @workgroup_size(256)
fn broadcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = x[i % p.width];
}

// out[b, j, i] = x[b, i, j] for matrices of `height` rows and `width` columns; one thread per output element.
@compute @workgroup_size(256)
fn transpose(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= p.n) { return; }
    let size = p.width * p.height;
    let b = e / size;
    let j = (e % size) / p.height;
    let i = e % p.height;
    out[e] = x[b * size + i * p.width + j];
}

@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= p.n) { return; }
    out[i] = p.scalar;
}

// CopyRows: element e of the copied rows is element `chunk` of example b = e / chunk (chunk = rows * d); it
// goes from x[b * x_seq + x_start + ...] to out[b * out_seq + out_start + ...] (all in elements).
struct RowParams {
    n: u32,
    chunk: u32,
    x_seq: u32,
    x_start: u32,
    out_seq: u32,
    out_start: u32,
    accumulate: u32,
    pad: u32,
}
@group(0) @binding(0) var<uniform> rp: RowParams;

@compute @workgroup_size(256)
fn copy_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear_id(gid, nwg);
    if (e >= rp.n) { return; }
    let b = e / rp.chunk;
    let i = e % rp.chunk;
    let to = b * rp.out_seq + rp.out_start + i;
    let v = x[b * rp.x_seq + rp.x_start + i];
    if (rp.accumulate != 0u) {
        out[to] += v;
    } else {
        out[to] = v;
    }
}
