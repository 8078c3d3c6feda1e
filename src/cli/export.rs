//! `looplab export`: a checkpoint as the page's weights-only file and manifest entry (with the run's training
//! history beside it), or in PyTorch's layout (src/export.rs); or a history added to a model already exported.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{io_err, write_atomic, DeviceArg};
use crate::backend::Backend;
use crate::error::LabError;
use crate::export::ManifestEntry;
use crate::train::checkpoint;

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Format {
    /// The page's weights-only file and its manifest entry
    Page,
    /// PyTorch's layout (model.safetensors and config.json, for looplab_torch)
    Torch,
    /// Both
    Both,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A model.safetensors written by `train` [without it: --history adds curves to --name's entry in --out]
    #[arg(long, value_name = "FILE", required_unless_present = "history")]
    checkpoint: Option<PathBuf>,
    /// The training history of the run that trained the model (history.json or history.csv), shipped beside it as
    /// NAME.history.json [default: the history.json beside --checkpoint, if there is one]
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// The folder to write into (the page's manifest.json there gains or replaces the model's entry)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Page)]
    format: Format,
    /// The page file's name, NAME.safetensors [default: the closest preset's name]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    device: DeviceArg,
}

pub async fn run(a: &ExportArgs) -> Result<(), LabError> {
    if a.format == Format::Both && a.name.as_deref() == Some("model") {
        return Err(LabError::invalid(
            "--name",
            "model",
            "another name with --format both (the PyTorch file is model.safetensors)",
        ));
    }
    let out = &a.out;
    let Some(path) = &a.checkpoint else { return add_history(a) };
    if a.format == Format::Torch && a.history.is_some() {
        return Err(LabError::invalid("--format", "torch", "page or both with --history (the page ships the curves)"));
    }
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let source = path.display().to_string();
    let backend = Backend::open(a.device.backend).await?;
    let mut t = checkpoint::restore_weights(&bytes, &source, backend, &[], &[]).await?;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    if a.format != Format::Torch {
        let name = a.name.clone().unwrap_or_else(|| t.config.closest_preset().0.to_string());
        let (weights, mut entry) =
            crate::export::page(&mut t, &name, checkpoint::metadata(&bytes).get("command").cloned()).await?;
        // The run's history: the one asked for, or the history.json `train` wrote beside the checkpoint.
        let beside = path.with_file_name("history.json");
        let history = a.history.clone().or_else(|| beside.exists().then_some(beside));
        let history = match &history {
            Some(h) => Some(read_history(&mut entry, h)?),
            None => None,
        };
        let file = out.join(&entry.file);
        write_atomic(&file, &weights)?;
        let manifest_path = write_entry(out, &entry, history.as_deref())?;
        let scores: Vec<String> = entry
            .splits
            .iter()
            .map(|s| {
                format!("{} {:.2}% ({:.2}% exact)", s.split, 100.0 * s.evaluation.accuracy, 100.0 * s.evaluation.exact)
            })
            .collect();
        eprintln!(
            "wrote {} ({} KiB, weights only) and its entry in {}",
            file.display(),
            entry.bytes >> 10,
            manifest_path.display()
        );
        eprintln!("at {} iterations: {}", entry.depth, scores.join(", "));
        if history.is_none() {
            eprintln!(
                "no history.json beside {}: {name} ships without its training curves (--history FILE adds them)",
                path.display()
            );
        }
    }
    if a.format != Format::Page {
        let (model, config) = crate::export::torch(&mut t).await?;
        write_atomic(&out.join("model.safetensors"), &model)?;
        write_atomic(&out.join("config.json"), config.as_bytes())?;
        eprintln!("wrote {}/model.safetensors (PyTorch layout) and config.json", out.display());
    }
    Ok(())
}

/// The history file at `path` for `entry` (`export::attach_history`: refused unless it is the model's own run).
fn read_history(entry: &mut ManifestEntry, path: &Path) -> Result<Vec<u8>, LabError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    crate::export::attach_history(entry, &text, &path.display().to_string())
}

/// Writes `entry` into the manifest of `out`, with its history file (or without: a history left from an earlier
/// export of the name is removed, since it may be another run's); returns the manifest's path.
fn write_entry(out: &Path, entry: &ManifestEntry, history: Option<&[u8]>) -> Result<PathBuf, LabError> {
    let history_path = out.join(format!("{}.history.json", entry.name));
    match history {
        Some(bytes) => {
            write_atomic(&history_path, bytes)?;
            eprintln!("wrote {} ({} bytes): its training curves", history_path.display(), bytes.len());
        }
        None => match std::fs::remove_file(&history_path) {
            Ok(()) => eprintln!("removed {}, an earlier export's history", history_path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::Io { path: history_path.display().to_string(), source: e }),
        },
    }
    let manifest_path = out.join("manifest.json");
    let existing = std::fs::read_to_string(&manifest_path).ok();
    let manifest =
        crate::export::add_to_manifest(existing.as_deref(), entry.clone(), &manifest_path.display().to_string())?;
    write_atomic(&manifest_path, manifest.as_bytes())?;
    Ok(manifest_path)
}

/// `--history` without `--checkpoint`: the curves of a model exported before (its run folder gone), added to its
/// manifest entry; the model file is not touched.
fn add_history(a: &ExportArgs) -> Result<(), LabError> {
    let history = a.history.as_deref().expect("clap requires --history without --checkpoint");
    let Some(name) = &a.name else {
        return Err(LabError::Usage("--history without --checkpoint needs --name: the model to add it to".into()));
    };
    if a.format != Format::Page {
        return Err(LabError::invalid(
            "--format",
            format!("{:?}", a.format).to_lowercase(),
            "page without --checkpoint",
        ));
    }
    let manifest_path = a.out.join("manifest.json");
    let source = manifest_path.display().to_string();
    let text = std::fs::read_to_string(&manifest_path).map_err(io_err(&manifest_path))?;
    let mut entry = crate::export::manifest_entry(&text, name, &source)?;
    let bytes = read_history(&mut entry, history)?;
    write_entry(&a.out, &entry, Some(&bytes))?;
    eprintln!("{name}'s entry in {source} lists it; {} is unchanged", a.out.join(&entry.file).display());
    Ok(())
}
