//! Deterministic reductions to one number (one workgroup, fixed order; no float atomics).
//! Shader: shaders/reduce.wgsl.
//! TODO(helper A)

use super::{Kernel, Launch};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Sum,
    SumSquares,
}

/// `out[0] (+)= reduce(x)`; `out` is a one-element view (a metrics slot).
#[derive(Clone, Debug)]
pub struct Reduce {
    pub x: Tensor,
    pub out: Tensor,
    pub op: Reduction,
    pub accumulate: bool,
}
