//! Tasks: deterministic data generators with named splits. A split is a list of fixed-length token
//! sequences with one target per position (`IGNORE` where a position is not supervised). Splits may differ
//! in length (a maze model trained on small mazes, tested on larger ones); each knows its grid, the layout
//! local attention reads.

pub mod addition;
pub mod automaton;
pub mod bandit;
pub mod composition;
mod config;
pub mod maze;
pub mod modular;
pub mod multiplication;
pub mod passkey;
pub mod pointer_chasing;
pub mod prefix_sums;
pub mod random;
pub mod sudoku;

pub use config::{DigitOrder, ModOp, TaskConfig, TaskKind};

/// The target of a position that is not supervised (the loss and the accuracy skip it).
pub const IGNORE: u32 = u32::MAX;

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
    /// The task's splits drawn from `seed`; `pad` pads smaller examples to the largest split's length (learned
    /// absolute positions need one length; `LabConfig::dataset` decides).
    pub fn build(task: &TaskConfig, seed: u64, pad: bool) -> Dataset {
        match task.kind {
            TaskKind::Modular => modular::build(task, seed),
            TaskKind::Random => random::build(task, seed),
            TaskKind::Sudoku => sudoku::build(task, seed),
            TaskKind::Maze => maze::build(task, seed, pad),
            TaskKind::PrefixSums => prefix_sums::build(task, seed, pad),
            TaskKind::PointerChasing => pointer_chasing::build(task, seed),
            TaskKind::Composition => composition::build(task, seed),
            TaskKind::Passkey => passkey::build(task, seed),
            TaskKind::Bandit => bandit::build(task, seed),
            TaskKind::Addition => addition::build(task, seed),
            TaskKind::Multiplication => multiplication::build(task, seed),
            TaskKind::Automaton => automaton::build(task, seed, pad),
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
