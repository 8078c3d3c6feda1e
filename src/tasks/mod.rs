//! Tasks: deterministic data generators with named splits. A split is a list of fixed-length token
//! sequences with one target per position (`IGNORE` where a position is not supervised). Splits may differ
//! in length (a maze model trained on small mazes, tested on larger ones); each knows its grid, the layout
//! local attention reads.

pub mod addition;
pub mod automaton;
pub mod bandit;
pub mod composition;
pub mod maze;
pub mod modular;
pub mod multiplication;
pub mod passkey;
pub mod pointer_chasing;
pub mod prefix_sums;
pub mod random;
pub mod sudoku;

use crate::config::{LabConfig, Positions, TaskKind};
use crate::ops::cross_entropy::IGNORE;

#[derive(Clone, Debug)]
pub struct Split {
    pub name: &'static str,
    /// Tokens per example.
    pub seq_len: usize,
    /// `[height, width]` of each example's tokens in row-major order (`[1, seq_len]` for sequences).
    pub grid: [usize; 2],
    /// `len() * seq_len` tokens.
    pub tokens: Vec<u32>,
    pub targets: Vec<u32>,
}

impl Split {
    /// An empty split of sequences.
    pub fn sequences(name: &'static str, seq_len: usize) -> Split {
        Split::grid(name, [1, seq_len])
    }

    /// An empty split of `height x width` grids.
    pub fn grid(name: &'static str, grid: [usize; 2]) -> Split {
        Split { name, seq_len: grid[0] * grid[1], grid, tokens: Vec::new(), targets: Vec::new() }
    }

    /// Appends one example.
    pub fn push(&mut self, tokens: &[u32], targets: &[u32]) {
        assert!(
            tokens.len() == self.seq_len && targets.len() == self.seq_len,
            "{}: an example of {} tokens in a split of {}",
            self.name,
            tokens.len(),
            self.seq_len
        );
        self.tokens.extend_from_slice(tokens);
        self.targets.extend_from_slice(targets);
    }

    pub fn len(&self) -> usize {
        self.tokens.len() / self.seq_len
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Tokens and targets of example `i`.
    pub fn example(&self, i: usize) -> (&[u32], &[u32]) {
        let r = i * self.seq_len..(i + 1) * self.seq_len;
        (&self.tokens[r.clone()], &self.targets[r])
    }
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub vocab: usize,
    /// The first split is the training split.
    pub splits: Vec<Split>,
}

impl Dataset {
    pub fn build(config: &LabConfig) -> Dataset {
        // Learned absolute positions need one length, so smaller examples are padded to the largest split's.
        let pad = config.model.positions == Positions::Learned;
        match config.task.kind {
            TaskKind::Modular => modular::build(&config.task, config.seed),
            TaskKind::Random => random::build(&config.task, config.seed),
            TaskKind::Sudoku => sudoku::build(&config.task, config.seed),
            TaskKind::Maze => maze::build(&config.task, config.seed, pad),
            TaskKind::PrefixSums => prefix_sums::build(&config.task, config.seed, pad),
            TaskKind::PointerChasing => pointer_chasing::build(&config.task, config.seed),
            TaskKind::Composition => composition::build(&config.task, config.seed),
            TaskKind::Passkey => passkey::build(&config.task, config.seed),
            TaskKind::Bandit => bandit::build(&config.task, config.seed),
            TaskKind::Addition => addition::build(&config.task, config.seed),
            TaskKind::Multiplication => multiplication::build(&config.task, config.seed),
            TaskKind::Automaton => automaton::build(&config.task, config.seed, pad),
        }
    }

    pub fn train(&self) -> &Split {
        &self.splits[0]
    }

    /// Tokens per training example.
    pub fn seq_len(&self) -> usize {
        self.splits[0].seq_len
    }

    /// Copies examples `ids` of a split into a batch of `capacity` examples; unused slots get token 0 and
    /// no targets, so they change neither the loss nor the accuracy.
    pub fn gather(split: &Split, ids: &[usize], capacity: usize, tokens: &mut Vec<u32>, targets: &mut Vec<u32>) {
        let l = split.seq_len;
        tokens.clear();
        targets.clear();
        for &i in ids {
            tokens.extend_from_slice(&split.tokens[i * l..(i + 1) * l]);
            targets.extend_from_slice(&split.targets[i * l..(i + 1) * l]);
        }
        tokens.resize(capacity * l, 0);
        targets.resize(capacity * l, IGNORE);
    }
}
