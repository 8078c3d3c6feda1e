//! The settings a face offers for a run (the page's form): the config keys that matter for a task kind, each
//! with a short label, one line of help and, for a key with named values, those values. The task's size knobs
//! come first, then the model and training keys every task shares.

use serde::Serialize;

use super::TaskKind;

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Setting {
    /// The dotted config key (what `--set` and the page's URL hash take).
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// The values a key with named values accepts (empty: a number).
    pub choices: &'static [&'static str],
}

const fn number(key: &'static str, label: &'static str, help: &'static str) -> Setting {
    Setting { key, label, help, choices: &[] }
}

const TEST_EXAMPLES: &str = "How many held-out examples the test split has (accuracy is measured on them).";

/// The size knobs of `kind`'s task (none for the tasks sized by their preset alone).
fn task_settings(kind: TaskKind) -> Vec<Setting> {
    match kind {
        TaskKind::Modular => vec![
            number("task.p", "p (modulus)", "The modulus of a + b = c (mod p): p x p pairs in all."),
            number(
                "task.train_fraction",
                "train fraction",
                "The share of all pairs used for training; the rest is the test split.",
            ),
        ],
        TaskKind::Random => vec![
            number("task.vocab", "vocabulary", "Distinct tokens of the random inputs and targets."),
            number("task.seq_len", "sequence length", "Tokens per example."),
            number("task.examples", "examples", "Random examples per split (nothing to learn: a shape to benchmark)."),
        ],
        TaskKind::Sudoku => vec![
            number("task.size", "board side", "The Sudoku's side: 4, 6 or 9."),
            number("task.givens", "givens", "Filled cells per puzzle (0: as few as keep the solution unique)."),
            number("task.examples", "training puzzles", "Puzzles in the training split."),
            number("task.test_examples", "test puzzles", TEST_EXAMPLES),
        ],
        TaskKind::Maze => vec![
            number("task.size", "cells per side", "The side of the training mazes, in cells."),
            number(
                "task.test_size",
                "test cells per side",
                "The side of the test mazes (0: as in training); larger tests extrapolation.",
            ),
            number(
                "task.maze_loops",
                "walls removed (0-1)",
                "The share of inner walls knocked out after generation: 0 gives one path, more gives loops.",
            ),
            number(
                "task.maze_random_ends",
                "random start and goal (0-1)",
                "The share of mazes whose start and goal are random cells; the rest use the two ends of the longest path.",
            ),
            number("task.examples", "training mazes", "Mazes in the training split."),
            number("task.test_examples", "test mazes", TEST_EXAMPLES),
        ],
        TaskKind::PrefixSums => vec![
            number("task.size", "bits", "Bits per training input; the target is the running parity of the prefix."),
            number(
                "task.test_size",
                "test bits",
                "Bits per test input (more than in training tests length generalization).",
            ),
            number("task.examples", "training examples", "Inputs in the training split."),
            number("task.test_examples", "test examples", TEST_EXAMPLES),
        ],
        TaskKind::PointerChasing => vec![
            number("task.size", "nodes", "Nodes of the permutation given as pairs."),
            number(
                "task.hops",
                "hops",
                "Successor steps from the start to the answer (each hop needs another step of computation).",
            ),
            number("task.examples", "training examples", "Permutations in the training split."),
            number("task.test_examples", "test examples", TEST_EXAMPLES),
        ],
        TaskKind::Composition => vec![
            number("task.entities", "entities", "Entities of the synthetic knowledge graph."),
            number("task.relations", "relations", "Relations between entities."),
            number("task.hops", "hops", "Relations composed per inferred fact."),
            number("task.phi", "phi", "Inferred facts in training per atomic fact."),
            number(
                "task.ood_fraction",
                "OOD fraction",
                "The share of atomic facts never composed in training: the test_ood split asks for their compositions.",
            ),
            number("task.test_examples", "test examples", TEST_EXAMPLES),
        ],
        TaskKind::Automaton => vec![
            number("task.size", "tape cells", "Cells of the automaton's tape in training."),
            number(
                "task.steps",
                "program steps",
                "Steps each training program runs (the rows of its space-time diagram).",
            ),
            number("task.test_size", "wide-test cells", "Tape cells of the wide test split."),
            number("task.test_steps", "long-test steps", "Steps of the long test split's programs."),
            number(
                "task.ood_fraction",
                "rule classes held out",
                "The share of rule classes never seen in training (the held-out split).",
            ),
            number("task.examples", "training programs", "Programs in the training split."),
            number("task.test_examples", "test programs", TEST_EXAMPLES),
        ],
        TaskKind::Passkey | TaskKind::Bandit | TaskKind::Addition | TaskKind::Multiplication => vec![],
    }
}

/// The model and training keys of every task.
const COMMON: [Setting; 15] = [
    Setting {
        key: "model.arch",
        label: "architecture",
        help: "feedforward: distinct layers run once; looped: one block of shared layers run `loops` times; trm, hrm: the Tiny Recursive and Hierarchical Reasoning models.",
        choices: &["feedforward", "looped", "trm", "hrm"],
    },
    number("model.layers", "layers", "Layers in the block (looped: the shared block applied `loops` times; hrm: per level)."),
    number("model.loops", "loops", "Iterations of the block per pass: more computation from the same parameters."),
    number("model.inner", "inner steps (trm, hrm)", "trm and hrm: latent (fast) updates per loop before the answer (slow) update."),
    number("model.d_model", "width (d_model)", "The size of each token's state vector; parameters grow with its square."),
    Setting {
        key: "model.attention",
        label: "attention",
        help: "global: each token attends to every token; local: only to its neighbours within the radius on the task's grid.",
        choices: &["global", "local"],
    },
    number("model.radius", "radius (local)", "Local attention: how far, in grid cells, a token sees."),
    Setting {
        key: "model.positions",
        label: "positions",
        help: "learned: an embedding per position; none: no positions, so with local attention one model runs on any input size.",
        choices: &["learned", "none"],
    },
    number("train.steps", "steps", "Optimizer steps of the whole run."),
    number("train.lr", "learning rate", "AdamW's learning rate after the warmup."),
    number("train.weight_decay", "weight decay", "AdamW's decoupled weight decay: it pulls weights towards 0 (what lets grokking happen)."),
    Setting {
        key: "train.depth",
        label: "depth",
        help: "fixed: always `loops` iterations; random: a depth drawn per step around `loops`; progressive: some iterations without gradient, then a random number with.",
        choices: &["fixed", "random", "progressive"],
    },
    number("train.backprop", "backprop iterations (0 = all)", "Gradients flow through only the last N iterations (truncated backprop; less memory)."),
    number("train.segments", "segments", "Deep supervision: optimizer steps per batch, each continuing from the previous one's detached state."),
    number("seed", "seed", "Seeds the data, the initial weights and the sampling: the same seed gives the same run."),
];

/// What the page's form offers for a run of `kind`: its task's settings, then the model and training ones.
pub fn settings(kind: TaskKind) -> Vec<Setting> {
    let mut all = task_settings(kind);
    all.extend(COMMON);
    all
}
