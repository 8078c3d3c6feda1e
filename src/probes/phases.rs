//! Phases of a training run from its history: the first recorded step at which each split's accuracy
//! reaches a threshold (memorization: train; generalization: test / test_id; composition's OOD phase:
//! test_ood), or never.

use serde::{Deserialize, Serialize};

use crate::train::Record;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub split: String,
    /// First recorded step with token accuracy >= the threshold; `None`: never.
    pub accuracy_step: Option<u64>,
    /// First recorded step with exact-match accuracy >= the threshold; `None`: never.
    pub exact_step: Option<u64>,
    /// Best and last token accuracy recorded.
    pub best_accuracy: f64,
    pub final_accuracy: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    pub threshold: f64,
    /// Recorded steps in the history.
    pub records: usize,
    pub last_step: u64,
    pub splits: Vec<Phase>,
}

/// The first step whose value is >= `threshold`, over `(step, value)` in recorded order.
pub fn first_crossing(curve: &[(u64, f64)], threshold: f64) -> Option<u64> {
    curve.iter().find(|&&(_, v)| v >= threshold).map(|&(s, _)| s)
}

/// One split's scores over a run: (step, loss, token accuracy, exact-match accuracy) per record.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub split: String,
    pub points: Vec<(u64, f64, f64, f64)>,
}

/// Every split's curve. Splits are those of the records' `splits` lists (named by the first record that has
/// one); records without them (older histories) give `train` and `test` from `train_acc` / `test_acc` (and
/// `test_loss`; such records hold no loss of the training split, NaN there).
pub fn curves(history: &[Record]) -> Vec<Curve> {
    let names: Vec<String> = match history.iter().find(|r| !r.splits.is_empty()) {
        Some(r) => r.splits.iter().map(|s| s.split.clone()).collect(),
        None => vec!["train".into(), "test".into()],
    };
    let value = |r: &Record, i: usize, name: &str| -> Option<(f64, f64, f64)> {
        if let Some(s) = r.splits.iter().find(|s| s.split == name) {
            return Some((s.evaluation.loss, s.evaluation.accuracy, s.evaluation.exact));
        }
        match i {
            0 => Some((f64::NAN, r.train_acc, r.train_exact)),
            1 => Some((r.test_loss, r.test_acc, r.test_exact)),
            _ => None,
        }
    };
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Curve {
            split: name.clone(),
            points: history.iter().filter_map(|r| value(r, i, name).map(|(l, a, e)| (r.step, l, a, e))).collect(),
        })
        .collect()
}

/// Every split's phase (the splits of `curves`).
pub fn phases(history: &[Record], threshold: f64) -> Phases {
    let splits = curves(history)
        .into_iter()
        .map(|c| {
            let acc: Vec<(u64, f64)> = c.points.iter().map(|&(s, _, a, _)| (s, a)).collect();
            let exact: Vec<(u64, f64)> = c.points.iter().map(|&(s, _, _, e)| (s, e)).collect();
            Phase {
                split: c.split,
                accuracy_step: first_crossing(&acc, threshold),
                exact_step: first_crossing(&exact, threshold),
                best_accuracy: acc.iter().map(|p| p.1).fold(0.0, f64::max),
                final_accuracy: acc.last().map_or(0.0, |p| p.1),
            }
        })
        .collect();
    Phases { threshold, records: history.len(), last_step: history.last().map_or(0, |r| r.step), splits }
}
