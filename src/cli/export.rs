//! `looplab export`: a checkpoint as the page's weights-only file and manifest entry, or in PyTorch's layout
//! (src/export.rs).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{io_err, write_atomic, DeviceArg};
use crate::backend::Backend;
use crate::error::LabError;
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
    /// A model.safetensors written by `train`
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
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
    let (path, out) = (&a.checkpoint, &a.out);
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let source = path.display().to_string();
    let backend = Backend::open(a.device.backend).await?;
    let mut t = checkpoint::restore_weights(&bytes, &source, backend, &[], &[]).await?;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    if a.format != Format::Torch {
        let name = a.name.clone().unwrap_or_else(|| t.config.closest_preset().0.to_string());
        let (weights, entry) =
            crate::export::page(&mut t, &name, checkpoint::metadata(&bytes).get("command").cloned()).await?;
        let file = out.join(&entry.file);
        write_atomic(&file, &weights)?;
        let manifest_path = out.join("manifest.json");
        let existing = std::fs::read_to_string(&manifest_path).ok();
        let manifest =
            crate::export::add_to_manifest(existing.as_deref(), entry.clone(), &manifest_path.display().to_string())?;
        write_atomic(&manifest_path, manifest.as_bytes())?;
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
    }
    if a.format != Format::Page {
        let (model, config) = crate::export::torch(&mut t).await?;
        write_atomic(&out.join("model.safetensors"), &model)?;
        write_atomic(&out.join("config.json"), config.as_bytes())?;
        eprintln!("wrote {}/model.safetensors (PyTorch layout) and config.json", out.display());
    }
    Ok(())
}
