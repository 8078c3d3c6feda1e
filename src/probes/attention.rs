//! Attention maps: entropy of each query's distribution over keys, and the Jensen-Shannon divergence between
//! two maps of the same shape (a layer's maps at successive iterations). Natural logarithms throughout, so a
//! uniform distribution over n keys has entropy ln n and JS divergence lies in [0, ln 2].
//!
//! Maps are laid out `[batch, heads, seq, keys]` (one row of `keys` probabilities per query); rows of zeros
//! (keys outside a local window are exactly 0) contribute nothing.

/// `-Σ p ln p` of one row (terms with p <= 0 are 0).
pub fn entropy(p: &[f32]) -> f64 {
    -p.iter().filter(|&&x| x > 0.0).map(|&x| x as f64 * (x as f64).ln()).sum::<f64>()
}

/// Jensen-Shannon divergence `(KL(p‖m) + KL(q‖m)) / 2`, `m = (p + q) / 2`, of two rows, clamped to [0, ln 2].
pub fn js_divergence(p: &[f32], q: &[f32]) -> f64 {
    assert_eq!(p.len(), q.len(), "js_divergence: {} vs {} keys", p.len(), q.len());
    let half_kl = |a: f64, m: f64| if a > 0.0 { 0.5 * a * (a / m).ln() } else { 0.0 };
    let js: f64 = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (a, b) = (a.max(0.0) as f64, b.max(0.0) as f64);
            let m = 0.5 * (a + b);
            half_kl(a, m) + half_kl(b, m)
        })
        .sum();
    js.clamp(0.0, std::f64::consts::LN_2)
}

/// Shape of a set of attention maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapShape {
    pub batch: usize,
    pub heads: usize,
    pub seq: usize,
    pub keys: usize,
}

impl MapShape {
    pub fn len(&self) -> usize {
        self.batch * self.heads * self.seq * self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements of one example's maps (`[heads, seq, keys]`).
    pub fn per_example(&self) -> usize {
        self.heads * self.seq * self.keys
    }

    /// The mean over examples and queries of `f(row)` for each head.
    fn per_head(&self, rows: impl Iterator<Item = f64>) -> Vec<f64> {
        let mut sums = vec![0.0; self.heads];
        for (i, v) in rows.enumerate() {
            sums[(i / self.seq) % self.heads] += v;
        }
        let n = (self.batch * self.seq).max(1) as f64;
        sums.into_iter().map(|s| s / n).collect()
    }
}

/// Mean entropy per head of maps `probs` (`shape.len()` elements).
pub fn head_entropy(probs: &[f32], shape: MapShape) -> Vec<f64> {
    assert_eq!(probs.len(), shape.len(), "head_entropy: {} elements for {shape:?}", probs.len());
    shape.per_head(probs.chunks(shape.keys.max(1)).map(entropy))
}

/// Mean Jensen-Shannon divergence per head between two sets of maps of one shape.
pub fn head_js(p: &[f32], q: &[f32], shape: MapShape) -> Vec<f64> {
    assert!(
        p.len() == shape.len() && q.len() == shape.len(),
        "head_js: {} and {} elements for {shape:?}",
        p.len(),
        q.len()
    );
    let k = shape.keys.max(1);
    shape.per_head(p.chunks(k).zip(q.chunks(k)).map(|(a, b)| js_divergence(a, b)))
}
