//! Multi-armed bandits for in-context learning by Algorithm Distillation (Laskin et al. 2022): a causal model
//! is trained to predict a learning algorithm's next action from its history on many bandit tasks; rolled
//! out on unseen tasks it may then improve within an episode with no weight update (`crate::bandit`).
//!
//! A task is `K = task.size` Bernoulli arms whose means are drawn independently from U[0, 1). The teacher is
//! Thompson sampling with Beta(1, 1) priors: at each step it draws one mean per arm from its posterior
//! Beta(1 + wins, 1 + losses) and pulls the arm with the largest draw.
//!
//! Token layout (`H = task.seq_len` steps per episode, one token per step, vocab `2K + 1`):
//!
//! ```text
//! tokens   START  (a_1, r_1)  ...  (a_{H-1}, r_{H-1})
//! targets  a_1    a_2         ...  a_H
//! ```
//!
//! A step token is `2a + r` (arm `a`, reward `r` in {0, 1}) and `START = 2K`. Every position is supervised with
//! the teacher's next arm given the history so far, so the cross-entropy is minimised by the teacher's action
//! distribution (for Thompson sampling, each arm's posterior probability of being the best). The last step's
//! reward is never an input. With `model.causal` a position sees only the steps before it, so the model can
//! be rolled out one step at a time on inputs padded with `START`.
//!
//! Splits: "train" (one teacher episode on each of `task.examples` tasks) and "test" (`task.test_examples`
//! unseen tasks). Train and test tasks come from separate seeded streams; `test_tasks` draws the unseen tasks
//! a rollout uses (the test split's tasks first).

use super::{Dataset, Split, TaskConfig};
use crate::error::LabError;
use crate::rng::Rng;

pub const MIN_ARMS: usize = 2;
pub const MAX_ARMS: usize = 16;
pub const MIN_STEPS: usize = 2;
pub const MAX_STEPS: usize = 512;
pub const MAX_TASKS: usize = 1_000_000;

pub fn vocab(arms: usize) -> usize {
    2 * arms + 1
}

pub fn start(arms: usize) -> u32 {
    2 * arms as u32
}

/// One pull: the arm and its 0/1 reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub arm: usize,
    pub reward: u8,
}

impl Step {
    pub fn token(self) -> u32 {
        2 * self.arm as u32 + self.reward as u32
    }

    /// The step a token stands for; `None` for `START` and tokens outside the vocabulary.
    pub fn from_token(token: u32, arms: usize) -> Option<Step> {
        (token < start(arms)).then_some(Step { arm: token as usize / 2, reward: (token % 2) as u8 })
    }
}

/// Bernoulli arms with these means.
#[derive(Clone, Debug, PartialEq)]
pub struct Bandit {
    pub means: Vec<f64>,
}

impl Bandit {
    pub fn random(arms: usize, rng: &mut Rng) -> Bandit {
        Bandit { means: (0..arms).map(|_| rng.uniform()).collect() }
    }

    pub fn best(&self) -> f64 {
        self.means.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    /// Expected reward lost by pulling `arm` instead of the best arm (pseudo-regret: no reward noise).
    pub fn regret(&self, arm: usize) -> f64 {
        self.best() - self.means[arm]
    }

    pub fn pull(&self, arm: usize, rng: &mut Rng) -> u8 {
        (rng.uniform() < self.means[arm]) as u8
    }
}

fn tasks(arms: usize, count: usize, rng: &mut Rng) -> Vec<Bandit> {
    (0..count).map(|_| Bandit::random(arms, rng)).collect()
}

/// The tasks of the training split.
pub fn train_tasks(task: &TaskConfig, seed: u64) -> Vec<Bandit> {
    tasks(task.size, task.examples, &mut Rng::fork(seed, "bandit-train-tasks"))
}

/// `count` unseen tasks; the first `task.test_examples` are the test split's.
pub fn test_tasks(task: &TaskConfig, seed: u64, count: usize) -> Vec<Bandit> {
    tasks(task.size, count, &mut Rng::fork(seed, "bandit-test-tasks"))
}

/// A Gamma(n, 1) draw for whole n >= 1: the sum of n standard exponentials.
fn gamma(n: u32, rng: &mut Rng) -> f64 {
    (0..n).map(|_| -libm::log(1.0 - rng.uniform())).sum()
}

fn argmax(xs: impl Iterator<Item = f64>) -> usize {
    xs.enumerate().fold((0, f64::NEG_INFINITY), |best, (i, x)| if x > best.1 { (i, x) } else { best }).0
}

/// How a baseline picks the next arm from the counts so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The teacher: Thompson sampling with Beta(1, 1) priors.
    Thompson,
    /// A uniformly random arm.
    Random,
    /// Each arm once (in order), then the best empirical mean (ties: the lowest arm).
    Greedy,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Thompson => "thompson",
            Policy::Random => "random",
            Policy::Greedy => "greedy",
        }
    }

    pub fn act(self, pulls: &[u32], wins: &[u32], rng: &mut Rng) -> usize {
        match self {
            Policy::Thompson => argmax(pulls.iter().zip(wins).map(|(&n, &w)| {
                let x = gamma(1 + w, rng);
                x / (x + gamma(1 + n - w, rng))
            })),
            Policy::Random => rng.below(pulls.len()),
            Policy::Greedy => match pulls.iter().position(|&n| n == 0) {
                Some(untried) => untried,
                None => argmax(pulls.iter().zip(wins).map(|(&n, &w)| w as f64 / n as f64)),
            },
        }
    }
}

/// One episode per task, all advanced a step at a time.
#[derive(Clone, Debug)]
pub struct Episodes {
    pub tasks: Vec<Bandit>,
    /// `steps[b]`: task b's steps so far.
    pub steps: Vec<Vec<Step>>,
    pulls: Vec<Vec<u32>>,
    wins: Vec<Vec<u32>>,
}

impl Episodes {
    pub fn new(tasks: Vec<Bandit>) -> Episodes {
        let (n, arms) = (tasks.len(), tasks.first().map_or(0, |t| t.means.len()));
        Episodes { tasks, steps: vec![Vec::new(); n], pulls: vec![vec![0; arms]; n], wins: vec![vec![0; arms]; n] }
    }

    pub fn arms(&self) -> usize {
        self.pulls.first().map_or(0, Vec::len)
    }

    /// Steps taken (the same in every episode).
    pub fn len(&self) -> usize {
        self.steps.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pulls `arms[b]` in task b, for every task.
    pub fn play(&mut self, arms: &[usize], rng: &mut Rng) {
        assert_eq!(arms.len(), self.tasks.len(), "one arm per task");
        for (b, &arm) in arms.iter().enumerate() {
            let reward = self.tasks[b].pull(arm, rng);
            self.steps[b].push(Step { arm, reward });
            self.pulls[b][arm] += 1;
            self.wins[b][arm] += reward as u32;
        }
    }

    /// Plays `policy` for `steps` more steps in every task.
    pub fn run(&mut self, policy: Policy, steps: usize, rng: &mut Rng) {
        for _ in 0..steps {
            let arms: Vec<usize> =
                (0..self.tasks.len()).map(|b| policy.act(&self.pulls[b], &self.wins[b], rng)).collect();
            self.play(&arms, rng);
        }
    }

    /// `regret[b][t]`: the pseudo-regret of task b's step t.
    pub fn regret(&self) -> Vec<Vec<f64>> {
        self.tasks
            .iter()
            .zip(&self.steps)
            .map(|(task, steps)| steps.iter().map(|s| task.regret(s.arm)).collect())
            .collect()
    }

    /// The model's input for task b: `START`, then the first `seq_len - 1` steps, padded with `START`.
    pub fn input(&self, b: usize, seq_len: usize) -> Vec<u32> {
        let start = start(self.arms());
        let mut tokens: Vec<u32> =
            std::iter::once(start).chain(self.steps[b].iter().map(|s| s.token())).take(seq_len).collect();
        tokens.resize(seq_len, start);
        tokens
    }

    /// Tokens and targets of task b's finished episode of `seq_len` steps.
    pub fn example(&self, b: usize, seq_len: usize) -> (Vec<u32>, Vec<u32>) {
        assert_eq!(self.steps[b].len(), seq_len, "an episode of {seq_len} steps");
        (self.input(b, seq_len), self.steps[b].iter().map(|s| s.arm as u32).collect())
    }
}

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    if !(MIN_ARMS..=MAX_ARMS).contains(&t.size) {
        return Err(LabError::invalid("task.size", t.size, format!("a number of arms from {MIN_ARMS} to {MAX_ARMS}")));
    }
    if !(MIN_STEPS..=MAX_STEPS).contains(&t.seq_len) {
        return Err(LabError::invalid(
            "task.seq_len",
            t.seq_len,
            format!("a number of steps per episode from {MIN_STEPS} to {MAX_STEPS}"),
        ));
    }
    if !(1..=MAX_TASKS).contains(&t.examples) {
        return Err(LabError::invalid(
            "task.examples",
            t.examples,
            format!("a number of training tasks from 1 to {MAX_TASKS}"),
        ));
    }
    if !(1..=MAX_TASKS).contains(&t.test_examples) {
        return Err(LabError::invalid(
            "task.test_examples",
            t.test_examples,
            format!("a number of test tasks from 1 to {MAX_TASKS}"),
        ));
    }
    Ok(())
}

/// The teacher's episodes on `tasks`, as a split.
fn split(name: &'static str, tasks: Vec<Bandit>, steps: usize, rng: &mut Rng) -> Split {
    let mut episodes = Episodes::new(tasks);
    episodes.run(Policy::Thompson, steps, rng);
    let mut s = Split::sequences(name, steps);
    for b in 0..episodes.tasks.len() {
        let (tokens, targets) = episodes.example(b, steps);
        s.push(&tokens, &targets);
    }
    s
}

pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    let h = task.seq_len;
    let train = split("train", train_tasks(task, seed), h, &mut Rng::fork(seed, "bandit-train-play"));
    let test = split("test", test_tasks(task, seed, task.test_examples), h, &mut Rng::fork(seed, "bandit-test-play"));
    Dataset { vocab: vocab(task.size), splits: vec![train, test] }
}
