//! Multi-head attention over a grid neighbourhood with a learned relative-position bias: each token attends to
//! the tokens within `radius` of it in both grid directions. Nothing depends on absolute positions, so a model
//! trained on one grid size runs on others. Like attention.rs, the forward keeps only the output and each
//! row's log-sum-exp and the backward recomputes the probabilities; `LocalAttentionProbs` gives the dense maps
//! on request. Shader: shaders/local_attention.wgsl.

use super::attention::{head_chunk, K, Q, V};
use super::{check_lengths, dot, exp_fast, f, u};
use crate::program::{
    for_each_chunk, for_each_chunk_pair, grid, read, with_scratch, write, CpuMemory, Kernel, Launch, Shader, Tensor,
};

/// The shape of one local attention call. `qkv` is `[batch*seq, 3*d]` laid out as in attention.rs; each
/// example's `seq = height*width` tokens are a row-major grid (sequences use height 1). Offset
/// `o = (dy+radius)*(2*radius+1) + (dx+radius)` of query (y, x) names key (y+dy, x+dx); `window =
/// (2*radius+1)^2` offsets, the same layout for 1-D grids so the bias `[heads, window]` does not depend on the
/// data. Scores are `q·k/sqrt(head_dim) + bias[h,o]` over the offsets whose key is inside the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalDims {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub radius: usize,
}

/// `out[b*seq+i, h*head_dim+c] = Σ_o softmax_o(score)·v` and `lse[b,h,i]`, the log-sum-exp of the row.
#[derive(Clone, Debug)]
pub struct LocalAttentionForward {
    pub qkv: Tensor,
    pub bias: Tensor, // [heads, window]
    pub out: Tensor,  // [batch*seq, d]
    pub lse: Tensor,  // [batch, heads, seq]
    pub dims: LocalDims,
}

/// `d_qkv` (set) from `d_out`, and `d_bias[h,o] += Σ_{b,i} d_score[b,h,i,o]`. `delta` is scratch for
/// `rowsum(d_out ⊙ out)`, `[batch, heads, seq]`.
#[derive(Clone, Debug)]
pub struct LocalAttentionBackward {
    pub qkv: Tensor,
    pub bias: Tensor,
    pub out: Tensor,
    pub lse: Tensor,
    pub d_out: Tensor,
    pub delta: Tensor,
    pub d_qkv: Tensor,
    pub d_bias: Tensor, // [heads, window]
    pub dims: LocalDims,
}

/// The dense probabilities `probs[b,h,i,o]`, exactly 0 at offsets outside the grid (probes, the page).
#[derive(Clone, Debug)]
pub struct LocalAttentionProbs {
    pub qkv: Tensor,
    pub bias: Tensor,
    pub probs: Tensor, // [batch, heads, seq, window]
    pub dims: LocalDims,
}

impl LocalDims {
    fn seq(&self) -> usize {
        self.height * self.width
    }
    fn d(&self) -> usize {
        self.heads * self.head_dim
    }
    fn window(&self) -> usize {
        (2 * self.radius + 1).pow(2)
    }
    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
    /// Elements of the row statistics `lse` and `delta`.
    pub fn rows(&self) -> usize {
        self.batch * self.heads * self.seq()
    }
    /// The token at offset o from token t (`sign` 1: the key query t sees there), or the token that sees t
    /// through offset o (`sign` -1: the query of key t); None outside the grid.
    fn shifted(&self, t: usize, o: usize, sign: isize) -> Option<usize> {
        let (side, r) = (2 * self.radius as isize + 1, self.radius as isize);
        let y = (t / self.width) as isize + sign * (o as isize / side - r);
        let x = (t % self.width) as isize + sign * (o as isize % side - r);
        let inside = (0..self.height as isize).contains(&y) && (0..self.width as isize).contains(&x);
        inside.then(|| y as usize * self.width + x as usize)
    }
    /// The head_dim values of `part` (Q, K or V) for token i of one example's `qkv_b`, head h.
    fn head<'a>(&self, qkv_b: &'a [f32], part: usize, i: usize, h: usize) -> &'a [f32] {
        &qkv_b[i * 3 * self.d() + part * self.d() + h * self.head_dim..][..self.head_dim]
    }
    /// `scores[o]` of query i (head h), `f32::NEG_INFINITY` outside the grid; returns their maximum.
    fn row_scores(&self, qkv_b: &[f32], bias_h: &[f32], h: usize, i: usize, scores: &mut [f32]) -> f32 {
        let q = self.head(qkv_b, Q, i, h);
        let mut max = f32::NEG_INFINITY;
        for (o, s) in scores.iter_mut().enumerate() {
            *s = match self.shifted(i, o, 1) {
                Some(j) => dot(q, self.head(qkv_b, K, j, h)) * self.scale() + bias_h[o],
                None => f32::NEG_INFINITY,
            };
            max = max.max(*s);
        }
        max
    }
    /// Calls `f(o, j, p, ds)` for every in-grid offset o of query i (head h) with key j, its probability
    /// (from `lse`) and score gradient `p·(dO_i·v_j − dO_i·O_i)`, in offset order.
    #[allow(clippy::too_many_arguments)]
    fn row_gradients(
        &self,
        qkv_b: &[f32],
        out_b: &[f32],
        d_out_b: &[f32],
        bias_h: &[f32],
        lse: f32,
        h: usize,
        i: usize,
        mut f: impl FnMut(usize, usize, f32, f32),
    ) {
        let hd = self.head_dim;
        let at = i * self.d() + h * hd;
        let go = &d_out_b[at..at + hd];
        let delta = dot(go, &out_b[at..at + hd]);
        let q = self.head(qkv_b, Q, i, h);
        for (o, bias) in bias_h.iter().enumerate() {
            if let Some(j) = self.shifted(i, o, 1) {
                let score = dot(q, self.head(qkv_b, K, j, h)) * self.scale() + bias;
                let p = exp_fast(score - lse);
                f(o, j, p, p * (dot(go, self.head(qkv_b, V, j, h)) - delta));
            }
        }
    }
    fn shader(&self) -> Shader {
        Shader::LocalAttention { head_chunk: head_chunk(self.head_dim) }
    }
    fn params(&self) -> Vec<u32> {
        let (b, h, w, heads) = (u(self.batch), u(self.height), u(self.width), u(self.heads));
        vec![b, h, w, heads, u(self.head_dim), u(self.radius), f(self.scale()), 0]
    }
    /// One thread per row (query or key), one z layer per register chunk of the head.
    fn row_workgroups(&self) -> [u32; 3] {
        let [x, y, _] = grid(self.rows());
        [x, y, self.head_dim.div_ceil(head_chunk(self.head_dim) as usize) as u32]
    }
    fn check(&self, op: &str, sized: &[(&str, Tensor, usize)]) {
        assert!(self.head_dim > 0, "{op}: head_dim must be positive");
        assert!(self.height > 0 && self.width > 0, "{op}: the grid {}x{} is empty", self.height, self.width);
        // The d_bias launch puts offsets on the x axis of its workgroup grid.
        assert!(self.window() <= 65535, "{op}: radius {} gives more than 65535 offsets", self.radius);
        check_lengths(op, sized);
    }
}

impl LocalAttentionForward {
    fn check(&self) -> LocalDims {
        let dm = self.dims;
        let bs = dm.batch * dm.seq();
        let sized = [
            ("qkv", self.qkv, bs * 3 * dm.d()),
            ("bias", self.bias, dm.heads * dm.window()),
            ("out", self.out, bs * dm.d()),
            ("lse", self.lse, dm.rows()),
        ];
        dm.check("local attention forward", &sized);
        dm
    }
}

impl Kernel for LocalAttentionForward {
    /// Per example (threaded), per head and query: the window's scores, softmax, and the weighted values.
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (seq, d, hd, window) = (dm.seq(), dm.d(), dm.head_dim, dm.window());
        mem.out2(self.out, self.lse, |mem, out, lse| {
            let (qkv, bias) = (mem.get(self.qkv), mem.get(self.bias));
            let work = dm.heads * seq * window * (2 * hd + 8);
            for_each_chunk_pair(out, seq * d, lse, dm.heads * seq, work, |b, out_b, lse_b| {
                let qkv_b = &qkv[b * seq * 3 * d..][..seq * 3 * d];
                with_scratch(window, |scores| {
                    for h in 0..dm.heads {
                        for i in 0..seq {
                            let max = dm.row_scores(qkv_b, &bias[h * window..][..window], h, i, scores);
                            let o_row = &mut out_b[i * d + h * hd..][..hd];
                            o_row.fill(0.0);
                            let mut sum = 0.0;
                            for (o, &s) in scores.iter().enumerate() {
                                if let Some(j) = dm.shifted(i, o, 1) {
                                    let e = exp_fast(s - max);
                                    sum += e;
                                    o_row.iter_mut().zip(dm.head(qkv_b, V, j, h)).for_each(|(x, v)| *x += e * v);
                                }
                            }
                            let inv = 1.0 / sum;
                            o_row.iter_mut().for_each(|x| *x *= inv);
                            lse_b[h * seq + i] = max + libm::logf(sum);
                        }
                    }
                });
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        let dm = self.check();
        vec![Launch {
            shader: dm.shader(),
            entry: "local_attention_forward",
            params: dm.params(),
            bindings: vec![read(self.qkv), read(self.bias), write(self.out), write(self.lse)],
            workgroups: dm.row_workgroups(),
        }]
    }
}

impl LocalAttentionBackward {
    fn check(&self) -> LocalDims {
        let dm = self.dims;
        let bs = dm.batch * dm.seq();
        let sized = [
            ("qkv", self.qkv, bs * 3 * dm.d()),
            ("bias", self.bias, dm.heads * dm.window()),
            ("out", self.out, bs * dm.d()),
            ("lse", self.lse, dm.rows()),
            ("d_out", self.d_out, bs * dm.d()),
            ("delta", self.delta, dm.rows()),
            ("d_qkv", self.d_qkv, bs * 3 * dm.d()),
            ("d_bias", self.d_bias, dm.heads * dm.window()),
        ];
        dm.check("local attention backward", &sized);
        dm
    }
}

impl Kernel for LocalAttentionBackward {
    /// Per example (threaded): each query's score gradients, scattered in order into dQ, dK and dV of the same
    /// example; then per head (threaded) the bias gradient summed over every example and query in order.
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (seq, d, hd, window, scale) = (dm.seq(), dm.d(), dm.head_dim, dm.window(), dm.scale());
        mem.out2(self.d_qkv, self.d_bias, |mem, d_qkv, d_bias| {
            let (qkv, bias, out, lse, d_out) =
                (mem.get(self.qkv), mem.get(self.bias), mem.get(self.out), mem.get(self.lse), mem.get(self.d_out));
            let example = |b: usize| {
                (
                    &qkv[b * seq * 3 * d..][..seq * 3 * d],
                    &out[b * seq * d..][..seq * d],
                    &d_out[b * seq * d..][..seq * d],
                )
            };
            let work = dm.heads * seq * window * (6 * hd + 8);
            for_each_chunk(d_qkv, seq * 3 * d, work, |b, dqkv_b| {
                let (qkv_b, out_b, d_out_b) = example(b);
                dqkv_b.fill(0.0);
                for h in 0..dm.heads {
                    let bias_h = &bias[h * window..][..window];
                    for i in 0..seq {
                        let row_lse = lse[(b * dm.heads + h) * seq + i];
                        let (q_i, go) = (dm.head(qkv_b, Q, i, h), &d_out_b[i * d + h * hd..][..hd]);
                        dm.row_gradients(qkv_b, out_b, d_out_b, bias_h, row_lse, h, i, |_, j, p, ds| {
                            let at = |t: usize, part: usize| t * 3 * d + part * d + h * hd;
                            for c in 0..hd {
                                dqkv_b[at(i, Q) + c] += scale * ds * qkv_b[at(j, K) + c];
                                dqkv_b[at(j, K) + c] += scale * ds * q_i[c];
                                dqkv_b[at(j, V) + c] += p * go[c];
                            }
                        });
                    }
                }
            });
            for_each_chunk(d_bias, window, dm.batch * seq * window * (4 * hd + 8), |h, d_bias_h| {
                let bias_h = &bias[h * window..][..window];
                for b in 0..dm.batch {
                    let (qkv_b, out_b, d_out_b) = example(b);
                    for i in 0..seq {
                        let row_lse = lse[(b * dm.heads + h) * seq + i];
                        dm.row_gradients(qkv_b, out_b, d_out_b, bias_h, row_lse, h, i, |o, _, _, ds| {
                            d_bias_h[o] += ds;
                        });
                    }
                }
            });
        });
    }

    /// Three passes, no atomics: per query dQ (and its delta), per key dK and dV gathered over the offsets that
    /// reach it, and per (offset, head) the bias gradient as one workgroup's fixed-order sum.
    fn launches(&self) -> Vec<Launch> {
        let dm = self.check();
        let statistics = [read(self.qkv), read(self.bias), read(self.delta), read(self.lse), read(self.d_out)];
        vec![
            Launch {
                shader: dm.shader(),
                entry: "local_attention_backward_query",
                params: dm.params(),
                bindings: vec![
                    read(self.qkv),
                    read(self.bias),
                    read(self.out),
                    read(self.lse),
                    read(self.d_out),
                    write(self.d_qkv),
                    write(self.delta),
                ],
                workgroups: dm.row_workgroups(),
            },
            Launch {
                shader: dm.shader(),
                entry: "local_attention_backward_key",
                params: dm.params(),
                bindings: statistics.into_iter().chain([write(self.d_qkv)]).collect(),
                workgroups: dm.row_workgroups(),
            },
            // Its own launch: d_bias lives in the gradient buffer. One workgroup per (o, h).
            Launch {
                shader: dm.shader(),
                entry: "local_attention_d_bias",
                params: dm.params(),
                bindings: statistics.into_iter().chain([write(self.d_bias)]).collect(),
                workgroups: [u(dm.window()), u(dm.heads), 1],
            },
        ]
    }
}

impl LocalAttentionProbs {
    fn check(&self) -> LocalDims {
        let dm = self.dims;
        let sized = [
            ("qkv", self.qkv, dm.batch * dm.seq() * 3 * dm.d()),
            ("bias", self.bias, dm.heads * dm.window()),
            ("probs", self.probs, dm.rows() * dm.window()),
        ];
        dm.check("local attention probabilities", &sized);
        dm
    }
}

impl Kernel for LocalAttentionProbs {
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (seq, window) = (dm.seq(), dm.window());
        mem.out(self.probs, |mem, probs| {
            let (qkv, bias) = (mem.get(self.qkv), mem.get(self.bias));
            let work = dm.heads * seq * window * (2 * dm.head_dim + 8);
            for_each_chunk(probs, dm.heads * seq * window, work, |b, probs_b| {
                let qkv_b = &qkv[b * seq * 3 * dm.d()..][..seq * 3 * dm.d()];
                for (r, row) in probs_b.chunks_mut(window).enumerate() {
                    let (h, i) = (r / seq, r % seq);
                    let max = dm.row_scores(qkv_b, &bias[h * window..][..window], h, i, row);
                    // Outside the grid exp(-inf) is exactly 0.
                    row.iter_mut().for_each(|s| *s = libm::expf(*s - max));
                    let sum: f32 = row.iter().sum();
                    row.iter_mut().for_each(|s| *s /= sum);
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        let dm = self.check();
        vec![Launch {
            shader: dm.shader(),
            entry: "local_attention_probs",
            params: dm.params(),
            bindings: vec![read(self.qkv), read(self.bias), write(self.probs)],
            workgroups: grid(dm.rows()),
        }]
    }
}
