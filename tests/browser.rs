//! GPU kernels in a real browser: wasm-bindgen-test runs these in headless Chromium (WebGPU on SwiftShader) and
//! compares each against the CPU backend compiled to wasm. Run with
//! `wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver --release --test browser`.
//! Sizes stay small: SwiftShader is slow and each test has 20 s.
#![cfg(target_arch = "wasm32")]

use looplab::backend::{Backend, BackendKind, MemoryPlan, Tensor};
use looplab::ops::matmul::{Matmul, MatmulPath};
use looplab::ops::Kernel;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Uniform values in [-1, 1) from a seeded xorshift, as in the native kernel tests.
fn random(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Runs the same kernels on `kind` from the same inputs and reads `out` back.
async fn run(kind: BackendKind, plan: &MemoryPlan, inputs: &[(Tensor, Vec<f32>)], kernels: Vec<Box<dyn Kernel>>, out: Tensor) -> Vec<f32> {
    let mut backend = Backend::open(kind).await.expect("a WebGPU adapter (SwiftShader in headless Chromium)");
    backend.allocate(plan).unwrap();
    for (t, v) in inputs {
        backend.write(*t, v);
    }
    let program = backend.prepare(kernels).await.unwrap();
    backend.run(&[program]);
    backend.read(out).await.unwrap()
}

async fn matmul_case(m: usize, k: usize, n: usize, trans_a: bool, trans_b: bool, accumulate: bool, path: MatmulPath) {
    let mut plan = MemoryPlan::default();
    let a = plan.buffer("a", m * k);
    let b = plan.buffer("b", k * n);
    let c = plan.buffer("c", m * n);
    let seed = (m * 10_000 + k * 100 + n) as u64;
    let inputs = [(a, random(seed, m * k)), (b, random(seed + 1, k * n)), (c, random(seed + 2, m * n))];
    let kernels = || -> Vec<Box<dyn Kernel>> {
        let mut mm = Matmul::new(a, b, c, m, k, n).path(path);
        mm.trans_a = trans_a;
        mm.trans_b = trans_b;
        mm.accumulate = accumulate;
        vec![Box::new(mm)]
    };
    let cpu = run(BackendKind::Cpu, &plan, &inputs, kernels(), c).await;
    let gpu = run(BackendKind::Gpu, &plan, &inputs, kernels(), c).await;
    let name = format!("matmul {m}x{k}x{n} ta={trans_a} tb={trans_b} acc={accumulate} {path:?}");
    assert_eq!(cpu.len(), gpu.len(), "{name}: lengths differ");
    let mut worst = 0f32;
    for (i, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        let err = (c - g).abs() / c.abs().max(1.0);
        assert!(err <= 1e-4, "{name}: element {i}: cpu {c} vs gpu {g} (rel err {err})");
        worst = worst.max(err);
    }
    console_log!("{name}: {} elements, max rel diff {worst:.2e}", cpu.len());
}

#[wasm_bindgen_test]
async fn matmul_blocked_matches_cpu_on_awkward_shapes() {
    matmul_case(17, 33, 5, false, false, false, MatmulPath::Blocked).await;
    matmul_case(65, 3, 17, true, false, true, MatmulPath::Blocked).await;
}

#[wasm_bindgen_test]
async fn matmul_tiled_matches_cpu_on_awkward_shapes() {
    matmul_case(33, 17, 65, false, true, false, MatmulPath::Tiled).await;
    matmul_case(5, 65, 1, true, true, true, MatmulPath::Tiled).await;
}

/// A few training steps through every kernel (embedding, norms, attention, SwiGLU, cross-entropy, reductions,
/// AdamW) on WebGPU and on the wasm CPU backend: the same per-step losses, and the loss falls.
#[wasm_bindgen_test]
async fn training_steps_match_cpu_in_the_browser() {
    use looplab::config::LabConfig;
    use looplab::lab::Lab;
    let overrides: Vec<String> =
        ["task.p=11", "train.steps=6", "train.eval_every=1", "model.zero_init=false", "model.loops=2"].iter().map(|s| s.to_string()).collect();
    let mut curves = Vec::new();
    for kind in [BackendKind::Cpu, BackendKind::Gpu] {
        let config = LabConfig::from_preset("modular-small", &overrides).unwrap();
        let mut lab = Lab::new(config, kind).await.unwrap();
        let records = lab.train(6).await.unwrap();
        curves.push(records.iter().map(|r| r.loss).collect::<Vec<_>>());
    }
    console_log!("cpu losses {:?}\ngpu losses {:?}", curves[0], curves[1]);
    for (step, (c, g)) in curves[0].iter().zip(&curves[1]).enumerate() {
        assert!((c - g).abs() <= 1e-3 * c.abs().max(1e-3), "step {}: cpu loss {c} vs gpu loss {g}", step + 1);
    }
    assert!(curves[0][5] < curves[0][0], "the loss should fall: {:?}", curves[0]);
}
