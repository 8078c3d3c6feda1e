//! Passkey retrieval at a distance (the toy of TransformerFAM, Hwang et al. 2024): filler tokens, one passkey
//! token, and a query at the end whose answer is the passkey. A model that attends only within a sliding
//! window of blocks cannot see a passkey farther back than its receptive field; feedback memory can carry it.
//!
//! Token layout (`seq_len = L = task.seq_len`): passkeys `0..K` (`K = task.size`), filler tokens
//! `K..K + FILLER`, `QUERY = K + FILLER` (vocab `K + FILLER + 1`). An example at distance D (1 <= D < L) has
//! the passkey at position `L - 1 - D`, QUERY at position `L - 1`, filler drawn uniformly everywhere else. Only
//! the QUERY position is supervised, with the passkey as target.
//!
//! Splits: "train" (`task.examples`, D uniform over `1..L`), then one test split per distance of
//! `TEST_DISTANCES` below L, named `d{D}` (`task.test_examples` each). No token sequence appears twice in a
//! split or in two splits.

use std::collections::HashSet;

use super::{Dataset, Split, TaskConfig, IGNORE};
use crate::error::LabError;
use crate::rng::Rng;

/// Kinds of filler token.
pub const FILLER: usize = 8;
pub const MIN_KEYS: usize = 2;
pub const MAX_KEYS: usize = 64;
pub const MIN_LEN: usize = 2;
pub const MAX_LEN: usize = 1024;
pub const MAX_EXAMPLES: usize = 1_000_000;

/// The distances of the test splits (those below the sequence length are built), with their split names.
pub const TEST_DISTANCES: [(usize, &str); 14] = [
    (4, "d4"),
    (8, "d8"),
    (12, "d12"),
    (16, "d16"),
    (24, "d24"),
    (32, "d32"),
    (40, "d40"),
    (48, "d48"),
    (56, "d56"),
    (64, "d64"),
    (96, "d96"),
    (128, "d128"),
    (256, "d256"),
    (512, "d512"),
];

pub fn query(keys: usize) -> u32 {
    (keys + FILLER) as u32
}

pub fn vocab(keys: usize) -> usize {
    keys + FILLER + 1
}

/// Tokens and targets of one example: `filler` (L - 2 tokens) around the passkey `key` at distance `distance`
/// before the final QUERY.
pub fn encode(keys: usize, filler: &[u32], key: u32, distance: usize) -> (Vec<u32>, Vec<u32>) {
    let len = filler.len() + 2;
    assert!(
        (1..len).contains(&distance) && (key as usize) < keys,
        "passkey {key} at distance {distance} in {len} tokens"
    );
    let mut tokens = filler.to_vec();
    tokens.insert(len - 1 - distance, key);
    tokens.push(query(keys));
    let mut targets = vec![IGNORE; len];
    targets[len - 1] = key;
    (tokens, targets)
}

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    if !(MIN_KEYS..=MAX_KEYS).contains(&t.size) {
        return Err(LabError::invalid(
            "task.size",
            t.size,
            format!("a number of distinct passkeys from {MIN_KEYS} to {MAX_KEYS}"),
        ));
    }
    if !(MIN_LEN..=MAX_LEN).contains(&t.seq_len) {
        return Err(LabError::invalid(
            "task.seq_len",
            t.seq_len,
            format!("a sequence length from {MIN_LEN} to {MAX_LEN} (passkey, filler and the query)"),
        ));
    }
    if !(1..=MAX_EXAMPLES).contains(&t.examples) {
        return Err(LabError::invalid(
            "task.examples",
            t.examples,
            format!("a number of training examples from 1 to {MAX_EXAMPLES}"),
        ));
    }
    if !(1..=MAX_EXAMPLES).contains(&t.test_examples) {
        return Err(LabError::invalid(
            "task.test_examples",
            t.test_examples,
            format!("a number of test examples per distance from 1 to {MAX_EXAMPLES}"),
        ));
    }
    // Distinct examples need room: K * FILLER^(L-2) sequences per distance.
    let room = (t.size as f64) * (FILLER as f64).powi(t.seq_len as i32 - 2);
    if room < 4.0 * t.examples.max(t.test_examples) as f64 {
        return Err(LabError::invalid(
            "task.seq_len",
            t.seq_len,
            format!("a longer sequence: too few distinct sequences for {} examples", t.examples.max(t.test_examples)),
        ));
    }
    Ok(())
}

/// `count` distinct examples not in `seen` (which collects them), at the distance `distance` gives.
fn draw(
    t: &TaskConfig,
    count: usize,
    seen: &mut HashSet<Vec<u32>>,
    rng: &mut Rng,
    distance: impl Fn(&mut Rng) -> usize,
    split: &mut Split,
) {
    let (keys, len) = (t.size, t.seq_len);
    while split.len() < count {
        let d = distance(rng);
        let key = rng.below(keys) as u32;
        let filler: Vec<u32> = (0..len - 2).map(|_| (keys + rng.below(FILLER)) as u32).collect();
        let (tokens, targets) = encode(keys, &filler, key, d);
        if seen.insert(tokens.clone()) {
            split.push(&tokens, &targets);
        }
    }
}

pub fn build(t: &TaskConfig, seed: u64) -> Dataset {
    let len = t.seq_len;
    let mut seen = HashSet::new();
    let mut train = Split::sequences("train", len);
    draw(t, t.examples, &mut seen, &mut Rng::fork(seed, "passkey-train"), |rng| 1 + rng.below(len - 1), &mut train);
    let mut splits = vec![train];
    for &(d, name) in TEST_DISTANCES.iter().filter(|(d, _)| *d < len) {
        let mut split = Split::sequences(name, len);
        draw(t, t.test_examples, &mut seen, &mut Rng::fork(seed, &format!("passkey-{name}")), |_| d, &mut split);
        splits.push(split);
    }
    Dataset { vocab: vocab(t.size), splits }
}
