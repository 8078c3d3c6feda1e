//! Block-wise processing and TransformerFAM's feedback memory (Hwang et al. 2024), for one call of a
//! feedforward stack (`model.block` > 0).
//!
//! The sequence is cut into blocks of B tokens, processed in order. Layer l of block i runs the ordinary layer
//! (same weights, nothing new) on a *window* per example: `[M_{i-1}^l ; X_{i-1}^{l-1} ; X_i^{l-1}]`, attention
//! over all of its rows, where
//! - `M^l` are the F = `model.memory` memory vectors of layer l: the window's first F output rows become
//!   `M_i^l`, read by block i+1 at the same layer (the feedback); `M_{-1}^l` is a fixed random `[F, d]` from
//!   the seed (`Params::init_states`, so both models have the same trained parameters);
//! - `X_{i-1}^{l-1}` is the previous block's input to the layer (none for block 0): block sliding-window
//!   attention (BSWA), whose receptive field grows by one block per layer;
//! - `X_i^{l-1}` is the block itself; its output rows are `X_i^l`, the next layer's input.
//!
//! With F = 0 this is plain BSWA, so the two models differ only in the memory. The backward runs the blocks in
//! reverse, carrying the memory's gradient from block i+1 back to block i (backprop through every block).

use super::layer::{attention_rows, plan_layer, LayerActs, Scratch};
use super::{Graph, Kernels, Planner, Shape};
use crate::config::ModelConfig;
use crate::model::mlp_in_width;
use crate::ops::elementwise::{Copy, CopyRows, Fill};
use crate::program::Tensor;
use std::ops::Range;

/// The activations of one block-wise call.
#[derive(Clone, Debug)]
pub(super) struct Blocked {
    /// `windows[i][j]`: layer j of block i. Without gradient only blocks 0 and 1 are planned, and every later
    /// block reuses block 1's buffers (block 0's window has no previous block, so its shape differs).
    windows: Vec<Vec<LayerActs>>,
    /// Each layer's output over the whole sequence, `[rows, d]`; the last is the call's output.
    outputs: Vec<Tensor>,
}

impl Blocked {
    pub(super) fn output(&self) -> Tensor {
        *self.outputs.last().expect("a block has layers")
    }

    pub(super) fn outputs(&self) -> &[Tensor] {
        &self.outputs
    }

    /// The last block's windows, one per layer.
    pub(super) fn last_windows(&self) -> &[LayerActs] {
        self.windows.last().expect("a sequence has blocks")
    }
}

/// The backward's buffers: the gradient of every layer's input over the sequence, each layer's running memory
/// gradient, and layer scratch for the largest window (sliced to each window's shape).
pub(super) struct BlockScratch {
    d_inputs: Vec<Tensor>,
    d_memory: Vec<Tensor>,
    layer: Scratch,
}

/// Rows of block i's window: memory, previous block (none for block 0), the block.
fn window_rows(m: &ModelConfig, i: usize) -> usize {
    m.memory + if i > 0 { 2 * m.block } else { m.block }
}

fn window_shape(m: &ModelConfig, shape: Shape, i: usize) -> Shape {
    let w = window_rows(m, i);
    Shape { batch: shape.batch, seq: w, grid: [1, w], vocab: shape.vocab }
}

/// The largest window's rows over the batch (the backward's weight-gradient split covers them).
pub(super) fn largest_window_rows(m: &ModelConfig, shape: Shape) -> usize {
    match shape.seq.checked_div(m.block) {
        None => 0,
        Some(blocks) => shape.batch * window_rows(m, blocks.min(2) - 1),
    }
}

/// Plans a block-wise call of `layers`: every block's windows when `stored`, else blocks 0 and 1 only.
pub(super) fn plan_blocked(
    b: &mut Planner,
    m: &ModelConfig,
    shape: Shape,
    tag: &str,
    layers: Range<usize>,
    stored: bool,
) -> Blocked {
    let blocks = shape.seq / m.block;
    let planned = if stored { blocks } else { blocks.min(2) };
    let windows = (0..planned)
        .map(|i| {
            let ws = window_shape(m, shape, i);
            layers
                .clone()
                .map(|l| {
                    let input = b.buf(&format!("{tag}.b{i}.l{l}.in"), ws.batch * ws.seq * m.d_model);
                    plan_layer(b, m, ws, l, &format!("{tag}.b{i}.l{l}"), input)
                })
                .collect()
        })
        .collect();
    let outputs = layers.map(|l| b.buf(&format!("{tag}.l{l}.out"), shape.batch * shape.seq * m.d_model)).collect();
    Blocked { windows, outputs }
}

/// Plans the backward's buffers for `layers` layers.
pub(super) fn plan_block_scratch(
    b: &mut Planner,
    m: &ModelConfig,
    shape: Shape,
    layers: usize,
    shared: &Scratch,
) -> BlockScratch {
    let ws = window_shape(m, shape, (shape.seq / m.block).min(2) - 1);
    let d = m.d_model;
    let full = shape.batch * shape.seq * d;
    BlockScratch {
        d_inputs: (0..layers).map(|l| b.buf(&format!("blocks.d_in{l}"), full)).collect(),
        d_memory: (0..layers).map(|l| b.buf(&format!("blocks.d_mem{l}"), shape.batch * m.memory * d)).collect(),
        layer: Scratch::plan(b, "blocks.", m, ws, shared.d_emb, shared.d_final, shared.wgrad_parts),
    }
}

impl Scratch {
    /// The same scratch cut to a smaller window's shape (views at offset 0, so they stay bindable).
    fn fit(&self, m: &ModelConfig, shape: Shape) -> Scratch {
        let (rows, d) = (shape.batch * shape.seq, m.d_model);
        Scratch {
            dh: self.dh.slice(0, rows * d),
            d_s: self.d_s.slice(0, rows * d),
            d_n: self.d_n.slice(0, rows * d),
            d_u: self.d_u.slice(0, rows * mlp_in_width(m)),
            d_att: self.d_att.slice(0, rows * d),
            d_qkv: self.d_qkv.slice(0, rows * 3 * d),
            d_rows: self.d_rows.slice(0, attention_rows(m, shape)),
            d_emb: self.d_emb,
            d_final: self.d_final,
            wgrad_parts: self.wgrad_parts,
            d_states: Vec::new(),
            mix: None,
        }
    }
}

impl Graph {
    /// `rows` rows per example from `x` (`x_seq` rows per example, starting at `x_start`) into `out`.
    #[allow(clippy::too_many_arguments)]
    fn copy_rows(
        &self,
        x: Tensor,
        x_seq: usize,
        x_start: usize,
        out: Tensor,
        out_seq: usize,
        out_start: usize,
        rows: usize,
        accumulate: bool,
    ) -> Box<CopyRows> {
        Box::new(CopyRows {
            x,
            out,
            batch: self.shape.batch,
            rows,
            d: self.m.d_model,
            x_seq,
            x_start,
            out_seq,
            out_start,
            accumulate,
        })
    }

    /// Runs the blocks of a call on `input` (`[rows, d]`); the output ends in `bl.output()`.
    pub(super) fn blocked_forward(&self, input: Tensor, bl: &Blocked, ks: &mut Kernels) {
        let (seq, f, blk) = (self.shape.seq, self.m.memory, self.m.block);
        let last = bl.windows.len() - 1;
        for i in 0..seq / blk {
            for (j, acts) in bl.windows[i.min(last)].iter().enumerate() {
                let below = if j == 0 { input } else { bl.outputs[j - 1] };
                let w = acts.shape.seq;
                if f > 0 {
                    // The memory this layer left after the previous block, or its fixed start.
                    ks.push(if i == 0 {
                        self.copy_rows(self.p.init_states[acts.layer], 0, 0, acts.h_in, w, 0, f, false)
                    } else {
                        let prev = &bl.windows[(i - 1).min(last)][j];
                        self.copy_rows(prev.h_out, prev.shape.seq, 0, acts.h_in, w, 0, f, false)
                    });
                }
                if i > 0 {
                    ks.push(self.copy_rows(below, seq, (i - 1) * blk, acts.h_in, w, f, blk, false));
                }
                ks.push(self.copy_rows(below, seq, i * blk, acts.h_in, w, w - blk, blk, false));
                self.layer_forward(acts, ks);
                ks.push(self.copy_rows(acts.h_out, w, w - blk, bl.outputs[j], seq, i * blk, blk, false));
            }
        }
    }

    /// Turns `s.dh`, the gradient of the call's output, into the gradient of its input, through every block
    /// in reverse.
    pub(super) fn blocked_backward(&self, bl: &Blocked, s: &Scratch, ks: &mut Kernels) {
        let bs = self.blocks.as_ref().expect("a blocked backward plans its scratch");
        let (seq, f, blk) = (self.shape.seq, self.m.memory, self.m.block);
        let layers = bl.outputs.len();
        for &t in bs.d_inputs.iter().chain(&bs.d_memory) {
            ks.push(Box::new(Fill { out: t, value: 0.0 }));
        }
        for i in (0..seq / blk).rev() {
            for j in (0..layers).rev() {
                let acts = &bl.windows[i][j];
                let w = acts.shape.seq;
                let ws = bs.layer.fit(&self.m, acts.shape);
                let d_out = if j + 1 == layers { s.dh } else { bs.d_inputs[j + 1] };
                // The window's output gradient: memory rows from the next block, none for the previous
                // block's rows (their outputs are not used), the block's from the layer above.
                if i > 0 {
                    ks.push(Box::new(Fill { out: ws.dh, value: 0.0 }));
                }
                if f > 0 {
                    ks.push(self.copy_rows(bs.d_memory[j], f, 0, ws.dh, w, 0, f, false));
                }
                ks.push(self.copy_rows(d_out, seq, i * blk, ws.dh, w, w - blk, blk, false));
                self.layer_backward(acts, &ws, ks);
                // ws.dh is the window input's gradient: to the previous memory (the fixed start takes none),
                // the previous block and the block.
                if f > 0 && i > 0 {
                    ks.push(self.copy_rows(ws.dh, w, 0, bs.d_memory[j], f, 0, f, false));
                }
                if i > 0 {
                    ks.push(self.copy_rows(ws.dh, w, f, bs.d_inputs[j], seq, (i - 1) * blk, blk, true));
                }
                ks.push(self.copy_rows(ws.dh, w, w - blk, bs.d_inputs[j], seq, i * blk, blk, true));
            }
        }
        ks.push(Box::new(Copy { x: bs.d_inputs[0], out: s.dh }));
    }
}
