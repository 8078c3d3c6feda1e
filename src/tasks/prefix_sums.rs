//! Prefix-sum parity (DeepThinking, Schwarzschild et al. 2021): bits `x_0 .. x_{L-1}`, and at every position `i`
//! the target `(x_0 + ... + x_i) mod 2`.
//!
//! Token layout: one token per bit, `0` or `1`, then `PAD` (2) up to the dataset's `seq_len`. Every bit position
//! is supervised with its prefix parity; `PAD` positions have target `IGNORE`.
//!
//! Lengths: training strings have `task.size` bits, test strings `task.test_size` bits (0 = `task.size`). Each
//! split has its own length, unless the model uses learned absolute positions: then both are right-padded with
//! `PAD` to the longer one, and the positions beyond the training length are never trained (so testing longer
//! strings measures little more than the embedding table). Length extrapolation needs `model.attention=local`
//! with `model.positions=none`.
//!
//! Splits: "train" (`task.examples` strings) and "test" (`task.test_examples`), drawn by the seed, with no bit
//! string twice in a split nor in both splits (strings of different lengths are different strings).

use std::collections::HashSet;
use std::hash::Hash;

use super::{Dataset, Split, TaskConfig, IGNORE};
use crate::error::LabError;
use crate::rng::Rng;

pub const PAD: u32 = 2;
pub const VOCAB: usize = 3;
pub const MIN_SIZE: usize = 2;
pub const MAX_SIZE: usize = 512;
pub const MAX_EXAMPLES: usize = 10_000_000;

/// `(x_0 + ... + x_i) mod 2` for every `i`.
pub fn parities(bits: &[u8]) -> Vec<u8> {
    bits.iter()
        .scan(0u8, |acc, &b| {
            *acc ^= b & 1;
            Some(*acc)
        })
        .collect()
}

/// Tokens and targets of one string right-padded to `seq_len` (`PAD` tokens, `IGNORE` targets).
pub fn encode(bits: &[u8], seq_len: usize) -> (Vec<u32>, Vec<u32>) {
    assert!(bits.len() <= seq_len, "{} bits do not fit seq_len {seq_len}", bits.len());
    let mut tokens: Vec<u32> = bits.iter().map(|&b| b as u32).collect();
    let mut targets: Vec<u32> = parities(bits).into_iter().map(u32::from).collect();
    tokens.resize(seq_len, PAD);
    targets.resize(seq_len, IGNORE);
    (tokens, targets)
}

/// Number of distinct bit strings of length `len`, `None` when it does not fit a u64.
fn space(len: usize) -> Option<u64> {
    (len < 64).then(|| 1u64 << len)
}

fn test_len(t: &TaskConfig) -> usize {
    if t.test_size == 0 {
        t.size
    } else {
        t.test_size
    }
}

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    let bits = format!("a number of bits per string from {MIN_SIZE} to {MAX_SIZE}");
    if !(MIN_SIZE..=MAX_SIZE).contains(&t.size) {
        return Err(LabError::invalid("task.size", t.size, bits));
    }
    if t.test_size != 0 && !(MIN_SIZE..=MAX_SIZE).contains(&t.test_size) {
        return Err(LabError::invalid("task.test_size", t.test_size, format!("0 (same as task.size) or {bits}")));
    }
    let room = |len: usize| space(len).map_or(u64::MAX, |s| s);
    let train_room = room(t.size).min(MAX_EXAMPLES as u64);
    if !(1..=train_room).contains(&(t.examples as u64)) {
        return Err(LabError::invalid(
            "task.examples",
            t.examples,
            format!("a number of training strings from 1 to {train_room} (distinct {}-bit strings)", t.size),
        ));
    }
    let tl = test_len(t);
    let left = if tl == t.size { room(tl) - t.examples as u64 } else { room(tl) };
    let test_room = left.min(MAX_EXAMPLES as u64);
    if !(1..=test_room).contains(&(t.test_examples as u64)) {
        let why = if tl == t.size { ", not used by the training split" } else { "" };
        return Err(LabError::invalid(
            "task.test_examples",
            t.test_examples,
            format!("a number of test strings from 1 to {test_room} (distinct {tl}-bit strings{why})"),
        ));
    }
    Ok(())
}

/// `count` distinct items not in `exclude`, drawn uniformly. Where the space of `space` items is small next to
/// what is asked, every item (`decode(0..space)`) is listed and shuffled; otherwise `random` draws are rejected
/// while they repeat (each draw is then accepted with probability >= 3/4). Returns fewer than `count` items only
/// when the space runs out.
pub(crate) fn sample_distinct<T: Hash + Eq + Clone>(
    space: Option<u64>,
    count: usize,
    exclude: &HashSet<T>,
    rng: &mut Rng,
    decode: impl Fn(u64) -> T,
    mut random: impl FnMut(&mut Rng) -> T,
) -> Vec<T> {
    let needed = (count as u64).saturating_add(exclude.len() as u64).saturating_mul(4);
    if let Some(space) = space.filter(|&s| s <= needed) {
        let mut all: Vec<T> = (0..space).map(&decode).filter(|x| !exclude.contains(x)).collect();
        rng.shuffle(&mut all);
        all.truncate(count);
        return all;
    }
    let mut seen: HashSet<T> = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let x = random(rng);
        if !exclude.contains(&x) && seen.insert(x.clone()) {
            out.push(x);
        }
    }
    out
}

fn strings(len: usize, count: usize, exclude: &HashSet<Vec<u8>>, rng: &mut Rng) -> Vec<Vec<u8>> {
    let decode = |i: u64| (0..len).map(|j| ((i >> j) & 1) as u8).collect();
    sample_distinct(space(len), count, exclude, rng, decode, |rng| (0..len).map(|_| rng.below(2) as u8).collect())
}

/// Train and test splits at their own lengths; with `pad` (learned absolute positions) both are padded to the
/// longer one.
pub fn build(task: &TaskConfig, seed: u64, pad: bool) -> Dataset {
    let tl = test_len(task);
    let padded = |len: usize| if pad { task.size.max(tl) } else { len };
    let train = strings(task.size, task.examples, &HashSet::new(), &mut Rng::fork(seed, "prefix-sums-train"));
    let exclude: HashSet<Vec<u8>> = if tl == task.size { train.iter().cloned().collect() } else { HashSet::new() };
    let test = strings(tl, task.test_examples, &exclude, &mut Rng::fork(seed, "prefix-sums-test"));
    let split = |name, strings: &[Vec<u8>], len: usize| {
        let mut s = Split::sequences(name, padded(len));
        for bits in strings {
            let (tokens, targets) = encode(bits, s.seq_len);
            s.push(&tokens, &targets);
        }
        s
    };
    Dataset { vocab: VOCAB, splits: vec![split("train", &train, task.size), split("test", &test, tl)] }
}
