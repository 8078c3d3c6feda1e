//! Checkpoints as safetensors: every parameter under its name (see ARCHITECTURE.md), the optimizer state as
//! `adam_m.<name>` / `adam_v.<name>`, the EMA as `ema.<name>`, and in the metadata the config JSON, the step,
//! the batch sampler's state and the elapsed time, so a resumed run continues exactly where it stopped.
//! A *weights-only* file (`looplab export`) holds just the weights evaluation reads (the EMA where the run kept
//! one) under the plain names, with the config and provenance in the metadata: it runs wherever a model is
//! evaluated (`Weights`, `restore_weights`) and is refused where optimizer state is needed (`restore`).
//! Both kinds store CRC-32 checksums of every tensor's data and of the metadata, checked on load, so a damaged
//! file is refused naming what is damaged instead of training or evaluating silently on wrong numbers; files
//! without them (written before they existed, or by python/looplab_torch) load unchecked.

use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::{Trainer, TrainingPlan};
use crate::backend::Backend;
use crate::config::LabConfig;
use crate::error::LabError;
use crate::model::Params;
use crate::program::BufId;

const FORMAT: &str = "looplab-checkpoint-1";
/// The `format` of a weights-only file.
pub const WEIGHTS_FORMAT: &str = "looplab-weights-1";
/// The `format` of `looplab export --format torch` (PyTorch's layout, read by python/looplab_torch only).
pub const TORCH_FORMAT: &str = "looplab-torch-1";
/// Metadata keys of the checksums: a JSON map of tensor name to the CRC-32 of its bytes, and the CRC-32 of the
/// other metadata entries. CRC-32 detects every burst of up to 32 flipped bits and any odd number of flips, the
/// damage storage and truncated copies do (it is no defence against deliberate tampering, nor meant to be).
const TENSOR_CRC: &str = "tensor_crc32";
const METADATA_CRC: &str = "metadata_crc32";

fn crc_hex(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

/// CRC-32 over the metadata entries except its own, in key order, each as key and value with their lengths.
fn metadata_crc(meta: &HashMap<String, String>) -> String {
    let mut entries: Vec<(&String, &String)> = meta.iter().filter(|(k, _)| *k != METADATA_CRC).collect();
    entries.sort();
    let mut h = crc32fast::Hasher::new();
    for (k, v) in entries {
        for part in [k, v] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    format!("{:08x}", h.finalize())
}

/// A safetensors file of `tensors` and `metadata`, with the checksums of both added to the metadata.
fn serialize_checked(
    tensors: Vec<(String, TensorView)>,
    mut metadata: HashMap<String, String>,
) -> Result<Vec<u8>, LabError> {
    let crcs: BTreeMap<&str, String> = tensors.iter().map(|(name, v)| (name.as_str(), crc_hex(v.data()))).collect();
    metadata.insert(TENSOR_CRC.to_string(), serde_json::to_string(&crcs).expect("checksums serialize"));
    metadata.insert(METADATA_CRC.to_string(), metadata_crc(&metadata));
    safetensors::serialize(tensors, Some(metadata))
        .map_err(|e| LabError::Checkpoint { path: String::new(), what: e.to_string() })
}

/// Prefixes of the buffers sharing the parameter layout, as stored.
fn stored_buffers(t: &Trainer) -> Vec<(&'static str, BufId)> {
    let p = &t.params;
    let mut v = vec![("", p.values), ("adam_m.", p.adam_m), ("adam_v.", p.adam_v)];
    if let Some(ema) = p.ema {
        v.push(("ema.", ema));
    }
    v
}

/// Every parameter of `values` (a buffer in `params`' layout) as a tensor named `<prefix><name>`.
fn views<'a>(params: &Params, prefix: &str, values: &'a [f32]) -> Vec<(String, TensorView<'a>)> {
    params
        .list
        .iter()
        .map(|p| {
            let data: &[f32] = &values[p.tensor.offset..p.tensor.offset + p.tensor.len];
            let view =
                TensorView::new(Dtype::F32, p.shape.clone(), bytemuck::cast_slice(data)).expect("shape matches data");
            (format!("{prefix}{}", p.name), view)
        })
        .collect()
}

pub async fn save(t: &mut Trainer) -> Result<Vec<u8>, LabError> {
    let mut buffers = Vec::new();
    for (prefix, buf) in stored_buffers(t) {
        let all = t.params.all(buf);
        buffers.push((prefix, t.backend.read(all).await?));
    }
    let tensors: Vec<(String, TensorView)> =
        buffers.iter().flat_map(|(prefix, values)| views(&t.params, prefix, values)).collect();
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("config".to_string(), serde_json::to_string(&t.config).expect("config serializes")),
        ("step".to_string(), t.step.to_string()),
        ("batch_rng".to_string(), t.batch_rng.state.to_string()),
        ("elapsed_s".to_string(), t.elapsed().to_string()),
    ]);
    serialize_checked(tensors, metadata)
}

/// A weights-only file: `values` (a buffer in `params`' layout, the weights evaluation reads) under the plain
/// names, with the config, the step and `extra` metadata (provenance) beside the format.
pub fn save_weights(
    params: &Params,
    values: &[f32],
    config: &LabConfig,
    step: u64,
    extra: &[(String, String)],
) -> Result<Vec<u8>, LabError> {
    let mut metadata = HashMap::from([
        ("format".to_string(), WEIGHTS_FORMAT.to_string()),
        ("config".to_string(), serde_json::to_string(config).expect("config serializes")),
        ("step".to_string(), step.to_string()),
    ]);
    metadata.extend(extra.iter().cloned());
    serialize_checked(views(params, "", values), metadata)
}

/// The metadata of a safetensors file (empty when there is none or the file is not one).
pub fn metadata(bytes: &[u8]) -> HashMap<String, String> {
    SafeTensors::read_metadata(bytes).ok().and_then(|(_, m)| m.metadata().clone()).unwrap_or_default()
}

/// Whether `bytes` are a weights-only file (no optimizer state, the evaluated weights under the plain names).
pub fn is_weights_only(bytes: &[u8]) -> bool {
    metadata(bytes).get("format").map(String::as_str) == Some(WEIGHTS_FORMAT)
}

/// A checkpoint's (or weights-only file's) tensors and metadata, checked: a safetensors file of a format this
/// looplab reads whose checksums, when it has them, match.
fn open<'a>(bytes: &'a [u8], source: &str) -> Result<(SafeTensors<'a>, HashMap<String, String>), LabError> {
    let bad = |what: String| LabError::Checkpoint { path: source.to_string(), what };
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a complete safetensors file ({e})")))?;
    let meta = metadata(bytes);
    match meta.get("format").map(String::as_str) {
        Some(FORMAT | WEIGHTS_FORMAT) => {}
        Some(TORCH_FORMAT) => return Err(bad(format!("this is a PyTorch-layout export ({TORCH_FORMAT}, for python/looplab_torch); looplab reads the checkpoint it was exported from, or a weights-only file (`looplab export --format page`)"))),
        Some(other) => return Err(bad(format!("metadata `format` is {other:?}; this looplab reads {FORMAT} and {WEIGHTS_FORMAT}"))),
        None => return Err(bad(format!("not a looplab checkpoint (metadata has no `format`; expected {FORMAT} or {WEIGHTS_FORMAT})"))),
    }
    if meta.contains_key(TENSOR_CRC) || meta.contains_key(METADATA_CRC) {
        verify(&st, &meta).map_err(bad)?;
    }
    Ok((st, meta))
}

/// Checks the metadata's checksum, then every tensor's against the recorded one; names the first mismatch. A file
/// with one of the two checksums must have both (a damaged key must not switch the check off).
fn verify(st: &SafeTensors, meta: &HashMap<String, String>) -> Result<(), String> {
    let recorded = meta.get(METADATA_CRC).ok_or(format!("metadata has `{TENSOR_CRC}` but no `{METADATA_CRC}`"))?;
    let found = metadata_crc(meta);
    if &found != recorded {
        return Err(format!("the metadata is damaged: its CRC-32 is {found}, the file recorded {recorded}"));
    }
    let crcs: BTreeMap<String, String> = meta
        .get(TENSOR_CRC)
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or(format!("metadata `{TENSOR_CRC}` is missing or not a map of tensor names to checksums"))?;
    for (name, view) in st.iter() {
        let recorded = crcs.get(name).ok_or(format!("tensor `{name}` has no recorded checksum"))?;
        let found = crc_hex(view.data());
        if &found != recorded {
            return Err(format!(
                "tensor `{name}` is damaged: the CRC-32 of its data is {found}, the file recorded {recorded}"
            ));
        }
    }
    match crcs.keys().find(|name| st.tensor(name).is_err()) {
        Some(name) => Err(format!("tensor `{name}` is missing (the file records its checksum)")),
        None => Ok(()),
    }
}

/// The config stored in a checkpoint (to build the trainer it restores into).
pub fn read_config(bytes: &[u8], source: &str) -> Result<LabConfig, LabError> {
    config_of(&open(bytes, source)?.1, source)
}

fn config_of(meta: &HashMap<String, String>, source: &str) -> Result<LabConfig, LabError> {
    let bad = |what: String| LabError::Checkpoint { path: source.to_string(), what };
    let config = meta.get("config").ok_or_else(|| bad("metadata has no `config`".into()))?;
    LabConfig::from_json(config).map_err(|e| bad(format!("stored config is invalid: {e}")))
}

/// One stored tensor as f32 values, checked against the shape the model expects.
fn tensor(
    st: &SafeTensors,
    name: &str,
    shape: &[usize],
    bad: &dyn Fn(String) -> LabError,
) -> Result<Vec<f32>, LabError> {
    let view = st.tensor(name).map_err(|_| bad(format!("tensor `{name}` is missing")))?;
    if view.dtype() != Dtype::F32 || view.shape() != shape {
        return Err(bad(format!("tensor `{name}` is {:?} {:?}, expected F32 {:?}", view.dtype(), view.shape(), shape)));
    }
    let data: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if data.iter().any(|x| !x.is_finite()) {
        return Err(bad(format!("tensor `{name}` holds NaN or Inf")));
    }
    Ok(data)
}

/// The whole buffer of `params`' layout from the tensors stored under `prefix`.
fn buffer(
    st: &SafeTensors,
    prefix: &str,
    params: &Params,
    bad: &dyn Fn(String) -> LabError,
) -> Result<Vec<f32>, LabError> {
    let mut values = vec![0.0f32; params.len];
    for p in &params.list {
        let data = tensor(st, &format!("{prefix}{}", p.name), &p.shape, bad)?;
        values[p.tensor.offset..p.tensor.offset + p.tensor.len].copy_from_slice(&data);
    }
    Ok(values)
}

/// What running a trained model needs, without its optimizer state or data: the config, the vocabulary and
/// number of learned positions the weights were made for, and the bytes to read the weights from.
pub struct Weights<'a> {
    pub config: LabConfig,
    pub vocab: usize,
    /// Rows of the learned position table (0 without one): the longest input the model takes.
    pub positions: usize,
    source: String,
    st: SafeTensors<'a>,
    /// A weights-only file: the evaluated weights are stored under the plain names.
    weights_only: bool,
}

impl<'a> Weights<'a> {
    pub fn read(bytes: &'a [u8], source: &str) -> Result<Weights<'a>, LabError> {
        let (st, meta) = open(bytes, source)?;
        let config = config_of(&meta, source)?;
        let bad = |what: String| LabError::Checkpoint { path: source.to_string(), what };
        let rows = |name: &str| st.tensor(name).ok().map(|v| v.shape().first().copied().unwrap_or(0));
        let vocab = rows("tok_emb").ok_or_else(|| bad("tensor `tok_emb` is missing".into()))?;
        let positions = rows("pos_emb").unwrap_or(0);
        let weights_only = meta.get("format").map(String::as_str) == Some(WEIGHTS_FORMAT);
        Ok(Weights { config, vocab, positions, source: source.to_string(), st, weights_only })
    }

    /// The weights evaluation uses (the EMA copy when the run kept one), in `params`' layout.
    pub fn values(&self, params: &Params) -> Result<Vec<f32>, LabError> {
        let bad = |what: String| LabError::Checkpoint { path: self.source.clone(), what };
        let prefix = if self.config.train.ema > 0.0 && !self.weights_only { "ema." } else { "" };
        buffer(&self.st, prefix, params, &bad)
    }
}

/// Builds a trainer from a checkpoint and loads its weights, optimizer state, step and sampler position;
/// `eval_depths` are extra iteration counts it can evaluate at (see `Trainer::with_eval_depths`).
pub async fn restore(bytes: &[u8], source: &str, backend: Backend, eval_depths: &[usize]) -> Result<Trainer, LabError> {
    restore_with(bytes, source, backend, eval_depths, &[]).await
}

/// Like `restore`, with `task.*` overrides (evaluate on other sizes or more test examples); the model and
/// training keys cannot change.
pub async fn restore_with(
    bytes: &[u8],
    source: &str,
    backend: Backend,
    eval_depths: &[usize],
    task_overrides: &[String],
) -> Result<Trainer, LabError> {
    restore_plan(plan(bytes, source, eval_depths, task_overrides)?, bytes, source, backend).await
}

/// The training plan of a checkpoint's run, with `task.*` overrides: what restoring it will allocate.
pub fn plan(
    bytes: &[u8],
    source: &str,
    eval_depths: &[usize],
    task_overrides: &[String],
) -> Result<TrainingPlan, LabError> {
    if is_weights_only(bytes) {
        return Err(LabError::Checkpoint { path: source.to_string(), what: "this file holds weights only (written by `looplab export`): without optimizer state and sampler position training cannot resume from it. `eval`, `solve` and `probe` read it; resume from the run's own model.safetensors".into() });
    }
    TrainingPlan::new(config_with_task_overrides(bytes, source, task_overrides)?, eval_depths)
}

/// Builds the trainer of `planned` (a checkpoint's `plan`) and loads the checkpoint's weights, optimizer
/// state, step and sampler position into it.
pub async fn restore_plan(
    planned: TrainingPlan,
    bytes: &[u8],
    source: &str,
    backend: Backend,
) -> Result<Trainer, LabError> {
    let (st, meta) = open(bytes, source)?;
    let bad = |what: String| LabError::Checkpoint { path: source.to_string(), what };
    let number = |key: &str| -> Result<&str, LabError> {
        meta.get(key).map(String::as_str).ok_or_else(|| bad(format!("metadata has no `{key}`")))
    };
    let step: u64 = number("step")?.parse().map_err(|_| bad("metadata `step` is not a number".into()))?;
    let rng: u64 = number("batch_rng")?.parse().map_err(|_| bad("metadata `batch_rng` is not a number".into()))?;
    let elapsed: f64 = number("elapsed_s")?.parse().map_err(|_| bad("metadata `elapsed_s` is not a number".into()))?;

    let mut t = Trainer::from_plan(planned, backend).await?;
    for (prefix, buf) in stored_buffers(&t) {
        let values = buffer(&st, prefix, &t.params, &bad)?;
        let all = t.params.all(buf);
        t.backend.write(all, &values);
    }
    t.step = step;
    t.batch_rng.state = rng;
    t.set_elapsed_before(elapsed);
    Ok(t)
}

/// A trainer holding a model's evaluated weights, from a checkpoint (as `restore_with`) or a weights-only file
/// (its weights in both the live and the EMA buffer, fresh optimizer state): what `eval` and `export` run.
pub async fn restore_weights(
    bytes: &[u8],
    source: &str,
    backend: Backend,
    eval_depths: &[usize],
    task_overrides: &[String],
) -> Result<Trainer, LabError> {
    if !is_weights_only(bytes) {
        return restore_with(bytes, source, backend, eval_depths, task_overrides).await;
    }
    let config = config_with_task_overrides(bytes, source, task_overrides)?;
    let weights = Weights::read(bytes, source)?;
    let mut t = Trainer::with_eval_depths(config, backend, eval_depths).await?;
    let values = weights.values(&t.params)?;
    for buf in std::iter::once(t.params.values).chain(t.params.ema) {
        let all = t.params.all(buf);
        t.backend.write(all, &values);
    }
    t.step = metadata(bytes).get("step").and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(t)
}

/// The stored config with `task.*` overrides applied (model and training keys are fixed by the weights).
fn config_with_task_overrides(bytes: &[u8], source: &str, task_overrides: &[String]) -> Result<LabConfig, LabError> {
    let mut config = read_config(bytes, source)?;
    for o in task_overrides {
        if !o.trim_start().starts_with("task.") {
            return Err(LabError::invalid(
                "--set",
                o,
                "task.* keys only (a checkpoint's model and training settings are fixed)",
            ));
        }
        config.set(o)?;
    }
    config.validate()?;
    Ok(config)
}
