//! The Backend interface: memory planned once, programs (lists of kernels) prepared once and run many times.
//! `gpu` records a program's dispatches into one command encoder and one submit; `cpu` interprets the same
//! kernels in plain Rust and is the reference every WGSL kernel is tested against.

pub mod budget;
pub mod cpu;
pub mod gpu;
pub mod profile;

use crate::error::LabError;
use crate::program::{check_aliasing, Kernel, MemoryPlan, ProgramId, Tensor};

/// Counters a benchmark reads: what one `run` costs beyond arithmetic.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct BackendStats {
    pub submits: u64,
    /// GPU dispatches (the cpu backend counts those its kernels would launch).
    pub dispatches: u64,
    pub bytes_allocated: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Gpu,
    Cpu,
}

impl std::str::FromStr for BackendKind {
    type Err = LabError;
    fn from_str(s: &str) -> Result<Self, LabError> {
        match s {
            "gpu" => Ok(BackendKind::Gpu),
            "cpu" => Ok(BackendKind::Cpu),
            other => Err(LabError::invalid("backend", other, "gpu or cpu")),
        }
    }
}

/// The two implementations behind one interface (an enum, not a trait object, so `read` can be async).
/// A lab holds one or two backends, so the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    Cpu(cpu::CpuBackend),
    Gpu(gpu::GpuBackend),
}

impl Backend {
    /// Opens a backend of the given kind. The GPU one fails with a message when no adapter exists.
    pub async fn open(kind: BackendKind) -> Result<Backend, LabError> {
        Ok(match kind {
            BackendKind::Cpu => Backend::Cpu(cpu::CpuBackend::new()),
            BackendKind::Gpu => Backend::Gpu(gpu::GpuBackend::new().await?),
        })
    }

    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Cpu(_) => BackendKind::Cpu,
            Backend::Gpu(_) => BackendKind::Gpu,
        }
    }

    /// A line naming the device, for logs and the page.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu(c) => c.describe(),
            Backend::Gpu(g) => g.describe(),
        }
    }

    /// Refuses a plan the device cannot hold, naming the limit and the numbers; allocates nothing.
    pub fn check(&self, plan: &MemoryPlan) -> Result<(), LabError> {
        match self {
            Backend::Cpu(c) => c.check(plan),
            Backend::Gpu(g) => g.check(plan),
        }
    }

    /// Refuses a plan the device cannot hold (`check`); then allocates every buffer.
    pub fn allocate(&mut self, plan: &MemoryPlan) -> Result<(), LabError> {
        self.check(plan)?;
        match self {
            Backend::Cpu(c) => c.allocate(plan),
            Backend::Gpu(g) => g.allocate(plan),
        }
    }

    /// Checks the program's launches against the no-aliasing rule (`check_aliasing`), then prepares it to run.
    pub async fn prepare(&mut self, program: Vec<Box<dyn Kernel>>) -> Result<ProgramId, LabError> {
        check_aliasing(&program);
        match self {
            Backend::Cpu(c) => Ok(c.prepare(program)),
            Backend::Gpu(g) => g.prepare(program).await,
        }
    }

    /// Runs prepared programs in order: on the GPU one encoder and one submit (several under a submit budget),
    /// nothing read back. Fails with `LabError::Device` once the GPU device is lost.
    pub fn run(&mut self, programs: &[ProgramId]) -> Result<(), LabError> {
        match self {
            Backend::Cpu(c) => {
                c.run(programs);
                Ok(())
            }
            Backend::Gpu(g) => g.run(programs),
        }
    }

    /// Keeps every GPU submit under `ms` milliseconds of measured work (None: one submit per run, whatever its
    /// length). The page's default is 250 ms, native runs have none; the cpu backend has nothing to split.
    pub fn set_submit_budget(&mut self, ms: Option<f64>) {
        if let Backend::Gpu(g) = self {
            g.set_submit_budget(ms);
        }
    }

    pub fn write(&mut self, t: Tensor, data: &[f32]) {
        assert_eq!(t.len, data.len(), "write of {} elements into a tensor of {}", data.len(), t.len);
        match self {
            Backend::Cpu(c) => c.write(t, data),
            Backend::Gpu(g) => g.write(t, data),
        }
    }

    pub fn write_u32(&mut self, t: Tensor, data: &[u32]) {
        let bits: Vec<f32> = data.iter().map(|&u| f32::from_bits(u)).collect();
        self.write(t, &bits);
    }

    /// Reads a tensor back (waits for the GPU; on the web this yields to the browser).
    pub async fn read(&mut self, t: Tensor) -> Result<Vec<f32>, LabError> {
        match self {
            Backend::Cpu(c) => Ok(c.read(t)),
            Backend::Gpu(g) => g.read(t).await,
        }
    }

    /// Profiles every run from now on (per-kernel times; see profile.rs) until `take_profile`.
    pub fn start_profile(&mut self) -> Result<(), LabError> {
        match self {
            Backend::Cpu(c) => {
                c.start_profile();
                Ok(())
            }
            Backend::Gpu(g) => g.start_profile(),
        }
    }

    /// The profile since `start_profile` (None if it was not started), which ends profiling.
    pub fn take_profile(&mut self) -> Option<Result<profile::Profile, LabError>> {
        match self {
            Backend::Cpu(c) => c.take_profile().map(Ok),
            Backend::Gpu(g) => g.take_profile(),
        }
    }

    pub fn stats(&self) -> BackendStats {
        match self {
            Backend::Cpu(c) => c.stats,
            Backend::Gpu(g) => g.stats,
        }
    }
}
