//! The reference backend: plain Rust, one Vec per buffer, kernels run one after another.

use super::profile::{cpu_kind, Profile, ProfileSource};
use super::BackendStats;
use crate::error::LabError;
use crate::program::{bytes, CpuMemory, Kernel, MemoryPlan, ProgramId, Tensor};

/// The share of the machine's memory the cpu backend may plan: a wasm32 page has a 4 GiB address space, of which
/// it takes 2 GiB; natively three quarters of the physical memory (what /proc/meminfo says; 8 GiB where it cannot
/// be read), so a config too large for the machine is refused instead of swapping or being killed.
fn memory_budget() -> (u64, String) {
    #[cfg(target_arch = "wasm32")]
    return (2 << 30, "the cpu backend's memory budget in the page (wasm32 has a 4 GiB address space)".into());
    #[cfg(not(target_arch = "wasm32"))]
    match physical_memory() {
        Some(total) => {
            (total / 4 * 3, format!("the cpu backend's memory budget, 75% of this machine's {}", bytes(total)))
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
    /// Each prepared program and the GPU dispatches its kernels launch (counted as the gpu backend's
    /// `dispatches`, with `Auto` matmuls as software adapters run them), so `looplab bench` reports the same
    /// dispatches per step on both backends.
    programs: Vec<(Vec<Box<dyn Kernel>>, u64)>,
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
                needed: format!("{} ({})", bytes(plan.total_bytes()), plan.breakdown().parts()),
                allowed: bytes(budget),
                limit,
            });
        }
        Ok(())
    }

    pub fn allocate(&mut self, plan: &MemoryPlan) -> Result<(), LabError> {
        self.mem.allocate(plan);
        self.stats.bytes_allocated += plan.total_bytes();
        Ok(())
    }

    pub fn prepare(&mut self, program: Vec<Box<dyn Kernel>>) -> ProgramId {
        let launches = program.iter().map(|k| k.launches().len() as u64).sum();
        self.programs.push((program, launches));
        ProgramId(self.programs.len() - 1)
    }

    pub fn run(&mut self, ids: &[ProgramId]) {
        for id in ids {
            let (program, launches) = std::mem::take(&mut self.programs[id.0]);
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
            self.stats.dispatches += launches;
            self.programs[id.0] = (program, launches);
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
        self.mem.write(t, data);
    }

    pub fn read(&self, t: Tensor) -> Vec<f32> {
        self.mem.get(t).to_vec()
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}
