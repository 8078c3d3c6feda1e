//! The reference backend: plain Rust, one Vec per buffer, kernels run one after another.

use super::{BackendStats, BufId, MemoryPlan, ProgramId, Tensor};
use crate::error::LabError;
use crate::ops::Kernel;

/// Buffers as host vectors. Kernels read inputs with `get` and write their output through `out`,
/// which lends the output buffer out while the inputs stay readable (outputs never share a buffer with inputs).
#[derive(Default)]
pub struct CpuMemory {
    buffers: Vec<Vec<f32>>,
}

impl CpuMemory {
    pub fn get(&self, t: Tensor) -> &[f32] {
        &self.buffers[t.buf.0 as usize][t.offset..t.offset + t.len]
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

    fn buffer_mut(&mut self, buf: BufId) -> &mut Vec<f32> {
        &mut self.buffers[buf.0 as usize]
    }
}

/// What the cpu backend will allocate: a wasm32 page has a 4 GiB address space, a native run shares the host.
#[cfg(target_arch = "wasm32")]
const CPU_MEMORY_BUDGET: u64 = 2 << 30;
#[cfg(not(target_arch = "wasm32"))]
const CPU_MEMORY_BUDGET: u64 = 8 << 30;

pub struct CpuBackend {
    pub mem: CpuMemory,
    programs: Vec<Vec<Box<dyn Kernel>>>,
    pub stats: BackendStats,
}

impl CpuBackend {
    pub fn new() -> CpuBackend {
        CpuBackend { mem: CpuMemory::default(), programs: Vec::new(), stats: BackendStats::default() }
    }

    pub fn describe(&self) -> String {
        #[cfg(not(target_arch = "wasm32"))]
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        #[cfg(target_arch = "wasm32")]
        let threads = 1;
        format!("cpu (reference backend, {threads} thread(s))")
    }

    pub fn allocate(&mut self, plan: &MemoryPlan) -> Result<(), LabError> {
        let bytes = plan.total_bytes();
        if bytes > CPU_MEMORY_BUDGET {
            return Err(LabError::TooLarge {
                needed: format!("{} MiB in all", bytes >> 20),
                allowed: format!("{} MiB", CPU_MEMORY_BUDGET >> 20),
                limit: "the cpu backend's memory budget".into(),
            });
        }
        self.mem.buffers = plan.buffers.iter().map(|b| vec![0.0; b.len]).collect();
        self.stats.bytes_allocated += plan.total_bytes();
        Ok(())
    }

    pub fn prepare(&mut self, program: Vec<Box<dyn Kernel>>) -> ProgramId {
        self.programs.push(program);
        ProgramId(self.programs.len() - 1)
    }

    pub fn run(&mut self, ids: &[ProgramId]) {
        for id in ids {
            let program = std::mem::take(&mut self.programs[id.0]);
            for kernel in &program {
                kernel.cpu(&mut self.mem);
            }
            self.stats.dispatches += program.len() as u64;
            self.programs[id.0] = program;
        }
        self.stats.submits += 1;
    }

    pub fn write(&mut self, t: Tensor, data: &[f32]) {
        self.mem.buffer_mut(t.buf)[t.offset..t.offset + t.len].copy_from_slice(data);
    }

    pub fn read(&self, t: Tensor) -> Vec<f32> {
        self.mem.get(t).to_vec()
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

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}
