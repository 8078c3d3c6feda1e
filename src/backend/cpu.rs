//! The reference backend: plain Rust, one Vec per buffer, kernels run one after another.

use super::profile::{cpu_kind, Profile, ProfileSource};
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

/// The share of the machine's memory the cpu backend may plan: a wasm32 page has a 4 GiB address space, of which
/// it takes 2 GiB; natively three quarters of the physical memory (what /proc/meminfo says; 8 GiB where it cannot
/// be read), so a config too large for the machine is refused instead of swapping or being killed.
fn memory_budget() -> (u64, String) {
    #[cfg(target_arch = "wasm32")]
    return (2 << 30, "the cpu backend's memory budget in the page (wasm32 has a 4 GiB address space)".into());
    #[cfg(not(target_arch = "wasm32"))]
    match physical_memory() {
        Some(total) => {
            (total / 4 * 3, format!("the cpu backend's memory budget, 75% of this machine's {}", super::bytes(total)))
        }
        None => (8 << 30, "the cpu backend's memory budget (this machine's memory size could not be read)".into()),
    }
}

/// Bytes of physical memory (Linux: `MemTotal` in /proc/meminfo).
#[cfg(not(target_arch = "wasm32"))]
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 =
        info.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

pub struct CpuBackend {
    pub mem: CpuMemory,
    programs: Vec<Vec<Box<dyn Kernel>>>,
    /// Set while profiling: each kernel is timed.
    profile: Option<Profile>,
    pub stats: BackendStats,
}

impl CpuBackend {
    pub fn new() -> CpuBackend {
        CpuBackend { mem: CpuMemory::default(), programs: Vec::new(), profile: None, stats: BackendStats::default() }
    }

    pub fn describe(&self) -> String {
        #[cfg(not(target_arch = "wasm32"))]
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        #[cfg(target_arch = "wasm32")]
        let threads = 1;
        format!("cpu (reference backend, {threads} thread(s))")
    }

    /// Refuses a plan larger than the memory budget.
    pub fn check(&self, plan: &MemoryPlan) -> Result<(), LabError> {
        let (budget, limit) = memory_budget();
        if plan.total_bytes() > budget {
            return Err(LabError::TooLarge {
                needed: format!("{} ({})", super::bytes(plan.total_bytes()), plan.breakdown().parts()),
                allowed: super::bytes(budget),
                limit,
            });
        }
        Ok(())
    }

    pub fn allocate(&mut self, plan: &MemoryPlan) -> Result<(), LabError> {
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
                match self.profile.as_mut() {
                    None => kernel.cpu(&mut self.mem),
                    Some(profile) => {
                        let start = web_time::Instant::now();
                        kernel.cpu(&mut self.mem);
                        profile.add(cpu_kind(kernel.as_ref()), start.elapsed().as_secs_f64());
                    }
                }
            }
            if let Some(profile) = self.profile.as_mut() {
                profile.runs += 1;
            }
            self.stats.dispatches += program.len() as u64;
            self.programs[id.0] = program;
        }
        self.stats.submits += 1;
    }

    /// Times every kernel of every run from now on until `take_profile`.
    pub fn start_profile(&mut self) {
        self.profile = Some(Profile::new(ProfileSource::CpuTimers));
    }

    pub fn take_profile(&mut self) -> Option<Profile> {
        self.profile.take()
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

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}
