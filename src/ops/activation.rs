//! MLP activations: SwiGLU and GELU (tanh form), forward and backward. Shader: shaders/activation.wgsl.
//! TODO(helper B)

use super::{Kernel, Launch};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

/// `out[r,j] = silu(x[r,j]) * x[r,hidden+j]` for `x` laid out `[rows, 2*hidden]` (gate columns, then up columns).
#[derive(Clone, Debug)]
pub struct SwigluForward {
    pub x: Tensor,
    pub out: Tensor,
    pub rows: usize,
    pub hidden: usize,
}

/// `d_x = dL/dx` (set, not accumulated).
#[derive(Clone, Debug)]
pub struct SwigluBackward {
    pub x: Tensor,
    pub d_out: Tensor,
    pub d_x: Tensor,
    pub rows: usize,
    pub hidden: usize,
}

/// `out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
#[derive(Clone, Debug)]
pub struct GeluForward {
    pub x: Tensor,
    pub out: Tensor,
}

/// `d_x = d_out * gelu'(x)` (set).
#[derive(Clone, Debug)]
pub struct GeluBackward {
    pub x: Tensor,
    pub d_out: Tensor,
    pub d_x: Tensor,
}
