//! Kernels: one file per layer, each holding the op's parameters, its CPU reference and its GPU launch
//! (the WGSL lives beside it in shaders/ under the same name).

pub mod activation;
pub mod adamw;
pub mod attention;
pub mod cross_entropy;
pub mod elementwise;
pub mod embedding;
pub mod halting;
pub mod local_attention;
pub mod matmul;
pub mod reduce;
pub mod rmsnorm;

use crate::program::Tensor;

/// Every `(name, tensor, expected length)` has its length (the no-aliasing rule is checked per launch when a
/// program is prepared: `program::check_aliasing`).
pub fn check_lengths(op: &str, sized: &[(&str, Tensor, usize)]) {
    for (name, t, len) in sized {
        assert_eq!(t.len, *len, "{op}: {name} has {} elements, expected {len}", t.len);
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Packs an f32 into a uniform word.
pub fn f(x: f32) -> u32 {
    x.to_bits()
}

/// Packs a count into a uniform word, refusing sizes a u32 index cannot address.
pub fn u(x: usize) -> u32 {
    u32::try_from(x).expect("tensor dimension exceeds u32")
}
