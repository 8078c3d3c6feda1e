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

    /// Outputs in different buffers (for kernels producing several, like attention's dK and dV, or AdamW's
    /// weights and moments).
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

    /// Two outputs in two different buffers.
    pub fn out2<R>(&mut self, a: Tensor, b: Tensor, f: impl FnOnce(&CpuMemory, &mut [f32], &mut [f32]) -> R) -> R {
        self.outs([a, b], |mem, [a, b]| f(mem, a, b))
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
    if chunks > 1 && chunks.saturating_mul(work) >= 1 << 15 {
        use rayon::prelude::*;
        // Enough chunks per task that one task is worth ~32k operations.
        let per_task = ((1usize << 15) / work.max(1)).max(1);
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

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}
