//! Errors a person can act on: each names what is wrong and what is allowed.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LabError {
    #[error("invalid value {value:?} for `{key}`: expected {allowed}")]
    Invalid { key: String, value: String, allowed: String },
    #[error("unknown config key `{key}`; known keys: {known}")]
    UnknownKey { key: String, known: String },
    #[error("unknown preset `{name}`; presets: {known}")]
    UnknownPreset { name: String, known: String },
    #[error("{0}")]
    Usage(String),
    /// A user's puzzle, maze or other input that breaks its format or rules.
    #[error("{0}")]
    Input(String),
    #[error("no WebGPU/GPU adapter is available ({0}); use the cpu backend (`--backend cpu`)")]
    NoAdapter(String),
    #[error("the GPU device failed: {0}")]
    Device(String),
    #[error("the model needs {needed} but the device allows {allowed} ({limit}); make the model or batch smaller")]
    TooLarge { needed: String, allowed: String, limit: String },
    #[error("training diverged at step {step}: {what}. Try a lower learning rate (`train.lr`; with weight decay keep train.lr x train.weight_decay well below 2), gradient clipping (`train.grad_clip`) or a longer warmup (`train.warmup`)")]
    Diverged { step: u64, what: String },
    #[error("checkpoint {path}: {what}")]
    Checkpoint { path: String, what: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl LabError {
    pub fn invalid(key: &str, value: impl ToString, allowed: impl Into<String>) -> LabError {
        LabError::Invalid { key: key.to_string(), value: value.to_string(), allowed: allowed.into() }
    }
}

/// `x` within `[lo, hi]`, or an error naming `key` and the range.
pub fn check_range(key: &str, x: f64, lo: f64, hi: f64) -> Result<(), LabError> {
    if x >= lo && x <= hi {
        Ok(())
    } else {
        Err(LabError::invalid(key, x, format!("a number from {lo} to {hi}")))
    }
}
