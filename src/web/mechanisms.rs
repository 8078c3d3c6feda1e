//! The page's views of two mechanisms on the current weights, computed as their commands compute them: the
//! bandit rollout of `looplab bandit` (`crate::bandit::evaluate`) and the computation-graph audit of
//! `looplab audit` (`crate::audit::run`). As for the probes, the weights go through a checkpoint to a backend
//! of their own, so the trainer's buffers stay untouched.

use serde::Serialize;

use crate::audit::Audit;
use crate::backend::Backend;
use crate::bandit::Report;
use crate::error::LabError;
use crate::train::checkpoint::{self, Weights};
use crate::train::Trainer;

/// Unseen tasks the bandit view rolls out when the page does not say: enough for a standard error, few enough
/// for a software adapter.
pub const DEFAULT_TASKS: usize = 100;
/// All tasks are one batch, held with its histories on the device.
pub const MAX_TASKS: usize = 10_000;

#[derive(Serialize)]
pub struct Rolled {
    /// The training step of the rolled-out weights.
    step: u64,
    report: Report,
}

#[derive(Serialize)]
pub struct Audited {
    step: u64,
    audit: Audit,
}

/// `looplab bandit --tasks tasks` (0: `DEFAULT_TASKS`) on the trainer's current weights.
pub async fn bandit(trainer: &mut Trainer, tasks: usize) -> Result<Rolled, LabError> {
    let tasks = if tasks == 0 { DEFAULT_TASKS } else { tasks };
    if !(2..=MAX_TASKS).contains(&tasks) {
        return Err(LabError::invalid("tasks", tasks, format!("a number of unseen tasks from 2 to {MAX_TASKS}")));
    }
    let bytes = checkpoint::save(trainer).await?;
    let weights = Weights::read(&bytes, "the current model")?;
    let mut backend = Backend::open(trainer.backend.kind()).await?;
    let report = crate::bandit::evaluate(&weights, &mut backend, tasks, None).await?;
    Ok(Rolled { step: trainer.step, report })
}

/// `looplab audit` on the trainer's current weights.
pub async fn audit(trainer: &mut Trainer) -> Result<Audited, LabError> {
    let bytes = checkpoint::save(trainer).await?;
    let weights = Weights::read(&bytes, "the current model")?;
    let mut backend = Backend::open(trainer.backend.kind()).await?;
    let audit = crate::audit::run(&weights, &mut backend).await?;
    Ok(Audited { step: trainer.step, audit })
}
