//! Every GPU kernel against the CPU reference, on random shapes including awkward ones (1, 3, 17, 65, ...).
//! Each test builds a memory plan, fills the inputs with seeded random values, runs the same kernels on both
//! backends and compares every output, printing the largest difference.
//! Native only (`wasm-pack test` builds every test target for wasm32; the browser runs tests/browser.rs).
#![cfg(not(target_arch = "wasm32"))]

#[path = "../common/mod.rs"]
mod common;

mod activation;
mod adamw;
mod attention;
mod cross_entropy;
mod elementwise;
mod embedding;
mod halting;
mod local_attention;
mod matmul;
mod naive_attention;
mod reduce;
mod rmsnorm;

use looplab::backend::{cpu::CpuBackend, gpu::GpuBackend, Backend};
use looplab::program::{Kernel, MemoryPlan, Tensor};

pub use common::Rng;

/// Sizes that are not multiples of any workgroup or tile size, plus a few that are.
pub const AWKWARD: [usize; 7] = [1, 3, 5, 17, 33, 64, 65];

/// Inputs of a kernel test: f32 values, or u32 values stored as bits.
#[derive(Clone)]
pub enum Data {
    F32(Vec<f32>),
    U32(Vec<u32>),
}

pub fn bits(v: &[u32]) -> Vec<f32> {
    v.iter().map(|&u| f32::from_bits(u)).collect()
}

/// Runs `kernels` on the CPU and on the GPU from the same inputs and returns, per output, (cpu, gpu) values.
pub fn run_both(
    plan: &MemoryPlan,
    inputs: &[(Tensor, Data)],
    kernels: impl Fn() -> Vec<Box<dyn Kernel>>,
    outputs: &[Tensor],
) -> Vec<(Vec<f32>, Vec<f32>)> {
    pollster::block_on(async {
        let mut cpu = Backend::Cpu(CpuBackend::new());
        let mut gpu = Backend::Gpu(GpuBackend::new().await.expect("a GPU adapter (lavapipe in CI)"));
        let mut results: Vec<Vec<Vec<f32>>> = Vec::new();
        for backend in [&mut cpu, &mut gpu] {
            backend.allocate(plan).unwrap();
            for (t, data) in inputs {
                match data {
                    Data::F32(v) => backend.write(*t, v),
                    Data::U32(v) => backend.write(*t, &bits(v)),
                }
            }
            let program = backend.prepare(kernels()).await.unwrap();
            backend.run(&[program]).unwrap();
            let mut outs = Vec::new();
            for t in outputs {
                outs.push(backend.read(*t).await.unwrap());
            }
            results.push(outs);
        }
        let gpu_outs = results.pop().unwrap();
        let cpu_outs = results.pop().unwrap();
        cpu_outs.into_iter().zip(gpu_outs).collect()
    })
}

/// Largest |cpu - gpu| relative to max(1, |cpu|); panics above `tol` naming the first bad element.
pub fn assert_close(name: &str, cpu: &[f32], gpu: &[f32], tol: f32) {
    assert_eq!(cpu.len(), gpu.len(), "{name}: lengths differ");
    let mut worst = 0f32;
    for (i, (c, g)) in cpu.iter().zip(gpu).enumerate() {
        let err = (c - g).abs() / c.abs().max(1.0);
        assert!(
            err <= tol || (c.is_nan() && g.is_nan()),
            "{name}: element {i}: cpu {c} vs gpu {g} (rel err {err} > {tol})"
        );
        worst = worst.max(err);
    }
    println!("{name}: {} elements, max rel diff {worst:.2e}", cpu.len());
}

/// Runs and compares every output.
pub fn check(
    name: &str,
    plan: &MemoryPlan,
    inputs: &[(Tensor, Data)],
    kernels: impl Fn() -> Vec<Box<dyn Kernel>>,
    outputs: &[Tensor],
    tol: f32,
) {
    for (i, (c, g)) in run_both(plan, inputs, kernels, outputs).iter().enumerate() {
        assert_close(&format!("{name} output {i}"), c, g, tol);
    }
}

/// Central finite difference of a scalar function of one input element, for checking CPU backward references.
pub fn finite_difference(mut f: impl FnMut(&[f32]) -> f64, x: &[f32], i: usize, eps: f32) -> f64 {
    let mut plus = x.to_vec();
    plus[i] += eps;
    let mut minus = x.to_vec();
    minus[i] -= eps;
    (f(&plus) - f(&minus)) / (2.0 * eps as f64)
}

/// Runs kernels on the CPU backend only (for finite-difference checks of backward references).
pub fn run_cpu(
    plan: &MemoryPlan,
    inputs: &[(Tensor, Data)],
    kernels: Vec<Box<dyn Kernel>>,
    outputs: &[Tensor],
) -> Vec<Vec<f32>> {
    pollster::block_on(async {
        let mut cpu = Backend::Cpu(CpuBackend::new());
        cpu.allocate(plan).unwrap();
        for (t, data) in inputs {
            match data {
                Data::F32(v) => cpu.write(*t, v),
                Data::U32(v) => cpu.write(*t, &bits(v)),
            }
        }
        let program = cpu.prepare(kernels).await.unwrap();
        cpu.run(&[program]).unwrap();
        let mut outs = Vec::new();
        for t in outputs {
            outs.push(cpu.read(*t).await.unwrap());
        }
        outs
    })
}
