//! AdamW with decoupled weight decay and global-norm clipping over the whole flat parameter buffer, and the
//! EMA of weights. Shader: shaders/adamw.wgsl.

use super::{f, u};
use crate::program::{for_each_span, grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

/// One AdamW update of every parameter. `step_info = [t, lr]` (t counts from 1) is written by the trainer
/// before each step; `grad_norm_sq[0]` is the squared global gradient norm computed earlier in the step.
/// The gradient is scaled by `min(1, clip / norm)` when `clip > 0`. Weight decay applies to the first
/// `decay_len` elements only (matrices come first in the parameter layout; norms and embeddings after).
/// If the norm is not finite the update is skipped, so a diverging step leaves the weights as they were.
/// Both `t` and `lr` are stored as f32 values.
#[derive(Clone, Debug)]
pub struct AdamW {
    pub params: Tensor,
    pub grads: Tensor,
    pub m: Tensor,
    pub v: Tensor,
    pub step_info: Tensor,
    pub grad_norm_sq: Tensor,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub clip: f32,
    pub decay_len: usize,
}

/// `ema = decay * ema + (1 - decay) * params`.
#[derive(Clone, Debug)]
pub struct Ema {
    pub params: Tensor,
    pub ema: Tensor,
    pub decay: f32,
}

impl AdamW {
    fn check(&self) {
        let n = self.params.len;
        for (name, t) in [("grads", self.grads), ("m", self.m), ("v", self.v)] {
            assert_eq!(t.len, n, "adamw: {name} has {} elements, params {n}", t.len);
        }
        assert_eq!(self.step_info.len, 2, "adamw: step_info must be [t, lr]");
        assert_eq!(self.grad_norm_sq.len, 1, "adamw: grad_norm_sq must be one element");
        assert!(self.decay_len <= n, "adamw: decay_len {} beyond the {n} parameters", self.decay_len);
    }

    /// The factor applied to every gradient; None when the norm is not finite and the step must be skipped.
    fn grad_scale(&self, norm_sq: f32) -> Option<f32> {
        if !norm_sq.is_finite() {
            return None;
        }
        Some(if self.clip > 0.0 { (self.clip / (norm_sq.sqrt() + 1e-6)).min(1.0) } else { 1.0 })
    }
}

impl Kernel for AdamW {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let Some(scale) = self.grad_scale(mem.get(self.grad_norm_sq)[0]) else { return };
        let (t, lr) = (mem.get(self.step_info)[0], mem.get(self.step_info)[1]);
        let (b1, b2) = (self.beta1, self.beta2);
        let (correction1, correction2) = (1.0 - libm::powf(b1, t), 1.0 - libm::powf(b2, t));
        let decay_len = self.decay_len;
        // Three passes (moments, then weights), each spread over the cores; the arithmetic per element is the
        // shader's.
        mem.outs([self.params, self.m, self.v], |mem, [params, m, v]| {
            let grads = mem.get(self.grads);
            for_each_span(m, |r, m| {
                m.iter_mut().zip(&grads[r]).for_each(|(m, g)| *m = b1 * *m + (1.0 - b1) * (g * scale));
            });
            for_each_span(v, |r, v| {
                v.iter_mut().zip(&grads[r]).for_each(|(v, g)| *v = b2 * *v + (1.0 - b2) * (g * scale) * (g * scale));
            });
            let (m, v) = (&*m, &*v);
            for_each_span(params, |r, params| {
                for (i, p) in r.zip(params.iter_mut()) {
                    if i < decay_len {
                        *p -= lr * self.weight_decay * *p;
                    }
                    *p -= lr * (m[i] / correction1) / ((v[i] / correction2).sqrt() + self.eps);
                }
            });
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let n = self.params.len;
        vec![Launch {
            shader: Shader::Adamw,
            entry: "adamw",
            params: vec![
                u(n),
                u(self.decay_len),
                f(self.beta1),
                f(self.beta2),
                f(self.eps),
                f(self.weight_decay),
                f(self.clip),
                0,
            ],
            bindings: vec![
                write(self.params),
                write(self.m),
                write(self.v),
                read(self.grads),
                read(self.step_info),
                read(self.grad_norm_sq),
            ],
            workgroups: grid(n),
        }]
    }
}

impl Ema {
    fn check(&self) {
        assert_eq!(self.ema.len, self.params.len, "ema: {} elements, params {}", self.ema.len, self.params.len);
    }
}

impl Kernel for Ema {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        mem.out(self.ema, |mem, ema| {
            for (e, p) in ema.iter_mut().zip(mem.get(self.params)) {
                *e = self.decay * *e + (1.0 - self.decay) * p;
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        vec![Launch {
            shader: Shader::Adamw,
            entry: "ema",
            params: vec![u(self.ema.len), f(self.decay), 0, 0],
            bindings: vec![write(self.ema), read(self.params)],
            workgroups: grid(self.ema.len),
        }]
    }
}
