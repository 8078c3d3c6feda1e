//! ACT's halting head (HRM, TRM): a logit per example read from its first token, trained by binary
//! cross-entropy to predict whether the current prediction is exactly right; at test time an example stops
//! iterating once the logit is positive. Shader: shaders/halting.wgsl.

use super::{f, u};
use crate::program::{grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

/// `q[b] = x[b*seq, :] · weight + bias`; for examples with a target (`has_target[b]`), `losses[b]` is the
/// binary cross-entropy of `sigmoid(q[b])` against `exact[b]` and `d_q[b] = (sigmoid(q[b]) - exact[b]) *
/// scale / batch` (the gradient of the mean over the batch); 0 for the others.
#[derive(Clone, Debug)]
pub struct HaltForward {
    pub x: Tensor,      // [batch*seq, d]
    pub weight: Tensor, // [d]
    pub bias: Tensor,   // [1]
    pub exact: Tensor,
    pub has_target: Tensor,
    pub q: Tensor, // [batch]
    pub losses: Tensor,
    pub d_q: Tensor,
    pub batch: usize,
    pub seq: usize,
    pub d: usize,
    pub scale: f32,
}

/// The gradients of `HaltForward`: `d_x` rows `b*seq` (the first token of each example), `d_weight` and
/// `d_bias`, all accumulated.
#[derive(Clone, Debug)]
pub struct HaltBackward {
    pub x: Tensor,
    pub weight: Tensor,
    pub d_q: Tensor,
    pub d_x: Tensor,
    pub d_weight: Tensor,
    pub d_bias: Tensor,
    pub batch: usize,
    pub seq: usize,
    pub d: usize,
}

fn sigmoid(q: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-q))
}

/// `-[t log σ(q) + (1-t) log(1-σ(q))]`, written so neither exponential overflows.
fn bce(q: f32, t: f32) -> f32 {
    q.max(0.0) - q * t + libm::log1pf(libm::expf(-q.abs()))
}

fn check_shapes(op: &str, x: Tensor, weight: Tensor, [batch, seq, d]: [usize; 3], per_example: &[Tensor]) {
    assert_eq!(x.len, batch * seq * d, "{op}: x has {} elements, expected batch*seq*d = {batch}*{seq}*{d}", x.len);
    assert_eq!(weight.len, d, "{op}: weight has {} elements, expected d = {d}", weight.len);
    for t in per_example {
        assert_eq!(t.len, batch, "{op}: a per-example tensor has {} elements, expected batch = {batch}", t.len);
    }
}

impl HaltForward {
    fn check(&self) {
        let per = [self.exact, self.has_target, self.q, self.losses, self.d_q];
        check_shapes("halt forward", self.x, self.weight, [self.batch, self.seq, self.d], &per);
        assert_eq!(self.bias.len, 1, "halt forward: bias has {} elements, expected 1", self.bias.len);
    }
}

impl Kernel for HaltForward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let (x, w, bias) = (mem.get(self.x), mem.get(self.weight), mem.get(self.bias)[0]);
        let (exact, has_target) = (mem.get(self.exact), mem.get(self.has_target));
        let row = |b: usize| &x[b * self.seq * self.d..(b * self.seq + 1) * self.d];
        let q: Vec<f32> =
            (0..self.batch).map(|b| row(b).iter().zip(w).map(|(a, b)| a * b).sum::<f32>() + bias).collect();
        let target = |b: usize| has_target[b] > 0.5;
        let losses: Vec<f32> = (0..self.batch).map(|b| if target(b) { bce(q[b], exact[b]) } else { 0.0 }).collect();
        let d_q: Vec<f32> = (0..self.batch)
            .map(|b| if target(b) { (sigmoid(q[b]) - exact[b]) * self.scale / self.batch as f32 } else { 0.0 })
            .collect();
        for (t, v) in [(self.q, q), (self.losses, losses), (self.d_q, d_q)] {
            mem.out(t, |_, out| out.copy_from_slice(&v));
        }
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        vec![Launch {
            shader: Shader::Halting,
            entry: "halt_forward",
            params: vec![u(self.batch), u(self.seq), u(self.d), f(self.scale)],
            bindings: vec![
                read(self.x),
                read(self.weight),
                read(self.bias),
                read(self.exact),
                read(self.has_target),
                write(self.q),
                write(self.losses),
                write(self.d_q),
            ],
            workgroups: grid(self.batch),
        }]
    }
}

impl HaltBackward {
    fn check(&self) {
        check_shapes("halt backward", self.x, self.weight, [self.batch, self.seq, self.d], &[self.d_q]);
        assert_eq!(
            (self.d_x.len, self.d_weight.len, self.d_bias.len),
            (self.x.len, self.d, 1),
            "halt backward: gradient shapes"
        );
    }
}

impl Kernel for HaltBackward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let (b_n, seq, d) = (self.batch, self.seq, self.d);
        mem.out(self.d_x, |mem, d_x| {
            let (w, d_q) = (mem.get(self.weight), mem.get(self.d_q));
            for b in 0..b_n {
                for c in 0..d {
                    d_x[b * seq * d + c] += d_q[b] * w[c];
                }
            }
        });
        mem.out(self.d_weight, |mem, d_w| {
            let (x, d_q) = (mem.get(self.x), mem.get(self.d_q));
            for (c, g) in d_w.iter_mut().enumerate() {
                *g += (0..b_n).map(|b| d_q[b] * x[b * seq * d + c]).sum::<f32>();
            }
        });
        mem.out(self.d_bias, |mem, d_b| d_b[0] += mem.get(self.d_q).iter().sum::<f32>());
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let params = vec![u(self.batch), u(self.seq), u(self.d), 0];
        // Three launches: the weight and bias gradients are views of one gradient buffer.
        vec![
            Launch {
                shader: Shader::Halting,
                entry: "halt_d_x",
                params: params.clone(),
                bindings: vec![read(self.weight), read(self.d_q), write(self.d_x)],
                workgroups: grid(self.batch * self.d),
            },
            Launch {
                shader: Shader::Halting,
                entry: "halt_d_weight",
                params: params.clone(),
                bindings: vec![read(self.x), read(self.d_q), write(self.d_weight)],
                workgroups: grid(self.d),
            },
            Launch {
                shader: Shader::Halting,
                entry: "halt_d_bias",
                params,
                bindings: vec![read(self.d_q), write(self.d_bias)],
                workgroups: [1, 1, 1],
            },
        ]
    }
}
