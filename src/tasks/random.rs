//! Random tokens with a random target at every position: nothing to learn, only a shape (vocabulary,
//! length, examples) for benchmarks, matching the PyTorch reference in shared/bench.

use super::{Dataset, Split};
use crate::config::TaskConfig;
use crate::rng::Rng;

pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    let mut rng = Rng::fork(seed, "random-task");
    let mut split = |name, n: usize| {
        let len = n * task.seq_len;
        Split {
            name,
            tokens: (0..len).map(|_| rng.below(task.vocab) as u32).collect(),
            targets: (0..len).map(|_| rng.below(task.vocab) as u32).collect(),
        }
    };
    let test = (task.examples / 4).max(1);
    Dataset { vocab: task.vocab, seq_len: task.seq_len, splits: vec![split("train", task.examples), split("test", test)] }
}
