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

/// e^x to about 2e-7 relative error in plain arithmetic the compiler vectorizes (`f32::exp` is a call per
/// element: attention's softmax makes `seq²` of them per head, SwiGLU one per hidden unit). Arguments below -87 give ~1e-38, not 0.
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    // r = x − n·ln2 in two parts (Cody–Waite), |r| <= ln2/2, then e^r by its Taylor series to r^7.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    let two_n = ((t.to_bits() as i32 - 0x4B40_0000 + 127) << 23) as u32;
    p * f32::from_bits(two_n)
}

/// Packs an f32 into a uniform word.
pub fn f(x: f32) -> u32 {
    x.to_bits()
}

/// Packs a count into a uniform word, refusing sizes a u32 index cannot address.
pub fn u(x: usize) -> u32 {
    u32::try_from(x).expect("tensor dimension exceeds u32")
}
