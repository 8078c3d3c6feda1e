//! Random tokens with a random target at every position: nothing to learn, only a shape (vocabulary,
//! length, examples) for benchmarks, matching the PyTorch reference in shared/bench.

use super::{Dataset, Split, TaskConfig};
use crate::error::{check_range, LabError};
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
    check_range("task.vocab", t.vocab as f64, 2.0, 65536.0)?;
    check_range("task.seq_len", t.seq_len as f64, 1.0, 4096.0)?;
    check_range("task.examples", t.examples as f64, 2.0, 1e7)
}
