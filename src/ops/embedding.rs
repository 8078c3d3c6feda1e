//! Token + position embeddings, forward and backward; the backward gathers per table row instead of
//! scattering with float atomics, so it is deterministic. Shader: shaders/embedding.wgsl.
//! TODO(helper B)

use super::{Kernel, Launch};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

/// `out[i,:] = table[tokens[i],:] + positions[i % seq,:]` for `rows` tokens; `tokens` holds u32 bits.
#[derive(Clone, Debug)]
pub struct EmbeddingForward {
    pub tokens: Tensor,    // [rows] u32
    pub table: Tensor,     // [vocab, d]
    pub positions: Tensor, // [seq, d]
    pub out: Tensor,       // [rows, d]
    pub rows: usize,
    pub vocab: usize,
    pub seq: usize,
    pub d: usize,
}

/// `d_table[v,:] += sum of d_out[i,:] over i with tokens[i] == v` and
/// `d_positions[p,:] += sum of d_out[i,:] over i with i % seq == p` (two launches: the two outputs are
/// views of the same gradient buffer, which one dispatch may not bind twice for writing).
#[derive(Clone, Debug)]
pub struct EmbeddingBackward {
    pub tokens: Tensor,
    pub d_out: Tensor,       // [rows, d]
    pub d_table: Tensor,     // [vocab, d]
    pub d_positions: Tensor, // [seq, d]
    pub rows: usize,
    pub vocab: usize,
    pub seq: usize,
    pub d: usize,
}
