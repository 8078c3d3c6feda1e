//! Multi-digit multiplication `a x b` (Dziri et al. 2023, "Faith and Fate"), with each answer digit's
//! computation graph for `looplab audit`.
//!
//! Numbers: a has `task.size` digits, b `task.size_b` (0 = `task.size`), leading digits nonzero (0-9 for one
//! digit). Layout: one sequence, digits least significant first: `a_0 .. a_{na-1} TIMES b_0 .. b_{nb-1} EQUALS`
//! then `na + nb` answer slots (`BLANK`), supervised with the product's digits d_0 .. d_{na+nb-1} (the top one
//! may be 0); every other position has target `IGNORE`. Global attention; the whole answer is predicted at once
//! (not autoregressively). Splits: "train" (`task.examples`) and "test" (`task.test_examples`), disjoint.
//!
//! The computation graph is long multiplication: partial products `p_ij = a_i * b_j` (depth 1, from the input
//! digits at depth 0); column sums `s_k = sum_{i+j=k} p_ij + c_{k-1}`, depth 1 + the deepest summand; the
//! digit `d_k = s_k mod 10` and the carry `c_k = s_k div 10`, depth of `s_k` + 1; the top digit is the last
//! carry. So `d_k` has depth `2k + 3` (the top digit that of the carry below it), and its ancestors are every
//! partial product with `i + j <= k`, i.e. the input digits `a_0..a_min(k, na-1)` and `b_0..b_min(k, nb-1)`.
//! The graph with its node values is therefore fixed by those low digits: the canonical form of d_k's ancestor
//! subgraph (`subgraph_key`) is `(k, na, nb, a_0..a_min(k,na-1), b_0..b_min(k,nb-1))`, and it was *seen* when
//! some training problem has the same key (Dziri's linearized subgraph matching, with values).

use std::collections::HashSet;

use super::prefix_sums::sample_distinct;
use super::{Dataset, Split, TaskConfig, IGNORE};
use crate::error::LabError;
use crate::rng::Rng;

pub const TIMES: u32 = 10;
pub const EQUALS: u32 = 11;
pub const BLANK: u32 = 12;
pub const VOCAB: usize = 13;
pub const MAX_DIGITS: usize = 8;
pub const MAX_EXAMPLES: usize = 1_000_000;

/// Two operands, digits least significant first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Problem {
    pub a: Vec<u8>,
    pub b: Vec<u8>,
}

/// One answer digit's place in the long-multiplication graph.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DigitGraph {
    /// Position k of the digit (weight 10^k).
    pub digit: usize,
    pub depth: usize,
    /// Partial products `(i, j)` it depends on (through its column and the carries below).
    pub ancestors: Vec<(usize, usize)>,
}

impl Problem {
    /// The product's `na + nb` digits, least significant first, by long multiplication.
    pub fn product(&self) -> Vec<u8> {
        let (na, nb) = (self.a.len(), self.b.len());
        let mut out = Vec::with_capacity(na + nb);
        let mut carry = 0u32;
        for k in 0..na + nb - 1 {
            let column: u32 =
                (0..na).filter(|&i| k >= i && k - i < nb).map(|i| self.a[i] as u32 * self.b[k - i] as u32).sum();
            let s = column + carry;
            out.push((s % 10) as u8);
            carry = s / 10;
        }
        out.push(carry as u8);
        out
    }

    /// The canonical form of answer digit k's ancestor subgraph with its values (see the module comment).
    pub fn subgraph_key(&self, k: usize) -> (usize, usize, usize, Vec<u8>, Vec<u8>) {
        let (na, nb) = (self.a.len(), self.b.len());
        (k, na, nb, self.a[..na.min(k + 1)].to_vec(), self.b[..nb.min(k + 1)].to_vec())
    }
}

/// The graph of every answer digit of an `na`-digit by `nb`-digit product.
pub fn graph(na: usize, nb: usize) -> Vec<DigitGraph> {
    let top = na + nb - 1;
    (0..=top)
        .map(|k| {
            // The top digit is the carry out of column top - 1: same depth and ancestors as that column's digit.
            let column = k.min(top - 1);
            let ancestors =
                (0..na).flat_map(|i| (0..nb).map(move |j| (i, j))).filter(|&(i, j)| i + j <= column).collect();
            DigitGraph { digit: k, depth: 2 * column + 3, ancestors }
        })
        .collect()
}

pub fn b_digits(t: &TaskConfig) -> usize {
    if t.size_b == 0 {
        t.size
    } else {
        t.size_b
    }
}

/// Tokens per example.
pub fn seq_len(na: usize, nb: usize) -> usize {
    2 * (na + nb) + 2
}

pub fn encode(p: &Problem) -> (Vec<u32>, Vec<u32>) {
    let (na, nb) = (p.a.len(), p.b.len());
    let mut tokens: Vec<u32> = p.a.iter().map(|&d| d as u32).collect();
    tokens.push(TIMES);
    tokens.extend(p.b.iter().map(|&d| d as u32));
    tokens.push(EQUALS);
    let mut targets = vec![IGNORE; tokens.len()];
    tokens.extend(std::iter::repeat_n(BLANK, na + nb));
    targets.extend(p.product().into_iter().map(u32::from));
    (tokens, targets)
}

/// The problem an encoded example holds (the inverse of `encode` on its tokens).
pub fn decode(tokens: &[u32], na: usize, nb: usize) -> Problem {
    Problem {
        a: tokens[..na].iter().map(|&t| t as u8).collect(),
        b: tokens[na + 1..na + 1 + nb].iter().map(|&t| t as u8).collect(),
    }
}

/// The predicted answer digits (tokens at the answer slots) of an example's predictions.
pub fn answer(predicted: &[u32], na: usize, nb: usize) -> Vec<u32> {
    predicted[na + nb + 2..].to_vec()
}

fn operands(n: usize) -> u64 {
    if n == 1 {
        10
    } else {
        9 * 10u64.pow(n as u32 - 1)
    }
}

fn digits_of(mut x: u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            let d = (x % 10) as u8;
            x /= 10;
            d
        })
        .collect()
}

fn low(n: usize) -> u64 {
    if n == 1 {
        0
    } else {
        10u64.pow(n as u32 - 1)
    }
}

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    if !(1..=MAX_DIGITS).contains(&t.size) {
        return Err(LabError::invalid("task.size", t.size, format!("digits of a, from 1 to {MAX_DIGITS}")));
    }
    if t.size_b > MAX_DIGITS {
        return Err(LabError::invalid(
            "task.size_b",
            t.size_b,
            format!("0 (same as task.size) or digits of b, from 1 to {MAX_DIGITS}"),
        ));
    }
    let space = operands(t.size) * operands(b_digits(t));
    let total = t.examples as u64 + t.test_examples as u64;
    if t.examples == 0
        || t.test_examples == 0
        || t.examples > MAX_EXAMPLES
        || t.test_examples > MAX_EXAMPLES
        || total > space
    {
        return Err(LabError::invalid(
            "task.examples",
            format!("{} (+ {} test)", t.examples, t.test_examples),
            format!("at least 1 training and 1 test problem, at most {MAX_EXAMPLES} each and {space} together (distinct {}x{}-digit problems)", t.size, b_digits(t)),
        ));
    }
    Ok(())
}

pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    let (na, nb) = (task.size, b_digits(task));
    let (oa, ob) = (operands(na), operands(nb));
    let decode = |i: u64| Problem { a: digits_of(low(na) + i / ob, na), b: digits_of(low(nb) + i % ob, nb) };
    let random = |rng: &mut Rng| Problem {
        a: digits_of(low(na) + rng.below(oa as usize) as u64, na),
        b: digits_of(low(nb) + rng.below(ob as usize) as u64, nb),
    };
    let mut rng = Rng::fork(seed, "multiplication");
    let all =
        sample_distinct(Some(oa * ob), task.examples + task.test_examples, &HashSet::new(), &mut rng, decode, random);
    let mut splits = vec![Split::sequences("train", seq_len(na, nb)), Split::sequences("test", seq_len(na, nb))];
    for (i, p) in all.iter().enumerate() {
        let (tokens, targets) = encode(p);
        splits[usize::from(i >= task.examples)].push(&tokens, &targets);
    }
    Dataset { vocab: VOCAB, splits }
}
