//! The reference backend: plain Rust, one Vec per buffer, kernels run one after another.

use super::profile::{cpu_kind, Profile, ProfileSource};
use super::BackendStats;
use crate::error::LabError;
use crate::program::{CpuMemory, Kernel, MemoryPlan, ProgramId, Tensor};

/// What the cpu backend will allocate: a wasm32 page has a 4 GiB address space, a native run shares the host.
#[cfg(target_arch = "wasm32")]
const CPU_MEMORY_BUDGET: u64 = 2 << 30;
#[cfg(not(target_arch = "wasm32"))]
const CPU_MEMORY_BUDGET: u64 = 8 << 30;

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

    pub fn allocate(&mut self, plan: &MemoryPlan) -> Result<(), LabError> {
        let bytes = plan.total_bytes();
        if bytes > CPU_MEMORY_BUDGET {
            return Err(LabError::TooLarge {
                needed: format!("{} MiB in all", bytes >> 20),
                allowed: format!("{} MiB", CPU_MEMORY_BUDGET >> 20),
                limit: "the cpu backend's memory budget".into(),
            });
        }
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
