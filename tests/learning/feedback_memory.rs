//! Feedback memory: passkeys retrieved beyond the reach of block sliding-window attention.

use looplab::backend::{cpu::CpuBackend, Backend};
use looplab::train::Trainer;

use crate::common::config;

/// Accuracy per split at the end of a short run of `preset` over 16 tokens (blocks of 4: two layers of
/// sliding windows reach back 2 blocks, so the key at distance 12, in the first block, is out of reach).
fn accuracy_by_distance(preset: &str) -> Vec<(String, f64)> {
    let c = config(
        preset,
        &["task.seq_len=16", "task.examples=4000", "task.test_examples=128", "train.steps=700", "train.eval_every=700"],
    );
    pollster::block_on(async {
        let mut t = Trainer::new(c, Backend::Cpu(CpuBackend::new())).await.unwrap();
        let last = t.train(700).await.unwrap().pop().unwrap();
        last.splits.iter().map(|s| (s.split.clone(), s.evaluation.accuracy)).collect()
    })
}

/// The feedback memory retrieves the passkey beyond the window's reach; the window baseline (same weights,
/// same blocks) learns a key in reach and stays near chance (1/16) beyond it.
#[test]
fn feedback_memory_retrieves_passkeys_beyond_the_window() {
    let at = |scores: &[(String, f64)], name: &str| scores.iter().find(|(n, _)| n == name).expect("split").1;
    let (fam, window) = (accuracy_by_distance("passkey-fam"), accuracy_by_distance("passkey-window"));
    println!("feedback memory {fam:?}\nwindow {window:?}");
    assert!(at(&fam, "d12") >= 0.9, "memory at distance 12: {fam:?}");
    assert!(at(&window, "d4") >= 0.9, "window at distance 4 (in reach): {window:?}");
    assert!(at(&window, "d12") <= 0.3, "window at distance 12 (out of reach): {window:?}");
}
