#![cfg(not(target_arch = "wasm32"))]
//! Whole-engine tests: gpu/cpu equivalence of a training run, exact resume from a checkpoint, divergence
//! detection, refused checkpoints and configs. The learning runs are in tests/learning/.

mod common;

use common::{config, trainer};
use looplab::backend::{Backend, BackendKind};
use looplab::config::LabConfig;
use looplab::error::LabError;
use looplab::train::{checkpoint, Trainer};

/// 20 steps from one seed on both backends, for every architecture and training method: per-step training
/// losses agree within 1e-3 relative (f32 sums in different orders drift apart slowly; the first steps agree
/// to ~1e-6).
#[test]
fn gpu_and_cpu_give_the_same_loss_curve() {
    pollster::block_on(async {
        let methods: [&[&str]; 7] = [
            &["model.arch=looped", "model.loops=3"],
            &["model.arch=feedforward", "model.loops=1", "model.layers=2", "model.norm=post", "model.mlp=gelu"],
            &["model.arch=trm", "model.inner=2", "model.loops=2", "train.backprop=1", "train.ema=0.99"],
            &[
                "model.arch=hrm",
                "model.inner=2",
                "model.loops=2",
                "train.backprop=1",
                "train.stablemax=true",
                "train.segments=2",
                "model.halting=true",
            ],
            &["model.arch=looped", "model.loops=3", "train.depth=random", "train.backprop=2"],
            &[
                "model.arch=trm",
                "model.inner=2",
                "model.loops=2",
                "train.backprop=1",
                "model.mixer=mlp",
                "model.norm=post",
            ],
            &[
                "model.arch=looped",
                "model.loops=3",
                "train.depth=progressive",
                "train.progressive_alpha=0.5",
                "model.attention=local",
                "model.radius=1",
                "model.positions=none",
            ],
        ];
        for arch in methods {
            let mut overrides = vec!["task.p=11", "train.eval_every=1", "train.steps=20", "model.zero_init=false"];
            overrides.extend_from_slice(arch);
            let c = config("modular-small", &overrides);
            let mut losses = Vec::new();
            for kind in [BackendKind::Cpu, BackendKind::Gpu] {
                let mut t = trainer(c.clone(), kind).await;
                let records = t.train(20).await.unwrap();
                losses.push(records.iter().map(|r| r.loss).collect::<Vec<_>>());
            }
            let mut worst = 0f64;
            for (step, (c, g)) in losses[0].iter().zip(&losses[1]).enumerate() {
                let err = (c - g).abs() / c.abs().max(1e-3);
                worst = worst.max(err);
                assert!(err < 1e-3, "{arch:?} step {}: cpu loss {c} vs gpu loss {g}", step + 1);
            }
            assert!(losses[0][19] < losses[0][0], "the loss should fall over 20 steps: {:?}", losses[0]);
            println!("{arch:?}: 20 steps, max relative loss difference {worst:.2e}; cpu losses {:?}", losses[0]);
        }
    });
}

/// Training 40 steps straight and training 20, saving, restoring and training 20 more give identical
/// weights and history on the same backend; the recorded weight norm is the norm of the weights.
#[test]
fn resume_continues_exactly() {
    pollster::block_on(async {
        for kind in [BackendKind::Cpu, BackendKind::Gpu] {
            let c = config(
                "modular-small",
                &["train.batch_size=32", "train.steps=40", "train.eval_every=10", "train.ema=0.9"],
            );
            let mut straight = trainer(c.clone(), kind).await;
            straight.train(40).await.unwrap();
            let mut first = trainer(c, kind).await;
            first.train(20).await.unwrap();
            let bytes = checkpoint::save(&mut first).await.unwrap();
            let history = first.history.clone();
            drop(first);
            let mut resumed =
                checkpoint::restore(&bytes, "test", Backend::open(kind).await.unwrap(), &[]).await.unwrap();
            resumed.history = history;
            assert_eq!(resumed.step, 20);
            resumed.train(20).await.unwrap();
            let a = straight.backend.read(straight.params.all(straight.params.values)).await.unwrap();
            let b = resumed.backend.read(resumed.params.all(resumed.params.values)).await.unwrap();
            assert_eq!(a, b, "{kind:?}: weights differ after resuming");
            // The record's weight norm is the L2 norm of the weights, reduced on the device.
            let norm = a.iter().map(|&w| (w as f64).powi(2)).sum::<f64>().sqrt();
            let recorded = straight.history.last().unwrap().weight_norm.unwrap();
            assert!((recorded - norm).abs() <= 1e-5 * norm, "{kind:?}: recorded weight norm {recorded} vs {norm}");
            let strip = |t: &Trainer| {
                t.history.iter().map(|r| (r.step, r.loss, r.train_acc, r.test_acc, r.weight_norm)).collect::<Vec<_>>()
            };
            assert_eq!(strip(&straight), strip(&resumed), "{kind:?}: history differs after resuming");
        }
    });
}

/// A NaN in the weights stops training with a Diverged error naming the step.
#[test]
fn divergence_is_detected_and_named() {
    pollster::block_on(async {
        for kind in [BackendKind::Cpu, BackendKind::Gpu] {
            let mut t = trainer(config("modular-small", &["train.eval_every=5", "train.steps=20"]), kind).await;
            t.train(5).await.unwrap();
            let emb = t.params.tok_emb.slice(0, 1);
            t.backend.write(emb, &[f32::NAN]);
            let err = t.train(10).await.unwrap_err();
            assert!(matches!(err, LabError::Diverged { step: 10, .. }), "{kind:?}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains("step 10") && msg.contains("since the record at step 5") && msg.contains("train.lr"),
                "{msg}"
            );
        }
    });
}

/// A GPU device lost mid-run (destroyed through wgpu, as a driver reset or the browser would) stops training at
/// the next step with `LabError::Device`, and every later step or read fails the same way: no panic, no hang.
#[test]
fn a_lost_gpu_device_stops_training_with_a_device_error() {
    pollster::block_on(async {
        let mut t = trainer(config("modular-small", &["train.eval_every=5", "train.steps=40"]), BackendKind::Gpu).await;
        t.train(5).await.unwrap();
        let Backend::Gpu(gpu) = &t.backend else { unreachable!("opened the gpu backend") };
        gpu.device().destroy();
        let err = t.train(10).await.unwrap_err();
        assert!(matches!(err, LabError::Device(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.starts_with("the GPU device failed: "), "{msg}");
        println!("{msg}");
        assert!(t.step <= 6, "stopped at once, not after the run: step {}", t.step);
        assert!(matches!(t.train(1).await, Err(LabError::Device(_))));
        assert!(matches!(t.backend.read(t.params.tok_emb).await, Err(LabError::Device(_))));
        assert!(matches!(checkpoint::save(&mut t).await, Err(LabError::Device(_))));
    });
}

/// Under a submit budget a long step becomes several submits (here, with a budget no dispatch fits in, one
/// submit per dispatch) and the run gives the same bits: records and weights are equal to the one-submit run's.
/// Under a budget the step fits in (10 s: the first step's measured cost includes compiling the shaders), it stays
/// one submit once its cost has been measured.
#[test]
fn a_submit_budget_splits_steps_without_changing_a_bit() {
    pollster::block_on(async {
        let c =
            config("modular-small", &["model.arch=looped", "model.loops=4", "train.backprop=2", "train.batch_size=32"]);
        let c = LabConfig { train: looplab::config::TrainConfig { steps: 9, eval_every: 3, ..c.train }, ..c };
        let mut runs = Vec::new();
        for budget in [None, Some(1e-6), Some(10_000.0)] {
            let mut t = trainer(c.clone(), BackendKind::Gpu).await;
            t.backend.set_submit_budget(budget);
            t.step_once().unwrap();
            t.wait_idle().await.unwrap();
            let before = t.backend.stats();
            for _ in 0..4 {
                t.step_once().unwrap();
            }
            let after = t.backend.stats();
            let (submits, dispatches) = (after.submits - before.submits, after.dispatches - before.dispatches);
            match budget {
                Some(ms) if ms < 1.0 => assert_eq!(submits, dispatches, "every dispatch alone"),
                _ => assert_eq!(submits, 4, "one submit per step ({budget:?} ms)"),
            }
            t.train(4).await.unwrap();
            let weights = t.backend.read(t.params.all(t.params.values)).await.unwrap();
            let history: Vec<_> =
                t.history.iter().map(|r| looplab::train::Record { elapsed_s: 0.0, ..r.clone() }).collect();
            runs.push((history, weights, budget));
        }
        for (history, weights, budget) in &runs[1..] {
            assert_eq!(history, &runs[0].0, "{budget:?} ms: records differ from one submit per step");
            assert!(weights == &runs[0].1, "{budget:?} ms: weights differ from one submit per step");
        }
    });
}

/// How a run is cut into submits: whole programs where they fit, a long program cut inside, at least one submit.
#[test]
#[allow(clippy::single_range_in_vec_init)]
fn submits_are_cut_at_program_boundaries_where_they_fit() {
    use looplab::backend::budget::submits;
    assert_eq!(submits(&[3, 5, 2], 100), [0..10]);
    assert_eq!(submits(&[3, 5, 2], 8), [0..8, 8..10]);
    assert_eq!(submits(&[3, 5, 2], 6), [0..3, 3..8, 8..10]);
    assert_eq!(submits(&[3, 5, 2], 4), [0..3, 3..7, 7..10]);
    assert_eq!(submits(&[3, 5, 2], 1), (0..10).map(|i| i..i + 1).collect::<Vec<_>>());
    assert_eq!(submits(&[], 4), [0..0]);
}

/// Corrupt or foreign checkpoints are refused with a message, not a panic.
#[test]
fn bad_checkpoints_are_refused() {
    pollster::block_on(async {
        let mut t = trainer(config("modular-small", &["train.steps=2"]), BackendKind::Cpu).await;
        let good = checkpoint::save(&mut t).await.unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not a checkpoint at all".to_vec(), "not a complete safetensors file"),
            (good[..good.len() / 2].to_vec(), "not a complete safetensors file"),
            (
                safetensors::serialize(Vec::<(String, safetensors::tensor::TensorView)>::new(), None).unwrap(),
                "not a looplab checkpoint",
            ),
        ];
        for (bytes, expected) in cases {
            let err =
                checkpoint::restore(&bytes, "bad.safetensors", Backend::open(BackendKind::Cpu).await.unwrap(), &[])
                    .await;
            let msg = err.err().expect("must fail").to_string();
            assert!(msg.contains("bad.safetensors") && msg.contains(expected), "{msg}");
        }
    });
}

/// A config whose buffers exceed what the device allows is refused before anything is allocated, with a
/// message naming the limit.
#[test]
fn oversized_configs_are_refused_naming_the_limit() {
    pollster::block_on(async {
        // Full batch over 90% of 1000^2 pairs: activations of 3.6M rows x 1024 wide.
        let c = LabConfig::from_preset(
            "grokking",
            &["task.p=1000".into(), "task.train_fraction=0.9".into(), "model.d_model=1024".into()],
        )
        .unwrap();
        for (kind, limit) in [(BackendKind::Gpu, "maxStorageBufferBindingSize"), (BackendKind::Cpu, "budget")] {
            let err = Trainer::new(c.clone(), Backend::open(kind).await.unwrap()).await.err().expect("must be refused");
            let msg = err.to_string();
            assert!(matches!(err, LabError::TooLarge { .. }) && msg.contains(limit), "{kind:?}: {msg}");
            assert!(msg.contains("parameters ") && msg.contains("activations "), "{kind:?}: the numbers: {msg}");
            println!("{kind:?}: {msg}");
        }
    });
}

/// The planned memory is the sum of the very buffers allocated, broken down by what they hold.
#[test]
fn the_memory_breakdown_is_the_allocated_plan() {
    pollster::block_on(async {
        let c = config("modular-small", &["train.ema=0.9", "train.batch_size=32"]);
        let planned = looplab::train::TrainingPlan::new(c.clone(), &[]).unwrap();
        let memory = planned.memory();
        let uses: Vec<&str> = memory.parts.iter().map(|(u, _)| u.name()).collect();
        assert_eq!(uses, ["parameters", "gradients", "optimizer", "EMA", "activations", "scratch", "evaluation"]);
        assert_eq!(memory.parts.iter().map(|(_, b)| b).sum::<u64>(), memory.total_bytes);
        let (params, grads, adam, ema) = (memory.parts[0].1, memory.parts[1].1, memory.parts[2].1, memory.parts[3].1);
        assert!(grads == ema && adam == 2 * grads && params >= grads, "{memory}");
        let t = Trainer::from_plan(planned, Backend::open(BackendKind::Cpu).await.unwrap()).await.unwrap();
        assert_eq!(t.memory, memory);
        assert_eq!(t.backend.stats().bytes_allocated, memory.total_bytes);
        // The parameter buffer holds the model's parameters (each view padded to 64 elements).
        assert!(
            grads >= 4 * t.params.count() as u64 && grads < 4 * (t.params.count() + 64 * t.params.list.len()) as u64
        );
        assert!(memory.to_string().starts_with("needs ") && memory.to_string().contains(", activations "));
    });
}

/// On Sudoku every cell is supervised: exact (whole-puzzle) accuracy is reported beside cell accuracy and can
/// never exceed it; an untrained model gets cells right but no whole puzzle.
#[test]
fn exact_match_accuracy_is_reported_separately() {
    pollster::block_on(async {
        let o: Vec<String> = ["task.examples=200", "task.test_examples=50", "train.steps=20", "train.eval_every=10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut t = trainer(LabConfig::from_preset("sudoku-4x4", &o).unwrap(), BackendKind::Cpu).await;
        let records = t.train(20).await.unwrap();
        for r in &records {
            assert!(r.test_exact <= r.test_acc && r.train_exact <= r.train_acc, "{r:?}");
        }
        assert!(records[0].test_acc > 0.3 && records[0].test_exact < records[0].test_acc, "{:?}", records[0]);
    });
}

/// Records score every split: composition's ID and OOD test splits both appear, and the headline test fields
/// repeat the second split.
#[test]
fn records_score_every_split() {
    pollster::block_on(async {
        let o: Vec<String> = [
            "task.entities=60",
            "task.relations=5",
            "task.phi=2",
            "model.d_model=32",
            "model.mlp_hidden=64",
            "train.steps=2",
            "train.eval_every=2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut t = trainer(LabConfig::from_preset("composition", &o).unwrap(), BackendKind::Cpu).await;
        let r = t.train(2).await.unwrap().pop().unwrap();
        let names: Vec<&str> = r.splits.iter().map(|s| s.split.as_str()).collect();
        assert_eq!(names, ["train", "test_id", "test_ood"]);
        assert_eq!(
            (r.test_acc, r.test_exact, r.test_loss),
            (r.splits[1].evaluation.accuracy, r.splits[1].evaluation.exact, r.splits[1].evaluation.loss)
        );
        assert_eq!(r.train_acc, r.splits[0].evaluation.accuracy);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["splits"][2]["accuracy"].is_number(), "{json}");
    });
}
