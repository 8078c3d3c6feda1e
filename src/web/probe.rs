//! The page's probe view: every probe of `looplab probe` on the current model and the first test split,
//! with the run's history for the phases and, in compare mode, the feedforward twin's current weights for CKA
//! and its history for the held-out gain over it.

use serde::Serialize;

use crate::backend::Backend;
use crate::error::LabError;
use crate::probes::{self, ProbeOptions, ProbeReport};
use crate::train::checkpoint::{self, Weights};
use crate::train::Trainer;

/// Examples probed when the page does not say: few, so a software adapter answers in seconds.
pub const DEFAULT_EXAMPLES: usize = 16;

#[derive(Serialize)]
pub struct Probed {
    /// The training step of the probed weights.
    step: u64,
    /// The twin's step, when one was compared.
    twin_step: Option<u64>,
    report: ProbeReport,
}

/// Probes the trainer's current weights (`examples` 0: `DEFAULT_EXAMPLES`; `iterations` 0: the training depth).
/// The trainers' buffers stay untouched: as in `solve`, the weights go through a checkpoint to a backend of
/// their own, where the probes plan their memory.
pub async fn probe(
    trainer: &mut Trainer,
    mut twin: Option<&mut Trainer>,
    examples: usize,
    iterations: usize,
) -> Result<Probed, LabError> {
    let bytes = checkpoint::save(trainer).await?;
    let weights = Weights::read(&bytes, "the current model")?;
    let twin_bytes = match twin.as_deref_mut() {
        Some(t) => Some((checkpoint::save(t).await?, t.step)),
        None => None,
    };
    let twin_weights = match &twin_bytes {
        Some((b, _)) => Some(Weights::read(b, "the feedforward twin")?),
        None => None,
    };
    let mut options = ProbeOptions::new(
        if examples == 0 { DEFAULT_EXAMPLES } else { examples },
        if iterations == 0 { probes::default_depth(&weights.config) } else { iterations },
    );
    options.twin = twin_weights.as_ref();
    options.history = Some(&trainer.history);
    options.twin_history = twin.as_deref().map(|t| t.history.as_slice());
    let mut backend = Backend::open(trainer.backend.kind()).await?;
    let report = probes::run(&weights, &mut backend, probes::default_split(&trainer.dataset), &options).await?;
    Ok(Probed { step: trainer.step, twin_step: twin_bytes.map(|(_, s)| s), report })
}
