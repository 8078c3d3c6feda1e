//! The logit lens per iteration: the output head's reading of the answer state after each iteration
//! (`solve::trace`), scored against the targets, and for composition when each bridge entity is the top
//! token at the answer position.

use serde::{Deserialize, Serialize};

use crate::tasks::IGNORE;

/// Scores of the output head's reading after one iteration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LensStep {
    /// 1-based.
    pub iteration: usize,
    /// Share of supervised positions whose top token is the target.
    pub token_accuracy: f64,
    /// Share of examples (with at least one supervised position) whose every supervised position is right.
    pub exact_accuracy: f64,
    /// Mean over supervised positions of the target's rank among the vocabulary (1 = top).
    pub mean_rank: f64,
}

/// The share of supervised targets equal to the most common one: the token accuracy of a model that always
/// gives that answer (0 without supervised targets).
pub fn majority_share(targets: &[u32]) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for &y in targets.iter().filter(|&&y| y != IGNORE) {
        *counts.entry(y).or_insert(0usize) += 1;
    }
    let supervised: usize = counts.values().sum();
    counts.values().max().map_or(0.0, |&most| most as f64 / supervised as f64)
}

/// Index of the largest logit (the first of equal ones).
pub fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &x)| if x > row[best] { i } else { best })
}

/// 1 + the number of tokens with a strictly larger logit than `token`.
pub fn rank(row: &[f32], token: usize) -> usize {
    1 + row.iter().filter(|&&x| x > row[token]).count()
}

/// `logits[t]` is `[batch, seq, vocab]` after iteration t+1; `targets` is `[batch, seq]` (`IGNORE` where a
/// position is not supervised).
pub fn lens(logits: &[Vec<f32>], targets: &[u32], seq: usize, vocab: usize) -> Vec<LensStep> {
    logits
        .iter()
        .enumerate()
        .map(|(t, all)| {
            assert_eq!(
                all.len(),
                targets.len() * vocab,
                "lens: {} logits for {} positions of {vocab}",
                all.len(),
                targets.len()
            );
            let (mut correct, mut supervised, mut rank_sum, mut exact, mut scored) =
                (0usize, 0usize, 0usize, 0usize, 0usize);
            for (example, ys) in targets.chunks(seq).enumerate() {
                let mut all_right = true;
                let mut any = false;
                for (i, &y) in ys.iter().enumerate() {
                    if y == IGNORE {
                        continue;
                    }
                    let row = &all[(example * seq + i) * vocab..(example * seq + i + 1) * vocab];
                    let right = argmax(row) == y as usize;
                    any = true;
                    all_right &= right;
                    correct += right as usize;
                    supervised += 1;
                    rank_sum += rank(row, y as usize);
                }
                if any {
                    scored += 1;
                    exact += all_right as usize;
                }
            }
            let per = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            LensStep {
                iteration: t + 1,
                token_accuracy: per(correct, supervised),
                exact_accuracy: per(exact, scored),
                mean_rank: per(rank_sum, supervised),
            }
        })
        .collect()
}

/// When one bridge entity (b_j of a k-hop query) becomes readable at the answer position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BridgeReading {
    /// 1-based: b1 = r1(h), b2 = r2(b1), ...
    pub bridge: usize,
    /// Examples that have this bridge (atomic facts have none).
    pub examples: usize,
    /// Per iteration: the share of those examples whose top token at the answer position is the bridge.
    pub top_share: Vec<f64>,
    /// Per iteration: the bridge's mean rank at the answer position (1 = top).
    pub mean_rank: Vec<f64>,
    /// `first_top[t]`: examples whose bridge is the top token for the first time after iteration t+1.
    pub first_top: Vec<usize>,
    /// Examples whose bridge is never the top token.
    pub never_top: usize,
}

/// For each bridge index j, over examples that have bridge j: whether it is the top token at `position`
/// after each iteration. `bridges[b]` lists example b's bridges in order (empty for atomic facts).
pub fn bridge_lens(
    logits: &[Vec<f32>],
    bridges: &[Vec<usize>],
    position: usize,
    seq: usize,
    vocab: usize,
) -> Vec<BridgeReading> {
    let iterations = logits.len();
    let most = bridges.iter().map(Vec::len).max().unwrap_or(0);
    (0..most)
        .map(|j| {
            let mut r = BridgeReading {
                bridge: j + 1,
                examples: 0,
                top_share: vec![0.0; iterations],
                mean_rank: vec![0.0; iterations],
                first_top: vec![0; iterations],
                never_top: 0,
            };
            for (b, list) in bridges.iter().enumerate() {
                let Some(&entity) = list.get(j) else { continue };
                r.examples += 1;
                let mut first = None;
                for (t, all) in logits.iter().enumerate() {
                    let row = &all[(b * seq + position) * vocab..(b * seq + position + 1) * vocab];
                    let top = argmax(row) == entity;
                    r.top_share[t] += top as usize as f64;
                    r.mean_rank[t] += rank(row, entity) as f64;
                    if top && first.is_none() {
                        first = Some(t);
                    }
                }
                match first {
                    Some(t) => r.first_top[t] += 1,
                    None => r.never_top += 1,
                }
            }
            let n = r.examples.max(1) as f64;
            r.top_share.iter_mut().chain(r.mean_rank.iter_mut()).for_each(|x| *x /= n);
            r
        })
        .collect()
}
