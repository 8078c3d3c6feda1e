//! looplab: looped and feedforward transformers trained by hand-written WGSL on wgpu, natively and in the browser.

pub mod audit;
pub mod backend;
pub mod bandit;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod config;
pub mod data;
pub mod depths;
pub mod error;
pub mod export;
pub mod lab;
pub mod model;
pub mod ops;
pub mod probes;
pub mod problem;
pub mod program;
pub mod rng;
pub mod self_improve;
pub mod snapshot;
pub mod solve;
pub mod tasks;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;
