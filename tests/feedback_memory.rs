#![cfg(not(target_arch = "wasm32"))]
//! TransformerFAM's feedback memory and block sliding-window attention (src/model/transformer/memory.rs), and
//! the passkey task they are compared on (src/tasks/passkey.rs): the data recipe, information crossing blocks
//! only through the memory, the evaluation path (windows reused block after block) against the stored one,
//! GPU against CPU and refused configs (the learning run: tests/learning/feedback_memory.rs). Gradients:
//! tests/gradcheck.rs.

mod common;

use std::collections::HashSet;

use common::config;
use looplab::backend::{cpu::CpuBackend, Backend, BackendKind};
use looplab::config::LabConfig;
use looplab::model::transformer::{Graph, Shape};
use looplab::model::Params;
use looplab::ops::matmul::MatmulPath;
use looplab::program::MemoryPlan;
use looplab::tasks::passkey::{query, FILLER};
use looplab::tasks::IGNORE;
use looplab::train::Trainer;

/// A small model over 16 tokens in blocks of 2 (8 blocks; two layers of block sliding windows reach 2 blocks
/// back), with random output projections so every path carries signal from the start.
fn tiny(memory: usize) -> LabConfig {
    let memory = format!("model.memory={memory}");
    config(
        "passkey-fam",
        &[
            "task.seq_len=16",
            "task.examples=64",
            "task.test_examples=8",
            "model.block=2",
            &memory,
            "model.d_model=16",
            "model.mlp_hidden=32",
            "model.zero_init=false",
        ],
    )
}

#[test]
fn passkey_examples_hold_one_key_at_their_distance() {
    let c = config("passkey-fam", &["task.seq_len=32", "task.examples=500", "task.test_examples=50"]);
    let (keys, len) = (c.task.size, 32);
    let data = c.dataset();
    assert_eq!(data.vocab, keys + FILLER + 1);
    let names: Vec<&str> = data.splits.iter().map(|s| s.name).collect();
    assert_eq!(names, ["train", "d4", "d8", "d12", "d16", "d24"], "a test split per distance below the length");
    let mut seen = HashSet::new();
    let mut train_distances = HashSet::new();
    for split in &data.splits {
        assert_eq!(split.len(), if split.name == "train" { 500 } else { 50 }, "{}", split.name);
        for i in 0..split.len() {
            let (tokens, targets) = split.example(i);
            assert!(seen.insert(tokens.to_vec()), "{} example {i} appears twice", split.name);
            assert_eq!(tokens[len - 1], query(keys), "the query ends every example");
            let at: Vec<usize> = (0..len).filter(|&p| (tokens[p] as usize) < keys).collect();
            assert_eq!(at.len(), 1, "{} example {i}: exactly one passkey, got {at:?}", split.name);
            let p = at[0];
            assert!(
                tokens
                    .iter()
                    .enumerate()
                    .all(|(q, &t)| q == p || q == len - 1 || (keys..keys + FILLER).contains(&(t as usize))),
                "filler elsewhere"
            );
            for (q, &t) in targets.iter().enumerate() {
                assert_eq!(
                    t,
                    if q == len - 1 { tokens[p] } else { IGNORE },
                    "{} example {i}: only the query is supervised, with the key",
                    split.name
                );
            }
            let distance = len - 1 - p;
            match split.name.strip_prefix('d') {
                Some(d) => assert_eq!(distance.to_string(), d, "{} example {i}", split.name),
                None => _ = train_distances.insert(distance),
            }
        }
    }
    assert_eq!(train_distances, (1..len).collect(), "training covers every distance");
    assert_eq!(c.dataset().splits[3].tokens, data.splits[3].tokens, "deterministic by seed");
}

#[test]
fn bad_configs_are_refused_with_what_is_allowed() {
    let err = |preset: &str, o: &[&str]| {
        let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        LabConfig::from_preset(preset, &o).unwrap_err().to_string()
    };
    assert!(err("passkey-fam", &["task.size=1"]).contains("task.size"));
    assert!(err("passkey-fam", &["task.seq_len=1"]).contains("task.seq_len"));
    assert!(err("passkey-window", &["model.memory=4", "model.block=0"]).contains("model.memory"));
    let looped = err("passkey-fam", &["model.arch=looped", "model.loops=2"]);
    assert!(looped.contains("model.block") && looped.contains("feedforward"), "{looped}");
    // 32 tokens are not whole blocks of 5: refused when the data is known, before anything is allocated.
    let c = config("passkey-fam", &["model.block=5", "task.examples=10", "task.test_examples=2"]);
    let msg = pollster::block_on(async {
        Trainer::new(c, Backend::Cpu(CpuBackend::new())).await.err().expect("refused").to_string()
    });
    assert!(msg.contains("model.block") && msg.contains("divisor") && msg.contains("32"), "{msg}");
}

/// The logits of `tokens` (one example per `seq` tokens) with the weights of seed 1: through the evaluation
/// path (`iterate`: one window per block shape, reused) or the training path (`finish`: every window stored).
fn logits(c: &LabConfig, tokens: &[u32], stored: bool) -> Vec<f32> {
    pollster::block_on(async {
        let (seq, vocab) = (c.task.seq_len, c.dataset().vocab);
        let shape = Shape { batch: tokens.len() / seq, seq, grid: [1, seq], vocab };
        let mut plan = MemoryPlan::default();
        let params = Params::plan(&mut plan, &c.model, vocab, seq, false);
        let graph = Graph::plan(&mut plan, &c.model, &params, shape, 1, false, MatmulPath::Blocked, "g");
        let mut cpu = Backend::Cpu(CpuBackend::new());
        cpu.allocate(&plan).unwrap();
        cpu.write(params.all(params.values), &params.init(1));
        for (state, values) in params.init_state_values(1) {
            cpu.write(state, &values);
        }
        cpu.write_u32(graph.tokens, tokens);
        cpu.write_u32(graph.targets, &vec![IGNORE; tokens.len()]);
        let mut ks = graph.start(true);
        if stored {
            ks.extend(graph.finish(1, 0, 1.0, true).0);
        } else {
            ks.extend(graph.iterate());
            ks.extend(graph.decode());
        }
        let program = cpu.prepare(ks).await.unwrap();
        cpu.run(&[program]).unwrap();
        cpu.read(graph.logits).await.unwrap()
    })
}

/// The largest change of the last block's logits (the query's block) when `tokens` become `changed`.
fn last_block_change(c: &LabConfig, tokens: &[u32], changed: &[u32]) -> f32 {
    let (a, b) = (logits(c, tokens, false), logits(c, changed, false));
    let from = (c.task.seq_len - c.model.block) * (a.len() / c.task.seq_len);
    a[from..].iter().zip(&b[from..]).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Changing the first block reaches the last block (7 blocks later) through the memory, and not at all
/// without it (two layers of sliding windows reach 2 blocks back); a change inside that reach does.
#[test]
fn information_crosses_blocks_only_through_the_memory() {
    let (fam, window) = (tiny(2), tiny(0));
    let tokens = fam.dataset().splits[0].example(0).0.to_vec();
    let mut early = tokens.clone();
    let keys = fam.task.size as u32;
    for t in &mut early[..2] {
        *t = if *t == keys { keys + 1 } else { keys };
    }
    let mut near = tokens.clone();
    near[11] = if near[11] == keys { keys + 1 } else { keys };
    let with_memory = last_block_change(&fam, &tokens, &early);
    let without = last_block_change(&window, &tokens, &early);
    let within_reach = last_block_change(&window, &tokens, &near);
    println!("last block's logits move by {with_memory:.3e} with memory, {without:.3e} without; {within_reach:.3e} for a change 4 tokens back");
    assert!(with_memory > 1e-3, "the first block should reach the last through the memory: {with_memory}");
    assert_eq!(without, 0.0, "without memory the first block is outside the last block's reach");
    assert!(within_reach > 1e-3, "a change within two blocks should reach the last block: {within_reach}");
}

/// Evaluation reuses one window per layer for every block after the first; training stores every block's.
/// Both compute the same logits, with and without memory.
#[test]
fn evaluation_path_matches_the_stored_path() {
    for memory in [2, 0] {
        let c = tiny(memory);
        let data = c.dataset();
        let tokens = &data.splits[0].tokens[..3 * c.task.seq_len];
        let (eval, stored) = (logits(&c, tokens, false), logits(&c, tokens, true));
        assert_eq!(eval, stored, "memory {memory}");
    }
}

/// 20 training steps on both backends, with and without memory: per-step losses agree (the forward and the
/// backward through every block), and the loss falls.
#[test]
fn gpu_and_cpu_agree_on_block_wise_training() {
    pollster::block_on(async {
        for memory in [2, 0] {
            let mut c = tiny(memory);
            (c.train.steps, c.train.eval_every, c.train.batch_size) = (20, 1, 8);
            let mut losses = Vec::new();
            for kind in [BackendKind::Cpu, BackendKind::Gpu] {
                let mut t = Trainer::new(c.clone(), Backend::open(kind).await.unwrap()).await.unwrap();
                losses.push(t.train(20).await.unwrap().iter().map(|r| r.loss).collect::<Vec<_>>());
            }
            for (step, (cpu, gpu)) in losses[0].iter().zip(&losses[1]).enumerate() {
                assert!(
                    (cpu - gpu).abs() / cpu.abs().max(1e-3) < 1e-3,
                    "memory {memory}, step {}: cpu loss {cpu} vs gpu {gpu}",
                    step + 1
                );
            }
            assert!(losses[0][19] < losses[0][0], "memory {memory}: the loss should fall: {:?}", losses[0]);
            println!("memory {memory}: cpu losses {:?}", losses[0]);
        }
    });
}
