//! Deterministic reductions to one number (one workgroup, fixed order; no float atomics).
//! Shader: shaders/reduce.wgsl.

use super::u;
use crate::program::{read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Sum,
    SumSquares,
}

/// `out[0] (+)= reduce(x)`; `out` is a one-element view (a metrics slot).
#[derive(Clone, Debug)]
pub struct Reduce {
    pub x: Tensor,
    pub out: Tensor,
    pub op: Reduction,
    pub accumulate: bool,
}

impl Reduce {
    fn check(&self) {
        assert_eq!(self.out.len, 1, "reduce: out has {} elements, expected 1", self.out.len);
    }
}

impl Kernel for Reduce {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        mem.out(self.out, |mem, out| {
            let x = mem.get(self.x).iter().map(|&v| v as f64);
            // f64 so the reference is more exact than the GPU's f32 tree; NaN and Inf propagate through the sum.
            let total: f64 = match self.op {
                Reduction::Sum => x.sum(),
                Reduction::SumSquares => x.map(|v| v * v).sum(),
            };
            let base = if self.accumulate { out[0] as f64 } else { 0.0 };
            out[0] = (base + total) as f32;
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let squares = self.op == Reduction::SumSquares;
        vec![Launch {
            shader: Shader::Reduce,
            entry: "reduce",
            params: vec![u(self.x.len), squares as u32, self.accumulate as u32, 0],
            bindings: vec![read(self.x), write(self.out)],
            workgroups: [1, 1, 1],
        }]
    }
}

/// Exact match per example of `seq` rows: `exact[b] = 1` when the example has a supervised row and every
/// supervised row is correct, `has_target[b] = 1` when it has a supervised row. Summed, they give exact
/// (whole-puzzle) accuracy beside the per-token accuracy of the `correct` flags.
#[derive(Clone, Debug)]
pub struct ExactMatch {
    pub correct: Tensor,    // [batch*seq] 0/1
    pub supervised: Tensor, // [batch*seq] 0/1
    pub exact: Tensor,      // [batch]
    pub has_target: Tensor, // [batch]
    pub batch: usize,
    pub seq: usize,
}

impl ExactMatch {
    fn check(&self) {
        let rows = self.batch * self.seq;
        assert_eq!(
            (self.correct.len, self.supervised.len),
            (rows, rows),
            "exact match: flags must have batch*seq = {rows} elements"
        );
        assert_eq!(
            (self.exact.len, self.has_target.len),
            (self.batch, self.batch),
            "exact match: outputs must have batch elements"
        );
        let outputs = [self.exact.buf, self.has_target.buf];
        assert!(
            outputs[0] != outputs[1] && !outputs.contains(&self.correct.buf) && !outputs.contains(&self.supervised.buf),
            "exact match: outputs must have buffers of their own"
        );
    }
}

impl Kernel for ExactMatch {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        mem.out2(self.exact, self.has_target, |mem, exact, has_target| {
            let (correct, supervised) = (mem.get(self.correct), mem.get(self.supervised));
            for b in 0..self.batch {
                let rows = b * self.seq..(b + 1) * self.seq;
                let any = supervised[rows.clone()].iter().any(|&s| s > 0.5);
                let all = rows.clone().all(|r| supervised[r] < 0.5 || correct[r] > 0.5);
                has_target[b] = any as u32 as f32;
                exact[b] = (any && all) as u32 as f32;
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        vec![Launch {
            shader: Shader::Reduce,
            entry: "exact_match",
            params: vec![u(self.batch), u(self.seq), 0, 0],
            bindings: vec![read(self.correct), read(self.supervised), write(self.exact), write(self.has_target)],
            workgroups: crate::program::grid(self.batch),
        }]
    }
}
