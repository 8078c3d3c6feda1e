//! In-context learning on bandits: a model trained on a teacher's episodes (`tasks::bandit`) is rolled out on
//! unseen tasks with its weights fixed. At step t every task's history so far is the input, the logits at
//! position t - 1 give the next arm, the task draws its reward, and the step is appended. The model's regret per
//! step is compared with the teacher's (Thompson sampling), a random policy's and a greedy one's on the same
//! tasks. If the model's per-step regret falls within the episode, it learned from the rewards in its context:
//! nothing else changes between steps.

use serde::Serialize;

use crate::backend::Backend;
use crate::config::{LabConfig, TaskKind};
use crate::error::LabError;
use crate::program::{Kernel, MemoryPlan, ProgramId};
use crate::rng::Rng;
use crate::solve::{plan, Planned};
use crate::tasks::bandit::{start, test_tasks, Bandit, Episodes, Policy, Step, MIN_STEPS};
use crate::train::{checkpoint::Weights, training_depth};

/// How the model's next arm is read from its logits over the arms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Drawn from the model's distribution (what imitating a stochastic teacher means).
    Sample,
    /// The most likely arm.
    Argmax,
}

/// A trained bandit model planned once for a batch of episodes: one forward program at the training depth,
/// rerun on the growing histories.
pub struct ModelPolicy {
    planned: Planned,
    program: ProgramId,
    arms: usize,
    stablemax: bool,
}

impl ModelPolicy {
    pub async fn new(
        weights: &Weights<'_>,
        backend: &mut Backend,
        batch: usize,
        seq: usize,
    ) -> Result<ModelPolicy, LabError> {
        let task = &weights.config.task;
        check_rollable(&weights.config)?;
        let mut memory = MemoryPlan::default();
        let blank = vec![start(task.size); batch * seq];
        let planned = plan(weights, &mut memory, &blank, [1, seq], 0, "bandit")?;
        backend.allocate(&memory)?;
        let graph = &planned.graph;
        let mut program: Vec<Box<dyn Kernel>> = graph.start(true);
        for _ in 0..training_depth(&weights.config) {
            program.append(&mut graph.iterate());
        }
        program.append(&mut graph.decode());
        let program = backend.prepare(program).await?;
        planned.load(weights, backend, &blank)?;
        Ok(ModelPolicy { planned, program, arms: task.size, stablemax: weights.config.train.stablemax })
    }

    /// Plays `steps` more steps of every episode (as many as the planned batch) with the model's arms. `blind`
    /// shows the model every reward as 0 (a control: a policy that cannot see rewards has the random policy's
    /// expected regret, since the arms' means are exchangeable).
    pub async fn play(
        &self,
        backend: &mut Backend,
        episodes: &mut Episodes,
        steps: usize,
        choice: Choice,
        blind: bool,
        rng: &mut Rng,
    ) -> Result<(), LabError> {
        let g = &self.planned.graph;
        let (batch, seq, vocab) = (g.shape.batch, g.shape.seq, g.shape.vocab);
        assert_eq!(episodes.tasks.len(), batch, "one episode per planned example");
        if episodes.len() + steps > seq {
            return Err(LabError::Input(format!(
                "{} steps do not fit this model's {seq} positions",
                episodes.len() + steps
            )));
        }
        for _ in 0..steps {
            let t = episodes.len();
            let mut tokens: Vec<u32> = (0..batch).flat_map(|b| episodes.input(b, seq)).collect();
            if blind {
                for token in tokens.iter_mut() {
                    if let Some(step) = Step::from_token(*token, self.arms) {
                        *token = Step { reward: 0, ..step }.token();
                    }
                }
            }
            backend.write_u32(g.tokens, &tokens);
            backend.run(&[self.program])?;
            let logits = backend.read(g.logits).await?;
            let arms: Vec<usize> = (0..batch)
                .map(|b| {
                    let row = &logits[(b * seq + t) * vocab..][..self.arms];
                    match choice {
                        Choice::Argmax => argmax(row),
                        Choice::Sample => sample(&probabilities(row, self.stablemax), rng),
                    }
                })
                .collect();
            episodes.play(&arms, rng);
        }
        Ok(())
    }
}

/// Refuses a model that is not a causal bandit model, naming why.
fn check_rollable(config: &LabConfig) -> Result<(), LabError> {
    if config.task.kind != TaskKind::Bandit {
        return Err(LabError::Input(format!(
            "this checkpoint was trained on task.kind={}; a bandit rollout needs a model trained on the bandit task (e.g. `looplab train --preset bandit`)",
            serde_json::to_value(config.task.kind).expect("serializes").as_str().unwrap_or("?")
        )));
    }
    if !config.model.causal {
        return Err(LabError::Input("this bandit model has model.causal=false: its predictions would see the padding after the current step, so it cannot be rolled out step by step".into()));
    }
    Ok(())
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &x)| if x > row[best] { i } else { best })
}

/// The model's distribution over the arms (softmax, or stablemax for models trained with it), renormalised
/// over the arms alone.
pub fn probabilities(row: &[f32], stablemax: bool) -> Vec<f64> {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let s: Vec<f64> = row
        .iter()
        .map(|&x| {
            let x = x as f64;
            match stablemax {
                false => (x - max).exp(),
                true if x >= 0.0 => x + 1.0,
                true => 1.0 / (1.0 - x),
            }
        })
        .collect();
    let total: f64 = s.iter().sum();
    s.iter().map(|p| p / total).collect()
}

/// An index drawn with probabilities `p` (summing to 1).
pub fn sample(p: &[f64], rng: &mut Rng) -> usize {
    let mut u = rng.uniform();
    for (i, &pi) in p.iter().enumerate() {
        if u < pi {
            return i;
        }
        u -= pi;
    }
    p.len() - 1
}

/// One policy's regret over the episode, each a mean over tasks.
#[derive(Clone, Debug, Serialize)]
pub struct Curve {
    pub policy: String,
    pub about: String,
    /// `regret[t]`: mean regret of step t + 1.
    pub regret: Vec<f64>,
    /// `cumulative[t]`: mean regret summed over steps 1..=t+1.
    pub cumulative: Vec<f64>,
    /// Standard error of `cumulative[t]` over tasks.
    pub cumulative_stderr: Vec<f64>,
}

fn mean_stderr(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

impl Curve {
    pub fn new(policy: &str, about: &str, episodes: &Episodes) -> Curve {
        let regret = episodes.regret();
        let steps = episodes.len();
        let column = |t: usize| -> Vec<f64> { regret.iter().map(|r| r[t]).collect() };
        let mut running = vec![0.0; regret.len()];
        let (mut cumulative, mut cumulative_stderr) = (Vec::new(), Vec::new());
        for t in 0..steps {
            running.iter_mut().zip(&regret).for_each(|(c, r)| *c += r[t]);
            let (m, se) = mean_stderr(&running);
            cumulative.push(m);
            cumulative_stderr.push(se);
        }
        let regret = (0..steps).map(|t| mean_stderr(&column(t)).0).collect();
        Curve { policy: policy.to_string(), about: about.to_string(), regret, cumulative, cumulative_stderr }
    }
}

/// Whether the model's regret per step fell within the episode: its mean over the first and the last quarter of
/// the steps, per task, compared over tasks.
#[derive(Clone, Debug, Serialize)]
pub struct InContext {
    /// Steps averaged at the start (1..=window) and at the end (H-window+1..=H).
    pub window: usize,
    pub early: f64,
    pub late: f64,
    /// `early - late` (mean over tasks) and its standard error.
    pub drop: f64,
    pub drop_stderr: f64,
    /// The same late-window regret per step for the random policy and the teacher.
    pub random_late: f64,
    pub teacher_late: f64,
    /// `drop` is more than 3 standard errors above 0.
    pub improves: bool,
}

impl InContext {
    pub fn new(model: &Episodes, random: &Episodes, teacher: &Episodes) -> InContext {
        let h = model.len();
        let window = (h / 4).max(1);
        let avg = |r: &[f64], from: usize| r[from..from + window].iter().sum::<f64>() / window as f64;
        let late_of = |e: &Episodes| mean_stderr(&e.regret().iter().map(|r| avg(r, h - window)).collect::<Vec<_>>()).0;
        let regret = model.regret();
        let early = mean_stderr(&regret.iter().map(|r| avg(r, 0)).collect::<Vec<_>>()).0;
        let late = late_of(model);
        let (drop, drop_stderr) =
            mean_stderr(&regret.iter().map(|r| avg(r, 0) - avg(r, h - window)).collect::<Vec<_>>());
        InContext {
            window,
            early,
            late,
            drop,
            drop_stderr,
            random_late: late_of(random),
            teacher_late: late_of(teacher),
            improves: drop > 3.0 * drop_stderr,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub arms: usize,
    pub horizon: usize,
    pub tasks: usize,
    pub seed: u64,
    /// Iterations the model runs per forward pass (its training depth).
    pub depth: usize,
    pub curves: Vec<Curve>,
    pub in_context: InContext,
}

/// Rolls the model and the baselines out on `tasks` unseen tasks for `horizon` steps (default: the trained
/// episode length).
pub async fn evaluate(
    weights: &Weights<'_>,
    backend: &mut Backend,
    tasks: usize,
    horizon: Option<usize>,
) -> Result<Report, LabError> {
    let c = &weights.config;
    check_rollable(c)?;
    let trained = c.task.seq_len;
    let seq = if weights.positions > 0 { weights.positions } else { trained };
    let horizon = horizon.unwrap_or(trained);
    if !(MIN_STEPS..=seq).contains(&horizon) {
        return Err(LabError::invalid(
            "--horizon",
            horizon,
            format!("a number of steps from {MIN_STEPS} to {seq} (the model's positions)"),
        ));
    }
    let unseen: Vec<Bandit> = test_tasks(&c.task, c.seed, tasks);
    let rng = |name: &str| Rng::fork(c.seed, &format!("bandit-rollout-{name}"));
    let model = ModelPolicy::new(weights, backend, tasks, seq).await?;
    let mut played = Vec::new();
    for (name, choice, blind) in [
        ("model", Choice::Sample, false),
        ("model-argmax", Choice::Argmax, false),
        ("model-blind", Choice::Sample, true),
    ] {
        let mut e = Episodes::new(unseen.clone());
        model.play(backend, &mut e, horizon, choice, blind, &mut rng(name)).await?;
        played.push((name, e));
    }
    for policy in [Policy::Thompson, Policy::Random, Policy::Greedy] {
        let mut e = Episodes::new(unseen.clone());
        e.run(policy, horizon, &mut rng(policy.name()));
        played.push((policy.name(), e));
    }
    let find = |name: &str| &played.iter().find(|(n, _)| *n == name).expect("played").1;
    let in_context = InContext::new(find("model"), find("random"), find("thompson"));
    let about = |name: &str| match name {
        "model" => "the trained model, arms drawn from its distribution",
        "model-argmax" => "the trained model, its most likely arm",
        "model-blind" => "the trained model shown every reward as 0 (a control: it cannot learn from rewards)",
        "thompson" => "the teacher: Thompson sampling, Beta(1, 1) priors",
        "random" => "a uniformly random arm",
        _ => "each arm once, then the best empirical mean",
    };
    let curves = played.iter().map(|(name, e)| Curve::new(name, about(name), e)).collect();
    Ok(Report { arms: c.task.size, horizon, tasks, seed: c.seed, depth: training_depth(c), curves, in_context })
}

impl Report {
    /// Cumulative regret (mean ± standard error) at steps 1, 2, 4, ..., H, one row per step, one column per
    /// policy; then the in-context verdict.
    pub fn table(&self) -> String {
        let mut steps: Vec<usize> =
            std::iter::successors(Some(1), |s| Some(s * 2)).take_while(|&s| s < self.horizon).collect();
        steps.push(self.horizon);
        let mut out = format!(
            "cumulative regret (mean ± stderr over {} unseen {}-armed tasks), by step\n{:>6}",
            self.tasks, self.arms, "step"
        );
        for c in &self.curves {
            out += &format!(" {:>16}", c.policy);
        }
        for s in steps {
            out += &format!("\n{s:>6}");
            for c in &self.curves {
                out += &format!(" {:>16}", format!("{:.3} ± {:.3}", c.cumulative[s - 1], c.cumulative_stderr[s - 1]));
            }
        }
        let i = &self.in_context;
        let w = i.window;
        out += &format!(
            "\nmodel regret per step: {:.3} over steps 1-{w}, {:.3} over steps {}-{} (drop {:.3} ± {:.3}); random {:.3}, teacher {:.3} over the last {w}\n",
            i.early,
            i.late,
            self.horizon - w + 1,
            self.horizon,
            i.drop,
            i.drop_stderr,
            i.random_late,
            i.teacher_late
        );
        out += if i.improves {
            "in-context learning: yes, the model's regret per step falls within the episode with its weights fixed"
        } else {
            "in-context learning: not shown, the model's regret per step does not fall by more than 3 standard errors"
        };
        out
    }
}
