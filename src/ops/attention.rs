//! Multi-head scaled dot-product attention, bidirectional or causal, with an optional additive bias.
//! Shader: shaders/attention.wgsl.

use super::{check_lengths, dot, f, u};
use crate::program::{grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

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

/// The shape both directions share, with the index arithmetic of the layouts above.
struct Dims {
    batch: usize,
    seq: usize,
    heads: usize,
    head_dim: usize,
    causal: bool,
}

const Q: usize = 0;
const K: usize = 1;
const V: usize = 2;

impl Dims {
    fn d(&self) -> usize {
        self.heads * self.head_dim
    }
    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
    /// Keys query i attends to: `0..visible(i)`.
    fn visible(&self, i: usize) -> usize {
        if self.causal {
            i + 1
        } else {
            self.seq
        }
    }
    /// Queries that attend to key j.
    fn queries_seeing(&self, j: usize) -> std::ops::Range<usize> {
        if self.causal {
            j..self.seq
        } else {
            0..self.seq
        }
    }
    /// The head_dim values of `part` (Q, K or V) for token i of batch b, head h.
    fn head<'a>(&self, qkv: &'a [f32], part: usize, b: usize, i: usize, h: usize) -> &'a [f32] {
        let at = (b * self.seq + i) * 3 * self.d() + part * self.d() + h * self.head_dim;
        &qkv[at..at + self.head_dim]
    }
    /// Offset of row (b, h, i) in probs / d_scores.
    fn prob_row(&self, b: usize, h: usize, i: usize) -> usize {
        ((b * self.heads + h) * self.seq + i) * self.seq
    }
    fn params(&self) -> Vec<u32> {
        vec![u(self.batch), u(self.seq), u(self.heads), u(self.head_dim), self.causal as u32, f(self.scale()), 0, 0]
    }
    fn check(&self, op: &str, sized: &[(&str, Tensor, usize)]) {
        assert!(self.head_dim > 0, "{op}: head_dim must be positive");
        check_lengths(op, sized);
    }
}

impl AttentionForward {
    fn dims(&self) -> Dims {
        Dims { batch: self.batch, seq: self.seq, heads: self.heads, head_dim: self.head_dim, causal: self.causal }
    }
    fn check(&self) -> Dims {
        let dm = self.dims();
        let (bs, s) = (self.batch * self.seq, self.seq);
        let probs_len = self.batch * self.heads * s * s;
        let mut sized =
            vec![("qkv", self.qkv, bs * 3 * dm.d()), ("probs", self.probs, probs_len), ("out", self.out, bs * dm.d())];
        sized.extend(self.bias.map(|t| ("bias", t, s * s)));
        dm.check("attention forward", &sized);
        dm
    }
}

impl Kernel for AttentionForward {
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (seq, scale) = (dm.seq, dm.scale());
        mem.out(self.probs, |mem, probs| {
            let qkv = mem.get(self.qkv);
            let bias = self.bias.map(|t| mem.get(t));
            for b in 0..dm.batch {
                for h in 0..dm.heads {
                    for i in 0..seq {
                        let row = &mut probs[dm.prob_row(b, h, i)..][..seq];
                        let (seen, masked) = row.split_at_mut(dm.visible(i));
                        for (j, s) in seen.iter_mut().enumerate() {
                            let bias = bias.map_or(0.0, |bias| bias[i * seq + j]);
                            *s = dot(dm.head(qkv, Q, b, i, h), dm.head(qkv, K, b, j, h)) * scale + bias;
                        }
                        let max = seen.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        seen.iter_mut().for_each(|s| *s = libm::expf(*s - max));
                        let sum: f32 = seen.iter().sum();
                        seen.iter_mut().for_each(|s| *s /= sum);
                        masked.fill(0.0);
                    }
                }
            }
        });
        mem.out(self.out, |mem, out| {
            let (qkv, probs) = (mem.get(self.qkv), mem.get(self.probs));
            for b in 0..dm.batch {
                for i in 0..seq {
                    for h in 0..dm.heads {
                        let p = &probs[dm.prob_row(b, h, i)..][..dm.visible(i)];
                        let o = &mut out[(b * seq + i) * dm.d() + h * dm.head_dim..][..dm.head_dim];
                        for (c, o) in o.iter_mut().enumerate() {
                            *o = p.iter().enumerate().map(|(j, p)| p * dm.head(qkv, V, b, j, h)[c]).sum();
                        }
                    }
                }
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        let dm = self.check();
        let (entry, bias) = match self.bias {
            Some(t) => ("attention_probs_biased", Some(read(t))),
            None => ("attention_probs", None),
        };
        vec![
            Launch {
                shader: Shader::Attention,
                entry,
                params: dm.params(),
                bindings: [read(self.qkv), write(self.probs)].into_iter().chain(bias).collect(),
                workgroups: grid(dm.batch * dm.heads * dm.seq),
            },
            Launch {
                shader: Shader::Attention,
                entry: "attention_out",
                params: dm.params(),
                bindings: vec![read(self.qkv), read(self.probs), write(self.out)],
                workgroups: grid(self.out.len),
            },
        ]
    }
}

impl AttentionBackward {
    fn dims(&self) -> Dims {
        Dims { batch: self.batch, seq: self.seq, heads: self.heads, head_dim: self.head_dim, causal: self.causal }
    }
    fn check(&self) -> Dims {
        let dm = self.dims();
        let (bs, s) = (self.batch * self.seq, self.seq);
        let probs_len = self.batch * self.heads * s * s;
        let sized = [
            ("qkv", self.qkv, bs * 3 * dm.d()),
            ("probs", self.probs, probs_len),
            ("d_out", self.d_out, bs * dm.d()),
            ("d_scores", self.d_scores, probs_len),
            ("d_qkv", self.d_qkv, bs * 3 * dm.d()),
        ];
        dm.check("attention backward", &sized);
        dm
    }
}

impl Kernel for AttentionBackward {
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (seq, hd, scale) = (dm.seq, dm.head_dim, dm.scale());
        let d_out_at = |b: usize, i: usize, h: usize| (b * seq + i) * dm.d() + h * hd;
        // dS = P ⊙ (dP − rowsum(dP ⊙ P)) with dP = dO·Vᵀ: the softmax backward, per query row.
        mem.out(self.d_scores, |mem, d_scores| {
            let (qkv, probs, d_out) = (mem.get(self.qkv), mem.get(self.probs), mem.get(self.d_out));
            for b in 0..dm.batch {
                for h in 0..dm.heads {
                    for i in 0..seq {
                        let at = dm.prob_row(b, h, i);
                        let p = &probs[at..][..seq];
                        let row = &mut d_scores[at..][..seq];
                        let (seen, masked) = row.split_at_mut(dm.visible(i));
                        let go = &d_out[d_out_at(b, i, h)..][..hd];
                        for (j, ds) in seen.iter_mut().enumerate() {
                            *ds = dot(go, dm.head(qkv, V, b, j, h));
                        }
                        let rowsum: f32 = seen.iter().zip(p).map(|(dp, p)| dp * p).sum();
                        seen.iter_mut().zip(p).for_each(|(ds, p)| *ds = p * (*ds - rowsum));
                        masked.fill(0.0);
                    }
                }
            }
        });
        // dQ = dS·K·scale, dK = dSᵀ·Q·scale, dV = Pᵀ·dO, each head's columns of d_qkv.
        mem.out(self.d_qkv, |mem, d_qkv| {
            let (qkv, probs, d_out, d_scores) =
                (mem.get(self.qkv), mem.get(self.probs), mem.get(self.d_out), mem.get(self.d_scores));
            for b in 0..dm.batch {
                for i in 0..seq {
                    for h in 0..dm.heads {
                        let at = |part: usize| (b * seq + i) * 3 * dm.d() + part * dm.d() + h * hd;
                        // As a query, token i reads row i of dS; as a key or value, column i over the queries seeing it.
                        let ds_row = &d_scores[dm.prob_row(b, h, i)..][..dm.visible(i)];
                        let ds_col = |r: usize| d_scores[dm.prob_row(b, h, r) + i];
                        let p_col = |r: usize| probs[dm.prob_row(b, h, r) + i];
                        for c in 0..hd {
                            let d_q: f32 =
                                ds_row.iter().enumerate().map(|(j, ds)| ds * dm.head(qkv, K, b, j, h)[c]).sum();
                            let d_k: f32 = dm.queries_seeing(i).map(|r| ds_col(r) * dm.head(qkv, Q, b, r, h)[c]).sum();
                            let d_v: f32 = dm.queries_seeing(i).map(|r| p_col(r) * d_out[d_out_at(b, r, h) + c]).sum();
                            d_qkv[at(Q) + c] = scale * d_q;
                            d_qkv[at(K) + c] = scale * d_k;
                            d_qkv[at(V) + c] = d_v;
                        }
                    }
                }
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        let dm = self.check();
        vec![
            Launch {
                shader: Shader::Attention,
                entry: "attention_d_scores",
                params: dm.params(),
                bindings: vec![read(self.qkv), read(self.probs), read(self.d_out), write(self.d_scores)],
                workgroups: grid(dm.batch * dm.heads * dm.seq),
            },
            Launch {
                shader: Shader::Attention,
                entry: "attention_d_qkv",
                params: dm.params(),
                bindings: vec![
                    read(self.qkv),
                    read(self.probs),
                    read(self.d_out),
                    read(self.d_scores),
                    write(self.d_qkv),
                ],
                workgroups: grid(self.d_qkv.len),
            },
        ]
    }
}
