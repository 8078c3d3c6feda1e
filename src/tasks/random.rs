//! Random tokens with a random target at every position: nothing to learn, only a shape (vocabulary,
//! length, examples) for benchmarks, matching the PyTorch reference in shared/bench.

use super::{Dataset, Split, TaskConfig};
use crate::error::{check_whole, LabError};
use crate::rng::Rng;

pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    let mut rng = Rng::fork(seed, "random-task");
    let mut split = |name, n: usize| {
        let len = n * task.seq_len;
        let mut s = Split::sequences(name, task.seq_len);
        s.tokens = (0..len).map(|_| rng.below(task.vocab) as u32).collect();
        s.targets = (0..len).map(|_| rng.below(task.vocab) as u32).collect();
        s
    };
    let test = (task.examples / 4).max(1);
    Dataset { vocab: task.vocab, splits: vec![split("train", task.examples), split("test", test)] }
}

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    check_whole("task.vocab", t.vocab as u64, 2, 65536)?;
    check_whole("task.seq_len", t.seq_len as u64, 1, 4096)?;
    check_whole("task.examples", t.examples as u64, 2, 10_000_000)
}
