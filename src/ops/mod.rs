//! Kernels: one file per layer, each holding the op's parameters, its CPU reference and its GPU launch
//! (the WGSL lives beside it in shaders/ under the same name).

pub mod activation;
pub mod adamw;
pub mod attention;
pub mod cross_entropy;
pub mod elementwise;
pub mod embedding;
pub mod halting;
pub mod local_attention;
pub mod matmul;
pub mod reduce;
pub mod rmsnorm;

use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

/// The WGSL files, each compiled with shaders/common.wgsl in front of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Activation,
    Adamw,
    /// Attention kernels keep `head_chunk` head dimensions per thread in registers and take `rows` rows per
    /// workgroup against tiles of `tile` rows (see attention.rs).
    Attention {
        head_chunk: u32,
        rows: u32,
        tile: u32,
    },
    CrossEntropy,
    Elementwise,
    Embedding,
    Halting,
    LocalAttention {
        head_chunk: u32,
    },
    Matmul,
    Reduce,
    Rmsnorm,
}

const COMMON: &str = include_str!("../../shaders/common.wgsl");

impl Shader {
    pub fn source(self) -> String {
        // The attention shaders size their register arrays, workgroups and tiles by constants chosen per launch.
        let constants = match self {
            Shader::Attention { head_chunk, rows, tile } => {
                format!("const DC: u32 = {head_chunk}u;\nconst ROWS: u32 = {rows}u;\nconst TILE: u32 = {tile}u;\n")
            }
            Shader::LocalAttention { head_chunk } => format!("const DC: u32 = {head_chunk}u;\n"),
            _ => String::new(),
        };
        let body = match self {
            Shader::Activation => include_str!("../../shaders/activation.wgsl"),
            Shader::Adamw => include_str!("../../shaders/adamw.wgsl"),
            Shader::Attention { .. } => include_str!("../../shaders/attention.wgsl"),
            Shader::CrossEntropy => include_str!("../../shaders/cross_entropy.wgsl"),
            Shader::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Shader::Embedding => include_str!("../../shaders/embedding.wgsl"),
            Shader::Halting => include_str!("../../shaders/halting.wgsl"),
            Shader::LocalAttention { .. } => include_str!("../../shaders/local_attention.wgsl"),
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Shader::Rmsnorm => include_str!("../../shaders/rmsnorm.wgsl"),
        };
        format!("{COMMON}\n{constants}{body}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    ReadWrite,
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
    let groups = (threads as u32).div_ceil(WG).max(1);
    let x = groups.min(65535);
    [x, groups.div_ceil(x), 1]
}

pub fn read(t: Tensor) -> (Tensor, Access) {
    (t, Access::Read)
}

pub fn write(t: Tensor) -> (Tensor, Access) {
    (t, Access::ReadWrite)
}

/// A step of a program. `cpu` is the reference; `launches` are the GPU dispatches computing the same.
pub trait Kernel {
    fn cpu(&self, mem: &mut CpuMemory);
    fn launches(&self) -> Vec<Launch>;
}

/// Every `(name, tensor, expected length)` has its length, and no output shares a buffer with another of the
/// dispatch's `bindings` (WebGPU forbids a writable binding aliasing another).
pub fn check_views(op: &str, sized: &[(&str, Tensor, usize)], outputs: &[Tensor], bindings: &[Tensor]) {
    for (name, t, len) in sized {
        assert_eq!(t.len, *len, "{op}: {name} has {} elements, expected {len}", t.len);
    }
    for out in outputs {
        let shared = bindings.iter().filter(|t| t.buf == out.buf).count();
        assert_eq!(shared, 1, "{op}: an output shares a buffer with another tensor");
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Packs an f32 into a uniform word.
pub fn f(x: f32) -> u32 {
    x.to_bits()
}

/// Packs a count into a uniform word, refusing sizes a u32 index cannot address.
pub fn u(x: usize) -> u32 {
    u32::try_from(x).expect("tensor dimension exceeds u32")
}
