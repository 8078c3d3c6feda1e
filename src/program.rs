//! The program types every layer above the devices shares: buffers planned up front (`MemoryPlan`) and views of
//! them (`Tensor`), kernels (`Kernel`: a CPU reference over `CpuMemory` and the GPU dispatches, `Launch`, of the
//! same computation) and the shaders they name. Model code records programs from these; both backends prepare
//! and run them. Depends on nothing else in the crate.

/// Index of one device buffer in a [`MemoryPlan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

/// A view of `len` 4-byte elements (f32, or u32 bits) at `offset` elements into a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub buf: BufId,
    pub offset: usize,
    pub len: usize,
}

impl Tensor {
    /// The same view in another buffer of the same layout (a parameter's gradient, Adam moment, EMA copy).
    pub fn in_buf(self, buf: BufId) -> Tensor {
        Tensor { buf, ..self }
    }

    /// A sub-view of `len` elements starting `start` elements into this one.
    pub fn slice(self, start: usize, len: usize) -> Tensor {
        assert!(start + len <= self.len, "slice {start}+{len} out of tensor of {}", self.len);
        Tensor { offset: self.offset + start, len, ..self }
    }
}

/// Offsets inside shared buffers are aligned so the GPU can bind any view
/// (WebGPU's minStorageBufferOffsetAlignment is at most 256 bytes = 64 elements).
pub const VIEW_ALIGN: usize = 64;

/// What a buffer holds: the planned memory is reported per use (`MemoryPlan::breakdown`), so the breakdown is
/// a sum over the very buffers that are allocated, not an estimate beside them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Use {
    Parameters,
    Gradients,
    /// Adam's two moments.
    Optimizer,
    Ema,
    /// The training graph's inputs, states, stored iterations and outputs.
    Activations,
    /// Temporaries reused by every call: no-gradient iterations, the backward's buffers, metrics.
    Scratch,
    /// The evaluation graphs and their metrics.
    Evaluation,
}

impl Use {
    pub fn name(self) -> &'static str {
        match self {
            Use::Parameters => "parameters",
            Use::Gradients => "gradients",
            Use::Optimizer => "optimizer",
            Use::Ema => "EMA",
            Use::Activations => "activations",
            Use::Scratch => "scratch",
            Use::Evaluation => "evaluation",
        }
    }
}

#[derive(Clone, Debug)]
pub struct BufferSpec {
    pub name: String,
    pub len: usize,
    pub holds: Use,
}

/// Every buffer a model will ever use, decided before anything is allocated, so the size can be checked
/// against the device and a step never allocates.
#[derive(Clone, Debug)]
pub struct MemoryPlan {
    pub buffers: Vec<BufferSpec>,
    /// The use of the buffers planned from now on (`set_use`).
    current: Use,
}

impl Default for MemoryPlan {
    fn default() -> Self {
        MemoryPlan { buffers: Vec::new(), current: Use::Scratch }
    }
}

impl MemoryPlan {
    /// Buffers planned from now on hold `holds`; returns the use before, for the caller to restore.
    pub fn set_use(&mut self, holds: Use) -> Use {
        std::mem::replace(&mut self.current, holds)
    }

    pub fn current_use(&self) -> Use {
        self.current
    }

    /// A buffer of its own.
    pub fn buffer(&mut self, name: impl Into<String>, len: usize) -> Tensor {
        let buf = BufId(self.buffers.len() as u32);
        self.buffers.push(BufferSpec { name: name.into(), len: len.max(1), holds: self.current });
        Tensor { buf, offset: 0, len }
    }

    /// An empty shared buffer that views are carved from with [`MemoryPlan::carve`].
    pub fn pool(&mut self, name: impl Into<String>) -> BufId {
        self.buffer(name, 0).buf
    }

    /// A view of `len` elements appended to a pool.
    pub fn carve(&mut self, pool: BufId, len: usize) -> Tensor {
        let spec = &mut self.buffers[pool.0 as usize];
        let offset = spec.len.div_ceil(VIEW_ALIGN) * VIEW_ALIGN;
        spec.len = offset + len;
        Tensor { buf: pool, offset, len }
    }

    pub fn len(&self, buf: BufId) -> usize {
        self.buffers[buf.0 as usize].len
    }

    pub fn total_bytes(&self) -> u64 {
        self.buffers.iter().map(|b| b.len as u64 * 4).sum()
    }

    pub fn largest(&self) -> Option<&BufferSpec> {
        self.buffers.iter().max_by_key(|b| b.len)
    }

    /// Bytes per use, in the order of `Use`, the uses with no buffer left out.
    pub fn breakdown(&self) -> MemoryBreakdown {
        let mut parts: Vec<(Use, u64)> = Vec::new();
        for b in &self.buffers {
            match parts.iter_mut().find(|(u, _)| *u == b.holds) {
                Some((_, bytes)) => *bytes += b.len as u64 * 4,
                None => parts.push((b.holds, b.len as u64 * 4)),
            }
        }
        parts.sort();
        MemoryBreakdown { total_bytes: self.total_bytes(), parts }
    }
}

/// The planned memory per use; displays as "needs 41.2 MiB: parameters 2.0 MiB, optimizer 4.0 MiB, ...".
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MemoryBreakdown {
    pub total_bytes: u64,
    pub parts: Vec<(Use, u64)>,
}

impl MemoryBreakdown {
    /// "parameters 2.0 MiB, optimizer 4.0 MiB, ...".
    pub fn parts(&self) -> String {
        let parts: Vec<String> = self.parts.iter().map(|(u, b)| format!("{} {}", u.name(), bytes(*b))).collect();
        parts.join(", ")
    }
}

impl std::fmt::Display for MemoryBreakdown {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "needs {}: {}", bytes(self.total_bytes), self.parts())
    }
}

/// "512 B", "3.5 KiB", "41.2 MiB", "3.1 GiB".
pub fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..0x10_0000 => format!("{:.1} KiB", n as f64 / 1024.0),
        0x10_0000..0x4000_0000 => format!("{:.1} MiB", n as f64 / 1048576.0),
        _ => format!("{:.1} GiB", n as f64 / 1073741824.0),
    }
}

/// Handle of a prepared program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramId(pub usize);

/// The WGSL files, each compiled with shaders/common.wgsl in front of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Activation,
    Adamw,
    /// Attention kernels keep `head_chunk` head dimensions per thread in registers and take `rows` rows per
    /// workgroup against tiles of `tile` rows; the one-dispatch backward keeps `staged` operands in workgroup
    /// memory (0 for the others; see ops/attention.rs).
    Attention {
        head_chunk: u32,
        rows: u32,
        tile: u32,
        staged: u32,
    },
    CrossEntropy,
    Elementwise,
    Embedding,
    Halting,
    LocalAttention {
        head_chunk: u32,
    },
    /// `norm`: the products of normalized inputs (`NormInput`), a module of their own so that the others carry
    /// none of the norm's work in their inner loops.
    Matmul {
        norm: bool,
    },
    /// matmul.wgsl with the subgroup variant appended: a module of its own, compiled only where the adapter
    /// has wgpu's SUBGROUP feature.
    MatmulSubgroup {
        norm: bool,
    },
    Reduce,
    Rmsnorm,
}

const COMMON: &str = include_str!("../shaders/common.wgsl");

impl Shader {
    pub fn source(self) -> String {
        // The attention shaders size their register arrays, workgroups and tiles by constants chosen per launch.
        let constants = match self {
            Shader::Attention { head_chunk, rows, tile, staged } => format!(
                "const DC: u32 = {head_chunk}u;\nconst ROWS: u32 = {rows}u;\nconst TILE: u32 = {tile}u;\n\
                 const STAGED: u32 = {staged}u;\n"
            ),
            Shader::LocalAttention { head_chunk } => format!("const DC: u32 = {head_chunk}u;\n"),
            Shader::Matmul { norm } | Shader::MatmulSubgroup { norm } => format!("const NORM: bool = {norm};\n"),
            _ => String::new(),
        };
        let body = match self {
            Shader::Activation => include_str!("../shaders/activation.wgsl"),
            Shader::Adamw => include_str!("../shaders/adamw.wgsl"),
            Shader::Attention { .. } => include_str!("../shaders/attention.wgsl"),
            Shader::CrossEntropy => include_str!("../shaders/cross_entropy.wgsl"),
            Shader::Elementwise => include_str!("../shaders/elementwise.wgsl"),
            Shader::Embedding => include_str!("../shaders/embedding.wgsl"),
            Shader::Halting => include_str!("../shaders/halting.wgsl"),
            Shader::LocalAttention { .. } => include_str!("../shaders/local_attention.wgsl"),
            Shader::Matmul { .. } => include_str!("../shaders/matmul.wgsl"),
            Shader::MatmulSubgroup { .. } => {
                return format!(
                    "{COMMON}\n{constants}{}\n{}",
                    include_str!("../shaders/matmul.wgsl"),
                    include_str!("../shaders/matmul_subgroup.wgsl")
                )
            }
            Shader::Reduce => include_str!("../shaders/reduce.wgsl"),
            Shader::Rmsnorm => include_str!("../shaders/rmsnorm.wgsl"),
        };
        format!("{COMMON}\n{constants}{body}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    ReadWrite,
    /// A writable binding the shader declares but this launch never touches: the GPU backend binds a range of
    /// its own there, a different one per binding, because writable bindings that overlap are an error in
    /// WebGPU (Chrome checks it).
    Spare,
}

/// One compute dispatch: binding 0 is a uniform holding `params` (u32 words; floats as bits),
/// bindings 1.. are the tensors in order.
#[derive(Clone, Debug)]
pub struct Launch {
    pub shader: Shader,
    pub entry: &'static str,
    pub params: Vec<u32>,
    pub bindings: Vec<(Tensor, Access)>,
    pub workgroups: [u32; 3],
}

/// Threads per workgroup of every 1-D kernel (the WebGPU default limit is 256).
pub const WG: u32 = 256;

/// Workgroups for `threads` invocations of a 1-D kernel of `WG` threads, spread over x and y because one
/// dimension may not exceed 65535 workgroups. Shaders recover the index with `linear_id` (common.wgsl).
pub fn grid(threads: usize) -> [u32; 3] {
    groups(threads.div_ceil(WG as usize))
}

/// `count` workgroups spread over x and y the same way (shaders number them `wid.x + wid.y * nwg.x`).
pub fn groups(count: usize) -> [u32; 3] {
    let count = u32::try_from(count).expect("workgroup count exceeds u32").max(1);
    let x = count.min(65535);
    [x, count.div_ceil(x), 1]
}

pub fn read(t: Tensor) -> (Tensor, Access) {
    (t, Access::Read)
}

pub fn write(t: Tensor) -> (Tensor, Access) {
    (t, Access::ReadWrite)
}

/// A writable binding this launch leaves unused (`Access::Spare`).
pub fn spare() -> (Tensor, Access) {
    (Tensor { buf: BufId(u32::MAX), offset: 0, len: 0 }, Access::Spare)
}

/// A step of a program. `cpu` is the reference; `launches` are the GPU dispatches computing the same.
pub trait Kernel {
    fn cpu(&self, mem: &mut CpuMemory);
    fn launches(&self) -> Vec<Launch>;
    /// The kernel's type for profiles, e.g. `matmul::Matmul`.
    fn name(&self) -> &'static str {
        let path = std::any::type_name::<Self>();
        path.strip_prefix("looplab::ops::").unwrap_or(path)
    }
    /// Kernels with variants the GPU backend picks per adapter (the matmul family) say so here.
    fn tunable(&self) -> Option<&dyn Tunable> {
        None
    }
}

/// A kernel with GPU variants that all compute the same; the GPU backend picks one per adapter and `bucket`
/// from a measured trial (backend/gpu/tune.rs), `launches` being the portable default.
pub trait Tunable {
    /// Kernels that behave alike (shape, layout) share a choice.
    fn bucket(&self) -> String;
    /// The variants' names (stable: they are cached), each with whether it needs wgpu's SUBGROUP feature. The
    /// first is the reference: a trial compares every other variant's result with its.
    fn variants(&self) -> Vec<(String, bool)>;
    /// Lengths of the buffers a trial of this kernel's shape needs; the first `inputs` get trial values.
    fn trial_buffers(&self) -> (Vec<usize>, usize);
    /// Variant `v` on trial buffers (in `trial_buffers` order), and the tensor holding its result.
    fn trial(&self, buffers: &[Tensor], v: usize) -> (Vec<Box<dyn Kernel>>, Tensor);
    /// The launches of variant `v`.
    fn launches_as(&self, v: usize) -> Vec<Launch>;
}

/// The no-aliasing rules (WebGPU's usage rules, and what lets the CPU reference lend an output's buffer out while
/// its inputs stay readable): a buffer a dispatch writes is bound by no read-only binding of that dispatch, and
/// writable bindings may share a buffer but never overlap (rmsnorm's `out` and `rstd` can be views of one pool;
/// an unused writable slot takes `spare()`). Checked for every launch of a program when a backend prepares it; a
/// program that breaks them is a bug in the model code, so this panics naming the kernel and the bindings.
pub fn check_aliasing(program: &[Box<dyn Kernel>]) {
    for kernel in program {
        for launch in kernel.launches() {
            let b = &launch.bindings;
            for (i, (t, access)) in b.iter().enumerate() {
                if *access != Access::ReadWrite {
                    continue;
                }
                if let Some(j) = (0..b.len()).find(|&j| b[j].1 == Access::Read && b[j].0.buf == t.buf) {
                    panic!(
                        "{} ({}): writable binding {} shares buffer {} with read-only binding {}",
                        kernel.name(),
                        launch.entry,
                        i + 1,
                        t.buf.0,
                        j + 1
                    );
                }
                let overlaps = |u: &Tensor| u.offset < t.offset + t.len.max(1) && t.offset < u.offset + u.len.max(1);
                if let Some(j) =
                    (i + 1..b.len()).find(|&j| b[j].1 == Access::ReadWrite && b[j].0.buf == t.buf && overlaps(&b[j].0))
                {
                    panic!(
                        "{} ({}): writable bindings {} and {} overlap in buffer {}",
                        kernel.name(),
                        launch.entry,
                        i + 1,
                        j + 1,
                        t.buf.0
                    );
                }
            }
        }
    }
}

/// Buffers as host vectors. Kernels read inputs with `get` and write their output through `out`,
/// which lends the output buffer out while the inputs stay readable (outputs never share a buffer with inputs).
#[derive(Default)]
pub struct CpuMemory {
    buffers: Vec<Vec<f32>>,
}

impl CpuMemory {
    pub fn get(&self, t: Tensor) -> &[f32] {
        let buf = &self.buffers[t.buf.0 as usize];
        assert!(
            t.len == 0 || !buf.is_empty(),
            "buffer {} is read while a kernel writes it (see check_aliasing)",
            t.buf.0
        );
        &buf[t.offset..t.offset + t.len]
    }

    pub fn get_u32(&self, t: Tensor) -> Vec<u32> {
        self.get(t).iter().map(|x| x.to_bits()).collect()
    }

    /// Runs `f` with the output view writable and the memory readable.
    pub fn out<R>(&mut self, t: Tensor, f: impl FnOnce(&CpuMemory, &mut [f32]) -> R) -> R {
        let mut buf = std::mem::take(&mut self.buffers[t.buf.0 as usize]);
        let r = f(self, &mut buf[t.offset..t.offset + t.len]);
        self.buffers[t.buf.0 as usize] = buf;
        r
    }

    /// Two outputs in two different buffers (for kernels producing a pair, like attention's dK and dV).
    pub fn out2<R>(&mut self, a: Tensor, b: Tensor, f: impl FnOnce(&CpuMemory, &mut [f32], &mut [f32]) -> R) -> R {
        assert_ne!(a.buf, b.buf, "out2 needs outputs in different buffers");
        let mut ba = std::mem::take(&mut self.buffers[a.buf.0 as usize]);
        let mut bb = std::mem::take(&mut self.buffers[b.buf.0 as usize]);
        let r = f(self, &mut ba[a.offset..a.offset + a.len], &mut bb[b.offset..b.offset + b.len]);
        self.buffers[a.buf.0 as usize] = ba;
        self.buffers[b.buf.0 as usize] = bb;
        r
    }

    /// Outputs in different buffers (AdamW writes its weights and both moments).
    pub fn outs<const N: usize, R>(&mut self, ts: [Tensor; N], f: impl FnOnce(&CpuMemory, [&mut [f32]; N]) -> R) -> R {
        for (i, a) in ts.iter().enumerate() {
            assert!(ts[..i].iter().all(|b| b.buf != a.buf), "outs needs outputs in different buffers");
        }
        let mut taken = ts.map(|t| std::mem::take(&mut self.buffers[t.buf.0 as usize]));
        let views: [&mut [f32]; N] = {
            let mut it = taken.iter_mut().zip(&ts);
            std::array::from_fn(|_| {
                let (buf, t) = it.next().expect("N buffers");
                &mut buf[t.offset..t.offset + t.len]
            })
        };
        let r = f(self, views);
        for (t, buf) in ts.iter().zip(taken) {
            self.buffers[t.buf.0 as usize] = buf;
        }
        r
    }

    /// Zeroed buffers of every size in `plan`, replacing any held before.
    pub fn allocate(&mut self, plan: &MemoryPlan) {
        self.buffers = plan.buffers.iter().map(|b| vec![0.0; b.len]).collect();
    }

    pub fn write(&mut self, t: Tensor, data: &[f32]) {
        self.buffers[t.buf.0 as usize][t.offset..t.offset + t.len].copy_from_slice(data);
    }
}

/// Runs `f(index, chunk)` over the consecutive `chunk_len`-element chunks of `out` (the last may be shorter):
/// natively on every core, in order on one thread in wasm. `work` estimates the operations per chunk; below
/// about 32k operations in all the work stays on the calling thread, where handing it out costs more than it saves.
/// Chunks are disjoint, so the result never depends on the thread count.
pub fn for_each_chunk(out: &mut [f32], chunk_len: usize, work: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let chunk_len = chunk_len.max(1);
    let chunks = out.len().div_ceil(chunk_len);
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(per_task) = per_task(chunks, work) {
        use rayon::prelude::*;
        out.par_chunks_mut(chunk_len).with_min_len(per_task).enumerate().for_each(|(i, c)| f(i, c));
        return;
    }
    let _ = (chunks, work);
    out.chunks_mut(chunk_len).enumerate().for_each(|(i, c)| f(i, c));
}

/// `for_each_chunk` for elementwise loops: `f(range, chunk)` is told which elements of `out` the chunk holds,
/// so it can zip the same range of its inputs.
pub fn for_each_span(out: &mut [f32], f: impl Fn(std::ops::Range<usize>, &mut [f32]) + Sync + Send) {
    const SPAN: usize = 1 << 14;
    for_each_chunk(out, SPAN, SPAN, |i, c| f(i * SPAN..i * SPAN + c.len(), c));
}

/// `for_each_chunk` over whole rows of `width` elements: `f(first_row, rows)` with `rows` a multiple of
/// `width` long; `cost` estimates the operations per element.
pub fn for_each_rows(out: &mut [f32], width: usize, cost: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let width = width.max(1);
    // About 8k operations per chunk, at least one row.
    let rows = ((1usize << 13) / (width * cost.max(1))).max(1);
    for_each_chunk(out, rows * width, rows * width * cost.max(1), |i, c| f(i * rows, c));
}

/// `for_each_chunk` over two outputs at once: call i gets chunk i of `a` (`a_len` elements) and of `b`
/// (`b_len`), e.g. one example's attention output and its row statistics.
pub fn for_each_chunk_pair(
    a: &mut [f32],
    a_len: usize,
    b: &mut [f32],
    b_len: usize,
    work: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync + Send,
) {
    let (a_len, b_len) = (a_len.max(1), b_len.max(1));
    let chunks = a.len().div_ceil(a_len);
    assert_eq!(chunks, b.len().div_ceil(b_len), "for_each_chunk_pair: the outputs have different chunk counts");
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(per_task) = per_task(chunks, work) {
        use rayon::prelude::*;
        let pairs = a.par_chunks_mut(a_len).zip(b.par_chunks_mut(b_len));
        pairs.with_min_len(per_task).enumerate().for_each(|(i, (x, y))| f(i, x, y));
        return;
    }
    let _ = (chunks, work);
    a.chunks_mut(a_len).zip(b.chunks_mut(b_len)).enumerate().for_each(|(i, (x, y))| f(i, x, y));
}

/// Chunks per rayon task so one task is worth ~32k operations, or None when the whole is too small to share.
#[cfg(not(target_arch = "wasm32"))]
fn per_task(chunks: usize, work: usize) -> Option<usize> {
    (chunks > 1 && chunks.saturating_mul(work) >= 1 << 15).then(|| ((1usize << 15) / work.max(1)).max(1))
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `len` floats of this thread's scratch (contents unspecified), which grows once and is then
/// reused, so kernels that need per-thread temporaries allocate nothing per step. Not reentrant.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < len {
            s.resize(len, 0.0);
        }
        f(&mut s[..len])
    })
}
