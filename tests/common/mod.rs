//! Helpers shared by the test files: each `tests/*.rs` is its own crate and takes this as `mod common;`
//! (`#[path = "../common/mod.rs"]` from a test directory), so a helper not every file uses is not dead code.
#![allow(dead_code)]

use std::process::Command;

use looplab::backend::{Backend, BackendKind};
use looplab::config::LabConfig;
use looplab::train::{checkpoint, Record, Trainer};

/// A preset with `key=value` overrides, validated.
pub fn config(preset: &str, overrides: &[&str]) -> LabConfig {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    LabConfig::from_preset(preset, &overrides).unwrap()
}

/// A fresh trainer on a backend of `kind`.
pub async fn trainer(config: LabConfig, kind: BackendKind) -> Trainer {
    Trainer::new(config, Backend::open(kind).await.unwrap()).await.unwrap()
}

/// Trains `steps` steps on the cpu backend; returns the checkpoint bytes and the history.
pub async fn trained(config: LabConfig, steps: u64) -> (Vec<u8>, Vec<Record>) {
    let mut t = trainer(config, BackendKind::Cpu).await;
    t.train(steps).await.unwrap();
    (checkpoint::save(&mut t).await.unwrap(), t.history.clone())
}

/// Runs the `looplab` binary: exit status, stdout, stderr.
pub fn looplab(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_looplab"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A small deterministic generator (xorshift) for kernel inputs, the same natively and in the browser.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform()).collect()
    }
}
