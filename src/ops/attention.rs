//! Multi-head scaled dot-product attention, bidirectional or causal, with an optional additive bias, computed
//! flash-attention style: the forward keeps only the output and each query row's log-sum-exp, the backward
//! recomputes the probabilities from them, and dense maps exist only when `AttentionProbs` is asked for them.
//! Shader: shaders/attention.wgsl.

use super::{check_lengths, dot, exp_fast, f, u};
use crate::program::{
    for_each_chunk, for_each_chunk_pair, grid, read, with_scratch, write, Access, CpuMemory, Kernel, Launch, Shader,
    Tensor, WG,
};

/// The shape of one attention call. `qkv` is `[batch*seq, 3*d]`: columns `[0,d)` are queries, `[d,2d)` keys,
/// `[2d,3d)` values; head h uses columns `h*head_dim..(h+1)*head_dim` of each. Scores are
/// `q·k/sqrt(head_dim) + bias[i,j]`, keys j > i masked when causal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionDims {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub causal: bool,
}

/// `out[b*seq+i, h*head_dim+c] = Σ_j softmax_j(score[i,j]) v_j` and `lse[b,h,i] = log Σ_j exp(score[i,j])`,
/// the row statistic the backward recomputes the probabilities from.
#[derive(Clone, Debug)]
pub struct AttentionForward {
    pub qkv: Tensor,
    pub bias: Option<Tensor>, // [seq, seq]
    pub out: Tensor,          // [batch*seq, d]
    pub lse: Tensor,          // [batch, heads, seq]
    pub dims: AttentionDims,
}

/// `d_qkv` (set) from `d_out`, with the forward's `out` and `lse`. `delta` is scratch for
/// `rowsum(d_out ⊙ out)` per row, `[batch, heads, seq]`. The bias gets no gradient (it is a constant mask).
#[derive(Clone, Debug)]
pub struct AttentionBackward {
    pub qkv: Tensor,
    pub bias: Option<Tensor>,
    pub out: Tensor,
    pub lse: Tensor,
    pub d_out: Tensor,
    pub delta: Tensor,
    pub d_qkv: Tensor,
    pub dims: AttentionDims,
}

/// The dense probabilities `probs[b,h,i,j]` (masked entries 0), for probes and the page's attention view.
#[derive(Clone, Debug)]
pub struct AttentionProbs {
    pub qkv: Tensor,
    pub bias: Option<Tensor>,
    pub probs: Tensor, // [batch, heads, seq, seq]
    pub dims: AttentionDims,
}

pub(super) const Q: usize = 0;
pub(super) const K: usize = 1;
pub(super) const V: usize = 2;

/// Query rows per block of the CPU path: a block's `[QUERY_BLOCK, seq]` scores are all it holds at once.
const QUERY_BLOCK: usize = 64;

/// Head dimensions per register chunk of the shaders: the smallest of 16, 32, 64 holding the head, else 64
/// (larger heads loop over chunks).
pub(super) fn head_chunk(head_dim: usize) -> u32 {
    match head_dim {
        0..=16 => 16,
        17..=32 => 32,
        _ => 64,
    }
}

impl AttentionDims {
    fn d(&self) -> usize {
        self.heads * self.head_dim
    }
    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
    /// Elements of the row statistics `lse` and `delta`.
    pub fn rows(&self) -> usize {
        self.batch * self.heads * self.seq
    }
    /// Keys query i attends to: `0..visible(i)`.
    fn visible(&self, i: usize) -> usize {
        if self.causal {
            i + 1
        } else {
            self.seq
        }
    }
    /// The shaders' rows per workgroup (`ROWS`, one per thread: a multiple of 8 up to 64, at least 32 unless the
    /// sequence is shorter) and rows per tile (`TILE`: 8 to 16, fewer only for shorter sequences), each padding
    /// the sequence least (the larger on a tie). Padded rows cost full work, and 36 tokens (a 6x6 Sudoku) in a
    /// block of 64 would spend almost half of it on padding; a floor keeps workgroups and tiles from getting so
    /// small that loads and barriers dominate.
    fn rows_and_tile(&self) -> (usize, usize) {
        let least_padding = |sizes: &mut dyn Iterator<Item = usize>| {
            sizes.map(|n| (self.seq.div_ceil(n) * n, std::cmp::Reverse(n))).min().expect("some size").1 .0
        };
        let rows = least_padding(&mut (self.seq.next_multiple_of(8).min(32)..=64).step_by(8));
        let tile = least_padding(&mut (self.seq.min(8)..=16.min(rows)));
        (rows, tile)
    }
    fn shader(&self) -> Shader {
        let (rows, tile) = self.rows_and_tile();
        Shader::Attention { head_chunk: head_chunk(self.head_dim), rows: rows as u32, tile: tile as u32, staged: 0 }
    }
    /// The one-dispatch backward's shape, where it applies: `(pairs, staged)`, `pairs` whole (example, head)
    /// pairs per workgroup (about 32 threads, so 4-token sequences do not run 4-thread workgroups) and `staged`
    /// of the four `[seq, head]` operands (K, Q, dO, V: the shader's order) that fit in default workgroup
    /// memory beside the row statistics. It applies to heads of one register chunk whose sequence leaves at
    /// least two operands room: longer sequences take the two tiled passes, which spread one (example, head)
    /// over several workgroups. The one place that chooses between the two.
    fn short_backward(&self) -> Option<(usize, usize)> {
        const WORKGROUP_FLOATS: usize = 16 * 1024 / 4;
        let (chunk, seq) = (head_chunk(self.head_dim) as usize, self.seq.max(1));
        let pairs = (32 / seq).clamp(1, (self.batch * self.heads).max(1));
        let rows = pairs * seq;
        let staged = (WORKGROUP_FLOATS.saturating_sub(2 * rows) / (rows * chunk)).min(4);
        (self.head_dim <= chunk && rows <= WG as usize && staged >= 2).then_some((pairs, staged))
    }
    fn params(&self, has_bias: bool) -> Vec<u32> {
        let (b, s, h, hd) = (u(self.batch), u(self.seq), u(self.heads), u(self.head_dim));
        vec![b, s, h, hd, self.causal as u32, f(self.scale()), has_bias as u32, 0]
    }
    /// Workgroups of a tiled launch: one per (block of rows, batch, head), spread over x and y, one z layer per
    /// register chunk of the head.
    fn tiled_workgroups(&self) -> [u32; 3] {
        let groups = self.seq.div_ceil(self.rows_and_tile().0) * self.batch * self.heads;
        let [x, y, _] = grid(groups * WG as usize);
        [x, y, self.head_dim.div_ceil(head_chunk(self.head_dim) as usize) as u32]
    }
    fn check(&self, op: &str, sized: &[(&str, Tensor, usize)]) {
        assert!(self.head_dim > 0, "{op}: head_dim must be positive");
        check_lengths(op, sized);
    }
    /// The bias binding: the bias, or (unread, `has_bias` 0) the qkv tensor, so one entry point serves both.
    fn bias_binding(&self, qkv: Tensor, bias: Option<Tensor>) -> (Tensor, Access) {
        read(bias.unwrap_or(qkv))
    }

    /// `scores[r, j] = scale·q_{i0+r}·k_j + bias[i0+r, j]` for the visible keys of rows `i0..i0+rows` of one
    /// example's `qkv_b` and head h, as `[rows, keys]` with `keys = visible(i0+rows-1)`; the masked tail of each
    /// row is left unset. One sgemm.
    fn block_scores(&self, qkv_b: &[f32], bias: Option<&[f32]>, h: usize, i0: usize, rows: usize, scores: &mut [f32]) {
        let (d3, hd, seq) = (3 * self.d(), self.head_dim, self.seq);
        let keys = self.visible(i0 + rows - 1);
        let q = &qkv_b[i0 * d3 + Q * self.d() + h * hd..];
        let k = &qkv_b[K * self.d() + h * hd..];
        gemm(rows, hd, keys, self.scale(), (q, d3, 1), (k, 1, d3), 0.0, (scores, keys, 1));
        if let Some(bias) = bias {
            for (r, row) in scores.chunks_mut(keys).take(rows).enumerate() {
                let i = i0 + r;
                let seen = self.visible(i);
                row[..seen].iter_mut().zip(&bias[i * seq..]).for_each(|(s, b)| *s += b);
            }
        }
    }
}

/// `c = alpha·a·b + beta·c` for `a [m, k]`, `b [k, n]`, `c [m, n]`, each a slice with its row and column
/// strides (the gemm crate reads strided views in place). With beta 0, `c` need not be initialized.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
    beta: f32,
    c: (&mut [f32], usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + cols.saturating_sub(1) * cs;
    assert!(k == 0 || last(m, k, a.1, a.2) < a.0.len(), "gemm: a is too short");
    assert!(k == 0 || last(k, n, b.1, b.2) < b.0.len(), "gemm: b is too short");
    assert!(last(m, n, c.1, c.2) < c.0.len(), "gemm: c is too short");
    // SAFETY: the asserts above keep every element gemm touches inside its slice; c is borrowed mutably.
    // The gemm crate computes dst = alpha·dst + beta·lhs·rhs (dst read only when asked), strides as (column, row);
    // one thread, since attention already runs an example per thread.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.0.as_mut_ptr(),
            c.2 as isize,
            c.1 as isize,
            beta != 0.0,
            a.0.as_ptr(),
            a.2 as isize,
            a.1 as isize,
            b.0.as_ptr(),
            b.2 as isize,
            b.1 as isize,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The largest element, over 8 independent lanes so the loop vectorizes (a fold is one serial chain).
fn max_of(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        lanes.iter_mut().zip(c).for_each(|(l, &v)| *l = if v > *l { v } else { *l });
    }
    lanes.into_iter().chain(rest.iter().copied()).fold(f32::NEG_INFINITY, f32::max)
}

/// `x = exp(x - shift)` in place, returning the sum, over 8 lanes like `max_of`.
fn exp_sum(x: &mut [f32], shift: f32) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        lanes.iter_mut().zip(c).for_each(|(l, v)| {
            *v = exp_fast(*v - shift);
            *l += *v;
        });
    }
    let rest: f32 = chunks
        .into_remainder()
        .iter_mut()
        .map(|v| {
            *v = exp_fast(*v - shift);
            *v
        })
        .sum();
    lanes.iter().sum::<f32>() + rest
}

impl AttentionForward {
    fn check(&self) -> AttentionDims {
        let dm = self.dims;
        let (bs, s) = (dm.batch * dm.seq, dm.seq);
        let mut sized =
            vec![("qkv", self.qkv, bs * 3 * dm.d()), ("out", self.out, bs * dm.d()), ("lse", self.lse, dm.rows())];
        sized.extend(self.bias.map(|t| ("bias", t, s * s)));
        dm.check("attention forward", &sized);
        dm
    }
}

impl Kernel for AttentionForward {
    /// Per example (one chunk of `out` and `lse`, threaded), per head and block of query rows: the block's
    /// scores by sgemm, an exact softmax per row (the whole row is there), then `out = P·V` by sgemm.
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (seq, d, hd) = (dm.seq, dm.d(), dm.head_dim);
        mem.out2(self.out, self.lse, |mem, out, lse| {
            let qkv = mem.get(self.qkv);
            let bias = self.bias.map(|t| mem.get(t));
            let work = dm.heads * seq * seq * (2 * hd + 8);
            for_each_chunk_pair(out, seq * d, lse, dm.heads * seq, work, |b, out_b, lse_b| {
                let qkv_b = &qkv[b * seq * 3 * d..][..seq * 3 * d];
                with_scratch(QUERY_BLOCK * seq, |probs| {
                    for h in 0..dm.heads {
                        for i0 in (0..seq).step_by(QUERY_BLOCK) {
                            let rows = QUERY_BLOCK.min(seq - i0);
                            let keys = dm.visible(i0 + rows - 1);
                            dm.block_scores(qkv_b, bias, h, i0, rows, probs);
                            for (r, row) in probs.chunks_mut(keys).take(rows).enumerate() {
                                let (seen, masked) = row.split_at_mut(dm.visible(i0 + r));
                                let max = max_of(seen);
                                let sum = exp_sum(seen, max);
                                let inv = 1.0 / sum;
                                seen.iter_mut().for_each(|s| *s *= inv);
                                masked.fill(0.0);
                                lse_b[h * seq + i0 + r] = max + libm::logf(sum);
                            }
                            let v = &qkv_b[V * d + h * hd..];
                            let o = &mut out_b[i0 * d + h * hd..];
                            gemm(rows, keys, hd, 1.0, (probs, keys, 1), (v, 3 * d, 1), 0.0, (o, d, 1));
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
            entry: "attention_forward",
            params: dm.params(self.bias.is_some()),
            bindings: vec![read(self.qkv), dm.bias_binding(self.qkv, self.bias), write(self.out), write(self.lse)],
            workgroups: dm.tiled_workgroups(),
        }]
    }
}

impl AttentionBackward {
    fn check(&self) -> AttentionDims {
        let dm = self.dims;
        let (bs, s) = (dm.batch * dm.seq, dm.seq);
        let mut sized = vec![
            ("qkv", self.qkv, bs * 3 * dm.d()),
            ("out", self.out, bs * dm.d()),
            ("lse", self.lse, dm.rows()),
            ("d_out", self.d_out, bs * dm.d()),
            ("delta", self.delta, dm.rows()),
            ("d_qkv", self.d_qkv, bs * 3 * dm.d()),
        ];
        sized.extend(self.bias.map(|t| ("bias", t, s * s)));
        dm.check("attention backward", &sized);
        dm
    }
}

impl Kernel for AttentionBackward {
    /// Per example (one chunk of `d_qkv`, threaded), per head and block of query rows: P recomputed from the
    /// scores and `lse`, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)), then dV += Pᵀ·dO, dQ = s·dS·K and
    /// dK += s·dSᵀ·Q, each an sgemm. The row sums need no buffer here (`delta` is the shaders' scratch).
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let (seq, d, hd, scale) = (dm.seq, dm.d(), dm.head_dim, dm.scale());
        mem.out(self.d_qkv, |mem, d_qkv| {
            let (qkv, out, lse, d_out) = (mem.get(self.qkv), mem.get(self.out), mem.get(self.lse), mem.get(self.d_out));
            let bias = self.bias.map(|t| mem.get(t));
            let work = dm.heads * seq * seq * (5 * hd + 8);
            for_each_chunk(d_qkv, seq * 3 * d, work, |b, dqkv_b| {
                let qkv_b = &qkv[b * seq * 3 * d..][..seq * 3 * d];
                let (out_b, d_out_b) = (&out[b * seq * d..][..seq * d], &d_out[b * seq * d..][..seq * d]);
                dqkv_b.fill(0.0);
                with_scratch(2 * QUERY_BLOCK * seq + seq, |scratch| {
                    let (probs, rest) = scratch.split_at_mut(QUERY_BLOCK * seq);
                    let (d_scores, delta) = rest.split_at_mut(QUERY_BLOCK * seq);
                    for h in 0..dm.heads {
                        for (i, dd) in delta.iter_mut().enumerate() {
                            let at = i * d + h * hd;
                            *dd = dot(&d_out_b[at..at + hd], &out_b[at..at + hd]);
                        }
                        let lse_h = &lse[(b * dm.heads + h) * seq..][..seq];
                        for i0 in (0..seq).step_by(QUERY_BLOCK) {
                            let rows = QUERY_BLOCK.min(seq - i0);
                            let keys = dm.visible(i0 + rows - 1);
                            dm.block_scores(qkv_b, bias, h, i0, rows, probs);
                            for (r, row) in probs.chunks_mut(keys).take(rows).enumerate() {
                                let (seen, masked) = row.split_at_mut(dm.visible(i0 + r));
                                let l = lse_h[i0 + r];
                                seen.iter_mut().for_each(|s| *s = exp_fast(*s - l));
                                masked.fill(0.0);
                            }
                            let (go, v) = (&d_out_b[i0 * d + h * hd..], &qkv_b[V * d + h * hd..]);
                            gemm(rows, hd, keys, 1.0, (go, d, 1), (v, 1, 3 * d), 0.0, (d_scores, keys, 1));
                            for (r, (ds, p)) in d_scores.chunks_mut(keys).zip(probs.chunks(keys)).take(rows).enumerate()
                            {
                                let dd = delta[i0 + r];
                                ds.iter_mut().zip(p).for_each(|(ds, p)| *ds = p * (*ds - dd));
                            }
                            let (q, k) = (&qkv_b[i0 * 3 * d + Q * d + h * hd..], &qkv_b[K * d + h * hd..]);
                            let d_v = &mut dqkv_b[V * d + h * hd..];
                            gemm(keys, rows, hd, 1.0, (probs, 1, keys), (go, d, 1), 1.0, (d_v, 3 * d, 1));
                            let d_q = &mut dqkv_b[i0 * 3 * d + Q * d + h * hd..];
                            gemm(rows, keys, hd, scale, (d_scores, keys, 1), (k, 3 * d, 1), 0.0, (d_q, 3 * d, 1));
                            let d_k = &mut dqkv_b[K * d + h * hd..];
                            gemm(keys, rows, hd, scale, (d_scores, 1, keys), (q, 3 * d, 1), 1.0, (d_k, 3 * d, 1));
                        }
                    }
                });
            });
        });
    }

    /// One dispatch where a workgroup holds whole (example, head) pairs (`short_backward`); otherwise two
    /// passes, no atomics: per block of query rows dQ (and each row's delta), then per block of key rows dK and
    /// dV, each recomputing the probabilities tile by tile.
    fn launches(&self) -> Vec<Launch> {
        let dm = self.check();
        let bias = dm.bias_binding(self.qkv, self.bias);
        // The one-dispatch backward's bindings, and the dQ pass's before its `delta`.
        let query_side =
            vec![read(self.qkv), bias, read(self.out), read(self.lse), read(self.d_out), write(self.d_qkv)];
        if let Some((pairs, staged)) = dm.short_backward() {
            let (rows, tile, staged) = ((pairs * dm.seq) as u32, dm.seq as u32, staged as u32);
            let [x, y, _] = grid((dm.batch * dm.heads).div_ceil(pairs) * WG as usize);
            return vec![Launch {
                shader: Shader::Attention { head_chunk: head_chunk(dm.head_dim), rows, tile, staged },
                entry: "attention_backward_short",
                params: dm.params(self.bias.is_some()),
                bindings: query_side,
                workgroups: [x, y, 1],
            }];
        }
        vec![
            Launch {
                shader: dm.shader(),
                entry: "attention_backward_query",
                params: dm.params(self.bias.is_some()),
                bindings: [query_side, vec![write(self.delta)]].concat(),
                workgroups: dm.tiled_workgroups(),
            },
            Launch {
                shader: dm.shader(),
                entry: "attention_backward_key",
                params: dm.params(self.bias.is_some()),
                bindings: vec![
                    read(self.qkv),
                    bias,
                    read(self.delta),
                    read(self.lse),
                    read(self.d_out),
                    write(self.d_qkv),
                ],
                workgroups: dm.tiled_workgroups(),
            },
        ]
    }
}

impl AttentionProbs {
    fn check(&self) -> AttentionDims {
        let dm = self.dims;
        let (bs, s) = (dm.batch * dm.seq, dm.seq);
        let mut sized = vec![("qkv", self.qkv, bs * 3 * dm.d()), ("probs", self.probs, dm.rows() * s)];
        sized.extend(self.bias.map(|t| ("bias", t, s * s)));
        dm.check("attention probabilities", &sized);
        dm
    }
}

impl Kernel for AttentionProbs {
    fn cpu(&self, mem: &mut CpuMemory) {
        let dm = self.check();
        let seq = dm.seq;
        mem.out(self.probs, |mem, probs| {
            let qkv = mem.get(self.qkv);
            let bias = self.bias.map(|t| mem.get(t));
            for_each_chunk(probs, dm.heads * seq * seq, dm.heads * seq * seq * (2 * dm.head_dim + 8), |b, probs_b| {
                let qkv_b = &qkv[b * seq * 3 * dm.d()..][..seq * 3 * dm.d()];
                for (h, map) in probs_b.chunks_mut(seq * seq).enumerate() {
                    // One row at a time, so the rows are laid out [seq, seq] whatever their visible keys.
                    for (i, row) in map.chunks_mut(seq).enumerate() {
                        dm.block_scores(qkv_b, bias, h, i, 1, row);
                        let (seen, masked) = row.split_at_mut(dm.visible(i));
                        let max = seen.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        seen.iter_mut().for_each(|s| *s = libm::expf(*s - max));
                        let sum: f32 = seen.iter().sum();
                        seen.iter_mut().for_each(|s| *s /= sum);
                        masked.fill(0.0);
                    }
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        let dm = self.check();
        vec![Launch {
            shader: dm.shader(),
            entry: "attention_probs",
            params: dm.params(self.bias.is_some()),
            bindings: vec![read(self.qkv), dm.bias_binding(self.qkv, self.bias), write(self.probs)],
            workgroups: grid(dm.rows()),
        }]
    }
}
