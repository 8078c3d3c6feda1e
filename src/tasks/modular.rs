//! Modular arithmetic `a op b = c (mod p)` (Power et al. 2022): every pair (a, b) once, shuffled by the seed,
//! split into train and test. Sequence `[a, op, b, =]`; only the `=` position is supervised, with target c.

use super::{Dataset, Split};
use crate::config::{ModOp, TaskConfig};
use crate::ops::cross_entropy::IGNORE;
use crate::rng::Rng;

pub const SEQ_LEN: usize = 4;

/// Token ids: numbers are 0..p, then the operator, then `=`.
pub fn vocab(p: usize) -> usize {
    p + 2
}

pub fn answer(op: ModOp, a: usize, b: usize, p: usize) -> usize {
    match op {
        ModOp::Add => (a + b) % p,
        ModOp::Sub => (a + p - b) % p,
        ModOp::Mul => (a * b) % p,
        // b^(p-2) is b's inverse mod a prime p (Fermat).
        ModOp::Div => (a * pow_mod(b, p - 2, p)) % p,
    }
}

fn pow_mod(mut base: usize, mut exp: usize, p: usize) -> usize {
    let mut r = 1 % p;
    base %= p;
    while exp > 0 {
        if exp & 1 == 1 {
            r = r * base % p;
        }
        base = base * base % p;
        exp >>= 1;
    }
    r
}

pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    let p = task.p;
    let mut pairs: Vec<(usize, usize)> =
        (0..p).flat_map(|a| (0..p).map(move |b| (a, b))).filter(|&(_, b)| task.op != ModOp::Div || b != 0).collect();
    Rng::fork(seed, "modular-split").shuffle(&mut pairs);
    let n_train = (task.train_fraction * pairs.len() as f64).round() as usize;
    let split = |name, pairs: &[(usize, usize)]| {
        let mut s = Split::sequences(name, SEQ_LEN);
        for &(a, b) in pairs {
            s.tokens.extend([a as u32, p as u32, b as u32, p as u32 + 1]);
            s.targets.extend([IGNORE, IGNORE, IGNORE, answer(task.op, a, b, p) as u32]);
        }
        s
    };
    Dataset { vocab: vocab(p), splits: vec![split("train", &pairs[..n_train]), split("test", &pairs[n_train..])] }
}
