#![cfg(not(target_arch = "wasm32"))]
//! Finite-difference gradient check of whole models: every parameter tensor of feedforward and looped
//! transformers (pre- and post-norm, SwiGLU and GELU, with and without input injection), on the CPU
//! reference backend. The GPU kernels are held to the CPU ones by tests/kernels and tests/equivalence.rs.

use looplab::backend::{cpu::CpuBackend, Backend, MemoryPlan};
use looplab::config::{preset, Arch, LabConfig, Mlp, Norm, TaskKind};
use looplab::model::{transformer::Graph, Params};
use looplab::ops::elementwise::Fill;
use looplab::ops::matmul::MatmulPath;
use looplab::ops::Kernel;
use looplab::tasks::Dataset;

fn tiny(arch: Arch, norm: Norm, mlp: Mlp, injection: bool) -> LabConfig {
    let mut c = preset("grokking").unwrap();
    c.task.kind = TaskKind::Random;
    (c.task.vocab, c.task.seq_len, c.task.examples) = (7, 5, 3);
    c.model.arch = arch;
    (c.model.d_model, c.model.heads, c.model.mlp_hidden, c.model.layers) = (8, 2, 6, 2);
    c.model.loops = if arch == Arch::Looped { 3 } else { 1 };
    (c.model.norm, c.model.mlp, c.model.injection) = (norm, mlp, injection);
    c.model.zero_init = false; // zero output projections would hide the gradients flowing through them
    c.validate().unwrap();
    c
}

fn check_model(config: &LabConfig) {
    pollster::block_on(async {
        let data = Dataset::build(config);
        let (batch, seq, vocab) = (config.task.examples, data.seq_len, data.vocab);
        let mut plan = MemoryPlan::default();
        let params = Params::plan(&mut plan, &config.model, vocab, seq, false);
        let mut graph = Graph::plan(&mut plan, &config.model, &params, (batch, seq, vocab), config.model.loops, true, MatmulPath::Blocked, "g");
        let mut cpu = Backend::Cpu(CpuBackend::new());
        cpu.allocate(&plan).unwrap();
        let mut gradient: Vec<Box<dyn Kernel>> = vec![Box::new(Fill { out: params.all(params.grads), value: 0.0 })];
        gradient.append(&mut graph.forward);
        gradient.append(&mut graph.backward);
        let gradient = cpu.prepare(gradient).await.unwrap();
        let train = data.train();
        cpu.write_u32(graph.tokens, &train.tokens[..batch * seq]);
        cpu.write_u32(graph.targets, &train.targets[..batch * seq]);
        let values = params.all(params.values);
        let init = params.init(3);
        cpu.write(values, &init);
        cpu.run(gradient);
        let grads = cpu.read(params.all(params.grads)).await.unwrap();
        let supervised = (batch * seq) as f64;
        // The loss at perturbed weights: the gradient program's forward computes it (its backward is ignored).
        let loss_at = |values_now: &[f32], cpu: &mut Backend| {
            cpu.write(values, values_now);
            cpu.run(gradient);
            let losses = pollster::block_on(cpu.read(graph.losses)).unwrap();
            losses.iter().map(|&l| l as f64).sum::<f64>() / supervised
        };
        let eps = 1e-2f32;
        let mut worst = 0f64;
        for p in &params.list {
            // A few elements of every tensor, spread over it.
            for k in 0..4 {
                let i = p.tensor.offset + (k * 7919) % p.tensor.len;
                let mut v = init.clone();
                v[i] += eps;
                let plus = loss_at(&v, &mut cpu);
                v[i] -= 2.0 * eps;
                let minus = loss_at(&v, &mut cpu);
                let numeric = (plus - minus) / (2.0 * eps as f64);
                let analytic = grads[i] as f64;
                let err = (numeric - analytic).abs() / (numeric.abs().max(analytic.abs()).max(1e-2));
                worst = worst.max(err);
                assert!(err < 3e-2, "{}[{}]: analytic {analytic:.6} vs finite difference {numeric:.6} (rel err {err:.3})", p.name, i - p.tensor.offset);
            }
        }
        println!("{:?} {:?} {:?} injection={}: {} tensors, max rel err {worst:.2e}", config.model.arch, config.model.norm, config.model.mlp, config.model.injection, params.list.len());
    });
}

#[test]
fn feedforward_pre_norm_swiglu() {
    check_model(&tiny(Arch::Feedforward, Norm::Pre, Mlp::Swiglu, false));
}

#[test]
fn feedforward_post_norm_gelu() {
    check_model(&tiny(Arch::Feedforward, Norm::Post, Mlp::Gelu, false));
}

#[test]
fn looped_pre_norm_with_injection() {
    check_model(&tiny(Arch::Looped, Norm::Pre, Mlp::Swiglu, true));
}

#[test]
fn looped_post_norm_without_injection() {
    check_model(&tiny(Arch::Looped, Norm::Post, Mlp::Gelu, false));
}
