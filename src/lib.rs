//! looplab: looped and feedforward transformers trained by hand-written WGSL on wgpu, natively and in the browser.

pub mod backend;
pub mod error;
pub mod ops;

#[cfg(target_arch = "wasm32")]
pub mod web;
