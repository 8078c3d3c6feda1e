//! The depth sweep: every split's scores after each iteration `1..=` the deepest the trainer planned (one
//! evaluation pass per split, the output head reading the state after every iteration), and the adaptive exit's
//! histogram: how many iterations each example uses when it stops at the first one whose outputs stopped moving
//! (`solve::exit_score`). `looplab eval` prints it, the page's depth view draws it (`Lab::depths`).

use serde::Serialize;

use crate::config::{Arch, LabConfig};
use crate::error::LabError;
use crate::snapshot::Snapshot;
use crate::solve::{exit_score, Exit, ExitScore};
use crate::tasks::Split;
use crate::train::{training_depth, Trainer};

/// Most iterations any sweep runs.
pub const MAX_DEPTH: usize = 256;

#[derive(Clone, Debug, Serialize)]
pub struct SplitSweep {
    pub split: String,
    /// Loss, token accuracy and exact-match accuracy after iterations 1, 2, ...
    pub loss: Vec<f64>,
    pub accuracy: Vec<f64>,
    pub exact: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct ExitHistogram {
    pub split: String,
    /// The exit rule: "KL < EPS" or "halting head".
    pub rule: String,
    #[serde(flatten)]
    pub score: ExitScore,
}

#[derive(Debug, Serialize)]
pub struct DepthSweep {
    pub step: u64,
    pub training_depth: usize,
    pub splits: Vec<SplitSweep>,
    /// Iterations each example used under the adaptive exit; absent for feedforward models.
    pub exit: Option<ExitHistogram>,
}

/// Extra iteration counts a lab plans for the depth view: up to twice the training depth (recurrent models
/// only; records still run the training depth).
pub fn sweep_depths(config: &LabConfig) -> Vec<usize> {
    let depth = training_depth(config);
    let deep = (2 * depth).min(MAX_DEPTH);
    if config.model.arch == Arch::Feedforward || deep <= depth {
        Vec::new()
    } else {
        vec![deep]
    }
}

/// The scores of the splits numbered `splits` after every planned iteration.
pub async fn sweep(trainer: &mut Trainer, splits: &[usize]) -> Result<Vec<SplitSweep>, LabError> {
    let mut out = Vec::new();
    for &i in splits {
        let scores = trainer.evaluate_depths(i).await?;
        out.push(SplitSweep {
            split: trainer.dataset.splits[i].name.to_string(),
            loss: scores.iter().map(|e| e.loss).collect(),
            accuracy: scores.iter().map(|e| e.accuracy).collect(),
            exact: scores.iter().map(|e| e.exact).collect(),
        });
    }
    Ok(out)
}

/// The adaptive exit by `rule` of the first `examples` examples of `split`, at most `depth` iterations each.
pub async fn exit_histogram(
    snapshot: &Snapshot,
    split: &Split,
    examples: usize,
    depth: usize,
    rule: Exit,
) -> Result<ExitHistogram, LabError> {
    let mut backend = snapshot.backend().await?;
    let score = exit_score(&snapshot.weights(), &mut backend, split, examples, depth, rule).await?;
    Ok(ExitHistogram { split: split.name.to_string(), rule: rule.to_string(), score })
}
