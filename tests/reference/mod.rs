//! The cross-target reference run (tests/determinism.rs natively, tests/browser.rs in wasm): a tiny model's initial
//! weights and first losses on the cpu backend, computed natively and committed, which the page's build must
//! reproduce.

use looplab::backend::{Backend, BackendKind};
use looplab::config::LabConfig;
use looplab::train::Trainer;

/// CRC-32 of the initial parameter buffer's little-endian bytes (every parameter, 64-element aligned views, the
/// padding zero) for `config()`, computed natively.
pub const INITIAL_WEIGHTS_CRC32: u32 = 0x62f3_6922;

/// The training loss of steps 1 to 5 on the cpu backend, computed natively (shortest round-trip decimals).
pub const FIRST_LOSSES: [f64; 5] =
    [2.89566707611084, 2.7308104038238525, 2.9135379791259766, 2.935577154159546, 2.728280782699585];

/// A small looped model with random-depth sampling, so the initialization, the batch and depth sampling (log,
/// exp) and every kind of cpu kernel take part.
pub fn config() -> LabConfig {
    let o: Vec<String> = [
        "seed=7",
        "task.p=13",
        "model.d_model=16",
        "model.heads=2",
        "model.mlp_hidden=32",
        "model.zero_init=false",
        "train.batch_size=16",
        "train.depth=random",
        "train.eval_every=1",
        "train.warmup=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    LabConfig::from_preset("modular-small", &o).expect("the reference config is valid")
}

/// (CRC-32 of the initial weights, the first five training losses) on the cpu backend.
pub async fn reference_run() -> (u32, Vec<f64>) {
    let mut t = Trainer::new(config(), Backend::open(BackendKind::Cpu).await.unwrap()).await.unwrap();
    let init = t.backend.read(t.params.all(t.params.values)).await.unwrap();
    let crc = crc32fast::hash(bytemuck::cast_slice(&init));
    let records = t.train(5).await.unwrap();
    (crc, records.iter().map(|r| r.loss).collect())
}
