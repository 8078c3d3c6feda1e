#![cfg(not(target_arch = "wasm32"))]
//! Finite-difference gradient check of whole models on the CPU reference backend: every parameter tensor of
//! feedforward, looped, TRM and HRM transformers (pre- and post-norm, SwiGLU and GELU, with and without input
//! injection, global and local attention, softmax and stablemax), and of the truncated schedules the trainer
//! composes: iterations run without gradient are constants to the backward, so the finite difference runs
//! them with the unperturbed weights. The GPU kernels are held to the CPU ones by tests/kernels and the
//! backend-equivalence test.

use looplab::backend::{cpu::CpuBackend, Backend};
use looplab::config::{preset, Arch, Attention, LabConfig, Mixer, Mlp, Norm, Positions, TaskKind};
use looplab::model::transformer::{Graph, Shape};
use looplab::model::Params;
use looplab::ops::elementwise::Fill;
use looplab::ops::matmul::MatmulPath;
use looplab::program::{Kernel, MemoryPlan, ProgramId};

fn tiny(arch: Arch, norm: Norm, mlp: Mlp, injection: bool) -> LabConfig {
    let mut c = preset("grokking").unwrap();
    c.task.kind = TaskKind::Random;
    (c.task.vocab, c.task.seq_len, c.task.examples) = (7, 6, 3);
    c.model.arch = arch;
    (c.model.d_model, c.model.heads, c.model.mlp_hidden, c.model.layers) = (8, 2, 6, 2);
    c.model.loops = if arch == Arch::Feedforward { 1 } else { 3 };
    c.model.inner = if matches!(arch, Arch::Trm | Arch::Hrm) { 2 } else { 0 };
    (c.model.norm, c.model.mlp, c.model.injection) = (norm, mlp, injection);
    c.model.zero_init = false; // zero output projections would hide the gradients flowing through them
    c.validate().unwrap();
    c
}

/// A step as the trainer composes it: `frozen` iterations and then `led` calls without gradient from the
/// start of the batch, then the rest of `k` iterations with gradient.
#[derive(Clone, Copy)]
struct Schedule {
    frozen: usize,
    led: usize,
    k: usize,
}

fn full(c: &LabConfig) -> Schedule {
    Schedule { frozen: 0, led: 0, k: c.model.loops }
}

fn check_model(config: &LabConfig, s: Schedule) {
    pollster::block_on(async {
        let data = config.dataset();
        let (batch, seq, vocab) = (config.task.examples, data.seq_len(), data.vocab);
        let mut plan = MemoryPlan::default();
        let params = Params::plan(&mut plan, &config.model, vocab, seq, false);
        // Six tokens as a 2x3 grid, so local attention sees both directions.
        let shape = Shape { batch, seq, grid: [2, 3], vocab };
        let mut graph = Graph::plan(&mut plan, &config.model, &params, shape, s.k, true, MatmulPath::Blocked, "g");
        graph.stablemax = config.train.stablemax;
        let mut cpu = Backend::Cpu(CpuBackend::new());
        cpu.allocate(&plan).unwrap();
        let from_start = s.frozen == 0 && s.led == 0;
        let (forward, backward) = graph.finish(s.k, s.led, 1.0, from_start);
        let mut prefix = graph.start(true);
        for _ in 0..s.frozen {
            prefix.append(&mut graph.iterate());
        }
        prefix.append(&mut graph.lead(s.led));
        let prefix = cpu.prepare(prefix).await.unwrap();
        let zero = cpu
            .prepare(vec![Box::new(Fill { out: params.all(params.grads), value: 0.0 }) as Box<dyn Kernel>])
            .await
            .unwrap();
        let embed = cpu.prepare(graph.start(false)).await.unwrap();
        let forward = cpu.prepare(forward).await.unwrap();
        let backward = cpu.prepare(backward).await.unwrap();
        let train = data.train();
        cpu.write_u32(graph.tokens, &train.tokens[..batch * seq]);
        cpu.write_u32(graph.targets, &train.targets[..batch * seq]);
        for (state, values) in params.init_state_values(5) {
            cpu.write(state, &values);
        }
        let values = params.all(params.values);
        let mut init = params.init(3);
        // The halting head starts at weight 0, which would hide the gradient it sends into the model.
        if let Some((w, b)) = params.halt {
            (w.offset..w.offset + w.len).for_each(|i| init[i] = 0.3 * (i as f32).sin());
            init[b.offset] = 0.5;
        }
        cpu.write(values, &init);
        cpu.run(&[zero, prefix, embed, forward, backward]).unwrap();
        let grads = cpu.read(params.all(params.grads)).await.unwrap();
        let supervised = (batch * seq) as f64;
        // The loss at perturbed weights, the frozen prefix computed with the unperturbed ones.
        let loss_at = |values_now: &[f32], cpu: &mut Backend| {
            let run: Vec<ProgramId> = if from_start {
                vec![prefix, forward]
            } else {
                cpu.write(values, &init);
                cpu.run(&[prefix]).unwrap();
                vec![embed, forward]
            };
            cpu.write(values, values_now);
            cpu.run(&run).unwrap();
            let losses = pollster::block_on(cpu.read(graph.losses)).unwrap();
            let halt: f64 = graph.halt_losses().map_or(0.0, |h| {
                pollster::block_on(cpu.read(h)).unwrap().iter().map(|&l| l as f64).sum::<f64>() / batch as f64
            });
            losses.iter().map(|&l| l as f64).sum::<f64>() / supervised + halt
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
                assert!(
                    err < 3e-2,
                    "{}[{}]: analytic {analytic:.6} vs finite difference {numeric:.6} (rel err {err:.3})",
                    p.name,
                    i - p.tensor.offset
                );
            }
        }
        let m = &config.model;
        println!(
            "{:?} {:?} {:?} {:?} injection={}: {} tensors, max rel err {worst:.2e}",
            m.arch,
            m.norm,
            m.mlp,
            m.attention,
            m.injection,
            params.list.len()
        );
    });
}

#[test]
fn feedforward_pre_norm_swiglu() {
    let c = tiny(Arch::Feedforward, Norm::Pre, Mlp::Swiglu, false);
    check_model(&c, full(&c));
}

#[test]
fn feedforward_post_norm_gelu() {
    let c = tiny(Arch::Feedforward, Norm::Post, Mlp::Gelu, false);
    check_model(&c, full(&c));
}

#[test]
fn looped_pre_norm_with_injection() {
    let c = tiny(Arch::Looped, Norm::Pre, Mlp::Swiglu, true);
    check_model(&c, full(&c));
}

#[test]
fn looped_post_norm_without_injection() {
    let c = tiny(Arch::Looped, Norm::Post, Mlp::Gelu, false);
    check_model(&c, full(&c));
}

/// Truncated backprop (random depth, progressive loss, a later deep-supervision segment): two iterations
/// without gradient, then one with.
#[test]
fn looped_truncated_backprop() {
    let c = tiny(Arch::Looped, Norm::Pre, Mlp::Swiglu, true);
    check_model(&c, Schedule { frozen: 2, led: 0, k: 1 });
    let c = tiny(Arch::Looped, Norm::Post, Mlp::Gelu, false);
    check_model(&c, Schedule { frozen: 1, led: 0, k: 2 });
}

/// TRM's recipe: earlier recursions without gradient, the last one backpropagated in full; and the full
/// backward through all of them.
#[test]
fn trm() {
    let c = tiny(Arch::Trm, Norm::Post, Mlp::Swiglu, true);
    check_model(&c, Schedule { frozen: 2, led: 0, k: 1 });
    check_model(&c, full(&c));
}

/// HRM's one-step gradient (only the last L step and the H step) and the full backward.
#[test]
fn hrm() {
    let c = tiny(Arch::Hrm, Norm::Post, Mlp::Swiglu, true);
    check_model(&c, Schedule { frozen: 2, led: 1, k: 1 });
    check_model(&c, full(&c));
}

#[test]
fn local_attention_without_positions() {
    let mut c = tiny(Arch::Looped, Norm::Pre, Mlp::Swiglu, true);
    (c.model.attention, c.model.radius, c.model.positions) = (Attention::Local, 1, Positions::None);
    c.validate().unwrap();
    check_model(&c, full(&c));
}

/// ACT's halting head, trained with the answer in one backward (its loss is added to the finite difference),
/// pre- and post-norm.
#[test]
fn halting_head() {
    for norm in [Norm::Pre, Norm::Post] {
        let mut c = tiny(Arch::Hrm, norm, Mlp::Swiglu, true);
        c.model.halting = true;
        check_model(&c, Schedule { frozen: 1, led: 1, k: 1 });
        check_model(&c, full(&c));
    }
}

/// TRM's MLP-mixer: tokens mixed by an MLP across positions instead of attention, pre- and post-norm,
/// SwiGLU and GELU, with TRM's truncated schedule.
#[test]
fn token_mlp_mixer() {
    for (norm, mlp) in [(Norm::Pre, Mlp::Swiglu), (Norm::Post, Mlp::Gelu)] {
        let mut c = tiny(Arch::Trm, norm, mlp, true);
        c.model.mixer = Mixer::Mlp;
        c.validate().unwrap();
        check_model(&c, full(&c));
        check_model(&c, Schedule { frozen: 2, led: 0, k: 1 });
    }
}

#[test]
fn stablemax_loss() {
    let mut c = tiny(Arch::Trm, Norm::Pre, Mlp::Gelu, true);
    c.train.stablemax = true;
    check_model(&c, Schedule { frozen: 1, led: 0, k: 2 });
}

/// Block-wise processing over 6 tokens in blocks of 2 (3 blocks, so later blocks attend to the previous one)
/// with TransformerFAM's feedback memory (2 vectors per layer, carried across blocks: the gradient flows back
/// through them) and without it (block sliding-window attention), pre- and post-norm.
#[test]
fn feedback_memory_and_block_windows() {
    for (norm, mlp, memory) in [(Norm::Pre, Mlp::Swiglu, 2), (Norm::Post, Mlp::Gelu, 2), (Norm::Pre, Mlp::Swiglu, 0)] {
        let mut c = tiny(Arch::Feedforward, norm, mlp, false);
        (c.model.block, c.model.memory) = (2, memory);
        c.validate().unwrap();
        check_model(&c, full(&c));
    }
}
