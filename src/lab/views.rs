//! What the page shows of the current model, computed by the core so `cargo test` reaches it: the solving
//! view, the depth sweep with its exit histogram, the probes, the bandit rollout and the multiplication audit.
//! Each measures a snapshot of the weights on a backend of its own (the CLI's commands run the same functions
//! on a checkpoint file).

use serde::Serialize;

use super::Lab;
use crate::audit::Audit;
use crate::bandit::Report;
use crate::config::Arch;
use crate::depths::{self, DepthSweep};
use crate::error::LabError;
use crate::probes::{self, ProbeOptions, ProbeReport};
use crate::problem::{self, Solution};
use crate::snapshot::Snapshot;
use crate::solve::{Exit, EXIT_KL};
use crate::train::training_depth;

/// Examples probed when the page does not say: few, so a software adapter answers in seconds.
pub const PROBE_EXAMPLES: usize = 16;
/// Unseen tasks the bandit view rolls out when the page does not say: enough for a standard error, few enough
/// for a software adapter.
pub const BANDIT_TASKS: usize = 100;
/// All tasks are one batch, held with its histories on the device.
pub const MAX_BANDIT_TASKS: usize = 10_000;

#[derive(Debug, Serialize)]
pub struct Probed {
    /// The training step of the probed weights.
    pub step: u64,
    /// The twin's step, when one was compared.
    pub twin_step: Option<u64>,
    pub report: ProbeReport,
}

#[derive(Debug, Serialize)]
pub struct Rolled {
    /// The training step of the rolled-out weights.
    pub step: u64,
    pub report: Report,
}

#[derive(Debug, Serialize)]
pub struct Audited {
    pub step: u64,
    pub audit: Audit,
}

impl Lab {
    /// One Sudoku, maze or automaton program through the current model at its training depth (at least one
    /// iteration per program step), exiting by the KL rule: `text` in the task's text format (an empty one is refused by the task's
    /// parser), or (None) the example at `pick` in [0, 1) of the test split (the automaton's held-out rules).
    pub async fn solve(&mut self, text: Option<&str>, pick: f64) -> Result<Solution, LabError> {
        let snapshot = self.snapshot().await?;
        let weights = snapshot.weights();
        let (task, seed) = (&self.trainer.config.task, self.trainer.config.seed);
        let problem = if let Some(text) = text {
            problem::parse(task, seed, text, weights.positions)?
        } else {
            let name = problem::draw_split(task);
            let test = self.trainer.dataset.splits.iter().find(|s| s.name == name && !s.is_empty());
            let test =
                test.ok_or_else(|| LabError::Input(format!("the {name} split is empty; type an input instead")))?;
            let i = ((pick * test.len() as f64) as usize).min(test.len() - 1);
            problem::draw(task, seed, test, i, weights.positions)?
        };
        let depth = problem::default_depth(&weights.config, problem.as_ref());
        problem::solve(&weights, &mut snapshot.backend().await?, problem.as_ref(), depth, Some(Exit::Kl(EXIT_KL))).await
    }

    /// Every split's accuracy after each iteration the lab planned and, with `exit_examples` > 0 on a recurrent
    /// model, the KL exit's histogram over the first `exit_examples` examples of the test split (`looplab eval
    /// --exit-kl`).
    pub async fn depths(&mut self, exit_examples: usize) -> Result<DepthSweep, LabError> {
        let t = &mut self.trainer;
        let splits = depths::sweep(t, &(0..t.dataset.splits.len()).collect::<Vec<_>>()).await?;
        let exit = if exit_examples >= 1 && t.config.model.arch != Arch::Feedforward {
            let snapshot = self.snapshot().await?;
            let (split, deepest) = (&self.trainer.dataset.splits[1], splits[0].accuracy.len());
            Some(depths::exit_histogram(&snapshot, split, exit_examples, deepest, Exit::Kl(EXIT_KL)).await?)
        } else {
            None
        };
        let t = &self.trainer;
        Ok(DepthSweep { step: t.step, training_depth: training_depth(&t.config), splits, exit })
    }

    /// Every probe of `looplab probe` on the current model and the first test split: `examples` (0:
    /// `PROBE_EXAMPLES`) at `iterations` (0: the training depth), with the run's history for the phases and, with
    /// a feedforward `twin` lab trained on the same task, its current weights for CKA and its history for the
    /// held-out gain over it.
    pub async fn probe(
        &mut self,
        mut twin: Option<&mut Lab>,
        examples: usize,
        iterations: usize,
    ) -> Result<Probed, LabError> {
        let snapshot = self.snapshot().await?;
        let weights = snapshot.weights();
        let twin_snapshot = match twin.as_deref_mut() {
            Some(t) => Some(Snapshot::of(&mut t.trainer, "the feedforward twin").await?),
            None => None,
        };
        let twin_weights = twin_snapshot.as_ref().map(|s| s.weights());
        let mut options = ProbeOptions::new(
            if examples == 0 { PROBE_EXAMPLES } else { examples },
            if iterations == 0 { probes::default_depth(&weights.config) } else { iterations },
        );
        options.twin = twin_weights.as_ref();
        options.history = Some(&self.trainer.history);
        options.twin_history = twin.as_deref().map(|t| t.trainer.history.as_slice());
        let split = probes::default_split(&self.trainer.dataset);
        let report = probes::run(&weights, &mut snapshot.backend().await?, split, &options).await?;
        Ok(Probed { step: self.trainer.step, twin_step: twin.map(|t| t.trainer.step), report })
    }

    /// `looplab bandit --tasks tasks` (0: `BANDIT_TASKS`) on the current weights.
    pub async fn bandit(&mut self, tasks: usize) -> Result<Rolled, LabError> {
        let tasks = if tasks == 0 { BANDIT_TASKS } else { tasks };
        if !(2..=MAX_BANDIT_TASKS).contains(&tasks) {
            return Err(LabError::invalid(
                "tasks",
                tasks,
                format!("a number of unseen tasks from 2 to {MAX_BANDIT_TASKS}"),
            ));
        }
        let snapshot = self.snapshot().await?;
        let report = crate::bandit::evaluate(&snapshot.weights(), &mut snapshot.backend().await?, tasks, None).await?;
        Ok(Rolled { step: self.trainer.step, report })
    }

    /// `looplab audit` on the current weights.
    pub async fn audit(&mut self) -> Result<Audited, LabError> {
        let snapshot = self.snapshot().await?;
        let audit = crate::audit::run(&snapshot.weights(), &mut snapshot.backend().await?).await?;
        Ok(Audited { step: self.trainer.step, audit })
    }
}
