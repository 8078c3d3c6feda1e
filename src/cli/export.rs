//! `looplab export`: a checkpoint as the page's weights-only file and manifest entry, or in PyTorch's layout
//! (src/export.rs).

use std::path::PathBuf;

use super::{io_err, value, write_atomic};
use crate::backend::{Backend, BackendKind};
use crate::error::LabError;
use crate::train::checkpoint;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Page,
    Torch,
    Both,
}

#[derive(Debug)]
pub struct ExportArgs {
    checkpoint: Option<PathBuf>,
    out: Option<PathBuf>,
    format: Format,
    name: Option<String>,
    backend: Option<BackendKind>,
}

impl ExportArgs {
    pub fn parse(args: &[String]) -> Result<ExportArgs, LabError> {
        let mut a = ExportArgs { checkpoint: None, out: None, format: Format::Page, name: None, backend: None };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--checkpoint" => a.checkpoint = Some(PathBuf::from(value(flag, &mut it)?)),
                "--out" => a.out = Some(PathBuf::from(value(flag, &mut it)?)),
                "--format" => {
                    a.format = match value(flag, &mut it)?.as_str() {
                        "page" => Format::Page,
                        "torch" => Format::Torch,
                        "both" => Format::Both,
                        other => return Err(LabError::invalid("--format", other, "page, torch or both")),
                    }
                }
                "--name" => a.name = Some(value(flag, &mut it)?.clone()),
                "--backend" => a.backend = Some(value(flag, &mut it)?.parse()?),
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `export`"))),
            }
        }
        if a.checkpoint.is_none() || a.out.is_none() {
            return Err(LabError::Usage("`export` needs --checkpoint FILE and --out DIR".into()));
        }
        if a.format == Format::Both && a.name.as_deref() == Some("model") {
            return Err(LabError::invalid(
                "--name",
                "model",
                "another name with --format both (the PyTorch file is model.safetensors)",
            ));
        }
        Ok(a)
    }
}

pub async fn run(a: &ExportArgs) -> Result<(), LabError> {
    let path = a.checkpoint.as_ref().expect("checked by parse");
    let out = a.out.as_ref().expect("checked by parse");
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let source = path.display().to_string();
    let backend = Backend::open(a.backend.unwrap_or(BackendKind::Gpu)).await?;
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
