//! Fixed-point convergence: how much a state changes from one step (iteration, or layer of a feedforward
//! stack) to the next. Per example the state is the whole `[seq, d]` block of that example, flattened.

use serde::{Deserialize, Serialize};

/// The change from one step's state to the next, averaged over examples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Mean over examples of `‖after - before‖ / ‖before‖`.
    pub relative_change: f64,
    /// Mean over examples of `cosine(after, before)`.
    pub cosine: f64,
}

fn norm(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt()
}

/// `‖after - before‖ / ‖before‖`; 0 when both are zero, and `‖after‖ / 1e-30` (huge but finite, so it
/// serializes) when only `before` is.
pub fn relative_change(before: &[f32], after: &[f32]) -> f64 {
    assert_eq!(before.len(), after.len(), "relative_change: {} vs {} elements", before.len(), after.len());
    let diff = before.iter().zip(after).map(|(&a, &b)| (b as f64 - a as f64).powi(2)).sum::<f64>().sqrt();
    if diff == 0.0 {
        return 0.0;
    }
    diff / norm(before).max(1e-30)
}

/// `a·b / (‖a‖ ‖b‖)` in [-1, 1]; 1 when both are zero (identical), 0 when only one is.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "cosine: {} vs {} elements", a.len(), b.len());
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return if na == nb { 1.0 } else { 0.0 };
    }
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    (dot / (na * nb)).clamp(-1.0, 1.0)
}

/// The change from `before` to `after`, both `[examples, per_example]` row-major, averaged over examples.
pub fn mean_change(before: &[f32], after: &[f32], examples: usize) -> Change {
    assert!(
        examples > 0 && before.len() == after.len() && before.len().is_multiple_of(examples),
        "mean_change: {} and {} elements in {examples} examples",
        before.len(),
        after.len()
    );
    let per = before.len() / examples;
    let (mut rel, mut cos) = (0.0, 0.0);
    for (a, b) in before.chunks(per).zip(after.chunks(per)) {
        rel += relative_change(a, b);
        cos += cosine(a, b);
    }
    Change { relative_change: rel / examples as f64, cosine: cos / examples as f64 }
}

/// Per token position: the mean over examples of that token's relative change, for states `[examples, seq, d]`.
pub fn token_changes(before: &[f32], after: &[f32], examples: usize, seq: usize, d: usize) -> Vec<f64> {
    assert!(
        before.len() == examples * seq * d && after.len() == before.len(),
        "token_changes: {} and {} elements, expected {examples}x{seq}x{d}",
        before.len(),
        after.len()
    );
    let mut out = vec![0.0; seq];
    for (i, (a, b)) in before.chunks(d).zip(after.chunks(d)).enumerate() {
        out[i % seq] += relative_change(a, b);
    }
    out.iter_mut().for_each(|x| *x /= examples as f64);
    out
}

/// The changes between successive states of a sequence (`states.len() - 1` of them).
pub fn series(states: &[&[f32]], examples: usize) -> Vec<Change> {
    states.windows(2).map(|w| mean_change(w[0], w[1], examples)).collect()
}
