//! A trained model frozen for a measurement: its checkpoint bytes (owned, so the snapshot outlives any borrow of
//! the trainer) and the kind of backend to run it on. Every measurement of a model (solving, probes, the bandit
//! rollout, the audit, the adaptive exit, self-improvement's labels) plans memory of its own on a fresh backend
//! from a snapshot, so a trainer's buffers and programs stay untouched and training continues exactly as if it
//! had never been measured.

use crate::backend::{Backend, BackendKind};
use crate::error::LabError;
use crate::train::checkpoint::{self, Weights};
use crate::train::Trainer;

pub struct Snapshot {
    bytes: Vec<u8>,
    source: String,
    kind: BackendKind,
}

impl Snapshot {
    /// The trainer's current weights (saved to a checkpoint in memory), to run on a backend of the trainer's kind;
    /// `source` names them in errors.
    pub async fn of(trainer: &mut Trainer, source: &str) -> Result<Snapshot, LabError> {
        Snapshot::new(checkpoint::save(trainer).await?, source, trainer.backend.kind())
    }

    /// Checkpoint bytes (a file's, or a trainer's), checked once here; `source` names them in errors.
    pub fn new(bytes: Vec<u8>, source: &str, kind: BackendKind) -> Result<Snapshot, LabError> {
        Weights::read(&bytes, source)?;
        Ok(Snapshot { bytes, source: source.to_string(), kind })
    }

    pub fn weights(&self) -> Weights<'_> {
        Weights::read(&self.bytes, &self.source).expect("read when the snapshot was made")
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A backend of the snapshot's kind, opened fresh for one measurement.
    pub async fn backend(&self) -> Result<Backend, LabError> {
        Backend::open(self.kind).await
    }
}
