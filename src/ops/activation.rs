//! MLP activations: SwiGLU and GELU (tanh form), forward and backward. Shader: shaders/activation.wgsl.

use super::{exp_fast, u};
use crate::program::{for_each_rows, for_each_span, grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

/// `out[r,j] = silu(x[r,j]) * x[r,hidden+j]` for `x` laid out `[rows, 2*hidden]` (gate columns, then up columns).
#[derive(Clone, Debug)]
pub struct SwigluForward {
    pub x: Tensor,
    pub out: Tensor,
    pub rows: usize,
    pub hidden: usize,
}

/// `d_x = dL/dx` (set, not accumulated).
#[derive(Clone, Debug)]
pub struct SwigluBackward {
    pub x: Tensor,
    pub d_out: Tensor,
    pub d_x: Tensor,
    pub rows: usize,
    pub hidden: usize,
}

/// `out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
#[derive(Clone, Debug)]
pub struct GeluForward {
    pub x: Tensor,
    pub out: Tensor,
}

/// `d_x = d_out * gelu'(x)` (set).
#[derive(Clone, Debug)]
pub struct GeluBackward {
    pub x: Tensor,
    pub d_out: Tensor,
    pub d_x: Tensor,
}

fn sigmoid(g: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-g))
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_CUBIC: f32 = 0.044715;

/// The tanh of GELU's argument at `x`.
fn gelu_tanh(x: f32) -> f32 {
    (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh()
}

/// Asserts `(tensor, expected length)` pairs.
fn check(op: &str, lens: &[(&str, Tensor, usize)]) {
    for &(name, t, len) in lens {
        assert_eq!(t.len, len, "{op}: {name} has {} elements, expected {len}", t.len);
    }
}

/// `threads` threads; binding 1 is the output, then x, then d_out in the backward.
fn launch(entry: &'static str, threads: usize, out: Tensor, inputs: &[Tensor], hidden: usize) -> Vec<Launch> {
    let mut bindings = vec![write(out)];
    bindings.extend(inputs.iter().map(|&t| read(t)));
    vec![Launch {
        shader: Shader::Activation,
        entry,
        params: vec![u(threads), u(hidden), 0, 0],
        bindings,
        workgroups: grid(threads),
    }]
}

impl SwigluForward {
    fn check(&self) {
        let (rows, h) = (self.rows, self.hidden);
        check("swiglu forward", &[("x", self.x, rows * 2 * h), ("out", self.out, rows * h)]);
    }
}

impl Kernel for SwigluForward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let h = self.hidden;
        mem.out(self.out, |mem, out| {
            let x = mem.get(self.x);
            for_each_rows(out, h, 8, |first, chunk| {
                for (r, out) in chunk.chunks_exact_mut(h).enumerate() {
                    let (gate, up) = x[(first + r) * 2 * h..][..2 * h].split_at(h);
                    for ((o, &g), &up) in out.iter_mut().zip(gate).zip(up) {
                        *o = g * sigmoid(g) * up;
                    }
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        launch("swiglu_forward", self.out.len, self.out, &[self.x], self.hidden)
    }
}

impl SwigluBackward {
    fn check(&self) {
        let (rows, h) = (self.rows, self.hidden);
        let lens = [("x", self.x, rows * 2 * h), ("d_x", self.d_x, rows * 2 * h), ("d_out", self.d_out, rows * h)];
        check("swiglu backward", &lens);
    }
}

impl Kernel for SwigluBackward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let h = self.hidden;
        mem.out(self.d_x, |mem, d_x| {
            let (x, dy) = (mem.get(self.x), mem.get(self.d_out));
            for_each_rows(d_x, 2 * h, 6, |first, chunk| {
                for (r, d_x) in chunk.chunks_exact_mut(2 * h).enumerate() {
                    let row = first + r;
                    let (gate, up) = x[row * 2 * h..][..2 * h].split_at(h);
                    let (d_gate, d_up) = d_x.split_at_mut(h);
                    for j in 0..h {
                        let (g, up, dy) = (gate[j], up[j], dy[row * h + j]);
                        let s = sigmoid(g);
                        d_gate[j] = dy * up * s * (1.0 + g * (1.0 - s));
                        d_up[j] = dy * g * s;
                    }
                }
            });
        });
    }

    // One thread per (row, j) pair writes both the gate and the up gradient.
    fn launches(&self) -> Vec<Launch> {
        self.check();
        launch("swiglu_backward", self.d_out.len, self.d_x, &[self.x, self.d_out], self.hidden)
    }
}

impl GeluForward {
    fn check(&self) {
        check("gelu forward", &[("x", self.x, self.out.len)]);
    }
}

impl Kernel for GeluForward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        mem.out(self.out, |mem, out| {
            let x = mem.get(self.x);
            for_each_span(out, |r, out| {
                for (o, &x) in out.iter_mut().zip(&x[r]) {
                    *o = 0.5 * x * (1.0 + gelu_tanh(x));
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        launch("gelu_forward", self.out.len, self.out, &[self.x], 0)
    }
}

impl GeluBackward {
    fn check(&self) {
        let n = self.d_x.len;
        check("gelu backward", &[("x", self.x, n), ("d_out", self.d_out, n)]);
    }
}

impl Kernel for GeluBackward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        mem.out(self.d_x, |mem, d_x| {
            let (x, dy) = (mem.get(self.x), mem.get(self.d_out));
            for_each_span(d_x, |r, d_x| {
                for ((o, &x), &dy) in d_x.iter_mut().zip(&x[r.clone()]).zip(&dy[r]) {
                    let t = gelu_tanh(x);
                    let dt = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
                    *o = dy * (0.5 * (1.0 + t) + 0.5 * x * dt);
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        launch("gelu_backward", self.d_x.len, self.d_x, &[self.x, self.d_out], 0)
    }
}
