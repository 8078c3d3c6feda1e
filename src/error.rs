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
        LabError::Invalid { key: shorten(key), value: shorten(&value.to_string()), allowed: allowed.into() }
    }

    /// The variant's name: what a face matches on (the page gets it as the JS `Error.name`), never the text.
    pub fn kind(&self) -> &'static str {
        match self {
            LabError::Invalid { .. } => "Invalid",
            LabError::UnknownKey { .. } => "UnknownKey",
            LabError::UnknownPreset { .. } => "UnknownPreset",
            LabError::Usage(_) => "Usage",
            LabError::Input(_) => "Input",
            LabError::NoAdapter(_) => "NoAdapter",
            LabError::Device(_) => "Device",
            LabError::TooLarge { .. } => "TooLarge",
            LabError::Diverged { .. } => "Diverged",
            LabError::Checkpoint { .. } => "Checkpoint",
            LabError::Io { .. } => "Io",
        }
    }
}

/// The longest user-given text an error echoes whole; a longer one (a pasted 5,000-character URL hash) is cut.
pub const ECHO_CHARS: usize = 60;

/// `text`, or its first `ECHO_CHARS` characters and how long it was.
pub fn shorten(text: &str) -> String {
    let n = text.chars().count();
    if n <= ECHO_CHARS {
        return text.to_string();
    }
    format!("{}… ({n} characters)", text.chars().take(ECHO_CHARS).collect::<String>())
}

/// `x` within `[lo, hi]`, or an error naming `key` and the range.
pub fn check_range(key: &str, x: f64, lo: f64, hi: f64) -> Result<(), LabError> {
    if x >= lo && x <= hi {
        Ok(())
    } else {
        Err(LabError::invalid(key, x, format!("a number from {lo} to {hi}")))
    }
}

/// A count `x` within `lo..=hi`, or an error naming `key` and the range (the same words a value that is not
/// a whole number gets, see `LabConfig::set`).
pub fn check_whole(key: &str, x: u64, lo: u64, hi: u64) -> Result<(), LabError> {
    if (lo..=hi).contains(&x) {
        Ok(())
    } else {
        Err(LabError::invalid(key, x, format!("a whole number from {lo} to {hi}")))
    }
}
