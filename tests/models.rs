#![cfg(not(target_arch = "wasm32"))]
//! The trained models shipped with the page (www/models/, written by `looplab export`): every file is the one
//! its manifest entry names (bytes and sha256), loads natively, and still scores what the manifest says (token
//! and exact accuracy within 2 points at the training depth) on the first examples of each held-out split; a
//! model's training history, where it ships one, is the file its entry names, read by the core's reader, and
//! ends where the model's training did.

use std::path::{Path, PathBuf};

use looplab::backend::{Backend, BackendKind};
use looplab::export::{attach_history, ManifestEntry};
use looplab::train::{checkpoint, read_history_file};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Held-out examples scored per split: the whole split for every shipped model (the largest, 500 examples,
/// keeps the sampling error of a subset out of the 2-point tolerance) while the file stays well under a minute.
const EXAMPLES: usize = 500;
const TOLERANCE: f64 = 0.02;

#[derive(Deserialize)]
struct Manifest {
    models: Vec<ManifestEntry>,
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models")
}

fn manifest() -> Vec<ManifestEntry> {
    let path = models_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let m: Manifest = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!m.models.is_empty(), "{} lists no models", path.display());
    m.models
}

fn read(entry: &ManifestEntry) -> Vec<u8> {
    read_file(&entry.file)
}

fn read_file(file: &str) -> Vec<u8> {
    let path = models_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_manifest_names_every_file_by_its_bytes_and_sha256() {
    let entries = manifest();
    for e in &entries {
        let bytes = read(e);
        assert_eq!(bytes.len(), e.bytes, "{}: size", e.file);
        assert_eq!(sha256(&bytes), e.sha256, "{}: sha256", e.file);
    }
    let mut listed: Vec<String> = entries
        .iter()
        .flat_map(|e| std::iter::once(e.file.clone()).chain(e.history.iter().map(|h| h.file.clone())))
        .collect();
    listed.push("manifest.json".into());
    listed.sort();
    let mut present: Vec<String> = std::fs::read_dir(models_dir())
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(present, listed, "www/models holds the manifest's files and nothing else");
}

#[test]
fn every_shipped_history_is_its_files_bytes_and_ends_at_the_models_step() {
    let entries = manifest();
    assert!(entries.iter().any(|e| e.history.is_some()), "no shipped model carries its training curves");
    for e in entries {
        let Some(h) = &e.history else { continue };
        let bytes = read_file(&h.file);
        assert_eq!((bytes.len(), sha256(&bytes)), (h.bytes, h.sha256.clone()), "{}: size and sha256", h.file);
        let text = String::from_utf8(bytes.clone()).unwrap_or_else(|e| panic!("{}: {e}", h.file));
        let records = read_history_file(&text, &h.file).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(records.last().map(|r| r.step), Some(e.steps), "{}: the last record's step", h.file);
        // What `looplab export --history` writes for this entry, its checks included (the last evaluation scores
        // every split as the manifest does).
        let again = attach_history(&mut e.clone(), &text, &h.file).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(again, bytes, "{}: not the compact file export writes", h.file);
    }
}

#[test]
fn every_shipped_model_scores_its_manifest_accuracy() {
    pollster::block_on(async {
        for e in manifest() {
            let bytes = read(&e);
            let backend = Backend::open(BackendKind::Cpu).await.unwrap();
            let mut t = checkpoint::restore_weights(&bytes, &e.file, backend, &[], &[]).await.unwrap();
            assert_eq!((t.step, t.params.count(), t.config.seed), (e.steps, e.parameters, e.seed), "{}", e.name);
            for (i, recorded) in e.splits.iter().enumerate().skip(1) {
                let split = &mut t.dataset.splits[i];
                assert_eq!(split.name, recorded.split, "{}: split {i}", e.name);
                let n = split.len().min(EXAMPLES) * split.seq_len;
                split.tokens.truncate(n);
                split.targets.truncate(n);
                let got = t.evaluate(i).await.unwrap();
                let want = &recorded.evaluation;
                println!(
                    "{} {}: token {:.4} (manifest {:.4}), exact {:.4} (manifest {:.4})",
                    e.name, recorded.split, got.accuracy, want.accuracy, got.exact, want.exact
                );
                for (what, got, want) in [("token", got.accuracy, want.accuracy), ("exact", got.exact, want.exact)] {
                    assert!(
                        (got - want).abs() <= TOLERANCE,
                        "{} {}: {what} accuracy {got:.4}, manifest {want:.4}",
                        e.name,
                        recorded.split
                    );
                }
            }
        }
    });
}
