#![cfg(not(target_arch = "wasm32"))]
//! `looplab data` and `looplab export`: the data file holds every split as the trainer sees it; a weights-only
//! file evaluates exactly like the checkpoint it came from, runs in `solve`, is refused by `train --resume`;
//! the manifest keeps one entry per name and lists the run's history beside the model, refusing a history that
//! is not valid or not the run's; the PyTorch layout splits and transposes the matrices; a config goes back to
//! its preset and overrides.

use std::path::{Path, PathBuf};
use std::process::Command;

use looplab::backend::BackendKind;
use looplab::config::{LabConfig, PRESETS};
use looplab::lab::Lab;
use looplab::tasks::IGNORE;
use looplab::train::read_history_file;
use safetensors::SafeTensors;

fn looplab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_looplab"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("looplab-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const TINY: &[&str] = &[
    "--preset",
    "sudoku-4x4",
    "--set",
    "train.steps=3",
    "--set",
    "train.eval_every=3",
    "--set",
    "train.ema=0.9",
    "--set",
    "model.d_model=16",
    "--set",
    "model.heads=2",
    "--set",
    "model.mlp_hidden=16",
    "--set",
    "task.examples=64",
    "--set",
    "task.test_examples=32",
    "--set",
    "train.batch_size=16",
];

fn eval_json(checkpoint: &Path) -> serde_json::Value {
    let (code, out, err) =
        looplab(&["eval", "--checkpoint", checkpoint.to_str().unwrap(), "--backend", "cpu", "--json"]);
    assert_eq!(code, 0, "eval failed: {err}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["depths"].clone()
}

#[test]
fn weights_only_files_evaluate_like_their_checkpoint_and_cannot_resume() {
    let dir = scratch("weights");
    let run = dir.join("run");
    let (code, _, err) = looplab(&[&["train"], TINY, &["--backend", "cpu", "--out", run.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "train failed: {err}");
    let checkpoint = run.join("model.safetensors");
    let models = dir.join("models");
    let export = |name: &str, format: &str| {
        let args = ["export", "--checkpoint", checkpoint.to_str().unwrap(), "--out", models.to_str().unwrap()];
        looplab(&[&args[..], &["--name", name, "--format", format, "--backend", "cpu"]].concat())
    };
    let (code, _, err) = export("tiny", "both");
    assert_eq!(code, 0, "export failed: {err}");
    let weights = models.join("tiny.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.names().iter().all(|n| !n.starts_with("adam_") && !n.starts_with("ema.")), "{:?}", st.names());

    // Same scores as the checkpoint's EMA weights, and the manifest says so.
    let scores = eval_json(&checkpoint);
    assert_eq!(eval_json(&weights), scores);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("manifest.json")).unwrap()).unwrap();
    let entry = &manifest["models"][0];
    assert_eq!(entry["name"], "tiny");
    assert_eq!(entry["preset"], "sudoku-4x4");
    assert_eq!(entry["steps"], 3);
    assert_eq!(entry["bytes"], bytes.len());
    let test = scores.as_array().unwrap().iter().find(|r| r["split"] == "test").unwrap();
    let listed = entry["splits"].as_array().unwrap().iter().find(|s| s["split"] == "test").unwrap();
    assert_eq!(listed["accuracy"], test["accuracy"]);
    assert!(entry["command"].as_str().unwrap().starts_with("looplab train --preset sudoku-4x4 --set "));

    // The history.json beside the checkpoint ships beside the model, compact, listed as the model file is.
    assert!(err.contains("tiny.history.json"), "{err}");
    let listed = &entry["history"];
    assert_eq!(listed["file"], "tiny.history.json");
    let history_path = models.join("tiny.history.json");
    let history = std::fs::read_to_string(&history_path).unwrap();
    assert_eq!(listed["bytes"], history.len());
    assert_eq!(listed["sha256"], looplab::export::sha256_hex(history.as_bytes()));
    let run_history = std::fs::read_to_string(run.join("history.json")).unwrap();
    assert_eq!(read_history_file(&history, "tiny.history.json").unwrap(), read_history_file(&run_history, "").unwrap());
    assert!(history.len() < run_history.len() && !history.contains('\n'), "compact");
    // A run folder without one exports as before, and says so.
    let bare = dir.join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::copy(&checkpoint, bare.join("model.safetensors")).unwrap();
    let (code, _, err) = looplab(&[
        "export",
        "--checkpoint",
        bare.join("model.safetensors").to_str().unwrap(),
        "--out",
        models.to_str().unwrap(),
        "--name",
        "bare",
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "export failed: {err}");
    assert!(err.contains("no history.json beside") && err.contains("bare ships without its training curves"), "{err}");
    // --history alone adds one to a model exported before, leaving its file alone; a file that is not a
    // history, or is another run's, is refused by name and nothing is written.
    let add = |file: &Path| {
        let args = ["export", "--out", models.to_str().unwrap(), "--name", "bare", "--history", file.to_str().unwrap()];
        looplab(&args)
    };
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "[{\"step\": 3,").unwrap();
    let (code, _, err) = add(&broken);
    assert!(code == 1 && err.contains("broken.json: the history is not valid (EOF while parsing"), "{err}");
    let other = dir.join("other.history.json");
    std::fs::write(&other, run_history.replace("\"step\": 3,", "\"step\": 4,")).unwrap();
    let (code, _, err) = add(&other);
    assert!(code == 1 && err.contains("other.history.json: the history ends at step 4, but the model was trained for 3, so it is not the history of the run that trained bare"), "{err}");
    assert!(!models.join("bare.history.json").exists());
    let bare_weights = std::fs::read(models.join("bare.safetensors")).unwrap();
    let (code, _, err) = add(&run.join("history.json"));
    assert_eq!(code, 0, "adding a history failed: {err}");
    assert_eq!(std::fs::read(models.join("bare.history.json")).unwrap(), history.as_bytes());
    assert_eq!(std::fs::read(models.join("bare.safetensors")).unwrap(), bare_weights);

    // One entry per name, sorted; the same checkpoint exports to the same bytes.
    assert_eq!(export("another", "page").0, 0);
    assert_eq!(export("tiny", "page").0, 0);
    assert_eq!(std::fs::read(&weights).unwrap(), bytes);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> = manifest["models"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["another", "bare", "tiny"]);

    // Runs where a model is evaluated, refused where optimizer state is needed.
    let (code, _, err) = looplab(&[
        "solve",
        "--checkpoint",
        weights.to_str().unwrap(),
        "--sudoku",
        "1.3. .4.2 2.4. .3.1",
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "solve on a weights-only file failed: {err}");
    let resume = dir.join("resume");
    std::fs::create_dir_all(&resume).unwrap();
    std::fs::copy(&weights, resume.join("model.safetensors")).unwrap();
    let (code, _, err) = looplab(&["train", "--resume", resume.to_str().unwrap(), "--backend", "cpu"]);
    assert_eq!(code, 1);
    assert!(err.contains("holds weights only") && err.contains("cannot resume"), "{err}");
    let (code, _, err) = looplab(&["eval", "--checkpoint", models.join("model.safetensors").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("PyTorch-layout export"), "{err}");
    let (code, _, err) = export("../up", "page");
    assert!(code == 1 && err.contains("`--name`"), "{err}");

    // The page's lab of a trained model: checked against the manifest's sha256, the model's scores at its
    // step, and it trains on (a fresh optimizer state).
    let sha = entry["sha256"].as_str().unwrap();
    pollster::block_on(async {
        let zeros = "0".repeat(64);
        let e = Lab::from_weights(&bytes, "tiny.safetensors", Some(&zeros), BackendKind::Cpu, &[]).await;
        let e = e.err().expect("a wrong sha256 is refused").to_string();
        assert!(e.contains(&format!("its sha256 is {sha}, but the manifest says 0000")), "{e}");
        let mut lab = Lab::from_weights(&bytes, "tiny.safetensors", Some(sha), BackendKind::Cpu, &[]).await.unwrap();
        assert_eq!((lab.step(), lab.history().len()), (3, 0));
        assert!(lab.solve(Some("1.3. .4.2 2.4. .3.1"), 0.0).await.is_ok());
        // The page's from-scratch run beside it: the model's config (its training recipe may differ) from step 0,
        // trained as a new lab of that config is; another model or task is refused, naming the key.
        let mut recipe = lab.config().clone();
        recipe.set("train.eval_every=1").unwrap();
        let mut fresh = lab.fresh(recipe.clone(), &[]).await.unwrap();
        assert_eq!((fresh.step(), fresh.config()), (0, &recipe));
        let mut new = Lab::new(recipe.clone(), BackendKind::Cpu).await.unwrap();
        let losses = |records: Vec<looplab::train::Record>| records.iter().map(|r| r.loss).collect::<Vec<_>>();
        let records = fresh.train(3).await.unwrap();
        assert_eq!(records.len(), 3, "every step, as its own train.eval_every says");
        assert_eq!(losses(records), losses(new.train(3).await.unwrap()));
        let mut other = recipe.clone();
        other.set("model.d_model=24").unwrap();
        let e = lab.fresh(other, &[]).await.err().expect("another model is refused").to_string();
        assert!(e.starts_with("invalid value \"24\" for `model.d_model`: expected the trained model's "), "{e}");
        lab.set_total_steps(5);
        let records = lab.train(2).await.unwrap();
        assert_eq!((lab.step(), records.last().map(|r| r.step)), (5, Some(5)), "trains on to the new total");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_torch_layout_splits_and_transposes_the_matrices() {
    let dir = scratch("torch");
    let run = dir.join("run");
    let args = [&["train"], TINY, &["--set", "model.norm_scale=true", "--backend", "cpu"]].concat();
    let (code, _, err) = looplab(&[&args[..], &["--out", run.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "train failed: {err}");
    let out = dir.join("torch");
    let (code, _, err) = looplab(&[
        "export",
        "--checkpoint",
        run.join("model.safetensors").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "torch",
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "export failed: {err}");
    let torch = std::fs::read(out.join("model.safetensors")).unwrap();
    let torch = SafeTensors::deserialize(&torch).unwrap();
    let ckpt = std::fs::read(run.join("model.safetensors")).unwrap();
    let ckpt = SafeTensors::deserialize(&ckpt).unwrap();
    let f32s = |st: &SafeTensors, name: &str| -> (Vec<usize>, Vec<f32>) {
        let v = st.tensor(name).unwrap_or_else(|_| panic!("{name} missing"));
        (v.shape().to_vec(), v.data().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
    };
    // The EMA weights, [in, out] with q, k, v side by side -> three [out, in] matrices.
    let (shape, qkv) = f32s(&ckpt, "ema.layers.0.attn.qkv");
    let d = shape[0];
    for (i, part) in ["q", "k", "v"].iter().enumerate() {
        let (shape, w) = f32s(&torch, &format!("layers.0.attn.{part}.weight"));
        assert_eq!(shape, [d, d]);
        for (o, i_) in [(0, 1), (3, 2), (d - 1, d - 1)] {
            assert_eq!(w[o * d + i_], qkv[i_ * 3 * d + i * d + o], "{part}[{o}, {i_}]");
        }
    }
    let (shape, mlp_in) = f32s(&ckpt, "ema.layers.0.mlp.in");
    let f = shape[1] / 2;
    let (up_shape, up) = f32s(&torch, "layers.0.mlp.up.weight");
    assert_eq!(up_shape, [f, d]);
    assert_eq!(up[2 * d + 1], mlp_in[2 * f + f + 2]);
    let (shape, head) = f32s(&ckpt, "ema.head");
    let (t_shape, t_head) = f32s(&torch, "head.weight");
    assert_eq!(t_shape, [shape[1], shape[0]]);
    assert_eq!(t_head[shape[0] + 2], head[2 * shape[1] + 1]);
    assert_eq!(f32s(&torch, "layers.0.norm1.weight").1, f32s(&ckpt, "ema.layers.0.norm1").1);
    assert!(torch.names().iter().all(|n| !n.contains("qkv") && !n.starts_with("ema.")));
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert_eq!(LabConfig::from_json(&config).unwrap().model.d_model, 16);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_data_file_holds_every_split_as_the_trainer_sees_it() {
    let dir = scratch("data");
    let sets = ["--set", "model.positions=learned"];
    let (code, _, err) = looplab(&[&["data", "--preset", "maze", "--out", dir.to_str().unwrap()], &sets[..]].concat());
    assert_eq!(code, 0, "data failed: {err}");
    let config = LabConfig::from_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config, LabConfig::from_preset("maze", &["model.positions=learned".into()]).unwrap());
    let bytes = std::fs::read(dir.join("data.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let dataset = config.dataset();
    for s in &dataset.splits {
        let ints = |name: &str| -> Vec<i32> {
            let v = st.tensor(&format!("{}.{name}", s.name)).unwrap();
            assert_eq!(v.shape(), [s.len(), s.seq_len]);
            v.data().chunks(4).map(|b| i32::from_le_bytes(b.try_into().unwrap())).collect()
        };
        let as_i32 = |v: &[u32]| -> Vec<i32> { v.iter().map(|&t| if t == IGNORE { -1 } else { t as i32 }).collect() };
        assert_eq!(ints("tokens"), as_i32(&s.tokens));
        assert_eq!(ints("targets"), as_i32(&s.targets));
        let mask = st.tensor(&format!("{}.mask", s.name)).unwrap();
        assert_eq!(
            mask.data().iter().map(|&m| m as usize).sum::<usize>(),
            s.targets.iter().filter(|&&t| t != IGNORE).count()
        );
    }
    // Learned positions pad the 9x9 training mazes to the 13x13 test mazes' length.
    assert_eq!(dataset.splits[0].seq_len, dataset.splits[1].seq_len);
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["format"], "looplab-data-1");
    assert_eq!(meta["vocab"], dataset.vocab.to_string());
    let splits: serde_json::Value = serde_json::from_str(&meta["splits"]).unwrap();
    assert_eq!(splits[1]["grid"], serde_json::json!(dataset.splits[1].grid));
    let (code, _, err) = looplab(&["data", "--preset", "maze"]);
    assert!(code == 2 && err.contains("required arguments were not provided:\n  --out <DIR>"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_config_goes_back_to_its_preset_and_overrides() {
    for p in PRESETS {
        let (name, overrides) = (p.config)().closest_preset();
        assert!(overrides.is_empty(), "{} came back as {name} {overrides:?}", p.name);
    }
    let sets: Vec<String> =
        ["model.loops=7", "train.lr=0.0003", "model.mlp=gelu", "task.givens=8"].map(String::from).into();
    let config = LabConfig::from_preset("sudoku-6x6", &sets).unwrap();
    let (name, overrides) = config.closest_preset();
    assert_eq!(LabConfig::from_preset(name, &overrides).unwrap(), config);
    assert!(overrides.len() <= sets.len(), "{name} {overrides:?}");
}
