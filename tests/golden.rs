#![cfg(not(target_arch = "wasm32"))]
//! Golden files, llm.c style: an external implementation (python/looplab_torch, PyTorch in float64) made one
//! training step of every architecture on looplab's own data (python/make_golden.py writes tests/golden/); the
//! cpu and gpu backends must reproduce its logits and loss (relative error <= 1e-4 of the tensor's largest
//! magnitude), every parameter's gradient (<= 1e-3) and the parameters and EMA after the AdamW step, and the
//! twin's initialization must be looplab's. So CI checks agreement with PyTorch without installing it.

use std::path::PathBuf;

use looplab::backend::{Backend, BackendKind};
use looplab::config::LabConfig;
use looplab::solve;
use looplab::train::{checkpoint, training_depth, Trainer};
use safetensors::SafeTensors;

const LOGITS_TOL: f64 = 1e-4;
const LOSS_TOL: f64 = 1e-4;
const GRAD_TOL: f64 = 1e-3;
/// After the step, relative to the weight and the learning rate (the update is lr * (wd * p + m/(sqrt v + eps))).
const STEP_TOL: f64 = 1e-5;

struct Golden {
    name: String,
    config: LabConfig,
    loss: f64,
    tensors: Vec<(String, Vec<f32>)>,
    tokens: Vec<u32>,
}

impl Golden {
    fn read(path: &PathBuf) -> Golden {
        let bytes = std::fs::read(path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta["format"], "looplab-golden-1", "{}", path.display());
        let mut tensors = Vec::new();
        let mut tokens = Vec::new();
        for (name, view) in st.tensors() {
            let words = view.data().chunks(4).map(|b| <[u8; 4]>::try_from(b).unwrap());
            if name == "tokens" {
                tokens = words.map(|w| i32::from_le_bytes(w) as u32).collect();
            } else {
                tensors.push((name, words.map(f32::from_le_bytes).collect()));
            }
        }
        Golden {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            config: LabConfig::from_json(&meta["config"]).unwrap(),
            loss: meta["loss"].parse().unwrap(),
            tensors,
            tokens,
        }
    }

    fn get(&self, name: &str) -> &[f32] {
        &self.tensors.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{}: no {name}", self.name)).1
    }

    fn has(&self, name: &str) -> bool {
        self.tensors.iter().any(|(n, _)| n == name)
    }
}

fn max_abs(x: &[f32]) -> f64 {
    x.iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64))
}

/// The largest difference relative to the expected tensor's largest magnitude.
fn relative_error(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let diff = got.iter().zip(want).fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    diff / max_abs(want).max(1e-30)
}

fn golden_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the golden files in {}", dir.display());
    files
}

async fn check(g: &Golden, kind: BackendKind) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("{} on {kind:?}: {what}", g.name));
    let mut t = Trainer::new(g.config.clone(), Backend::open(kind).await.unwrap()).await.unwrap();
    let p = t.params.clone();

    // The twin's initialization is looplab's (sums over each tensor).
    let init = p.init(g.config.seed);
    for param in &p.list {
        let values = &init[param.tensor.offset..param.tensor.offset + param.tensor.len];
        let stats = g.get(&format!("init_stats.{}", param.name));
        let sum: f64 = values.iter().map(|&v| v as f64).sum();
        let squares: f64 = values.iter().map(|&v| (v as f64).powi(2)).sum();
        if (sum - stats[0] as f64).abs() > 1e-4 * (1.0 + squares.sqrt())
            || (squares - stats[1] as f64).abs() > 1e-4 * squares.max(1.0)
        {
            fail(format!("init of {}: sum {sum}, sum of squares {squares}; the twin's {stats:?}", param.name));
        }
    }

    // The golden weights in the live and EMA buffers.
    let mut values = vec![0.0f32; p.len];
    for param in &p.list {
        let v = g.get(&format!("params.{}", param.name));
        assert_eq!(v.len(), param.tensor.len, "{}: {} has another shape", g.name, param.name);
        values[param.tensor.offset..param.tensor.offset + param.tensor.len].copy_from_slice(v);
    }
    for buf in std::iter::once(p.values).chain(p.ema) {
        t.backend.write(p.all(buf), &values);
    }

    // Logits after the training depth, through the path solve, probe and the page use.
    let bytes = checkpoint::save(&mut t).await.unwrap();
    let weights = checkpoint::Weights::read(&bytes, &g.name).unwrap();
    let grid = t.dataset.train().grid;
    let mut backend = Backend::open(kind).await.unwrap();
    let trace = solve::trace(&weights, &mut backend, &g.tokens, grid, training_depth(&g.config)).await.unwrap();
    let e = relative_error(trace.logits.last().unwrap(), g.get("logits"));
    let logits_error = e;
    if e > LOGITS_TOL {
        fail(format!("logits differ by {e:.2e} (relative)"));
    }

    // One training step: its loss, every gradient, the weights and EMA after.
    t.step_once().unwrap();
    let record = t.record().await.unwrap();
    let e = (record.loss - g.loss).abs() / g.loss.abs();
    if e > LOSS_TOL {
        fail(format!("loss {} vs {} ({e:.2e} relative)", record.loss, g.loss));
    }
    let grads = t.backend.read(p.all(p.grads)).await.unwrap();
    let after = t.backend.read(p.all(p.values)).await.unwrap();
    let ema = match p.ema {
        Some(buf) => Some(t.backend.read(p.all(buf)).await.unwrap()),
        None => None,
    };
    let lr = t.lr_at(1);
    let mut worst_grad = 0.0f64;
    for param in &p.list {
        let at = param.tensor.offset..param.tensor.offset + param.tensor.len;
        let want = g.get(&format!("grads.{}", param.name));
        let e = relative_error(&grads[at.clone()], want);
        worst_grad = worst_grad.max(e);
        if e > GRAD_TOL {
            fail(format!("gradient of {} differs by {e:.2e} (relative; largest {:.3e})", param.name, max_abs(want)));
        }
        // An element whose gradient is tiny against its tensor's may take either sign of Adam's first step.
        let largest = max_abs(want);
        let settled = |i: usize| (want[i] as f64).abs() >= (1e-2 * largest).max(1e-6);
        let mut compare = |label: &str, got: &[f32], expected: &[f32], weight: f64| {
            for i in 0..want.len() {
                let (a, b) = (got[i] as f64, expected[i] as f64);
                let tol = if settled(i) { STEP_TOL * (b.abs() + lr) } else { 2.0 * lr * weight + STEP_TOL * b.abs() };
                if (a - b).abs() > tol {
                    fail(format!("{label} {}[{i}]: {a} vs {b}", param.name));
                    return;
                }
            }
        };
        compare("after the step,", &after[at.clone()], g.get(&format!("after.{}", param.name)), 1.0);
        if let Some(ema) = &ema {
            compare(
                "the EMA of",
                &ema[at.clone()],
                g.get(&format!("ema_after.{}", param.name)),
                1.0 - g.config.train.ema,
            );
        }
    }
    println!(
        "{:<36} {kind:?}: logits {logits_error:.1e}, loss {:.1e}, worst gradient {worst_grad:.1e} (relative)",
        g.name,
        (record.loss - g.loss).abs() / g.loss.abs()
    );
    assert_eq!(ema.is_some(), g.has(&format!("ema_after.{}", p.list[0].name)), "{}: EMA presence", g.name);
    failures
}

#[test]
fn cpu_and_gpu_backends_reproduce_the_pytorch_twin() {
    pollster::block_on(async {
        let mut failures = Vec::new();
        for path in golden_files() {
            let g = Golden::read(&path);
            for kind in [BackendKind::Cpu, BackendKind::Gpu] {
                failures.extend(check(&g, kind).await);
            }
        }
        assert!(
            failures.is_empty(),
            "{} disagreements with the golden files:\n{}",
            failures.len(),
            failures.join("\n")
        );
    });
}
