//! Tasks: deterministic data generators with named splits. A split is a list of fixed-length token
//! sequences with one target per position (`IGNORE` where a position is not supervised).

pub mod composition;
pub mod maze;
pub mod modular;
pub mod pointer_chasing;
pub mod prefix_sums;
pub mod random;
pub mod sudoku;

use crate::config::{LabConfig, TaskKind};
use crate::ops::cross_entropy::IGNORE;

#[derive(Clone, Debug)]
pub struct Split {
    pub name: &'static str,
    /// `len() * seq_len` tokens.
    pub tokens: Vec<u32>,
    pub targets: Vec<u32>,
}

impl Split {
    pub fn len(&self, seq_len: usize) -> usize {
        self.tokens.len() / seq_len
    }
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub vocab: usize,
    pub seq_len: usize,
    /// The first split is the training split.
    pub splits: Vec<Split>,
}

impl Dataset {
    pub fn build(config: &LabConfig) -> Dataset {
        match config.task.kind {
            TaskKind::Modular => modular::build(&config.task, config.seed),
            TaskKind::Random => random::build(&config.task, config.seed),
            TaskKind::Sudoku => sudoku::build(&config.task, config.seed),
            TaskKind::Maze => maze::build(&config.task, config.seed),
            TaskKind::PrefixSums => prefix_sums::build(&config.task, config.seed),
            TaskKind::PointerChasing => pointer_chasing::build(&config.task, config.seed),
            TaskKind::Composition => composition::build(&config.task, config.seed),
        }
    }

    pub fn train(&self) -> &Split {
        &self.splits[0]
    }

    /// Copies examples `ids` of a split into a batch of `capacity` examples; unused slots get token 0 and
    /// no targets, so they change neither the loss nor the accuracy.
    pub fn gather(&self, split: &Split, ids: &[usize], capacity: usize, tokens: &mut Vec<u32>, targets: &mut Vec<u32>) {
        let l = self.seq_len;
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
