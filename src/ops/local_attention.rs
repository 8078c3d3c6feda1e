//! Multi-head attention over a grid neighbourhood with a learned relative-position bias: each token attends to
//! the tokens within `radius` of it in both grid directions. Nothing depends on absolute positions, so a model
//! trained on one grid size runs on others. Shader: shaders/local_attention.wgsl.

use super::{check_lengths, dot, f, u};
use crate::program::{grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

/// `qkv` is `[batch*seq, 3*d]` laid out as in attention.rs; each example's `seq = height*width` tokens are a
/// row-major grid (sequences use height 1). Offset `o = (dy+radius)*(2*radius+1) + (dx+radius)` of query
/// (y, x) names key (y+dy, x+dx); `window = (2*radius+1)^2` offsets, the same layout for 1-D grids so `bias`
/// does not depend on the data. `probs[b,h,i,o] = softmax_o(q·k/sqrt(head_dim) + bias[h,o])` over the offsets
/// whose key is inside the grid, exactly 0 for the others; `out[b*seq+i, h*head_dim+c] = Σ_o probs·v`.
#[derive(Clone, Debug)]
pub struct LocalAttentionForward {
    pub qkv: Tensor,
    pub bias: Tensor,  // [heads, window]
    pub probs: Tensor, // [batch, heads, seq, window]
    pub out: Tensor,   // [batch*seq, d]
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub radius: usize,
}

/// `d_qkv` (set) from `d_out`; `d_bias[h,o] += Σ_{b,i} d_scores[b,h,i,o]`. `d_scores` is scratch of the size
/// of `probs`. The bias is not needed: its gradient is the score gradient.
#[derive(Clone, Debug)]
pub struct LocalAttentionBackward {
    pub qkv: Tensor,
    pub probs: Tensor,
    pub d_out: Tensor,
    pub d_scores: Tensor,
    pub d_qkv: Tensor,
    pub d_bias: Tensor, // [heads, window]
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub radius: usize,
}

/// The shape both directions share, with the index arithmetic of the layouts above.
struct Dims {
    batch: usize,
    height: usize,
    width: usize,
    heads: usize,
    head_dim: usize,
    radius: usize,
}

const Q: usize = 0;
const K: usize = 1;
const V: usize = 2;

impl Dims {
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
    /// The token at offset o from token t (`sign` 1: the key query t sees there), or the token that sees t
    /// through offset o (`sign` -1: the query of key t); None outside the grid.
    fn shifted(&self, t: usize, o: usize, sign: isize) -> Option<usize> {
        let (side, r) = (2 * self.radius as isize + 1, self.radius as isize);
        let y = (t / self.width) as isize + sign * (o as isize / side - r);
        let x = (t % self.width) as isize + sign * (o as isize % side - r);
        let inside = (0..self.height as isize).contains(&y) && (0..self.width as isize).contains(&x);
        inside.then(|| y as usize * self.width + x as usize)
    }
    /// The head_dim values of `part` (Q, K or V) for token i of batch b, head h.
    fn head<'a>(&self, qkv: &'a [f32], part: usize, b: usize, i: usize, h: usize) -> &'a [f32] {
        let at = (b * self.seq() + i) * 3 * self.d() + part * self.d() + h * self.head_dim;
        &qkv[at..at + self.head_dim]
    }
    /// Offset of row (b, h, i) in probs / d_scores.
    fn prob_row(&self, b: usize, h: usize, i: usize) -> usize {
        ((b * self.heads + h) * self.seq() + i) * self.window()
    }
    fn params(&self) -> Vec<u32> {
        vec![
            u(self.batch),
            u(self.height),
            u(self.width),
            u(self.heads),
            u(self.head_dim),
            u(self.radius),
            f(self.scale()),
            0,
        ]
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
    fn dims(&self) -> Dims {
        Dims {
            batch: self.batch,
            height: self.height,
            width: self.width,
            heads: self.heads,
            head_dim: self.head_dim,
            radius: self.radius,
        }
    }
    fn check(&self) -> Dims {
        let dm = self.dims();
        let bs = self.batch * dm.seq();
        let sized = [
            ("qkv", self.qkv, bs * 3 * dm.d()),
            ("bias", self.bias, self.heads * dm.window()),
            ("probs", self.probs, bs * self.heads * dm.window()),
            ("out", self.out, bs * dm.d()),
        ];
        dm.check("local attention forward", &sized);
        dm
    }
}

impl Kernel for LocalAttentionForward {
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (window, scale) = (dm.window(), dm.scale());
        mem.out(self.probs, |mem, probs| {
            let (qkv, bias) = (mem.get(self.qkv), mem.get(self.bias));
            for b in 0..dm.batch {
                for h in 0..dm.heads {
                    for i in 0..dm.seq() {
                        let row = &mut probs[dm.prob_row(b, h, i)..][..window];
                        let keys: Vec<Option<usize>> = (0..window).map(|o| dm.shifted(i, o, 1)).collect();
                        let mut max = f32::NEG_INFINITY;
                        for (o, (s, j)) in row.iter_mut().zip(&keys).enumerate() {
                            if let Some(j) = *j {
                                *s = dot(dm.head(qkv, Q, b, i, h), dm.head(qkv, K, b, j, h)) * scale
                                    + bias[h * window + o];
                                max = max.max(*s);
                            }
                        }
                        for (s, j) in row.iter_mut().zip(&keys) {
                            *s = if j.is_some() { libm::expf(*s - max) } else { 0.0 };
                        }
                        let sum: f32 = row.iter().sum();
                        row.iter_mut().for_each(|s| *s /= sum);
                    }
                }
            }
        });
        mem.out(self.out, |mem, out| {
            let (qkv, probs) = (mem.get(self.qkv), mem.get(self.probs));
            for b in 0..dm.batch {
                for i in 0..dm.seq() {
                    for h in 0..dm.heads {
                        let p = &probs[dm.prob_row(b, h, i)..][..window];
                        let dst = &mut out[(b * dm.seq() + i) * dm.d() + h * dm.head_dim..][..dm.head_dim];
                        for (c, x) in dst.iter_mut().enumerate() {
                            *x = (0..window)
                                .filter_map(|o| dm.shifted(i, o, 1).map(|j| p[o] * dm.head(qkv, V, b, j, h)[c]))
                                .sum();
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
                shader: Shader::LocalAttention,
                entry: "local_attention_probs",
                params: dm.params(),
                bindings: vec![read(self.qkv), write(self.probs), read(self.bias)],
                workgroups: grid(dm.batch * dm.heads * dm.seq()),
            },
            Launch {
                shader: Shader::LocalAttention,
                entry: "local_attention_out",
                params: dm.params(),
                bindings: vec![read(self.qkv), read(self.probs), write(self.out)],
                workgroups: grid(self.out.len),
            },
        ]
    }
}

impl LocalAttentionBackward {
    fn dims(&self) -> Dims {
        Dims {
            batch: self.batch,
            height: self.height,
            width: self.width,
            heads: self.heads,
            head_dim: self.head_dim,
            radius: self.radius,
        }
    }
    fn check(&self) -> Dims {
        let dm = self.dims();
        let bs = self.batch * dm.seq();
        let probs_len = bs * self.heads * dm.window();
        let sized = [
            ("qkv", self.qkv, bs * 3 * dm.d()),
            ("probs", self.probs, probs_len),
            ("d_out", self.d_out, bs * dm.d()),
            ("d_scores", self.d_scores, probs_len),
            ("d_qkv", self.d_qkv, bs * 3 * dm.d()),
            ("d_bias", self.d_bias, self.heads * dm.window()),
        ];
        dm.check("local attention backward", &sized);
        dm
    }
}

impl Kernel for LocalAttentionBackward {
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (seq, hd, window, scale) = (dm.seq(), dm.head_dim, dm.window(), dm.scale());
        let d_out_at = |b: usize, i: usize, h: usize| (b * seq + i) * dm.d() + h * hd;
        // dS = P ⊙ (dP − rowsum(dP ⊙ P)) with dP[o] = dO_i·V_j over the keys inside the grid; 0 outside.
        mem.out(self.d_scores, |mem, d_scores| {
            let (qkv, probs, d_out) = (mem.get(self.qkv), mem.get(self.probs), mem.get(self.d_out));
            for b in 0..dm.batch {
                for h in 0..dm.heads {
                    for i in 0..seq {
                        let at = dm.prob_row(b, h, i);
                        let p = &probs[at..][..window];
                        let row = &mut d_scores[at..][..window];
                        let go = &d_out[d_out_at(b, i, h)..][..hd];
                        for (o, ds) in row.iter_mut().enumerate() {
                            *ds = dm.shifted(i, o, 1).map_or(0.0, |j| dot(go, dm.head(qkv, V, b, j, h)));
                        }
                        let rowsum: f32 = row.iter().zip(p).map(|(dp, p)| dp * p).sum();
                        row.iter_mut().zip(p).for_each(|(ds, p)| *ds = p * (*ds - rowsum));
                    }
                }
            }
        });
        // dQ_i = scale·Σ_o dS[i,o] K_j; a key or value j gathers from the queries i that see it, one per offset.
        mem.out(self.d_qkv, |mem, d_qkv| {
            let (qkv, probs, d_out, d_scores) =
                (mem.get(self.qkv), mem.get(self.probs), mem.get(self.d_out), mem.get(self.d_scores));
            for b in 0..dm.batch {
                for t in 0..seq {
                    for h in 0..dm.heads {
                        let at = |part: usize| (b * seq + t) * 3 * dm.d() + part * dm.d() + h * hd;
                        let ds = |i: usize, o: usize| d_scores[dm.prob_row(b, h, i) + o];
                        let p = |i: usize, o: usize| probs[dm.prob_row(b, h, i) + o];
                        let keys: Vec<(usize, usize)> =
                            (0..window).filter_map(|o| dm.shifted(t, o, 1).map(|j| (o, j))).collect();
                        let queries: Vec<(usize, usize)> =
                            (0..window).filter_map(|o| dm.shifted(t, o, -1).map(|i| (o, i))).collect();
                        for c in 0..hd {
                            let d_q: f32 = keys.iter().map(|&(o, j)| ds(t, o) * dm.head(qkv, K, b, j, h)[c]).sum();
                            let d_k: f32 = queries.iter().map(|&(o, i)| ds(i, o) * dm.head(qkv, Q, b, i, h)[c]).sum();
                            let d_v: f32 = queries.iter().map(|&(o, i)| p(i, o) * d_out[d_out_at(b, i, h) + c]).sum();
                            d_qkv[at(Q) + c] = scale * d_q;
                            d_qkv[at(K) + c] = scale * d_k;
                            d_qkv[at(V) + c] = d_v;
                        }
                    }
                }
            }
        });
        mem.out(self.d_bias, |mem, d_bias| {
            let d_scores = mem.get(self.d_scores);
            for h in 0..dm.heads {
                for o in 0..window {
                    let mut sum = 0.0;
                    for b in 0..dm.batch {
                        for i in 0..seq {
                            sum += d_scores[dm.prob_row(b, h, i) + o];
                        }
                    }
                    d_bias[h * window + o] += sum;
                }
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        let dm = self.check();
        vec![
            Launch {
                shader: Shader::LocalAttention,
                entry: "local_attention_d_scores",
                params: dm.params(),
                bindings: vec![read(self.qkv), read(self.probs), read(self.d_out), write(self.d_scores)],
                workgroups: grid(dm.batch * dm.heads * dm.seq()),
            },
            Launch {
                shader: Shader::LocalAttention,
                entry: "local_attention_d_qkv",
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
            // Its own launch: d_bias lives in the gradient buffer. One workgroup per (o, h), a fixed-order sum.
            Launch {
                shader: Shader::LocalAttention,
                entry: "local_attention_d_bias",
                params: dm.params(),
                bindings: vec![read(self.d_scores), write(self.d_bias)],
                workgroups: [u(dm.window()), u(dm.heads), 1],
            },
        ]
    }
}
