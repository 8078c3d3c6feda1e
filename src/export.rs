//! `looplab export`: a trained model in the two forms it leaves looplab in.
//! - *page*: a weights-only looplab file (the weights evaluation reads: the EMA where the run kept one; f32; no
//!   optimizer state; config and provenance in the metadata) and its manifest entry (preset + overrides, the
//!   command, seed, steps, the scores of every split at the training depth, sha256, bytes), what www/models/
//!   ships and `eval`, `solve`, `probe` and the page read; with the run's training history beside it
//!   (NAME.history.json, compact), the page's curves of the model, once the history is shown to be its own run.
//! - *torch*: the layout PyTorch users expect, read by python/looplab_torch: nn.Linear's `[out, in]`, q/k/v
//!   and the SwiGLU halves split, the EMA resolved, the fixed random initial states included, the config as
//!   `config.json` beside.

use std::collections::HashMap;
use std::ops::Range;

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{LabConfig, Mlp, ModelConfig};
use crate::error::LabError;
use crate::train::checkpoint::{self, TORCH_FORMAT};
use crate::train::{read_history_file, training_depth, Record, SplitScore, Trainer};

/// One model of www/models/manifest.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    /// The weights-only file, beside the manifest.
    pub file: String,
    pub preset: String,
    pub overrides: Vec<String>,
    /// A command that trains this config (the one recorded in the checkpoint when it has one).
    pub command: String,
    pub seed: u64,
    /// Steps the model was trained for.
    pub steps: u64,
    /// Iterations the model was trained at, where `splits` are scored.
    pub depth: usize,
    pub parameters: usize,
    /// Loss, token accuracy and exact accuracy of every split (the training split on its first examples).
    pub splits: Vec<SplitScore>,
    pub sha256: String,
    pub bytes: usize,
    /// The training history of the run that trained the model, when the export had it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryFile>,
}

/// A shipped model's training history, beside it, described as the model file is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryFile {
    pub file: String,
    pub sha256: String,
    pub bytes: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    models: Vec<ManifestEntry>,
}

/// How far a history's last evaluation may be from the model's scores and still be its own run's. Token and
/// exact accuracy are counts, the same on every build of one backend; a run trained on the gpu and exported on
/// the cpu may differ in a few examples. Losses are not compared: their last digits move between builds.
const SAME_RUN: f64 = 0.01;

/// Token and exact accuracy of `split` in a record (histories from before `splits` have only train and test).
fn record_score(r: &Record, split: &str) -> Option<(f64, f64)> {
    match r.splits.iter().find(|s| s.split == split) {
        Some(s) => Some((s.evaluation.accuracy, s.evaluation.exact)),
        None if r.splits.is_empty() && split == "train" => Some((r.train_acc, r.train_exact)),
        None if r.splits.is_empty() && split == "test" => Some((r.test_acc, r.test_exact)),
        None => None,
    }
}

/// The file the page fetches for `entry`'s curves (NAME.history.json: the records, compact), and `entry` with
/// its `history`: `text` is read by `train::read_history_file` (JSON, or CSV when `source` ends in `.csv`).
/// Refused, naming `source`, unless it is the model's own run: it ends at the model's step, and its last
/// evaluation scores every split as the entry does (token and exact accuracy within `SAME_RUN`).
pub fn attach_history(entry: &mut ManifestEntry, text: &str, source: &str) -> Result<Vec<u8>, LabError> {
    let history = read_history_file(text, source)?;
    let last = history.last().expect("read_history_file refuses an empty history");
    let not_ours = |what: String| {
        LabError::Input(format!("{source}: {what}, so it is not the history of the run that trained {}", entry.name))
    };
    if last.step != entry.steps {
        return Err(not_ours(format!(
            "the history ends at step {}, but the model was trained for {}",
            last.step, entry.steps
        )));
    }
    for s in &entry.splits {
        let (accuracy, exact) = record_score(last, &s.split).ok_or_else(|| {
            not_ours(format!("its last record has no `{}` split, which the model is scored on", s.split))
        })?;
        for (what, got, want) in [("token", accuracy, s.evaluation.accuracy), ("exact", exact, s.evaluation.exact)] {
            if (got - want).abs() > SAME_RUN {
                return Err(not_ours(format!(
                    "at step {} it scores {} {:.2}% {what} accuracy, but the model scores {:.2}%",
                    last.step,
                    s.split,
                    100.0 * got,
                    100.0 * want
                )));
            }
        }
    }
    let bytes = serde_json::to_vec(&history).expect("records serialize");
    entry.history = Some(HistoryFile {
        file: format!("{}.history.json", entry.name),
        sha256: sha256_hex(&bytes),
        bytes: bytes.len(),
    });
    Ok(bytes)
}

/// The weights evaluation reads, in the trainer's parameter layout.
async fn evaluated_values(t: &mut Trainer) -> Result<Vec<f32>, LabError> {
    let p = t.params.evaluated();
    t.backend.read(p.all(p.values)).await
}

/// The page's weights-only file of `t` (a trainer from `checkpoint::restore_weights`) and its manifest entry,
/// scoring every split at the training depth. `command` is how the model was trained, when the checkpoint
/// records it; otherwise the `looplab train` command of its preset and overrides.
pub async fn page(t: &mut Trainer, name: &str, command: Option<String>) -> Result<(Vec<u8>, ManifestEntry), LabError> {
    check_name(name)?;
    let mut splits = Vec::new();
    for i in 0..t.dataset.splits.len() {
        splits.push(SplitScore { split: t.dataset.splits[i].name.to_string(), evaluation: t.evaluate(i).await? });
    }
    let (preset, overrides) = t.config.closest_preset();
    let command = command.unwrap_or_else(|| {
        let sets: String = overrides.iter().map(|o| format!(" --set {o}")).collect();
        format!("looplab train --preset {preset}{sets}")
    });
    let values = evaluated_values(t).await?;
    let metadata = [
        ("name", name.to_string()),
        ("preset", preset.to_string()),
        ("overrides", serde_json::to_string(&overrides).expect("strings serialize")),
        ("command", command.clone()),
        ("weights", if t.config.train.ema > 0.0 { "ema" } else { "live" }.to_string()),
        ("evaluation", serde_json::to_string(&splits).expect("scores serialize")),
        ("exported_by", format!("looplab {} export", env!("CARGO_PKG_VERSION"))),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let bytes = canonical(checkpoint::save_weights(&t.params, &values, &t.config, t.step, &metadata)?);
    let entry = ManifestEntry {
        name: name.to_string(),
        file: format!("{name}.safetensors"),
        preset: preset.to_string(),
        overrides,
        command,
        seed: t.config.seed,
        steps: t.step,
        depth: training_depth(&t.config),
        parameters: t.params.count(),
        splits,
        sha256: sha256_hex(&bytes),
        bytes: bytes.len(),
        history: None,
    };
    Ok((bytes, entry))
}

/// The lowercase hex SHA-256 of `bytes`, as the manifest records it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// What is wrong when `bytes` do not have the sha256 `want` (a manifest's); `None` when they do.
pub fn sha256_mismatch(bytes: &[u8], want: &str) -> Option<String> {
    let got = sha256_hex(bytes);
    (!got.eq_ignore_ascii_case(want.trim())).then(|| {
        format!(
            "its sha256 is {got}, but the manifest says {want}: the file is damaged or not the one the manifest lists"
        )
    })
}

/// Names become file names in www/models/: letters, digits, `-`, `_` and `.` only.
fn check_name(name: &str) -> Result<(), LabError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LabError::invalid("--name", name, "letters, digits, '-', '_' and '.' (not first), e.g. sudoku-4x4"))
    }
}

fn parse_manifest(text: &str, source: &str) -> Result<Manifest, LabError> {
    serde_json::from_str(text).map_err(|e| LabError::Checkpoint {
        path: source.to_string(),
        what: format!("not a looplab model manifest ({e}); expected {{\"models\": [...]}}"),
    })
}

/// The entry of the model named `name` in a manifest (its text; `source` names the file).
pub fn manifest_entry(manifest: &str, name: &str, source: &str) -> Result<ManifestEntry, LabError> {
    let m = parse_manifest(manifest, source)?;
    let names: Vec<&str> = m.models.iter().map(|e| e.name.as_str()).collect();
    let known = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    m.models.iter().find(|e| e.name == name).cloned().ok_or_else(|| {
        LabError::invalid(
            "--name",
            name,
            format!("a model the manifest {source} lists ({known}), or a --checkpoint to export"),
        )
    })
}

/// The manifest with `entry` added, or replacing the entry of the same name; models sorted by name.
pub fn add_to_manifest(manifest: Option<&str>, entry: ManifestEntry, source: &str) -> Result<String, LabError> {
    let mut m = match manifest {
        Some(text) => parse_manifest(text, source)?,
        None => Manifest::default(),
    };
    m.models.retain(|e| e.name != entry.name);
    m.models.push(entry);
    m.models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(serde_json::to_string_pretty(&m).expect("manifest serializes") + "\n")
}

/// One tensor of the PyTorch layout, cut from a looplab tensor `[rows, cols]`: columns `cols`, transposed into
/// nn.Linear's `[out, in]`, or the whole tensor as stored under a new shape.
struct Piece {
    name: String,
    cols: Range<usize>,
    transpose: bool,
    shape: Vec<usize>,
}

/// The PyTorch tensors a looplab tensor becomes (names as python/looplab_torch's modules have them).
fn torch_pieces(m: &ModelConfig, name: &str, shape: &[usize]) -> Vec<Piece> {
    let linear = |name: String, cols: Range<usize>| Piece {
        shape: vec![cols.len(), shape[0]],
        name: format!("{name}.weight"),
        cols,
        transpose: true,
    };
    let stored = |name: String, shape: Vec<usize>| Piece { name, cols: 0..0, transpose: false, shape };
    let width = shape.get(1).copied().unwrap_or(1);
    let (stem, leaf) = name.rsplit_once('.').unwrap_or(("", name));
    match (stem.rsplit_once('.').map_or(stem, |(_, s)| s), leaf) {
        ("attn", "qkv") => {
            let d = width / 3;
            ["q", "k", "v"].iter().enumerate().map(|(i, x)| linear(format!("{stem}.{x}"), i * d..(i + 1) * d)).collect()
        }
        ("attn", "out") => vec![linear(format!("{stem}.out"), 0..width)],
        ("mlp" | "mix", "in") => match m.mlp {
            Mlp::Swiglu => {
                let f = width / 2;
                vec![linear(format!("{stem}.gate"), 0..f), linear(format!("{stem}.up"), f..2 * f)]
            }
            Mlp::Gelu => vec![linear(format!("{stem}.fc"), 0..width)],
        },
        ("mlp" | "mix", "out") => vec![linear(format!("{stem}.down"), 0..width)],
        (_, "norm1" | "norm2") | ("", "final_norm" | "tok_emb" | "pos_emb") => {
            vec![stored(format!("{name}.weight"), shape.to_vec())]
        }
        ("", "head") => vec![linear("head".into(), 0..width)],
        ("halt", "weight") => vec![stored(name.into(), vec![1, shape[0]])],
        _ => vec![stored(name.into(), shape.to_vec())],
    }
}

/// The PyTorch-layout file (`model.safetensors`) and `config.json` of `t`'s evaluated weights.
pub async fn torch(t: &mut Trainer) -> Result<(Vec<u8>, String), LabError> {
    let values = evaluated_values(t).await?;
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for p in &t.params.list {
        let data = &values[p.tensor.offset..p.tensor.offset + p.tensor.len];
        let cols = p.shape.get(1).copied().unwrap_or(1);
        for piece in torch_pieces(&t.config.model, &p.name, &p.shape) {
            let out = if piece.transpose {
                piece.cols.clone().flat_map(|c| (0..p.shape[0]).map(move |r| data[r * cols + c])).collect()
            } else {
                data.to_vec()
            };
            tensors.push((piece.name, piece.shape, out));
        }
    }
    for (i, (state, values)) in t.params.init_state_values(t.config.seed).into_iter().enumerate() {
        let shape = match t.config.model.memory {
            0 => vec![state.len],
            f => vec![f, t.config.model.d_model],
        };
        tensors.push((format!("init_states.{i}"), shape, values));
    }
    let views = tensors.iter().map(|(name, shape, data)| {
        (name.clone(), TensorView::new(Dtype::F32, shape.clone(), bytemuck::cast_slice(data)).expect("shape matches"))
    });
    let config = serde_json::to_string(&t.config).expect("config serializes");
    let metadata = HashMap::from([
        ("format".to_string(), TORCH_FORMAT.to_string()),
        ("config".to_string(), config),
        ("step".to_string(), t.step.to_string()),
    ]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| LabError::Checkpoint { path: String::new(), what: e.to_string() })?;
    Ok((canonical(bytes), pretty_config(&t.config)))
}

/// The same safetensors file with its header's keys sorted (the metadata is a HashMap, serialized in a random
/// order), so exporting one checkpoint twice gives the same bytes and sha256.
fn canonical(bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("safetensors wrote its header");
    let mut text = serde_json::to_string(&header).expect("a header serializes");
    // The data starts 8-byte aligned, as safetensors pads it.
    while !(8 + text.len()).is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// The config as `config.json` (what `looplab data` writes beside the data and looplab_torch reads).
pub fn pretty_config(config: &LabConfig) -> String {
    serde_json::to_string_pretty(config).expect("config serializes") + "\n"
}
