//! The forward and backward programs of a transformer for one batch size and iteration count, as lists of
//! kernels over buffers planned up front. Feedforward runs its layers once; looped runs its block `loops`
//! times, optionally re-adding the input embedding before each iteration. Full backprop through every
//! iteration stores every iteration's activations; the backward reuses one set of scratch buffers.

use super::{mlp_in_width, LayerParams, Params};
use crate::backend::{MemoryPlan, Tensor};
use crate::config::{Arch, Mlp, ModelConfig, Norm};
use crate::ops::activation::{GeluBackward, GeluForward, SwigluBackward, SwigluForward};
use crate::ops::attention::{AttentionBackward, AttentionForward};
use crate::ops::cross_entropy::CrossEntropy;
use crate::ops::elementwise::{Accumulate, Add, Copy, Fill};
use crate::ops::embedding::{EmbeddingBackward, EmbeddingForward};
use crate::ops::matmul::{Matmul, MatmulPath};
use crate::ops::rmsnorm::{RmsNormBackward, RmsNormForward};
use crate::ops::Kernel;

const EPS: f32 = 1e-5;

/// Activations of one layer application, kept for the backward and for probes.
struct LayerActs {
    layer: usize,
    h_in: Tensor,
    attn_in: Tensor, // pre-norm: norm1(h_in); post-norm: h_in
    rstd1: Tensor,
    qkv: Tensor,
    probs: Tensor,
    att: Tensor,
    sum1: Tensor,   // h_in + attention branch (pre-norm: this is the MLP's residual input)
    mlp_in: Tensor, // pre-norm: norm2(sum1); post-norm: norm1(sum1)
    rstd2: Tensor,
    u: Tensor,
    a: Tensor,
    sum2: Tensor, // mlp residual + MLP branch (pre-norm: the layer output)
    h_out: Tensor,
}

/// Scratch for the backward, shared by every layer application.
struct Scratch {
    dh: Tensor,
    d_s: Tensor,
    d_n: Tensor,
    d_a: Tensor,
    d_u: Tensor,
    d_att: Tensor,
    d_qkv: Tensor,
    d_scores: Tensor,
    d_emb: Tensor,
    d_logits: Tensor,
    d_final: Tensor,
}

pub struct Graph {
    pub batch: usize,
    pub loops: usize,
    pub rows: usize,
    pub tokens: Tensor,
    pub targets: Tensor,
    pub logits: Tensor,
    pub losses: Tensor,
    pub correct: Tensor,
    pub supervised: Tensor,
    /// The residual stream after each iteration (after each layer for feedforward), `[rows, d]`.
    pub states: Vec<Tensor>,
    /// Attention maps of each layer application, `[batch, heads, seq, seq]`.
    pub probs: Vec<Tensor>,
    pub forward: Vec<Box<dyn Kernel>>,
    pub backward: Vec<Box<dyn Kernel>>,
}

struct Builder<'a> {
    m: &'a ModelConfig,
    p: &'a Params,
    plan: &'a mut MemoryPlan,
    path: MatmulPath,
    batch: usize,
    seq: usize,
    rows: usize,
    prefix: String,
}

impl Builder<'_> {
    fn buf(&mut self, name: &str, len: usize) -> Tensor {
        self.plan.buffer(format!("{}.{name}", self.prefix), len)
    }

    fn grad(&self, t: Tensor) -> Tensor {
        t.in_buf(self.p.grads)
    }

    /// `out (+)= x · w` for `x [rows, k]`, `w [k, n]`.
    fn linear(&self, x: Tensor, w: Tensor, out: Tensor, k: usize, n: usize, accumulate: bool) -> Box<dyn Kernel> {
        let mut mm = Matmul::new(x, w, out, self.rows, k, n).path(self.path);
        mm.accumulate = accumulate;
        Box::new(mm)
    }

    /// Backward of `out = x · w`: `d_x (+)= d_out · wᵀ` and `d_w += xᵀ · d_out`.
    fn linear_backward(&self, x: Tensor, w: Tensor, d_out: Tensor, d_x: Tensor, k: usize, n: usize, acc_dx: bool, ks: &mut Vec<Box<dyn Kernel>>) {
        let mut dx = Matmul::new(d_out, w, d_x, self.rows, n, k).trans_b().path(self.path);
        dx.accumulate = acc_dx;
        ks.push(Box::new(dx));
        ks.push(Box::new(Matmul::new(x, d_out, self.grad(w), k, self.rows, n).trans_a().accumulate().path(self.path)));
    }

    fn norm(&self, x: Tensor, weight: Option<Tensor>, out: Tensor, rstd: Tensor) -> Box<dyn Kernel> {
        Box::new(RmsNormForward { x, weight, out, rstd, rows: self.rows, d: self.m.d_model, eps: EPS })
    }

    fn norm_backward(&self, x: Tensor, weight: Option<Tensor>, rstd: Tensor, d_out: Tensor, d_x: Tensor, acc: bool) -> Box<dyn Kernel> {
        Box::new(RmsNormBackward {
            x,
            weight,
            rstd,
            d_out,
            d_x,
            d_weight: weight.map(|w| self.grad(w)),
            rows: self.rows,
            d: self.m.d_model,
            accumulate_dx: acc,
        })
    }

    fn attention(&self) -> (usize, usize) {
        (self.m.heads, self.m.d_model / self.m.heads)
    }

    fn layer_forward(&mut self, l: usize, tag: &str, h_in: Tensor, ks: &mut Vec<Box<dyn Kernel>>) -> LayerActs {
        let (d, f, uw, rows) = (self.m.d_model, self.m.mlp_hidden, mlp_in_width(self.m), self.rows);
        let (heads, head_dim) = self.attention();
        let lp: LayerParams = self.p.layers[l].clone();
        let pre = self.m.norm == Norm::Pre;
        let attn_in = if pre { self.buf(&format!("{tag}.norm1"), rows * d) } else { h_in };
        // Pre-norm: the layer output is the second residual sum; post-norm normalizes it into a buffer of its own.
        let sum2 = self.buf(&format!("{tag}.sum2"), rows * d);
        let h_out = if pre { sum2 } else { self.buf(&format!("{tag}.out"), rows * d) };
        let acts = LayerActs {
            layer: l,
            h_in,
            attn_in,
            rstd1: self.buf(&format!("{tag}.rstd1"), rows),
            qkv: self.buf(&format!("{tag}.qkv"), rows * 3 * d),
            probs: self.buf(&format!("{tag}.probs"), self.batch * heads * self.seq * self.seq),
            att: self.buf(&format!("{tag}.att"), rows * d),
            sum1: self.buf(&format!("{tag}.sum1"), rows * d),
            mlp_in: self.buf(&format!("{tag}.mlp_in"), rows * d),
            rstd2: self.buf(&format!("{tag}.rstd2"), rows),
            u: self.buf(&format!("{tag}.u"), rows * uw),
            a: self.buf(&format!("{tag}.a"), rows * f),
            sum2,
            h_out,
        };
        if pre {
            ks.push(self.norm(h_in, lp.norm1, acts.attn_in, acts.rstd1));
        }
        ks.push(self.linear(acts.attn_in, lp.qkv, acts.qkv, d, 3 * d, false));
        ks.push(Box::new(AttentionForward {
            qkv: acts.qkv,
            bias: None,
            probs: acts.probs,
            out: acts.att,
            batch: self.batch,
            seq: self.seq,
            heads,
            head_dim,
            causal: self.m.causal,
        }));
        ks.push(Box::new(Copy { x: h_in, out: acts.sum1 }));
        ks.push(self.linear(acts.att, lp.attn_out, acts.sum1, d, d, true));
        // Pre-norm: the MLP reads norm2(sum1) and adds to sum1. Post-norm: sum1 is normalized first.
        let (mlp_norm, mlp_rstd) = if pre { (lp.norm2, acts.rstd2) } else { (lp.norm1, acts.rstd1) };
        ks.push(self.norm(acts.sum1, mlp_norm, acts.mlp_in, mlp_rstd));
        ks.push(self.linear(acts.mlp_in, lp.mlp_in, acts.u, d, uw, false));
        ks.push(match self.m.mlp {
            Mlp::Swiglu => Box::new(SwigluForward { x: acts.u, out: acts.a, rows, hidden: f }) as Box<dyn Kernel>,
            Mlp::Gelu => Box::new(GeluForward { x: acts.u, out: acts.a }),
        });
        let residual = if pre { acts.sum1 } else { acts.mlp_in };
        ks.push(Box::new(Copy { x: residual, out: acts.sum2 }));
        ks.push(self.linear(acts.a, lp.mlp_out, acts.sum2, f, d, true));
        if !pre {
            ks.push(self.norm(acts.sum2, lp.norm2, acts.h_out, acts.rstd2));
        }
        acts
    }

    /// Turns `s.dh` (gradient w.r.t. the layer output) into the gradient w.r.t. its input.
    fn layer_backward(&self, acts: &LayerActs, s: &Scratch, ks: &mut Vec<Box<dyn Kernel>>) {
        let (d, f, uw, rows) = (self.m.d_model, self.m.mlp_hidden, mlp_in_width(self.m), self.rows);
        let (heads, head_dim) = self.attention();
        let lp = &self.p.layers[acts.layer];
        let pre = self.m.norm == Norm::Pre;
        // MLP branch. Post-norm first passes through norm2: d_s = dL/d sum2.
        let d_sum2 = if pre {
            s.dh
        } else {
            ks.push(self.norm_backward(acts.sum2, lp.norm2, acts.rstd2, s.dh, s.d_s, false));
            s.d_s
        };
        ks.push(Box::new(Matmul::new(d_sum2, lp.mlp_out, s.d_a, rows, d, f).trans_b().path(self.path)));
        ks.push(Box::new(Matmul::new(acts.a, d_sum2, self.grad(lp.mlp_out), f, rows, d).trans_a().accumulate().path(self.path)));
        ks.push(match self.m.mlp {
            Mlp::Swiglu => Box::new(SwigluBackward { x: acts.u, d_out: s.d_a, d_x: s.d_u, rows, hidden: f }) as Box<dyn Kernel>,
            Mlp::Gelu => Box::new(GeluBackward { x: acts.u, d_out: s.d_a, d_x: s.d_u }),
        });
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
        // Attention branch: dh = dL/d sum1, which is also the residual part of dL/d h_in.
        ks.push(Box::new(Matmul::new(s.dh, lp.attn_out, s.d_att, rows, d, d).trans_b().path(self.path)));
        ks.push(Box::new(Matmul::new(acts.att, s.dh, self.grad(lp.attn_out), d, rows, d).trans_a().accumulate().path(self.path)));
        ks.push(Box::new(AttentionBackward {
            qkv: acts.qkv,
            probs: acts.probs,
            d_out: s.d_att,
            d_scores: s.d_scores,
            d_qkv: s.d_qkv,
            batch: self.batch,
            seq: self.seq,
            heads,
            head_dim,
            causal: self.m.causal,
        }));
        if pre {
            self.linear_backward(acts.attn_in, lp.qkv, s.d_qkv, s.d_n, d, 3 * d, false, ks);
            ks.push(self.norm_backward(acts.h_in, lp.norm1, acts.rstd1, s.d_n, s.dh, true));
        } else {
            self.linear_backward(acts.attn_in, lp.qkv, s.d_qkv, s.dh, d, 3 * d, true, ks);
        }
    }
}

impl Graph {
    /// Plans buffers and records the programs for `batch` examples of `seq` tokens and `loops` iterations.
    pub fn plan(
        plan: &mut MemoryPlan,
        m: &ModelConfig,
        p: &Params,
        (batch, seq, vocab): (usize, usize, usize),
        loops: usize,
        with_backward: bool,
        path: MatmulPath,
        prefix: &str,
    ) -> Graph {
        let rows = batch * seq;
        let d = m.d_model;
        let mut b = Builder { m, p, plan, path, batch, seq, rows, prefix: prefix.to_string() };
        let tokens = b.buf("tokens", rows);
        let targets = b.buf("targets", rows);
        let emb = b.buf("emb", rows * d);
        let mut fwd: Vec<Box<dyn Kernel>> = vec![Box::new(EmbeddingForward {
            tokens,
            table: p.tok_emb,
            positions: p.pos_emb,
            out: emb,
            rows,
            vocab,
            seq,
            d,
        })];
        // Each entry: (activations, whether the input embedding was added right before this application).
        let mut applications: Vec<(LayerActs, bool)> = Vec::new();
        let mut states = Vec::new();
        let mut h = emb;
        let iterations = if m.arch == Arch::Looped { loops } else { 1 };
        for t in 0..iterations {
            let injected = m.arch == Arch::Looped && m.injection && t > 0;
            if injected {
                let x = b.buf(&format!("it{t}.inject"), rows * d);
                fwd.push(Box::new(Add { a: h, b: emb, out: x }));
                h = x;
            }
            for l in 0..m.layers {
                let acts = b.layer_forward(l, &format!("it{t}.l{l}"), h, &mut fwd);
                h = acts.h_out;
                if m.arch == Arch::Feedforward {
                    states.push(h);
                }
                applications.push((acts, injected && l == 0));
            }
            if m.arch == Arch::Looped {
                states.push(h);
            }
        }
        let pre = m.norm == Norm::Pre;
        let (final_out, final_rstd) = if pre { (b.buf("final", rows * d), b.buf("final_rstd", rows)) } else { (h, h) };
        if pre {
            fwd.push(b.norm(h, p.final_norm, final_out, final_rstd));
        }
        let logits = b.buf("logits", rows * vocab);
        fwd.push(b.linear(final_out, p.head, logits, d, vocab, false));
        let losses = b.buf("losses", rows);
        let correct = b.buf("correct", rows);
        let supervised = b.buf("supervised", rows);
        let count = b.buf("count", 1);
        let d_logits = b.buf("d_logits", rows * vocab);
        fwd.push(Box::new(CrossEntropy { logits, targets, d_logits, losses, correct, supervised, count, rows, vocab, stablemax: false, scale: 1.0 }));

        let mut bwd: Vec<Box<dyn Kernel>> = Vec::new();
        if with_backward {
            let (heads, _) = b.attention();
            let s = Scratch {
                dh: b.buf("d_h", rows * d),
                d_s: b.buf("d_s", rows * d),
                d_n: b.buf("d_n", rows * d),
                d_a: b.buf("d_a", rows * m.mlp_hidden),
                d_u: b.buf("d_u", rows * mlp_in_width(m)),
                d_att: b.buf("d_att", rows * d),
                d_qkv: b.buf("d_qkv", rows * 3 * d),
                d_scores: b.buf("d_scores", batch * heads * seq * seq),
                d_emb: b.buf("d_emb", rows * d),
                d_logits,
                d_final: b.buf("d_final", rows * d),
            };
            let d_head_in = if pre { s.d_final } else { s.dh };
            b.linear_backward(final_out, p.head, s.d_logits, d_head_in, d, vocab, false, &mut bwd);
            if pre {
                bwd.push(b.norm_backward(h, p.final_norm, final_rstd, s.d_final, s.dh, false));
            }
            bwd.push(Box::new(Fill { out: s.d_emb, value: 0.0 }));
            for (acts, injected) in applications.iter().rev() {
                b.layer_backward(acts, &s, &mut bwd);
                if *injected {
                    bwd.push(Box::new(Accumulate { x: s.dh, out: s.d_emb, scale: 1.0 }));
                }
            }
            bwd.push(Box::new(Accumulate { x: s.dh, out: s.d_emb, scale: 1.0 }));
            bwd.push(Box::new(EmbeddingBackward {
                tokens,
                d_out: s.d_emb,
                d_table: b.grad(p.tok_emb),
                d_positions: b.grad(p.pos_emb),
                rows,
                vocab,
                seq,
                d,
            }));
        }
        let probs = applications.iter().map(|(a, _)| a.probs).collect();
        Graph { batch, loops: iterations, rows, tokens, targets, logits, losses, correct, supervised, states, probs, forward: fwd, backward: bwd }
    }
}
