//! One transformer layer inside a `Graph`: its activations, its forward and backward kernels (attention or
//! local attention, the MLP, the norms), and the linear-layer helpers the rest of the graph shares.

use super::{Graph, Kernels, Planner, Shape, EPS};
use crate::config::{Attention, Mixer, Mlp, ModelConfig, Norm};
use crate::model::{mlp_in_width, window, TokenMix};
use crate::ops::activation::{ActivationGrad, GeluForward, SwigluForward};
use crate::ops::attention::{AttentionBackward, AttentionDims, AttentionForward, AttentionProbs};
use crate::ops::elementwise::{Accumulate, Add, Copy, Transpose};
use crate::ops::local_attention::{LocalAttentionBackward, LocalAttentionForward, LocalAttentionProbs, LocalDims};
use crate::ops::matmul::{Matmul, NormInput};
use crate::ops::rmsnorm::{RmsNormBackward, RmsNormForward};
use crate::program::{Kernel, Tensor};

/// Activations of one layer application, kept for the backward.
#[derive(Clone, Copy, Debug)]
pub(super) struct LayerActs {
    pub(super) layer: usize,
    /// The examples and tokens it runs on: the batch's, or a block-wise window's.
    pub(super) shape: Shape,
    pub(super) h_in: Tensor,
    pub(super) attn_in: Tensor, // pre-norm: norm1(h_in); post-norm: h_in
    pub(super) rstd1: Tensor,
    pub(super) qkv: Tensor,
    /// Each attention row's log-sum-exp `[batch, heads, seq]`: all the backward needs to recompute the
    /// probabilities, so nothing of size seq x keys is kept.
    pub(super) lse: Tensor,
    pub(super) att: Tensor,
    pub(super) sum1: Tensor, // h_in + attention branch (pre-norm: this is the MLP's residual input)
    pub(super) mlp_in: Tensor, // pre-norm: norm2(sum1); post-norm: norm1(sum1)
    pub(super) rstd2: Tensor,
    pub(super) u: Tensor,
    pub(super) a: Tensor,
    pub(super) sum2: Tensor, // mlp residual + MLP branch (pre-norm: the layer output)
    pub(super) h_out: Tensor,
    /// The token MLP's channels-by-tokens activations (token-MLP layers only).
    pub(super) mix: Option<MixActs>,
}

/// Activations of the token MLP, `[batch * d, ...]`: input transposed, pre-activation, activation, output.
#[derive(Clone, Copy, Debug)]
pub(super) struct MixActs {
    v: Tensor,
    u: Tensor,
    a: Tensor,
    o: Tensor,
}

/// The token MLP's backward scratch, shapes as `MixActs`.
pub(super) struct MixScratch {
    pub(super) d_o: Tensor,
    pub(super) d_u: Tensor,
    pub(super) d_v: Tensor,
}

/// Scratch for the backward, shared by every layer application.
pub(super) struct Scratch {
    pub(super) dh: Tensor,
    pub(super) d_s: Tensor,
    pub(super) d_n: Tensor,
    pub(super) d_u: Tensor,
    pub(super) d_att: Tensor,
    pub(super) d_qkv: Tensor,
    /// Attention's `rowsum(d_out ⊙ out)` per row, `[batch, heads, seq]`.
    pub(super) d_rows: Tensor,
    pub(super) d_emb: Tensor,
    pub(super) d_final: Tensor,
    /// Split-K copies of the weight gradients' layout (their reduction runs over all batch rows), `parts_stride`
    /// apart; the backward adds them into the gradients once at its end (`FoldSplits`). Empty when nothing splits.
    pub(super) wgrad_parts: Tensor,
    /// Gradient reaching each state.
    pub(super) d_states: Vec<Tensor>,
    pub(super) mix: Option<MixScratch>,
}

impl Scratch {
    /// The per-layer backward buffers for `shape` (names under `prefix`), with the buffers shared across layer
    /// applications given; no state gradients or mixer scratch (the caller adds them where it needs them).
    pub(super) fn plan(
        b: &mut Planner,
        prefix: &str,
        m: &ModelConfig,
        shape: Shape,
        d_emb: Tensor,
        d_final: Tensor,
        wgrad_parts: Tensor,
    ) -> Scratch {
        let (rows, d) = (shape.batch * shape.seq, m.d_model);
        let mut buf = |name: &str, len: usize| b.buf(&format!("{prefix}{name}"), len);
        Scratch {
            dh: buf("d_h", rows * d),
            d_s: buf("d_s", rows * d),
            d_n: buf("d_n", rows * d),
            d_u: buf("d_u", rows * mlp_in_width(m)),
            d_att: buf("d_att", rows * d),
            d_qkv: buf("d_qkv", rows * 3 * d),
            d_rows: buf("d_rows", attention_rows(m, shape)),
            d_emb,
            d_final,
            wgrad_parts,
            d_states: Vec::new(),
            mix: None,
        }
    }
}

impl Graph {
    pub(super) fn grad(&self, t: Tensor) -> Tensor {
        t.in_buf(self.p.grads)
    }

    /// `out = (residual +) x · w` for `x [rows, k]`, `w [k, n]` (rows from the length of `x`, so block-wise
    /// windows use the same helpers).
    pub(super) fn linear(
        &self,
        x: Tensor,
        w: Tensor,
        out: Tensor,
        k: usize,
        n: usize,
        residual: Option<Tensor>,
    ) -> Box<dyn Kernel> {
        self.linear_rows(x.len / k, x, w, out, k, n, residual)
    }

    /// `out = rmsnorm(x) · w` in one dispatch: the product normalizes `x` itself and stores the normalized rows
    /// and their rstd (`norm`) for the backward.
    pub(super) fn normed_linear(
        &self,
        x: Tensor,
        norm: NormInput,
        w: Tensor,
        out: Tensor,
        k: usize,
        n: usize,
    ) -> Box<dyn Kernel> {
        Box::new(Matmul::new(x, w, out, x.len / k, k, n).path(self.path).norm_input(norm))
    }

    /// The norm of `x` into `out` and `rstd`, as a product's normalized input.
    pub(super) fn norm_input(&self, weight: Option<Tensor>, out: Tensor, rstd: Tensor) -> NormInput {
        NormInput { weight, normed: out, rstd, eps: EPS, fused: true }
    }

    /// `linear` over `rows` rows other than the batch's tokens (the token MLP's channels).
    #[allow(clippy::too_many_arguments)]
    fn linear_rows(
        &self,
        rows: usize,
        x: Tensor,
        w: Tensor,
        out: Tensor,
        k: usize,
        n: usize,
        residual: Option<Tensor>,
    ) -> Box<dyn Kernel> {
        let mut mm = Matmul::new(x, w, out, rows, k, n).path(self.path);
        mm.residual = residual;
        Box::new(mm)
    }

    /// Backward of `out = x · w`: `d_x (+)= d_out · wᵀ` and `d_w += xᵀ · d_out`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn linear_backward(
        &self,
        x: Tensor,
        w: Tensor,
        d_out: Tensor,
        d_x: Tensor,
        k: usize,
        n: usize,
        acc_dx: bool,
        ks: &mut Kernels,
    ) {
        let mut dx = Matmul::new(d_out, w, d_x, x.len / k, n, k).trans_b().path(self.path);
        dx.accumulate = acc_dx;
        ks.push(Box::new(dx));
        ks.push(self.weight_grad(x, d_out, w, k, n));
    }

    /// `d_w += xᵀ · d_out` for `x [rows, k]`, `d_out [rows, n]`, split over the rows.
    pub(super) fn weight_grad(&self, x: Tensor, d_out: Tensor, w: Tensor, k: usize, n: usize) -> Box<dyn Kernel> {
        self.weight_grad_rows(x.len / k, x, d_out, w, k, n)
    }

    fn weight_grad_rows(
        &self,
        rows: usize,
        x: Tensor,
        d_out: Tensor,
        w: Tensor,
        k: usize,
        n: usize,
    ) -> Box<dyn Kernel> {
        let parts = self.grads.as_ref().expect("weight gradients belong to a backward").wgrad_parts;
        let (d_w, stride) = (self.grad(w), super::parts_stride(&self.p));
        assert!(d_w.offset + d_w.len <= self.p.decay_len, "weight gradients lie in the split-K copies' layout");
        let first_copy = Tensor { buf: parts.buf, offset: parts.offset + d_w.offset, len: 0 };
        let mm = Matmul::new(x, d_out, d_w, k, rows, n).trans_a().accumulate().path(self.path);
        Box::new(mm.split_k(first_copy, stride, parts.len / stride))
    }

    pub(super) fn norm(&self, x: Tensor, weight: Option<Tensor>, out: Tensor, rstd: Tensor) -> Box<dyn Kernel> {
        Box::new(RmsNormForward { x, weight, out, rstd, rows: x.len / self.m.d_model, d: self.m.d_model, eps: EPS })
    }

    pub(super) fn norm_backward(
        &self,
        x: Tensor,
        weight: Option<Tensor>,
        rstd: Tensor,
        d_out: Tensor,
        d_x: Tensor,
        acc: bool,
    ) -> Box<dyn Kernel> {
        Box::new(RmsNormBackward {
            x,
            weight,
            rstd,
            d_out,
            d_x,
            d_weight: weight.map(|w| self.grad(w)),
            rows: x.len / self.m.d_model,
            d: self.m.d_model,
            accumulate_dx: acc,
        })
    }

    pub(super) fn heads(&self) -> (usize, usize) {
        (self.m.heads, self.m.d_model / self.m.heads)
    }

    fn global_dims(&self, shape: Shape) -> AttentionDims {
        let (heads, head_dim) = self.heads();
        AttentionDims { batch: shape.batch, seq: shape.seq, heads, head_dim, causal: self.m.causal }
    }

    fn local_dims(&self, shape: Shape) -> LocalDims {
        let (heads, head_dim) = self.heads();
        let [height, width] = shape.grid;
        LocalDims { batch: shape.batch, height, width, heads, head_dim, radius: self.m.radius }
    }

    fn attention_forward(&self, acts: &LayerActs, rel_bias: Option<Tensor>) -> Box<dyn Kernel> {
        let (qkv, out, lse) = (acts.qkv, acts.att, acts.lse);
        match self.m.attention {
            Attention::Global => {
                Box::new(AttentionForward { qkv, bias: None, out, lse, dims: self.global_dims(acts.shape) })
            }
            Attention::Local => {
                let bias = rel_bias.expect("local attention plans rel_bias");
                Box::new(LocalAttentionForward { qkv, bias, out, lse, dims: self.local_dims(acts.shape) })
            }
        }
    }

    fn attention_backward(&self, acts: &LayerActs, rel_bias: Option<Tensor>, s: &Scratch) -> Box<dyn Kernel> {
        let (qkv, out, lse, d_out, delta, d_qkv) = (acts.qkv, acts.att, acts.lse, s.d_att, s.d_rows, s.d_qkv);
        match self.m.attention {
            Attention::Global => Box::new(AttentionBackward {
                qkv,
                bias: None,
                out,
                lse,
                d_out,
                delta,
                d_qkv,
                dims: self.global_dims(acts.shape),
            }),
            Attention::Local => {
                let bias = rel_bias.expect("local attention plans rel_bias");
                Box::new(LocalAttentionBackward {
                    qkv,
                    bias,
                    out,
                    lse,
                    d_out,
                    delta,
                    d_qkv,
                    d_bias: self.grad(bias),
                    dims: self.local_dims(acts.shape),
                })
            }
        }
    }

    /// The dense attention map of a stored layer application into `probs` (`[batch, heads, seq, keys]`),
    /// computed from its queries and keys when a probe asks.
    pub(super) fn layer_attention_map(&self, acts: &LayerActs, probs: Tensor) -> Box<dyn Kernel> {
        let TokenMix::Attention { rel_bias, .. } = self.p.layers[acts.layer].mix else {
            unreachable!("attention maps are asked of attention layers only")
        };
        let qkv = acts.qkv;
        match self.m.attention {
            Attention::Global => {
                Box::new(AttentionProbs { qkv, bias: None, probs, dims: self.global_dims(acts.shape) })
            }
            Attention::Local => {
                let bias = rel_bias.expect("local attention plans rel_bias");
                Box::new(LocalAttentionProbs { qkv, bias, probs, dims: self.local_dims(acts.shape) })
            }
        }
    }

    pub(super) fn layer_forward(&self, acts: &LayerActs, ks: &mut Kernels) {
        let (d, f, uw, rows) =
            (self.m.d_model, self.m.mlp_hidden, mlp_in_width(&self.m), acts.shape.batch * acts.shape.seq);
        let lp = &self.p.layers[acts.layer];
        let pre = self.m.norm == Norm::Pre;
        let norm1 = pre.then(|| self.norm_input(lp.norm1, acts.attn_in, acts.rstd1));
        self.mix_forward(acts, lp.mix, norm1, ks);
        // Pre-norm: the MLP reads norm2(sum1) and adds to sum1. Post-norm: sum1 is normalized first.
        let (mlp_norm, mlp_rstd) = if pre { (lp.norm2, acts.rstd2) } else { (lp.norm1, acts.rstd1) };
        let mlp_norm = self.norm_input(mlp_norm, acts.mlp_in, mlp_rstd);
        ks.push(self.normed_linear(acts.sum1, mlp_norm, lp.mlp_in, acts.u, d, uw));
        ks.push(self.activation(acts.u, acts.a, rows));
        let residual = if pre { acts.sum1 } else { acts.mlp_in };
        ks.push(self.linear(acts.a, lp.mlp_out, acts.sum2, f, d, Some(residual)));
        if !pre {
            ks.push(self.norm(acts.sum2, lp.norm2, acts.h_out, acts.rstd2));
        }
    }

    /// Turns `s.dh` (gradient w.r.t. the layer output) into the gradient w.r.t. its input.
    pub(super) fn layer_backward(&self, acts: &LayerActs, s: &Scratch, ks: &mut Kernels) {
        let (d, f, uw, rows) =
            (self.m.d_model, self.m.mlp_hidden, mlp_in_width(&self.m), acts.shape.batch * acts.shape.seq);
        let lp = &self.p.layers[acts.layer];
        let pre = self.m.norm == Norm::Pre;
        // MLP branch. Post-norm first passes through norm2: d_s = dL/d sum2.
        let d_sum2 = if pre {
            s.dh
        } else {
            ks.push(self.norm_backward(acts.sum2, lp.norm2, acts.rstd2, s.dh, s.d_s, false));
            s.d_s
        };
        ks.push(self.activation_backward(Matmul::new(d_sum2, lp.mlp_out, s.d_u, rows, d, f), acts.u));
        ks.push(self.weight_grad(acts.a, d_sum2, lp.mlp_out, f, d));
        let mlp_norm = if pre { lp.norm2 } else { lp.norm1 };
        let mlp_rstd = if pre { acts.rstd2 } else { acts.rstd1 };
        if pre {
            // dh already holds the residual part of dL/d sum1; add the MLP path through norm2.
            self.linear_backward(acts.mlp_in, lp.mlp_in, s.d_u, s.d_n, d, uw, false, ks);
            ks.push(self.norm_backward(acts.sum1, mlp_norm, mlp_rstd, s.d_n, s.dh, true));
        } else {
            // dL/d mlp_in = d_s (residual) + MLP path; then through norm1 into dL/d sum1.
            ks.push(Box::new(Copy { x: s.d_s, out: s.dh }));
            self.linear_backward(acts.mlp_in, lp.mlp_in, s.d_u, s.dh, d, uw, true, ks);
            ks.push(self.norm_backward(acts.sum1, mlp_norm, mlp_rstd, s.dh, s.d_s, false));
            ks.push(Box::new(Copy { x: s.d_s, out: s.dh }));
        }
        // Token mixing: dh = dL/d sum1, which is also the residual part of dL/d h_in. Pre-norm: the mixing's
        // gradient w.r.t. attn_in lands in d_n, then passes through norm1; post-norm: it adds to dh.
        let (d_attn_in, accumulate) = if pre { (s.d_n, false) } else { (s.dh, true) };
        self.mix_backward(acts, lp.mix, s, d_attn_in, accumulate, ks);
        if pre {
            ks.push(self.norm_backward(acts.h_in, lp.norm1, acts.rstd1, s.d_n, s.dh, true));
        }
    }

    /// `sum1 = h_in + mix(attn_in)`: attention and its output projection, or the token MLP (transposed to
    /// channels x tokens, through the MLP over positions, transposed back). With `norm1` (pre-norm) `attn_in`
    /// is first normalized from `h_in`, inside the QKV product where there is one.
    fn mix_forward(&self, acts: &LayerActs, mix: TokenMix, norm1: Option<NormInput>, ks: &mut Kernels) {
        let d = self.m.d_model;
        match (mix, &acts.mix) {
            (TokenMix::Attention { qkv, out, rel_bias }, _) => {
                ks.push(match norm1 {
                    Some(norm) => self.normed_linear(acts.h_in, norm, qkv, acts.qkv, d, 3 * d),
                    None => self.linear(acts.attn_in, qkv, acts.qkv, d, 3 * d, None),
                });
                ks.push(self.attention_forward(acts, rel_bias));
                ks.push(self.linear(acts.att, out, acts.sum1, d, d, Some(acts.h_in)));
            }
            (TokenMix::Mlp { w_in, w_out }, Some(t)) => {
                let Shape { batch, seq, .. } = acts.shape;
                let (f, uw, channels) = (self.m.mlp_hidden, mlp_in_width(&self.m), batch * d);
                if let Some(n) = norm1 {
                    ks.push(self.norm(acts.h_in, n.weight, n.normed, n.rstd));
                }
                ks.push(Box::new(Transpose { x: acts.attn_in, out: t.v, batch, rows: seq, cols: d }));
                ks.push(self.linear_rows(channels, t.v, w_in, t.u, seq, uw, None));
                ks.push(self.activation(t.u, t.a, channels));
                ks.push(self.linear_rows(channels, t.a, w_out, t.o, f, seq, None));
                ks.push(Box::new(Transpose { x: t.o, out: acts.att, batch, rows: d, cols: seq }));
                ks.push(Box::new(Add { a: acts.h_in, b: acts.att, out: acts.sum1 }));
            }
            (TokenMix::Mlp { .. }, None) => unreachable!("token-MLP layers plan their activations"),
        }
    }

    /// The gradient of `mix(attn_in)` given `s.dh` = dL/d sum1, into `d_attn_in` (set, or added to it).
    fn mix_backward(
        &self,
        acts: &LayerActs,
        mix: TokenMix,
        s: &Scratch,
        d_attn_in: Tensor,
        accumulate: bool,
        ks: &mut Kernels,
    ) {
        let (d, rows) = (self.m.d_model, acts.shape.batch * acts.shape.seq);
        match (mix, &acts.mix, &s.mix) {
            (TokenMix::Attention { qkv, out, rel_bias }, _, _) => {
                ks.push(Box::new(Matmul::new(s.dh, out, s.d_att, rows, d, d).trans_b().path(self.path)));
                ks.push(self.weight_grad(acts.att, s.dh, out, d, d));
                ks.push(self.attention_backward(acts, rel_bias, s));
                self.linear_backward(acts.attn_in, qkv, s.d_qkv, d_attn_in, d, 3 * d, accumulate, ks);
            }
            (TokenMix::Mlp { w_in, w_out }, Some(t), Some(g)) => {
                let Shape { batch, seq, .. } = acts.shape;
                let (f, uw, channels) = (self.m.mlp_hidden, mlp_in_width(&self.m), batch * d);
                ks.push(Box::new(Transpose { x: s.dh, out: g.d_o, batch, rows: seq, cols: d }));
                ks.push(self.activation_backward(Matmul::new(g.d_o, w_out, g.d_u, channels, seq, f), t.u));
                ks.push(self.weight_grad_rows(channels, t.a, g.d_o, w_out, f, seq));
                ks.push(Box::new(Matmul::new(g.d_u, w_in, g.d_v, channels, uw, seq).trans_b().path(self.path)));
                ks.push(self.weight_grad_rows(channels, t.v, g.d_u, w_in, seq, uw));
                // Back to tokens x channels; post-norm adds it to dh through the scratch d_att.
                let target = if accumulate { s.d_att } else { d_attn_in };
                ks.push(Box::new(Transpose { x: g.d_v, out: target, batch, rows: d, cols: seq }));
                if accumulate {
                    ks.push(Box::new(Accumulate { x: s.d_att, out: d_attn_in, scale: 1.0 }));
                }
            }
            (TokenMix::Mlp { .. }, _, _) => unreachable!("token-MLP layers plan their activations and scratch"),
        }
    }

    /// SwiGLU or GELU over `rows` rows of `x` into `out`.
    fn activation(&self, x: Tensor, out: Tensor, rows: usize) -> Box<dyn Kernel> {
        match self.m.mlp {
            Mlp::Swiglu => Box::new(SwigluForward { x, out, rows, hidden: self.m.mlp_hidden }),
            Mlp::Gelu => Box::new(GeluForward { x, out }),
        }
    }

    /// `d_out · w_outᵀ` (the product `mm` before its transpose), stored as the gradient of the activation at
    /// `x` (the product's epilogue differentiates it).
    fn activation_backward(&self, mm: Matmul, x: Tensor) -> Box<dyn Kernel> {
        let act = match self.m.mlp {
            Mlp::Swiglu => ActivationGrad::Swiglu,
            Mlp::Gelu => ActivationGrad::Gelu,
        };
        Box::new(mm.trans_b().path(self.path).activation_grad(act, x))
    }
}

/// Elements of one layer application's attention row statistics: `[batch, heads, seq]`.
pub(super) fn attention_rows(m: &ModelConfig, shape: Shape) -> usize {
    shape.batch * m.heads * shape.seq
}

/// Elements of one layer's dense attention map: `[batch, heads, seq, seq]`, or `[batch, heads, seq, window]` local.
pub(super) fn map_len(m: &ModelConfig, shape: Shape) -> usize {
    let keys = match m.attention {
        Attention::Global => shape.seq,
        Attention::Local => window(m),
    };
    attention_rows(m, shape) * keys
}

pub(super) fn plan_layer(
    b: &mut Planner,
    m: &ModelConfig,
    shape: Shape,
    l: usize,
    tag: &str,
    h_in: Tensor,
) -> LayerActs {
    let rows = shape.batch * shape.seq;
    let (d, f, uw) = (m.d_model, m.mlp_hidden, mlp_in_width(m));
    let pre = m.norm == Norm::Pre;
    let attention = m.mixer == Mixer::Attention;
    let attn_in = if pre { b.buf(&format!("{tag}.norm1"), rows * d) } else { h_in };
    // Pre-norm: the layer output is the second residual sum; post-norm normalizes it into a buffer of its own.
    let sum2 = b.buf(&format!("{tag}.sum2"), rows * d);
    let h_out = if pre { sum2 } else { b.buf(&format!("{tag}.out"), rows * d) };
    LayerActs {
        layer: l,
        shape,
        h_in,
        attn_in,
        rstd1: b.buf(&format!("{tag}.rstd1"), rows),
        qkv: b.buf(&format!("{tag}.qkv"), if attention { rows * 3 * d } else { 0 }),
        lse: b.buf(&format!("{tag}.lse"), if attention { attention_rows(m, shape) } else { 0 }),
        att: b.buf(&format!("{tag}.att"), rows * d),
        sum1: b.buf(&format!("{tag}.sum1"), rows * d),
        mlp_in: b.buf(&format!("{tag}.mlp_in"), rows * d),
        rstd2: b.buf(&format!("{tag}.rstd2"), rows),
        u: b.buf(&format!("{tag}.u"), rows * uw),
        a: b.buf(&format!("{tag}.a"), rows * f),
        sum2,
        h_out,
        mix: (!attention).then(|| MixActs {
            v: b.buf(&format!("{tag}.mix_v"), rows * d),
            u: b.buf(&format!("{tag}.mix_u"), shape.batch * d * uw),
            a: b.buf(&format!("{tag}.mix_a"), shape.batch * d * f),
            o: b.buf(&format!("{tag}.mix_o"), rows * d),
        }),
    }
}

/// The token MLP's backward scratch for `shape`, when the model mixes tokens with one.
pub(super) fn plan_mix_scratch(b: &mut Planner, m: &ModelConfig, shape: Shape) -> Option<MixScratch> {
    let (rows, d, channels) = (shape.batch * shape.seq, m.d_model, shape.batch * m.d_model);
    (m.mixer == Mixer::Mlp).then(|| MixScratch {
        d_o: b.buf("mix_d_o", rows * d),
        d_u: b.buf("mix_d_u", channels * mlp_in_width(m)),
        d_v: b.buf("mix_d_v", rows * d),
    })
}
