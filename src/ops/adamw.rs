//! AdamW with decoupled weight decay and global-norm clipping over the whole flat parameter buffer, and the
//! EMA of weights. Shader: shaders/adamw.wgsl.
//! TODO(helper B)

use super::{Kernel, Launch};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

/// One AdamW update of every parameter. `step_info = [t, lr]` (t counts from 1) is written by the trainer
/// before each step; `grad_norm_sq[0]` is the squared global gradient norm computed earlier in the step.
/// The gradient is scaled by `min(1, clip / norm)` when `clip > 0`. Weight decay applies to the first
/// `decay_len` elements only (matrices come first in the parameter layout; norms and embeddings after).
/// If the norm is not finite the update is skipped, so a diverging step leaves the weights as they were.
#[derive(Clone, Debug)]
pub struct AdamW {
    pub params: Tensor,
    pub grads: Tensor,
    pub m: Tensor,
    pub v: Tensor,
    pub step_info: Tensor,
    pub grad_norm_sq: Tensor,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub clip: f32,
    pub decay_len: usize,
}

/// `ema = decay * ema + (1 - decay) * params`.
#[derive(Clone, Debug)]
pub struct Ema {
    pub params: Tensor,
    pub ema: Tensor,
    pub decay: f32,
}
