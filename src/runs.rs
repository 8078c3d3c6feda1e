//! Finished runs side by side (`looplab compare`): each run's final metrics and the steps of its phases, and
//! every config key whose value differs between the runs.

use serde::Serialize;
use serde_json::Value;

use crate::config::LabConfig;
use crate::probes::phases::{curves, phases, Phase};
use crate::train::Record;

/// A run as read from its folder: a name, its history and, where the folder has it, its config.
pub struct Run {
    pub name: String,
    pub history: Vec<Record>,
    pub config: Option<LabConfig>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The accuracy a split's phase is the first step to reach.
    pub threshold: f64,
    pub runs: Vec<Summary>,
    /// Config keys whose values differ (runs without a config are left out of this).
    pub differences: Vec<Difference>,
    /// Runs whose config is unknown (no config.json or checkpoint beside the history).
    pub without_config: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub name: String,
    pub records: usize,
    /// The last record's step, training loss, weight norm and seconds of training.
    pub step: u64,
    pub loss: f64,
    pub weight_norm: Option<f64>,
    pub elapsed_s: f64,
    /// The last record's scores of every split.
    pub splits: Vec<FinalScore>,
    pub phases: Vec<Phase>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FinalScore {
    pub split: String,
    /// NaN (null in JSON) for the training split of a history that predates per-split records.
    pub loss: f64,
    pub accuracy: f64,
    pub exact: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Difference {
    pub key: String,
    /// One per run, in order; `None` for a run without a config or without the key.
    pub values: Vec<Option<Value>>,
}

/// Compares `runs`; a phase is the first recorded step a split's token accuracy reaches `threshold`.
pub fn compare(runs: &[Run], threshold: f64) -> Comparison {
    let summaries = runs.iter().map(|r| summary(r, threshold)).collect();
    let leaves: Vec<Option<Vec<(String, Value)>>> =
        runs.iter().map(|r| r.config.as_ref().map(|c| c.leaves())).collect();
    let mut keys: Vec<String> = Vec::new();
    for (key, _) in leaves.iter().flatten().flatten() {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    let differences = keys
        .into_iter()
        .filter_map(|key| {
            let values: Vec<Option<Value>> = leaves
                .iter()
                .map(|l| l.as_ref().and_then(|l| l.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())))
                .collect();
            let mut known = values.iter().zip(&leaves).filter(|(_, l)| l.is_some()).map(|(v, _)| v);
            let first = known.next();
            known.any(|v| Some(v) != first).then_some(Difference { key, values })
        })
        .collect();
    let without_config = runs.iter().filter(|r| r.config.is_none()).map(|r| r.name.clone()).collect();
    Comparison { threshold, runs: summaries, differences, without_config }
}

fn summary(run: &Run, threshold: f64) -> Summary {
    let last = run.history.last();
    let splits = curves(&run.history)
        .into_iter()
        .filter_map(|c| {
            let &(_, loss, accuracy, exact) = c.points.last()?;
            Some(FinalScore { split: c.split, loss, accuracy, exact })
        })
        .collect();
    Summary {
        name: run.name.clone(),
        records: run.history.len(),
        step: last.map_or(0, |r| r.step),
        loss: last.map_or(f64::NAN, |r| r.loss),
        weight_norm: last.and_then(|r| r.weight_norm),
        elapsed_s: last.map_or(0.0, |r| r.elapsed_s),
        splits,
        phases: phases(&run.history, threshold).splits,
    }
}
