//! MLP activations: SwiGLU and GELU (tanh form). Shader: shaders/activation.wgsl. Their backward runs in the
//! epilogue of the product that yields dL/d(activation) (`Matmul::activation_grad`, `ActivationGrad`), through the
//! per-element gradients here (the WGSL twins live in shaders/common.wgsl).

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

/// `out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
#[derive(Clone, Debug)]
pub struct GeluForward {
    pub x: Tensor,
    pub out: Tensor,
}

/// The activation whose gradient a matmul's epilogue applies: its product is dL/d(activation output) and it
/// stores dL/d(activation input) (`Matmul::activation_grad`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationGrad {
    /// Inputs `[rows, 2*n]` (gate columns, then up columns) for a product of `n` columns.
    Swiglu,
    Gelu,
}

impl ActivationGrad {
    /// Input (and stored gradient) columns per product column.
    pub fn width(self) -> usize {
        match self {
            ActivationGrad::Swiglu => 2,
            ActivationGrad::Gelu => 1,
        }
    }

    /// The shader's code for it (matmul.wgsl's `activation` parameter).
    pub fn code(self) -> u32 {
        match self {
            ActivationGrad::Swiglu => 1,
            ActivationGrad::Gelu => 2,
        }
    }
}

/// SwiGLU's gradients `(d_gate, d_up)` at gate `g` and `up` given `dy = dL/d(silu(g) * up)`.
pub fn swiglu_grad(g: f32, up: f32, dy: f32) -> (f32, f32) {
    let s = sigmoid(g);
    (dy * up * s * (1.0 + g * (1.0 - s)), dy * g * s)
}

/// GELU's gradient at `x` given `dy = dL/d gelu(x)`.
pub fn gelu_grad(x: f32, dy: f32) -> f32 {
    let t = gelu_tanh(x);
    let dt = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
    dy * (0.5 * (1.0 + t) + 0.5 * x * dt)
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

/// `threads` threads; binding 1 is the output, then x.
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
