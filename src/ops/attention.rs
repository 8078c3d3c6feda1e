//! Multi-head scaled dot-product attention, bidirectional or causal, with an optional additive bias.
//! Shader: shaders/attention.wgsl.
//! TODO(helper A)

use super::{Kernel, Launch};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

/// `qkv` is `[batch*seq, 3*d]`: columns `[0,d)` are queries, `[d,2d)` keys, `[2d,3d)` values; head h uses
/// columns `h*head_dim..(h+1)*head_dim` of each. `probs[b,h,i,j] = softmax_j(q·k/sqrt(head_dim) + bias[i,j])`
/// (j > i masked when causal) is kept for the backward and for probes; `out[b*seq+i, h*head_dim+c]`.
#[derive(Clone, Debug)]
pub struct AttentionForward {
    pub qkv: Tensor,
    pub bias: Option<Tensor>, // [seq, seq]
    pub probs: Tensor,        // [batch, heads, seq, seq]
    pub out: Tensor,          // [batch*seq, d]
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub causal: bool,
}

/// `d_qkv` (set) from `d_out`; `d_scores` is scratch of the size of `probs`.
#[derive(Clone, Debug)]
pub struct AttentionBackward {
    pub qkv: Tensor,
    pub probs: Tensor,
    pub d_out: Tensor,
    pub d_scores: Tensor,
    pub d_qkv: Tensor,
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub causal: bool,
}
