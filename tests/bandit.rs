#![cfg(not(target_arch = "wasm32"))]
//! In-context learning on bandits: the data recipe (teacher episodes, tokens, disjoint tasks), the baselines and
//! regret curves on constructed cases, the rollout's assumptions (causal attention, the model's distribution),
//! and the command's refused arguments (the learning run, whose rollout on unseen tasks must beat a random
//! policy and improve within the episode: tests/learning/bandit.rs).

mod common;

use common::{config, looplab};
use looplab::backend::{Backend, BackendKind};
use looplab::bandit::{probabilities, sample, Curve, InContext};
use looplab::config::LabConfig;
use looplab::lab::Lab;
use looplab::rng::Rng;
use looplab::solve::trace;
use looplab::tasks::bandit::{start, test_tasks, train_tasks, vocab, Bandit, Episodes, Policy, Step};
use looplab::train::checkpoint::Weights;

fn mean_stderr(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    (m, (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt())
}

#[test]
fn step_tokens_round_trip() {
    for arms in [2, 5, 16] {
        let mut seen = std::collections::HashSet::new();
        for arm in 0..arms {
            for reward in [0, 1] {
                let s = Step { arm, reward };
                assert!(s.token() < start(arms) && seen.insert(s.token()));
                assert_eq!(Step::from_token(s.token(), arms), Some(s));
            }
        }
        assert_eq!(seen.len() + 1, vocab(arms));
        assert_eq!(Step::from_token(start(arms), arms), None);
    }
}

/// Every example is START then the teacher's steps; the target at position t is the arm of step t + 1, which is
/// the arm of the token at t + 1; rewards are Bernoulli with the task's means.
#[test]
fn teacher_episodes_are_valid_and_rewards_follow_the_means() {
    let c = config("bandit", &["task.examples=3000", "task.test_examples=100"]);
    let (arms, h) = (c.task.size, c.task.seq_len);
    let d = c.dataset();
    assert_eq!(
        (d.vocab, d.splits.len(), d.seq_len(), d.train().len(), d.splits[1].len()),
        (vocab(arms), 2, h, 3000, 100)
    );
    let tasks = train_tasks(&c.task, c.seed);
    let (mut surprise, mut variance) = (0.0, 0.0);
    for (b, task) in tasks.iter().enumerate() {
        let (tokens, targets) = d.train().example(b);
        assert_eq!(tokens[0], start(arms));
        let steps: Vec<Step> = tokens[1..].iter().map(|&t| Step::from_token(t, arms).expect("a step token")).collect();
        for (t, &target) in targets.iter().enumerate() {
            assert!((target as usize) < arms);
            if t + 1 < h {
                assert_eq!(target as usize, steps[t].arm, "example {b}: target {t} is the next step's arm");
            }
        }
        for s in &steps {
            let mu = task.means[s.arm];
            surprise += s.reward as f64 - mu;
            variance += mu * (1.0 - mu);
        }
    }
    let z = surprise / variance.sqrt();
    assert!(z.abs() < 4.0, "rewards deviate from the means by {z:.1} standard deviations");
    // The teacher learns: it pulls the best arm far more often at the end of an episode than at the start.
    let best_share = |t: usize| {
        tasks.iter().enumerate().filter(|(b, task)| task.regret(d.train().example(*b).1[t] as usize) == 0.0).count()
            as f64
            / tasks.len() as f64
    };
    assert!(
        best_share(0) < 0.3 && best_share(h - 1) > 0.45,
        "best arm share {} at step 1, {} at step {h}",
        best_share(0),
        best_share(h - 1)
    );
}

#[test]
fn splits_are_deterministic_and_test_tasks_are_unseen() {
    let c = config("bandit", &["task.examples=2000", "task.test_examples=300"]);
    let (a, b) = (c.dataset(), c.dataset());
    assert_eq!(a.train().tokens, b.train().tokens);
    assert_eq!(a.splits[1].targets, b.splits[1].targets);
    let train = train_tasks(&c.task, c.seed);
    let test = test_tasks(&c.task, c.seed, 1000);
    assert_eq!(test[..300], test_tasks(&c.task, c.seed, 300)[..], "the test split's tasks come first");
    let seen: std::collections::HashSet<Vec<u64>> =
        train.iter().map(|t| t.means.iter().map(|m| m.to_bits()).collect()).collect();
    assert!(test.iter().all(|t| !seen.contains(&t.means.iter().map(|m| m.to_bits()).collect::<Vec<_>>())));
    let other = config("bandit", &["seed=1", "task.examples=2000", "task.test_examples=300"]);
    assert_ne!(train_tasks(&other.task, other.seed), train);
    // Means are U[0, 1): their average is 1/2.
    let all: Vec<f64> = train.iter().flat_map(|t| t.means.clone()).collect();
    let (m, se) = mean_stderr(&all);
    assert!((m - 0.5).abs() < 4.0 * se, "mean of the arms' means {m}");
}

#[test]
fn bandit_config_values_are_checked() {
    let invalid = |sets: &[&str]| {
        let mut c = config("bandit", &[]);
        for s in sets {
            c.set(s).unwrap();
        }
        c.validate().expect_err("should be invalid").to_string()
    };
    assert!(invalid(&["task.size=1"]).contains("`task.size`: expected a number of arms from 2 to 16"));
    assert!(
        invalid(&["task.seq_len=1"]).contains("`task.seq_len`: expected a number of steps per episode from 2 to 512")
    );
    assert!(invalid(&["task.examples=0"]).contains("`task.examples`: expected a number of training tasks"));
    assert!(invalid(&["task.test_examples=0"]).contains("`task.test_examples`: expected a number of test tasks"));
    config("bandit", &["task.kind=bandit", "task.size=2", "task.seq_len=2"]);
    let looped = LabConfig::from_preset("bandit-looped", &[]).unwrap();
    assert_eq!((looped.model.layers, looped.model.loops, looped.model.causal), (1, 2, true));
}

/// A random policy's expected regret per step is the best mean minus the mean of the means, whatever the
/// step; Thompson sampling's falls; greedy tries every arm once first.
#[test]
fn baselines_have_their_expected_regret() {
    let c = config("bandit", &[]);
    let tasks = test_tasks(&c.task, 7, 2000);
    let expected: f64 =
        tasks.iter().map(|t| t.best() - t.means.iter().sum::<f64>() / t.means.len() as f64).sum::<f64>()
            / tasks.len() as f64;
    let mut random = Episodes::new(tasks.clone());
    random.run(Policy::Random, 32, &mut Rng::new(1));
    let per_task: Vec<f64> = random.regret().iter().map(|r| r.iter().sum::<f64>() / r.len() as f64).collect();
    let (m, se) = mean_stderr(&per_task);
    assert!((m - expected).abs() < 4.0 * se, "random regret per step {m} vs expected {expected} (stderr {se})");
    let mut thompson = Episodes::new(tasks.clone());
    thompson.run(Policy::Thompson, 32, &mut Rng::new(2));
    let t = InContext::new(&thompson, &random, &thompson);
    assert!(t.improves && t.late < 0.4 * t.early && t.late < 0.4 * t.random_late, "{t:?}");
    let mut greedy = Episodes::new(tasks);
    greedy.run(Policy::Greedy, 6, &mut Rng::new(3));
    assert!(greedy.steps.iter().all(|s| s[..5].iter().enumerate().all(|(i, st)| st.arm == i)));
}

/// Curves and the in-context verdict on constructed episodes with known regrets.
#[test]
fn regret_curves_on_constructed_episodes() {
    let tasks = vec![Bandit { means: vec![0.0, 1.0] }, Bandit { means: vec![0.25, 0.75] }];
    let mut e = Episodes::new(tasks);
    let mut rng = Rng::new(0);
    for arms in [[0, 0], [0, 1], [1, 1], [1, 1]] {
        e.play(&arms, &mut rng);
    }
    let c = Curve::new("constructed", "", &e);
    assert_eq!(c.regret, vec![0.75, 0.5, 0.0, 0.0]);
    assert_eq!(c.cumulative, vec![0.75, 1.25, 1.25, 1.25]);
    // Task totals 2 and 0.5 after two steps: the standard error of two values is half their difference.
    assert!((c.cumulative_stderr[1] - (2.0 - 0.5) / 2.0).abs() < 1e-12, "{:?}", c.cumulative_stderr);
    let i = InContext::new(&e, &e, &e);
    assert_eq!((i.window, i.early, i.late, i.random_late), (1, 0.75, 0.0, 0.0));
    // Task 0's arms pay 0 and 1 for certain: steps (0, 0), (0, 0), (1, 1), (1, 1), tokens 0, 0, 3, 3; START is 4.
    assert_eq!(e.input(0, 6), vec![4, 0, 0, 3, 3, 4]);
    assert_eq!(e.input(0, 3), vec![4, 0, 0]);
    assert_eq!(e.example(0, 4).1, vec![0, 0, 1, 1]);
}

#[test]
fn model_distribution_over_arms() {
    for stablemax in [false, true] {
        let p = probabilities(&[2.0, -1.0, 0.5], stablemax);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12 && p[0] > p[2] && p[2] > p[1], "{p:?}");
    }
    let p = probabilities(&[0.0, 1.0_f32.ln(), 3.0_f32.ln()], false);
    assert!((p[2] - 0.6).abs() < 1e-6);
    let mut rng = Rng::new(5);
    let mut counts = [0usize; 3];
    for _ in 0..20000 {
        counts[sample(&[0.2, 0.2, 0.6], &mut rng)] += 1;
    }
    assert!((counts[2] as f64 / 20000.0 - 0.6).abs() < 0.02, "{counts:?}");
}

/// The rollout feeds inputs padded after the current step: with causal attention the logits at a position do not
/// depend on any later token.
#[test]
fn causal_logits_ignore_later_tokens() {
    pollster::block_on(async {
        let c = config("bandit", &["task.examples=16", "task.test_examples=4", "task.seq_len=8"]);
        let mut lab = Lab::new(c, BackendKind::Cpu).await.unwrap();
        lab.train(5).await.unwrap();
        let bytes = lab.checkpoint().await.unwrap();
        let w = Weights::read(&bytes, "test").unwrap();
        let a: Vec<u32> = vec![10, 3, 4, 1, 9, 0, 7, 2];
        let b: Vec<u32> = vec![10, 3, 4, 1, 10, 10, 10, 10];
        let mut backend = Backend::open(BackendKind::Cpu).await.unwrap();
        let ta = trace(&w, &mut backend, &a, [1, 8], 1).await.unwrap();
        let tb = trace(&w, &mut backend, &b, [1, 8], 1).await.unwrap();
        let v = ta.vocab;
        let (la, lb) = (&ta.logits[0], &tb.logits[0]);
        assert!(la[..4 * v].iter().zip(&lb[..4 * v]).all(|(x, y)| (x - y).abs() < 1e-5), "positions 0-3 changed");
        assert!(
            la[4 * v..].iter().zip(&lb[4 * v..]).any(|(x, y)| (x - y).abs() > 1e-4),
            "later positions should see their tokens"
        );
    });
}

#[test]
fn cli_refuses_bad_bandit_arguments() {
    // Exit status 2 for what the command line gets wrong, 1 for what fails when the command runs.
    for (args, status, message) in [
        (vec!["bandit"], 2, "required arguments were not provided:\n  --checkpoint <FILE>"),
        (
            vec!["bandit", "--checkpoint", "x", "--tasks", "1"],
            2,
            "`--tasks`: expected a number of unseen tasks from 2 to 100000",
        ),
        (vec!["bandit", "--checkpoint", "x", "--horizon", "many"], 2, "`--horizon`: expected a number of steps"),
        (vec!["bandit", "--checkpoint", "x", "--greedy"], 2, "unexpected argument '--greedy' found"),
        (
            vec!["bandit", "--checkpoint", "/nonexistent/model.safetensors", "--backend", "cpu"],
            1,
            "/nonexistent/model.safetensors",
        ),
    ] {
        let (code, _, stderr) = looplab(&args);
        assert_eq!(code, status, "{args:?}: {stderr}");
        assert!(stderr.contains(message) && !stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
