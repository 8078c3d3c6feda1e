//! What a task is: its kind and settings (`task.*` in a run's config), and their validation, which each task
//! module owns next to its generator.

use serde::{Deserialize, Serialize};

use super::{addition, bandit, composition, maze, modular, multiplication, passkey, pointer_chasing, prefix_sums};
use super::{automaton, random, sudoku};
use crate::error::LabError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Modular,
    /// Random tokens and targets of a given vocabulary and length: a shape to benchmark, nothing to learn.
    Random,
    /// Sudoku puzzles of side `task.size` (src/tasks/sudoku.rs).
    Sudoku,
    /// Shortest path through a grid maze (see `tasks::maze`).
    Maze,
    /// Prefix-sum parity of `task.size` bits, tested on `task.test_size` bits (see `tasks::prefix_sums`).
    #[serde(rename = "prefix-sums")]
    PrefixSums,
    /// The `task.hops`-th successor in a permutation of `task.size` nodes given as pairs (see `tasks::pointer_chasing`).
    #[serde(rename = "pointer-chasing")]
    PointerChasing,
    /// Two-hop / k-hop composition over a synthetic knowledge graph (see `tasks::composition`).
    Composition,
    /// A passkey at distance D before a query (`task.size` passkeys, `task.seq_len` tokens; see `tasks::passkey`).
    Passkey,
    /// Multi-armed bandit histories of a teacher algorithm, for in-context learning (see `tasks::bandit`).
    Bandit,
    /// Multi-digit addition on a 3-row grid, 1..`task.size` digits for training, up to `task.test_size` for test
    /// (see `tasks::addition`; `looplab self-improve`).
    Addition,
    /// `a x b` of `task.size`- and `task.size_b`-digit numbers, with each answer digit's computation graph (see
    /// `tasks::multiplication`; `looplab audit`).
    Multiplication,
    /// An elementary cellular automaton whose rule is in the prompt, run `task.steps` steps on `task.size` cells,
    /// with held-out rules, longer runs and wider tapes (see `tasks::automaton`).
    Automaton,
}

/// Which end of a number comes first (left) in a task's layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigitOrder {
    /// Least significant digit first: the carry flows left to right.
    #[default]
    Reverse,
    /// Most significant digit first, as numbers are written: the carry flows right to left.
    Forward,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModOp {
    #[serde(rename = "+")]
    Add,
    #[serde(rename = "-")]
    Sub,
    #[serde(rename = "*")]
    Mul,
    #[serde(rename = "/")]
    Div,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    pub kind: TaskKind,
    /// Modulus of `a op b = c (mod p)`.
    pub p: usize,
    pub op: ModOp,
    /// Share of all (a, b) pairs used for training; the rest is the test split.
    pub train_fraction: f64,
    /// Random task only: vocabulary size, sequence length and number of examples (bandit: `seq_len` is the
    /// episode's steps, `examples` its training tasks).
    pub vocab: usize,
    pub seq_len: usize,
    pub examples: usize,
    /// Sudoku and maze: board side (Sudoku 4, 6 or 9; maze cells per side of the training mazes); bandit: arms.
    #[serde(default)]
    pub size: usize,
    /// Sudoku: givens per puzzle (0 = minimal).
    #[serde(default)]
    pub givens: usize,
    /// Maze: cells per side of the test mazes; 0 means `size`.
    #[serde(default)]
    pub test_size: usize,
    /// Sudoku, maze and others: number of test examples (`examples` is the training count; bandit: test tasks).
    #[serde(default)]
    pub test_examples: usize,
    /// Maze: share of the backtracker's remaining interior walls removed to create loops; 0 gives perfect mazes.
    #[serde(default)]
    pub maze_loops: f64,
    /// Maze: share of mazes whose start and goal are two random cells; the others put them at the two ends of
    /// the maze's longest path (both dead ends in a perfect maze), which alone never shows a start at a junction.
    #[serde(default)]
    pub maze_random_ends: f64,
    /// Composition: entities, relations, inferred facts per ID atomic fact in training (phi), and share of atomic
    /// facts held out as OOD (automaton: share of the rule classes held out).
    #[serde(default)]
    pub entities: usize,
    #[serde(default)]
    pub relations: usize,
    #[serde(default)]
    pub phi: f64,
    #[serde(default)]
    pub ood_fraction: f64,
    /// Composition: hops per inferred fact; pointer chasing: successor steps k of the answer pi^k(start).
    #[serde(default)]
    pub hops: usize,
    /// Addition: digit order of the operands and the answer.
    #[serde(default)]
    pub order: DigitOrder,
    /// Multiplication: digits of the second operand b (0 = `size`).
    #[serde(default)]
    pub size_b: usize,
    /// Automaton: program steps of the training runs, and of the long test runs (0 = `steps`).
    #[serde(default)]
    pub steps: usize,
    #[serde(default)]
    pub test_steps: usize,
}

impl TaskConfig {
    /// Checks every `task.*` value for this kind, naming the key and what is allowed; `seed` draws the data
    /// where a check needs it (composition's knowledge graph).
    pub fn validate(&self, seed: u64) -> Result<(), LabError> {
        match self.kind {
            TaskKind::Modular => modular::validate(self),
            TaskKind::Random => random::validate(self),
            TaskKind::Sudoku => sudoku::validate(self),
            TaskKind::Maze => maze::validate(self),
            TaskKind::PrefixSums => prefix_sums::validate(self),
            TaskKind::PointerChasing => pointer_chasing::validate(self),
            TaskKind::Composition => composition::validate(self, seed),
            TaskKind::Passkey => passkey::validate(self),
            TaskKind::Bandit => bandit::validate(self),
            TaskKind::Addition => addition::validate(self),
            TaskKind::Multiplication => multiplication::validate(self),
            TaskKind::Automaton => automaton::validate(self, seed),
        }
    }
}
