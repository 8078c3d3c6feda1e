//! The Backend interface: memory planned once, programs (lists of kernels) prepared once and run many times.
//! `gpu` records a program's dispatches into one command encoder and one submit; `cpu` interprets the same
//! kernels in plain Rust and is the reference every WGSL kernel is tested against.

pub mod budget;
pub mod cpu;
pub mod gpu;
pub mod profile;

use crate::error::LabError;
use crate::ops::Kernel;

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

/// Counters a benchmark reads: what one `run` costs beyond arithmetic.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct BackendStats {
    pub submits: u64,
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

    pub async fn prepare(&mut self, program: Vec<Box<dyn Kernel>>) -> Result<ProgramId, LabError> {
        match self {
            Backend::Cpu(c) => Ok(c.prepare(program)),
            Backend::Gpu(g) => g.prepare(program).await,
        }
    }

    /// Runs prepared programs in order: on the GPU one encoder and one submit, nothing read back. Fails with
    /// `LabError::Device` once the GPU device is lost.
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
