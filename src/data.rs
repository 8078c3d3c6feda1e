//! `looplab data`: every split of a config's dataset as one safetensors file, so another trainer
//! (python/looplab_torch) trains and evaluates on exactly looplab's examples.
//!
//! Per split `S` (in the dataset's order, the training split first): `S.tokens` and `S.targets`, I32
//! `[examples, seq_len]` (targets -1 where a position is not supervised), and `S.mask`, U8, 1 where it is. The
//! metadata holds `format`, the resolved `config` (JSON), `vocab`, and `splits`: a JSON list of
//! `{name, seq_len, grid, examples}`.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};
use serde::Serialize;

use crate::config::LabConfig;
use crate::error::LabError;
use crate::tasks::IGNORE;

pub const DATA_FORMAT: &str = "looplab-data-1";

/// What the metadata says about one split.
#[derive(Clone, Debug, Serialize)]
pub struct SplitInfo {
    pub name: String,
    pub seq_len: usize,
    pub grid: [usize; 2],
    pub examples: usize,
}

/// The dataset of `config` as safetensors bytes, with a description of its splits.
pub fn to_safetensors(config: &LabConfig) -> Result<(Vec<u8>, Vec<SplitInfo>), LabError> {
    config.validate()?;
    let data = config.dataset();
    let mut arrays: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut splits = Vec::new();
    for s in &data.splits {
        let shape = vec![s.len(), s.seq_len];
        let signed = |v: &[u32]| -> Vec<u8> {
            v.iter().flat_map(|&t| if t == IGNORE { -1i32 } else { t as i32 }.to_le_bytes()).collect()
        };
        arrays.push((format!("{}.tokens", s.name), Dtype::I32, shape.clone(), signed(&s.tokens)));
        arrays.push((format!("{}.targets", s.name), Dtype::I32, shape.clone(), signed(&s.targets)));
        let mask = s.targets.iter().map(|&t| (t != IGNORE) as u8).collect();
        arrays.push((format!("{}.mask", s.name), Dtype::U8, shape, mask));
        splits.push(SplitInfo { name: s.name.to_string(), seq_len: s.seq_len, grid: s.grid, examples: s.len() });
    }
    let views = arrays.iter().map(|(name, dtype, shape, bytes)| {
        (name.clone(), TensorView::new(*dtype, shape.clone(), bytes).expect("shape matches data"))
    });
    let metadata = HashMap::from([
        ("format".to_string(), DATA_FORMAT.to_string()),
        ("config".to_string(), serde_json::to_string(config).expect("config serializes")),
        ("vocab".to_string(), data.vocab.to_string()),
        ("splits".to_string(), serde_json::to_string(&splits).expect("splits serialize")),
    ]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| LabError::Checkpoint { path: String::new(), what: e.to_string() })?;
    Ok((bytes, splits))
}
