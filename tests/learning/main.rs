#![cfg(not(target_arch = "wasm32"))]
//! The learning tier: runs that train a model until it reaches a stated accuracy. They take most of the native
//! suite's time, so they live apart from the unit and end-to-end tests: `cargo test --release` (and CI) runs
//! them with everything else, `cargo test --release --test learning` runs them alone.

#[path = "../common/mod.rs"]
mod common;

mod automaton;
mod bandit;
mod extrapolation;
mod feedback_memory;
mod modular;
