#![cfg(not(target_arch = "wasm32"))]
//! Checkpoint integrity: a damaged tensor or metadata entry is refused naming what is damaged, checkpoints written
//! before checksums keep loading and evaluate to the numbers they had, and the CLI leaves no temporary
//! files behind.

use looplab::backend::{Backend, BackendKind};
use looplab::config::LabConfig;
use looplab::train::checkpoint::{self, Weights};
use looplab::train::Trainer;
use safetensors::SafeTensors;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/looplab-checkpoint-1.safetensors");

async fn cpu() -> Backend {
    Backend::open(BackendKind::Cpu).await.unwrap()
}

async fn saved_checkpoint() -> Vec<u8> {
    let o: Vec<String> = ["train.steps=4", "train.eval_every=2", "train.ema=0.9", "model.d_model=16", "task.p=7"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut t = Trainer::new(LabConfig::from_preset("modular-small", &o).unwrap(), cpu().await).await.unwrap();
    t.train(4).await.unwrap();
    checkpoint::save(&mut t).await.unwrap()
}

/// Where a tensor's bytes lie in the file.
fn data_range(bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    let (n, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let (start, end) = meta.info(name).unwrap().data_offsets;
    8 + n + start..8 + n + end
}

/// The tiny model committed in tests/fixtures (tests/fixtures/README.md says how it was made) loads and scores
/// what `looplab eval` printed for it when it was written.
#[test]
fn a_checkpoint_from_before_checksums_loads_and_evaluates_as_it_did() {
    pollster::block_on(async {
        let bytes = std::fs::read(FIXTURE).unwrap();
        let mut t = checkpoint::restore(&bytes, FIXTURE, cpu().await, &[1, 2, 3]).await.unwrap();
        assert_eq!(t.step, 30);
        // (iterations, split, loss, token accuracy) as printed by `looplab eval --iters 1,2,3 --json`.
        let expected = [
            (1, 0, 2.0097618103027344, 0.1724137931034483),
            (1, 1, 2.259256362915039, 0.1),
            (2, 0, 2.010563685976226, 0.1724137931034483),
            (2, 1, 2.2594135284423826, 0.1),
            (3, 0, 2.0110480209876753, 0.1724137931034483),
            (3, 1, 2.2594871520996094, 0.1),
        ];
        let sweeps = [t.evaluate_depths(0).await.unwrap(), t.evaluate_depths(1).await.unwrap()];
        for (iters, split, loss, accuracy) in expected {
            let e = sweeps[split][iters - 1];
            // Losses are f32 sums: another CPU's SIMD kernels may round the last bits differently.
            assert!((e.loss - loss).abs() <= 1e-6 * loss, "split {split} at {iters}: loss {} vs {loss}", e.loss);
            assert_eq!(e.accuracy, accuracy, "split {split} at {iters}");
        }
        let w = Weights::read(&bytes, FIXTURE).unwrap();
        assert_eq!((w.config.model.d_model, w.vocab), (8, t.dataset.vocab));
        // Training goes on from it, and what it saves now carries checksums.
        t.config.train.steps = 32;
        t.train(2).await.unwrap();
        let resaved = checkpoint::save(&mut t).await.unwrap();
        let (_, meta) = SafeTensors::read_metadata(&resaved).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta["format"], "looplab-checkpoint-1");
        assert!(meta.contains_key("tensor_crc32") && meta.contains_key("metadata_crc32"));
    });
}

/// One flipped bit in any tensor's data, or a changed metadata value, is refused naming the file, the tensor
/// (or the metadata) and both checksums, by every reader.
#[test]
fn damage_is_refused_naming_what_is_damaged() {
    pollster::block_on(async {
        let good = saved_checkpoint().await;
        let names: Vec<String> =
            SafeTensors::deserialize(&good).unwrap().names().iter().map(|s| s.to_string()).collect();
        assert!(names.iter().any(|n| n.starts_with("ema.")) && names.len() > 20, "{names:?}");
        for (i, name) in names.iter().enumerate() {
            let range = data_range(&good, name);
            let mut bad = good.clone();
            // A different bit of a different byte each time.
            bad[range.start + (i * 7) % range.len()] ^= 1 << (i % 8);
            let msg =
                checkpoint::restore(&bad, "damaged.safetensors", cpu().await, &[]).await.err().unwrap().to_string();
            let want =
                format!("checkpoint damaged.safetensors: tensor `{name}` is damaged: the CRC-32 of its data is ");
            assert!(msg.starts_with(&want) && msg.contains(", the file recorded "), "{msg}");
            let msg = Weights::read(&bad, "damaged.safetensors").err().unwrap().to_string();
            assert!(msg.starts_with(&want), "{msg}");
        }
        // The learning rate in the stored config, changed in place (same length, so the file stays well-formed).
        let (n, _) = SafeTensors::read_metadata(&good).unwrap();
        let header = std::str::from_utf8(&good[8..8 + n]).unwrap();
        let at = 8 + header.find(r#"\"lr\":0.003"#).expect("the config's lr in the header") + r#"\"lr\":0.00"#.len();
        let mut bad = good.clone();
        bad[at] = b'7';
        for msg in [
            checkpoint::read_config(&bad, "meta.safetensors").err().unwrap().to_string(),
            checkpoint::restore(&bad, "meta.safetensors", cpu().await, &[]).await.err().unwrap().to_string(),
        ] {
            assert!(msg.starts_with("checkpoint meta.safetensors: the metadata is damaged: its CRC-32 is "), "{msg}");
        }
    });
}

/// `looplab train` writes through a temporary file and a rename: afterwards only the four run files are there.
#[test]
fn the_cli_leaves_only_finished_files() {
    let dir = std::env::temp_dir().join(format!("looplab-atomic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_looplab"))
        .args(["train", "--preset", "modular-small", "--backend", "cpu", "--steps", "4", "--out"])
        .arg(&dir)
        .args(["--set", "train.eval_every=2", "--set", "model.d_model=16"])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["config.json", "history.csv", "history.json", "model.safetensors"]);
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    assert_eq!(checkpoint::read_config(&bytes, "model").unwrap().train.steps, 4);
    std::fs::remove_dir_all(&dir).unwrap();
}
