//! Elementwise ops for residual streams and input injection. Shader: shaders/elementwise.wgsl.
//! TODO(helper B): cpu + launches + shader.

use super::{Kernel, Launch};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

/// `out = a + b` (residual add, input injection). `out` must not share a buffer with `a` or `b`.
#[derive(Clone, Debug)]
pub struct Add {
    pub a: Tensor,
    pub b: Tensor,
    pub out: Tensor,
}

/// `out += scale * x` (gradient flowing into a residual branch or an injected input).
#[derive(Clone, Debug)]
pub struct Accumulate {
    pub x: Tensor,
    pub out: Tensor,
    pub scale: f32,
}

/// `out = x`.
#[derive(Clone, Debug)]
pub struct Copy {
    pub x: Tensor,
    pub out: Tensor,
}

/// `out = value` for every element (zeroing gradients and metrics).
#[derive(Clone, Debug)]
pub struct Fill {
    pub out: Tensor,
    pub value: f32,
}
