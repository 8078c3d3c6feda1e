//! Modular arithmetic `a op b = c (mod p)` (Power et al. 2022): every pair (a, b) once, shuffled by the seed,
//! split into train and test. Sequence `[a, op, b, =]`; only the `=` position is supervised, with target c.

use super::{Dataset, ModOp, Split, TaskConfig, IGNORE};
use crate::error::{check_whole, LabError};
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

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    check_whole("task.p", t.p as u64, 2, 1000)?;
    if t.op == ModOp::Div && !is_prime(t.p) {
        return Err(LabError::invalid(
            "task.p",
            t.p,
            "a prime when task.op is / (division needs every b != 0 invertible)",
        ));
    }
    let pairs = if t.op == ModOp::Div { t.p * (t.p - 1) } else { t.p * t.p };
    let train = (t.train_fraction * pairs as f64).round() as usize;
    if !(t.train_fraction > 0.0 && t.train_fraction < 1.0) || train == 0 || train == pairs {
        return Err(LabError::invalid(
            "task.train_fraction",
            t.train_fraction,
            format!("a fraction in (0, 1) leaving both splits non-empty ({pairs} pairs)"),
        ));
    }
    Ok(())
}

fn is_prime(n: usize) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))
}
