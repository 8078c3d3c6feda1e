//! The session object that the CLI and the page drive with the same calls: config -> backend, task, model
//! and trainer; then train, record, checkpoint; and the measurements of the current model the page shows
//! (views.rs), each on a snapshot of the weights so training continues untouched.

mod views;

pub use views::{Audited, Probed, Rolled};

use crate::backend::{Backend, BackendKind};
use crate::config::LabConfig;
use crate::error::LabError;
use crate::export;
use crate::program::MemoryBreakdown;
use crate::snapshot::Snapshot;
use crate::train::{checkpoint, Record, Trainer, TrainingPlan};

pub struct Lab {
    trainer: Trainer,
}

impl Lab {
    pub async fn new(config: LabConfig, backend: BackendKind) -> Result<Lab, LabError> {
        Lab::with_eval_depths(config, backend, &[]).await
    }

    /// A lab that can also evaluate at other iteration counts (see `Trainer::with_eval_depths`).
    pub async fn with_eval_depths(
        config: LabConfig,
        backend: BackendKind,
        extra_depths: &[usize],
    ) -> Result<Lab, LabError> {
        Lab::from_plan(TrainingPlan::new(config, extra_depths)?, backend).await
    }

    /// A lab of a planned run (`TrainingPlan::memory` tells what it will allocate).
    pub async fn from_plan(planned: TrainingPlan, backend: BackendKind) -> Result<Lab, LabError> {
        let backend = Backend::open(backend).await?;
        Ok(Lab { trainer: Trainer::from_plan(planned, backend).await? })
    }

    /// Continues a run from checkpoint bytes; `history` is the run's history so far; `extra_depths` as for
    /// `with_eval_depths`.
    pub async fn resume(
        bytes: &[u8],
        source: &str,
        backend: BackendKind,
        history: Vec<Record>,
        extra_depths: &[usize],
    ) -> Result<Lab, LabError> {
        Lab::resume_plan(checkpoint::plan(bytes, source, extra_depths, &[])?, bytes, source, backend, history).await
    }

    /// Like `resume`, for the checkpoint's `checkpoint::plan`.
    pub async fn resume_plan(
        planned: TrainingPlan,
        bytes: &[u8],
        source: &str,
        backend: BackendKind,
        history: Vec<Record>,
    ) -> Result<Lab, LabError> {
        let backend = Backend::open(backend).await?;
        let mut trainer = checkpoint::restore_plan(planned, bytes, source, backend).await?;
        trainer.history = history.into_iter().filter(|r| r.step <= trainer.step).collect();
        Ok(Lab { trainer })
    }

    /// A trained model's lab: the weights of a weights-only file (`looplab export`; a checkpoint gives its
    /// evaluated weights) at the step they were trained to, with a fresh optimizer state, so the views work at
    /// once and training on starts Adam afresh from these weights. With `sha256` (a manifest's), bytes that do
    /// not match it are refused before anything is read.
    pub async fn from_weights(
        bytes: &[u8],
        source: &str,
        sha256: Option<&str>,
        backend: BackendKind,
        extra_depths: &[usize],
    ) -> Result<Lab, LabError> {
        if let Some(want) = sha256 {
            Self::check_sha256(bytes, source, want)?;
        }
        let backend = Backend::open(backend).await?;
        let trainer = checkpoint::restore_weights(bytes, source, backend, extra_depths, &[]).await?;
        Ok(Lab { trainer })
    }

    /// A lab of `config` from step 0 to train beside this one (a loaded trained model), on a backend of the same
    /// kind. Refused, naming the first key that differs, unless `config` has this lab's seed, task and model:
    /// only the training recipe (`train.*`: budget, cadence, batch, schedule) may differ, so the two runs are the
    /// same model on the same data and differ only in how it was trained.
    pub async fn fresh(&self, config: LabConfig, extra_depths: &[usize]) -> Result<Lab, LabError> {
        let ours: std::collections::BTreeMap<String, serde_json::Value> = self.config().leaves().into_iter().collect();
        let differs =
            config.leaves().into_iter().find(|(key, value)| !key.starts_with("train.") && ours.get(key) != Some(value));
        if let Some((key, value)) = differs {
            let theirs = ours.get(&key).map_or("none".to_string(), |v| v.to_string());
            return Err(LabError::Invalid {
                key,
                value: value.to_string(),
                allowed: format!(
                    "the trained model's {theirs}: a run beside it keeps its seed, task and model (train.* settings may differ)"
                ),
            });
        }
        Lab::with_eval_depths(config, self.trainer.backend.kind(), extra_depths).await
    }

    /// Refuses `bytes` unless their sha256 is `want` (a manifest's): a damaged file or not the one it lists.
    pub fn check_sha256(bytes: &[u8], source: &str, want: &str) -> Result<(), LabError> {
        match export::sha256_mismatch(bytes, want) {
            None => Ok(()),
            Some(what) => Err(LabError::Checkpoint { path: source.to_string(), what }),
        }
    }

    /// The planned memory of the run, per use.
    pub fn memory(&self) -> &MemoryBreakdown {
        &self.trainer.memory
    }

    /// Runs up to `steps` more steps; returns the history records made meanwhile. Returns only once the
    /// device has finished them, so callers can time them and a pause takes effect at once.
    pub async fn train(&mut self, steps: u64) -> Result<Vec<Record>, LabError> {
        let records = self.trainer.train(steps).await?;
        if records.is_empty() {
            self.trainer.wait_idle().await?;
        }
        Ok(records)
    }

    pub async fn checkpoint(&mut self) -> Result<Vec<u8>, LabError> {
        checkpoint::save(&mut self.trainer).await
    }

    pub fn config(&self) -> &LabConfig {
        &self.trainer.config
    }

    pub fn device(&self) -> String {
        self.trainer.backend.describe()
    }

    pub fn step(&self) -> u64 {
        self.trainer.step
    }

    pub fn history(&self) -> &[Record] {
        &self.trainer.history
    }

    /// The history as `looplab train` writes history.json (the page exports the same text).
    pub fn history_json(&self) -> String {
        serde_json::to_string_pretty(self.history()).expect("history serializes")
    }

    /// The history as history.csv (`train::history_csv`).
    pub fn history_csv(&self) -> String {
        crate::train::history_csv(self.history())
    }

    pub fn parameter_count(&self) -> usize {
        self.trainer.params.count()
    }

    /// True once `train.steps` steps are done.
    pub fn done(&self) -> bool {
        self.trainer.done()
    }

    /// Keeps every GPU submit under `ms` milliseconds of measured work (`Backend::set_submit_budget`).
    pub fn set_submit_budget(&mut self, ms: Option<f64>) {
        self.trainer.backend.set_submit_budget(ms);
    }

    /// Sets `train.steps` (a resumed run trained on to another total; the schedule follows it).
    pub fn set_total_steps(&mut self, steps: u64) {
        self.trainer.config.train.steps = steps;
    }

    /// True for a software adapter (SwiftShader, lavapipe) or the cpu backend: correct but slow.
    pub fn is_fallback(&self) -> bool {
        match &self.trainer.backend {
            Backend::Gpu(g) => g.is_software(),
            Backend::Cpu(_) => true,
        }
    }

    /// The current weights, to measure on a backend of their own.
    pub async fn snapshot(&mut self) -> Result<Snapshot, LabError> {
        Snapshot::of(&mut self.trainer, "the current model").await
    }
}
