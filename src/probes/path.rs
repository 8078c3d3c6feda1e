//! Path independence (Anil et al. 2022): does the loop reach the same final state from another initial
//! state? Compares two final answer states of the same examples, one reached from the true initial state and
//! one from a perturbed one.

use serde::{Deserialize, Serialize};

use super::convergence::{cosine, relative_change};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathIndependence {
    /// Iterations run from each initial state.
    pub iterations: usize,
    /// Standard deviation of the Gaussian noise added to every initial state (the RMS of the true final
    /// answer state, so the perturbation is as large as the states the loop works with).
    pub noise_std: f64,
    /// Per example: cosine between the two final answer states (each example's `[seq, d]` flattened).
    pub cosines: Vec<f64>,
    pub mean_cosine: f64,
    pub min_cosine: f64,
    /// Mean over examples of `‖random - true‖ / ‖true‖` of the final states.
    pub mean_relative_distance: f64,
}

/// Compares final states `from_true` and `from_random`, both `[examples, per_example]`.
pub fn compare(
    from_true: &[f32],
    from_random: &[f32],
    examples: usize,
    iterations: usize,
    noise_std: f64,
) -> PathIndependence {
    assert!(
        examples > 0 && from_true.len() == from_random.len() && from_true.len().is_multiple_of(examples),
        "path: {} and {} elements in {examples} examples",
        from_true.len(),
        from_random.len()
    );
    let per = from_true.len() / examples;
    let pairs = || from_true.chunks(per).zip(from_random.chunks(per));
    let cosines: Vec<f64> = pairs().map(|(a, b)| cosine(a, b)).collect();
    let distance = pairs().map(|(a, b)| relative_change(a, b)).sum::<f64>() / examples as f64;
    PathIndependence {
        iterations,
        noise_std,
        mean_cosine: cosines.iter().sum::<f64>() / examples as f64,
        min_cosine: cosines.iter().copied().fold(1.0, f64::min),
        cosines,
        mean_relative_distance: distance,
    }
}

/// Root mean square of a tensor.
pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len().max(1) as f64).sqrt()
}
