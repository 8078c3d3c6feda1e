//! In-context learning: a bandit model trained on a teacher's episodes improves within unseen episodes with
//! its weights fixed.

use looplab::backend::{Backend, BackendKind};
use looplab::bandit::{evaluate, ModelPolicy};
use looplab::config::LabConfig;
use looplab::lab::Lab;
use looplab::train::checkpoint::Weights;

use crate::common::config;

/// A small model trained on the cpu backend, rolled out on 400 unseen tasks with its weights fixed: its regret
/// per step falls within the episode and ends far below the random policy's, and shown no rewards it does no
/// better than random.
#[test]
fn trained_model_learns_in_context_on_unseen_tasks() {
    pollster::block_on(async {
        let c = config(
            "bandit",
            &[
                "task.examples=4000",
                "task.seq_len=24",
                "model.d_model=32",
                "model.mlp_hidden=64",
                "train.steps=300",
                "train.eval_every=300",
            ],
        );
        let mut lab = Lab::new(c, BackendKind::Cpu).await.unwrap();
        let r = lab.train(u64::MAX).await.unwrap();
        println!("step {} loss {:.3} test acc {:.3}", lab.step(), r.last().unwrap().loss, r.last().unwrap().test_acc);
        let bytes = lab.checkpoint().await.unwrap();
        let w = Weights::read(&bytes, "test").unwrap();
        let mut backend = Backend::open(BackendKind::Cpu).await.unwrap();
        let report = evaluate(&w, &mut backend, 400, None).await.unwrap();
        println!("{}", report.table());
        let i = &report.in_context;
        assert!(i.improves && i.late < 0.6 * i.early, "{i:?}");
        assert!(i.late < 0.5 * i.random_late, "{i:?}");
        let blind = report.curves.iter().find(|c| c.policy == "model-blind").unwrap();
        let random = report.curves.iter().find(|c| c.policy == "random").unwrap();
        let (b, r) = (blind.cumulative.last().unwrap(), random.cumulative.last().unwrap());
        let se = blind.cumulative_stderr.last().unwrap().hypot(*random.cumulative_stderr.last().unwrap());
        assert!((b - r).abs() < 4.0 * se, "reward-blind model {b} vs random {r} (stderr {se})");
        // The rollout refuses a model it cannot run step by step.
        let mut other =
            Lab::new(LabConfig::from_preset("modular-small", &[]).unwrap(), BackendKind::Cpu).await.unwrap();
        let other_bytes = other.checkpoint().await.unwrap();
        let err = ModelPolicy::new(&Weights::read(&other_bytes, "m").unwrap(), &mut backend, 4, 4).await.err().unwrap();
        assert!(err.to_string().contains("trained on task.kind=modular"), "{err}");
        let err = evaluate(&w, &mut backend, 10, Some(25)).await.err().unwrap();
        assert!(err.to_string().contains("`--horizon`: expected a number of steps from 2 to 24"), "{err}");
    });
}
