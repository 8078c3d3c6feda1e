//! Softmax cross-entropy with an ignore mask: only rows with a target count. Shader: shaders/cross_entropy.wgsl.
//! TODO(helper A)

use super::{Kernel, Launch};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

/// Rows whose target is `IGNORE` are not supervised.
pub const IGNORE: u32 = u32::MAX;

/// For each row r with a target: `losses[r] = -log softmax(logits[r])[t]`, `correct[r] = 1` when the argmax
/// (first maximum) equals t, and `d_logits[r] = (softmax - onehot(t)) / count`, where `count[0]` is the number
/// of supervised rows (computed by the first launch). Ignored rows get loss 0, correct 0, gradient 0.
/// `supervised[r]` is 1 for rows with a target, else 0 (so metrics can count them).
#[derive(Clone, Debug)]
pub struct CrossEntropy {
    pub logits: Tensor,  // [rows, vocab]
    pub targets: Tensor, // [rows] u32
    pub d_logits: Tensor,
    pub losses: Tensor,     // [rows]
    pub correct: Tensor,    // [rows]
    pub supervised: Tensor, // [rows]
    pub count: Tensor,      // [1]
    pub rows: usize,
    pub vocab: usize,
}
