//! Pointer chasing: a random permutation `pi` of `n = task.size` nodes written as its `n` pairs `i -> pi(i)` in
//! shuffled order, then a start node; the answer is the `k`-th successor `pi^k(start)` with `k = task.hops`.
//! Following `k` pointers in context is multi-hop retrieval: a looped model can take one hop per iteration.
//!
//! Token layout (`seq_len = 3n + 3`), with node tokens `0..n` and three symbols after them:
//!
//! ```text
//! a_0 ARROW pi(a_0)  a_1 ARROW pi(a_1)  ...  a_{n-1} ARROW pi(a_{n-1})  START s  QUERY
//! ```
//!
//! where `a_0 .. a_{n-1}` is a random order of the nodes, `ARROW = n`, `START = n + 1`, `QUERY = n + 2`
//! (vocab `n + 3`). Only the final (`QUERY`) position is supervised, with target `pi^k(s)`; all other targets are
//! `IGNORE`. `pi` is uniform over all permutations, so it may have fixed points and short cycles (then
//! `pi^k(s)` can be `s` itself).
//!
//! Splits: "train" (`task.examples`) and "test" (`task.test_examples`), drawn by the seed. An example is
//! identified by its (permutation, start): no pair appears twice in a split or in both splits, whatever the
//! order the pairs are written in.

use std::collections::HashSet;

use super::prefix_sums::sample_distinct;
use super::{Dataset, Split, TaskConfig, IGNORE};
use crate::error::LabError;
use crate::rng::Rng;

pub const MIN_NODES: usize = 2;
pub const MAX_NODES: usize = 64;
pub const MIN_HOPS: usize = 1;
pub const MAX_HOPS: usize = 16;
pub const MAX_EXAMPLES: usize = 10_000_000;

pub fn arrow(n: usize) -> u32 {
    n as u32
}

pub fn start(n: usize) -> u32 {
    n as u32 + 1
}

pub fn query(n: usize) -> u32 {
    n as u32 + 2
}

pub fn vocab(n: usize) -> usize {
    n + 3
}

pub fn seq_len(n: usize) -> usize {
    3 * n + 3
}

/// `pi^hops(from)`.
pub fn successor(perm: &[u8], from: usize, hops: usize) -> usize {
    (0..hops).fold(from, |i, _| perm[i] as usize)
}

/// Tokens and targets of one example: the pairs `i -> perm[i]` in the order `order`, then `START s QUERY`.
pub fn encode(perm: &[u8], order: &[u8], s: usize, hops: usize) -> (Vec<u32>, Vec<u32>) {
    let n = perm.len();
    let mut tokens = Vec::with_capacity(seq_len(n));
    for &a in order {
        tokens.extend([a as u32, arrow(n), perm[a as usize] as u32]);
    }
    tokens.extend([start(n), s as u32, query(n)]);
    let mut targets = vec![IGNORE; seq_len(n)];
    targets[seq_len(n) - 1] = successor(perm, s, hops) as u32;
    (tokens, targets)
}

/// Number of distinct (permutation, start) pairs, `n! * n`, `None` when it does not fit a u64.
pub fn space(n: usize) -> Option<u64> {
    (1..=n as u64).try_fold(n as u64, |acc, i| acc.checked_mul(i))
}

/// The `index`-th (permutation, start) pair of `0 .. n! * n`: start = index mod n, the permutation by its
/// Lehmer code (factorial number system).
fn decode(n: usize, index: u64) -> (Vec<u8>, u8) {
    let s = (index % n as u64) as u8;
    let mut r = index / n as u64;
    let mut pool: Vec<u8> = (0..n as u8).collect();
    let mut perm = Vec::with_capacity(n);
    for k in (1..=n as u64).rev() {
        perm.push(pool.remove((r % k) as usize));
        r /= k;
    }
    (perm, s)
}

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    if !(MIN_NODES..=MAX_NODES).contains(&t.size) {
        return Err(LabError::invalid(
            "task.size",
            t.size,
            format!("a number of nodes from {MIN_NODES} to {MAX_NODES}"),
        ));
    }
    if !(MIN_HOPS..=MAX_HOPS).contains(&t.hops) {
        return Err(LabError::invalid(
            "task.hops",
            t.hops,
            format!("a number of pointer hops from {MIN_HOPS} to {MAX_HOPS}"),
        ));
    }
    let room = space(t.size).unwrap_or(u64::MAX);
    let train_room = room.min(MAX_EXAMPLES as u64);
    if !(1..=train_room).contains(&(t.examples as u64)) {
        return Err(LabError::invalid(
            "task.examples",
            t.examples,
            format!("a number of training examples from 1 to {train_room} (distinct permutation and start pairs of {} nodes)", t.size),
        ));
    }
    let test_room = (room - t.examples as u64).min(MAX_EXAMPLES as u64);
    if !(1..=test_room).contains(&(t.test_examples as u64)) {
        return Err(LabError::invalid(
            "task.test_examples",
            t.test_examples,
            format!("a number of test examples from 1 to {test_room} (distinct permutation and start pairs of {} nodes not used by the training split)", t.size),
        ));
    }
    Ok(())
}

fn draw(n: usize, count: usize, exclude: &HashSet<(Vec<u8>, u8)>, rng: &mut Rng) -> Vec<(Vec<u8>, u8)> {
    sample_distinct(
        space(n),
        count,
        exclude,
        rng,
        |i| decode(n, i),
        |rng| {
            let mut perm: Vec<u8> = (0..n as u8).collect();
            rng.shuffle(&mut perm);
            (perm, rng.below(n) as u8)
        },
    )
}

pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    let n = task.size;
    let train = draw(n, task.examples, &HashSet::new(), &mut Rng::fork(seed, "pointer-chasing-train"));
    let exclude: HashSet<(Vec<u8>, u8)> = train.iter().cloned().collect();
    let test = draw(n, task.test_examples, &exclude, &mut Rng::fork(seed, "pointer-chasing-test"));
    let split = |name, examples: &[(Vec<u8>, u8)], stream: &str| {
        // The order the pairs are written in comes from its own stream, so it does not shift which examples are drawn.
        let mut rng = Rng::fork(seed, stream);
        let mut s = Split::sequences(name, seq_len(n));
        for (perm, start) in examples {
            let mut order: Vec<u8> = (0..n as u8).collect();
            rng.shuffle(&mut order);
            let (tokens, targets) = encode(perm, &order, *start as usize, task.hops);
            s.tokens.extend(tokens);
            s.targets.extend(targets);
        }
        s
    };
    Dataset {
        vocab: vocab(n),
        splits: vec![
            split("train", &train, "pointer-chasing-train-order"),
            split("test", &test, "pointer-chasing-test-order"),
        ],
    }
}
