//! RMSNorm with or without a learned scale, forward and backward. Shader: shaders/rmsnorm.wgsl.
//! TODO(helper B)

use super::{Kernel, Launch};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

/// `rstd[r] = 1/sqrt(mean(x[r,:]^2) + eps)`, `out[r,c] = x[r,c] * rstd[r] * (weight[c] or 1)`.
#[derive(Clone, Debug)]
pub struct RmsNormForward {
    pub x: Tensor,
    pub weight: Option<Tensor>, // [d]
    pub out: Tensor,
    pub rstd: Tensor, // [rows], kept for the backward
    pub rows: usize,
    pub d: usize,
    pub eps: f32,
}

/// `d_x (= or += when accumulate_dx)` the input gradient; `d_weight[c] += sum_r d_out[r,c]*x[r,c]*rstd[r]`.
#[derive(Clone, Debug)]
pub struct RmsNormBackward {
    pub x: Tensor,
    pub weight: Option<Tensor>,
    pub rstd: Tensor,
    pub d_out: Tensor,
    pub d_x: Tensor,
    pub d_weight: Option<Tensor>,
    pub rows: usize,
    pub d: usize,
    pub accumulate_dx: bool,
}
