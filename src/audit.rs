//! The computation-graph audit of a multiplication model (Dziri et al. 2023): for each answer digit of the
//! test problems, its depth in the long-multiplication graph, whether it is right, whether its ancestor
//! subgraph (with values; `multiplication::Problem::subgraph_key`) occurred in training, and for a wrong digit
//! the kind of error.
//!
//! Error kinds, read from the answer digits alone (the model shows no partial products or carries): a wrong
//! digit d_k is a *propagation* error when some lower digit d_j (j < k) is also wrong (d_j is the readout of
//! the column sum s_j, an ancestor of d_k, so an ancestor step went wrong), and a *local* error when every lower
//! digit is right (its ancestors' readouts are right, its own step is not). A right lower digit does not prove
//! the carry out of its column was right, so "local" is an upper bound on truly local errors.

use std::collections::HashSet;

use serde::Serialize;

use crate::backend::Backend;
use crate::config::TaskKind;
use crate::error::LabError;
use crate::solve::trace;
use crate::tasks::multiplication::{self, Problem};
use crate::tasks::Split;
use crate::train::checkpoint::Weights;
use crate::train::training_depth;

/// One answer digit position over the test problems.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DigitAudit {
    /// Position k (weight 10^k).
    pub digit: usize,
    pub depth: usize,
    pub accuracy: f64,
    pub correct_seen: usize,
    pub correct_unseen: usize,
    pub wrong_seen: usize,
    pub wrong_unseen: usize,
    pub local_errors: usize,
    pub propagation_errors: usize,
}

/// Token accuracy of the digits at one graph depth.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DepthAccuracy {
    pub depth: usize,
    pub digits: Vec<usize>,
    pub accuracy: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Audit {
    pub examples: usize,
    /// Share of problems whose whole product is right.
    pub exact: f64,
    pub digits: Vec<DigitAudit>,
    pub by_depth: Vec<DepthAccuracy>,
}

/// Audits `predicted` answers (`[problem][digit]`, least significant first) of `problems` against the
/// training problems.
pub fn audit(problems: &[Problem], predicted: &[Vec<u32>], train: &[Problem]) -> Audit {
    let Some(first) = problems.first() else {
        return Audit { examples: 0, exact: 0.0, digits: Vec::new(), by_depth: Vec::new() };
    };
    let (na, nb) = (first.a.len(), first.b.len());
    let graph = multiplication::graph(na, nb);
    let seen: Vec<HashSet<_>> = graph.iter().map(|g| train.iter().map(|p| p.subgraph_key(g.digit)).collect()).collect();
    let mut digits: Vec<DigitAudit> =
        graph.iter().map(|g| DigitAudit { digit: g.digit, depth: g.depth, ..Default::default() }).collect();
    let mut exact = 0;
    for (p, answer) in problems.iter().zip(predicted) {
        let right: Vec<bool> = p.product().iter().zip(answer).map(|(&t, &y)| t as u32 == y).collect();
        exact += usize::from(right.iter().all(|&r| r));
        for (k, d) in digits.iter_mut().enumerate() {
            let was_seen = seen[k].contains(&p.subgraph_key(k));
            match (right[k], was_seen) {
                (true, true) => d.correct_seen += 1,
                (true, false) => d.correct_unseen += 1,
                (false, true) => d.wrong_seen += 1,
                (false, false) => d.wrong_unseen += 1,
            }
            if !right[k] {
                if right[..k].iter().all(|&r| r) {
                    d.local_errors += 1;
                } else {
                    d.propagation_errors += 1;
                }
            }
        }
    }
    let n = problems.len();
    for d in &mut digits {
        d.accuracy = (d.correct_seen + d.correct_unseen) as f64 / n as f64;
    }
    let mut depths: Vec<usize> = digits.iter().map(|d| d.depth).collect();
    depths.dedup();
    let by_depth = depths
        .into_iter()
        .map(|depth| {
            let at: Vec<&DigitAudit> = digits.iter().filter(|d| d.depth == depth).collect();
            let accuracy = at.iter().map(|d| d.accuracy).sum::<f64>() / at.len() as f64;
            DepthAccuracy { depth, digits: at.iter().map(|d| d.digit).collect(), accuracy }
        })
        .collect();
    Audit { examples: n, exact: exact as f64 / n as f64, digits, by_depth }
}

fn problems_of(split: &Split, na: usize, nb: usize) -> Vec<Problem> {
    (0..split.len()).map(|i| multiplication::decode(split.example(i).0, na, nb)).collect()
}

/// Runs a multiplication checkpoint on its test split at its training depth and audits the answers.
pub async fn run(weights: &Weights<'_>, backend: &mut Backend) -> Result<Audit, LabError> {
    let config = &weights.config;
    if config.task.kind != TaskKind::Multiplication {
        return Err(LabError::Input(format!(
            "the audit needs a multiplication model; this checkpoint's task is {:?}",
            config.task.kind
        )));
    }
    let (na, nb) = (config.task.size, multiplication::b_digits(&config.task));
    let data = config.dataset();
    let (train, test) = (problems_of(&data.splits[0], na, nb), &data.splits[1]);
    let depth = training_depth(config);
    let chunk = (4_000_000 / (depth * test.seq_len * weights.vocab)).clamp(1, 512);
    let mut predicted = Vec::with_capacity(test.len());
    for start in (0..test.len()).step_by(chunk) {
        let ids = start..(start + chunk).min(test.len());
        let tokens: Vec<u32> = ids.clone().flat_map(|i| test.example(i).0.to_vec()).collect();
        let t = trace(weights, backend, &tokens, test.grid, depth).await?;
        predicted.extend((0..ids.len()).map(|b| multiplication::answer(&t.predictions(depth - 1, b), na, nb)));
    }
    Ok(audit(&problems_of(test, na, nb), &predicted, &train))
}

impl Audit {
    pub fn table(&self) -> String {
        let mut s =
            format!("{} test problems, exact (whole product right) {:.1}%\n", self.examples, 100.0 * self.exact);
        s += &format!(
            "{:>5} {:>5} {:>8} {:>12} {:>14} {:>10} {:>12} {:>6} {:>11}\n",
            "digit",
            "depth",
            "accuracy",
            "right+seen",
            "right+unseen",
            "wrong+seen",
            "wrong+unseen",
            "local",
            "propagation"
        );
        for d in &self.digits {
            s += &format!(
                "{:>5} {:>5} {:>7.1}% {:>12} {:>14} {:>10} {:>12} {:>6} {:>11}\n",
                d.digit,
                d.depth,
                100.0 * d.accuracy,
                d.correct_seen,
                d.correct_unseen,
                d.wrong_seen,
                d.wrong_unseen,
                d.local_errors,
                d.propagation_errors
            );
        }
        s += "accuracy by graph depth: ";
        s += &self
            .by_depth
            .iter()
            .map(|d| format!("{}: {:.1}%", d.depth, 100.0 * d.accuracy))
            .collect::<Vec<_>>()
            .join(", ");
        s + "\n"
    }
}
