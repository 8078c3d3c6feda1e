//! The test oracle for both attention ops: textbook attention in f64, one query row at a time, with every
//! probability materialized. Slow and obviously correct, so the fast CPU path (blocked sgemm, recomputed
//! probabilities) is itself checked against something simple.

/// Layout of `qkv [batch*seq, 3*heads*head_dim]` (queries, keys, values side by side, head h at columns
/// `h*head_dim..` of each), and which keys each query sees.
pub struct Naive<'a> {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
    /// For head h and query i: each key j it sees, with the additive bias of that score and the bias slot
    /// (index into the bias gradient) it comes from.
    pub keys: &'a dyn Fn(usize, usize) -> Vec<(usize, f64, usize)>,
}

/// What the oracle computes: the forward's `out [batch*seq, d]`, `lse [batch, heads, seq]` and dense
/// `probs [batch, heads, seq, keys]` (each row's probabilities in the order `keys` lists them, 0 after);
/// the backward's `d_qkv` and the bias gradient per slot.
pub struct NaiveResult {
    pub out: Vec<f32>,
    pub lse: Vec<f32>,
    pub probs: Vec<f32>,
    pub d_qkv: Vec<f32>,
    pub d_bias: Vec<f32>,
}

impl Naive<'_> {
    fn d(&self) -> usize {
        self.heads * self.head_dim
    }

    fn at(&self, b: usize, i: usize, part: usize, h: usize) -> usize {
        (b * self.seq + i) * 3 * self.d() + part * self.d() + h * self.head_dim
    }

    /// `keys_per_row` is the width of a probs row; `slots` the length of the bias gradient.
    pub fn run(&self, qkv: &[f32], d_out: &[f32], keys_per_row: usize, slots: usize) -> NaiveResult {
        let (d, hd) = (self.d(), self.head_dim);
        let scale = 1.0 / (hd as f64).sqrt();
        let rows = self.batch * self.heads * self.seq;
        let mut r = NaiveResult {
            out: vec![0.0; self.batch * self.seq * d],
            lse: vec![0.0; rows],
            probs: vec![0.0; rows * keys_per_row],
            d_qkv: vec![0.0; qkv.len()],
            d_bias: vec![0.0; slots],
        };
        let mut d_qkv = vec![0f64; qkv.len()];
        let mut d_bias = vec![0f64; slots];
        let x = |at: usize, c: usize| qkv[at + c] as f64;
        for b in 0..self.batch {
            for h in 0..self.heads {
                for i in 0..self.seq {
                    let keys = (self.keys)(h, i);
                    let (q, row) = (self.at(b, i, 0, h), (b * self.heads + h) * self.seq + i);
                    let scores: Vec<f64> = keys
                        .iter()
                        .map(|&(j, bias, _)| {
                            let k = self.at(b, j, 1, h);
                            (0..hd).map(|c| x(q, c) * x(k, c)).sum::<f64>() * scale + bias
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                    let p: Vec<f64> = scores.iter().map(|s| (s - max).exp() / sum).collect();
                    r.lse[row] = (max + sum.ln()) as f32;
                    let out_at = (b * self.seq + i) * d + h * hd;
                    for c in 0..hd {
                        let o: f64 = keys.iter().zip(&p).map(|(&(j, _, _), p)| p * x(self.at(b, j, 2, h), c)).sum();
                        r.out[out_at + c] = o as f32;
                    }
                    for (n, &pj) in p.iter().enumerate() {
                        r.probs[row * keys_per_row + n] = pj as f32;
                    }
                    // dP_j = dO·v_j, dS_j = P_j (dP_j − Σ_k P_k dP_k).
                    let go: Vec<f64> = (0..hd).map(|c| d_out[out_at + c] as f64).collect();
                    let dp: Vec<f64> = keys
                        .iter()
                        .map(|&(j, _, _)| (0..hd).map(|c| go[c] * x(self.at(b, j, 2, h), c)).sum())
                        .collect();
                    let mean: f64 = p.iter().zip(&dp).map(|(p, dp)| p * dp).sum();
                    for (n, &(j, _, slot)) in keys.iter().enumerate() {
                        let ds = p[n] * (dp[n] - mean);
                        d_bias[slot] += ds;
                        let (k, v) = (self.at(b, j, 1, h), self.at(b, j, 2, h));
                        for c in 0..hd {
                            d_qkv[q + c] += scale * ds * x(k, c);
                            d_qkv[k + c] += scale * ds * x(q, c);
                            d_qkv[v + c] += p[n] * go[c];
                        }
                    }
                }
            }
        }
        r.d_qkv = d_qkv.iter().map(|&v| v as f32).collect();
        r.d_bias = d_bias.iter().map(|&v| v as f32).collect();
        r
    }
}
