//! Elementwise ops for residual streams and input injection. Shader: shaders/elementwise.wgsl.

use super::{f, u};
use crate::program::{
    for_each_chunk, for_each_rows, for_each_span, grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor,
};

/// `out = a + b` (residual add, input injection). `out` must not share a buffer with `a` or `b`.
#[derive(Clone, Debug)]
pub struct Add {
    pub a: Tensor,
    pub b: Tensor,
    pub out: Tensor,
}

/// `out += scale * x` (gradient flowing into a residual branch or an injected input).
#[derive(Clone, Debug)]
pub struct Accumulate {
    pub x: Tensor,
    pub out: Tensor,
    pub scale: f32,
}

/// `out = x`.
#[derive(Clone, Debug)]
pub struct Copy {
    pub x: Tensor,
    pub out: Tensor,
}

/// `out = value` for every element (zeroing gradients and metrics).
#[derive(Clone, Debug)]
pub struct Fill {
    pub out: Tensor,
    pub value: f32,
}

/// `out[r*d + c] = x[c]`: one vector copied into every row (initial recurrent states).
#[derive(Clone, Debug)]
pub struct Broadcast {
    pub x: Tensor,   // [d]
    pub out: Tensor, // [rows, d]
}

/// `out[b, j, i] = x[b, i, j]`: each of `batch` matrices of `rows x cols` transposed (the token-mixing MLP
/// works on channels x tokens).
#[derive(Clone, Debug)]
pub struct Transpose {
    pub x: Tensor,
    pub out: Tensor,
    pub batch: usize,
    pub rows: usize,
    pub cols: usize,
}

/// Rows between two sequence layouts: for each example `b < batch` and row `r < rows`, row `out_start + r` of
/// example b in `out` (`out_seq` rows of `d` per example) is set to, or with `accumulate` increased by, row
/// `x_start + r` of example b in `x` (`x_seq` rows per example; 0 = the same rows for every example). Gathers
/// a window of memory and blocks out of a sequence; the same op with the layouts swapped scatters its
/// gradient back.
#[derive(Clone, Debug)]
pub struct CopyRows {
    pub x: Tensor,
    pub out: Tensor,
    pub batch: usize,
    pub rows: usize,
    pub d: usize,
    pub x_seq: usize,
    pub x_start: usize,
    pub out_seq: usize,
    pub out_start: usize,
    pub accumulate: bool,
}

/// The shape check shared by every op here: inputs as long as the output.
fn check(op: &str, out: Tensor, inputs: &[Tensor]) {
    for x in inputs {
        assert_eq!(x.len, out.len, "{op}: input has {} elements, output {}", x.len, out.len);
    }
}

/// One thread per output element; binding 1 is always the output, the inputs follow.
fn launch(entry: &'static str, out: Tensor, inputs: &[Tensor], scalar: f32) -> Vec<Launch> {
    let mut bindings = vec![write(out)];
    bindings.extend(inputs.iter().map(|&x| read(x)));
    vec![Launch {
        shader: Shader::Elementwise,
        entry,
        params: vec![u(out.len), f(scalar), 0, 0],
        bindings,
        workgroups: grid(out.len),
    }]
}

impl Kernel for Add {
    fn cpu(&self, mem: &mut CpuMemory) {
        check("add", self.out, &[self.a, self.b]);
        mem.out(self.out, |mem, out| {
            let (a, b) = (mem.get(self.a), mem.get(self.b));
            for_each_span(out, |r, out| {
                for ((o, a), b) in out.iter_mut().zip(&a[r.clone()]).zip(&b[r]) {
                    *o = a + b;
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        check("add", self.out, &[self.a, self.b]);
        launch("add", self.out, &[self.a, self.b], 0.0)
    }
}

impl Kernel for Accumulate {
    fn cpu(&self, mem: &mut CpuMemory) {
        check("accumulate", self.out, &[self.x]);
        mem.out(self.out, |mem, out| {
            let x = mem.get(self.x);
            for_each_span(out, |r, out| {
                for (o, x) in out.iter_mut().zip(&x[r]) {
                    *o += self.scale * x;
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        check("accumulate", self.out, &[self.x]);
        launch("accumulate", self.out, &[self.x], self.scale)
    }
}

impl Kernel for Copy {
    fn cpu(&self, mem: &mut CpuMemory) {
        check("copy", self.out, &[self.x]);
        mem.out(self.out, |mem, out| {
            let x = mem.get(self.x);
            for_each_span(out, |r, out| out.copy_from_slice(&x[r]));
        });
    }

    fn launches(&self) -> Vec<Launch> {
        check("copy", self.out, &[self.x]);
        launch("copy", self.out, &[self.x], 0.0)
    }
}

impl Broadcast {
    fn check(&self) {
        assert!(
            self.x.len > 0 && self.out.len.is_multiple_of(self.x.len),
            "broadcast: output of {} elements is not whole rows of {}",
            self.out.len,
            self.x.len
        );
    }
}

impl Kernel for Broadcast {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        mem.out(self.out, |mem, out| {
            let x = mem.get(self.x);
            for_each_rows(out, x.len(), 1, |_, rows| {
                rows.chunks_exact_mut(x.len()).for_each(|row| row.copy_from_slice(x))
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let mut l = launch("broadcast", self.out, &[self.x], 0.0);
        l[0].params[2] = u(self.x.len);
        l
    }
}

impl Kernel for Transpose {
    fn cpu(&self, mem: &mut CpuMemory) {
        check("transpose", self.out, &[self.x]);
        let (rows, cols) = (self.rows, self.cols);
        assert_eq!(
            self.out.len,
            self.batch * rows * cols,
            "transpose: {} elements are not {} matrices of {rows}x{cols}",
            self.out.len,
            self.batch
        );
        mem.out(self.out, |mem, out| {
            let x = mem.get(self.x);
            // Output rows are `rows` long: row `o` of the output is column `o % cols` of matrix `o / cols`.
            for_each_rows(out, rows, 1, |first, chunk| {
                for (o, row) in chunk.chunks_exact_mut(rows.max(1)).enumerate() {
                    let (b, j) = ((first + o) / cols, (first + o) % cols);
                    let matrix = &x[b * rows * cols..];
                    for (i, v) in row.iter_mut().enumerate() {
                        *v = matrix[i * cols + j];
                    }
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        check("transpose", self.out, &[self.x]);
        assert_eq!(
            self.out.len,
            self.batch * self.rows * self.cols,
            "transpose: {} elements are not {} matrices of {}x{}",
            self.out.len,
            self.batch,
            self.rows,
            self.cols
        );
        let mut l = launch("transpose", self.out, &[self.x], 0.0);
        (l[0].params[2], l[0].params[3]) = (u(self.cols), u(self.rows));
        l
    }
}

impl Kernel for Fill {
    fn cpu(&self, mem: &mut CpuMemory) {
        mem.out(self.out, |_, out| for_each_span(out, |_, out| out.fill(self.value)));
    }

    fn launches(&self) -> Vec<Launch> {
        launch("fill", self.out, &[], self.value)
    }
}

impl CopyRows {
    fn check(&self) {
        let x_rows = if self.x_seq == 0 { self.x_start + self.rows } else { self.batch * self.x_seq };
        assert!(
            self.x_seq == 0 || self.x_start + self.rows <= self.x_seq,
            "copy_rows: rows {}+{} outside examples of {}",
            self.x_start,
            self.rows,
            self.x_seq
        );
        assert!(
            self.out_start + self.rows <= self.out_seq,
            "copy_rows: rows {}+{} outside examples of {}",
            self.out_start,
            self.rows,
            self.out_seq
        );
        assert!(
            self.x.len >= x_rows * self.d,
            "copy_rows: input of {} elements is shorter than {x_rows} rows of {}",
            self.x.len,
            self.d
        );
        assert_eq!(
            self.out.len,
            self.batch * self.out_seq * self.d,
            "copy_rows: output is not {} examples of {}x{}",
            self.batch,
            self.out_seq,
            self.d
        );
    }
}

impl Kernel for CopyRows {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let (n, d) = (self.rows * self.d, self.d);
        mem.out(self.out, |mem, out| {
            let x = mem.get(self.x);
            // One chunk per output example; rows outside the copied range stay as they are.
            for_each_chunk(out, self.out_seq * d, n, |b, example| {
                let from = &x[(b * self.x_seq + self.x_start) * d..][..n];
                let to = &mut example[self.out_start * d..][..n];
                if self.accumulate {
                    to.iter_mut().zip(from).for_each(|(o, v)| *o += v);
                } else {
                    to.copy_from_slice(from);
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let d = self.d;
        let n = self.batch * self.rows * d;
        vec![Launch {
            shader: Shader::Elementwise,
            entry: "copy_rows",
            params: vec![
                u(n),
                u(self.rows * d),
                u(self.x_seq * d),
                u(self.x_start * d),
                u(self.out_seq * d),
                u(self.out_start * d),
                u(self.accumulate as usize),
                0,
            ],
            bindings: vec![write(self.out), read(self.x)],
            workgroups: grid(n),
        }]
    }
}
