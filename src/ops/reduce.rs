//! Deterministic reductions to one number (one workgroup, fixed order; no float atomics).
//! Shader: shaders/reduce.wgsl.

use super::{read, u, write, Kernel, Launch, Shader};
use crate::backend::cpu::CpuMemory;
use crate::backend::Tensor;

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
        assert!(self.out.buf != self.x.buf, "reduce: output shares a buffer with the input");
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
