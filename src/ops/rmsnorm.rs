//! RMSNorm with or without a learned scale, forward and backward. Shader: shaders/rmsnorm.wgsl.
//! Without a weight nothing is bound in its place: the `_unit` entry points never touch that binding.

use super::{f, u};
use crate::program::{grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

/// `rstd[r] = 1/sqrt(mean(x[r,:]^2) + eps)`, `out[r,c] = x[r,c] * rstd[r] * (weight[c] or 1)`.
#[derive(Clone, Debug)]
pub struct RmsNormForward {
    pub x: Tensor,
    pub weight: Option<Tensor>, // [d]
    pub out: Tensor,
    pub rstd: Tensor, // [rows], kept for the backward
    pub rows: usize,
    pub d: usize,
    pub eps: f32,
}

/// `d_x (= or += when accumulate_dx)` the input gradient; `d_weight[c] += sum_r d_out[r,c]*x[r,c]*rstd[r]`.
#[derive(Clone, Debug)]
pub struct RmsNormBackward {
    pub x: Tensor,
    pub weight: Option<Tensor>,
    pub rstd: Tensor,
    pub d_out: Tensor,
    pub d_x: Tensor,
    pub d_weight: Option<Tensor>,
    pub rows: usize,
    pub d: usize,
    pub accumulate_dx: bool,
}

/// `weight[c]`, or 1 without a weight.
fn scale(weight: Option<&[f32]>, c: usize) -> f32 {
    weight.map_or(1.0, |w| w[c])
}

impl RmsNormForward {
    fn check(&self) {
        let (rows, d) = (self.rows, self.d);
        assert_eq!(
            self.x.len,
            rows * d,
            "rmsnorm forward: x has {} elements, expected rows*d = {rows}*{d}",
            self.x.len
        );
        assert_eq!(
            self.out.len,
            rows * d,
            "rmsnorm forward: out has {} elements, expected rows*d = {rows}*{d}",
            self.out.len
        );
        assert_eq!(self.rstd.len, rows, "rmsnorm forward: rstd has {} elements, expected rows = {rows}", self.rstd.len);
        if let Some(w) = self.weight {
            assert_eq!(w.len, d, "rmsnorm forward: weight has {} elements, expected d = {d}", w.len);
        }
    }
}

impl Kernel for RmsNormForward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let d = self.d;
        let x = mem.get(self.x);
        let rstd: Vec<f32> = x
            .chunks_exact(d.max(1))
            .take(self.rows)
            .map(|row| 1.0 / (row.iter().map(|v| v * v).sum::<f32>() / d as f32 + self.eps).sqrt())
            .collect();
        // Written one after the other: out and rstd may be views of the same buffer.
        mem.out(self.rstd, |_, out| out.copy_from_slice(&rstd));
        mem.out(self.out, |mem, out| {
            let (x, weight) = (mem.get(self.x), self.weight.map(|w| mem.get(w)));
            for r in 0..self.rows {
                for c in 0..d {
                    out[r * d + c] = x[r * d + c] * rstd[r] * scale(weight, c);
                }
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let mut bindings = vec![write(self.out), write(self.rstd), read(self.x)];
        bindings.extend(self.weight.map(read));
        vec![Launch {
            shader: Shader::Rmsnorm,
            entry: if self.weight.is_some() { "rmsnorm_forward" } else { "rmsnorm_forward_unit" },
            params: vec![u(self.rows), u(self.d), f(self.eps), 0],
            bindings,
            workgroups: grid(self.rows),
        }]
    }
}

impl RmsNormBackward {
    fn check(&self) {
        let (rows, d) = (self.rows, self.d);
        for (name, t) in [("x", self.x), ("d_out", self.d_out), ("d_x", self.d_x)] {
            assert_eq!(
                t.len,
                rows * d,
                "rmsnorm backward: {name} has {} elements, expected rows*d = {rows}*{d}",
                t.len
            );
        }
        assert_eq!(
            self.rstd.len, rows,
            "rmsnorm backward: rstd has {} elements, expected rows = {rows}",
            self.rstd.len
        );
        for (name, t) in [("weight", self.weight), ("d_weight", self.d_weight)] {
            if let Some(t) = t {
                assert_eq!(t.len, d, "rmsnorm backward: {name} has {} elements, expected d = {d}", t.len);
            }
        }
        assert!(self.d_weight.is_none() || self.weight.is_some(), "rmsnorm backward: d_weight without a weight");
    }
}

impl Kernel for RmsNormBackward {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let d = self.d;
        mem.out(self.d_x, |mem, d_x| {
            let (x, rstd, dy) = (mem.get(self.x), mem.get(self.rstd), mem.get(self.d_out));
            let weight = self.weight.map(|w| mem.get(w));
            for r in 0..self.rows {
                let s = rstd[r];
                let dot: f32 = (0..d).map(|c| dy[r * d + c] * scale(weight, c) * x[r * d + c]).sum();
                let k = s * s * s / d as f32 * dot;
                for c in 0..d {
                    let i = r * d + c;
                    let g = s * (scale(weight, c) * dy[i]) - x[i] * k;
                    d_x[i] = if self.accumulate_dx { d_x[i] + g } else { g };
                }
            }
        });
        if let Some(d_weight) = self.d_weight {
            mem.out(d_weight, |mem, d_weight| {
                let (x, rstd, dy) = (mem.get(self.x), mem.get(self.rstd), mem.get(self.d_out));
                for (c, g) in d_weight.iter_mut().enumerate() {
                    let sum: f32 = (0..self.rows).map(|r| dy[r * d + c] * x[r * d + c] * rstd[r]).sum();
                    *g += sum;
                }
            });
        }
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let params = vec![u(self.rows), u(self.d), 0, self.accumulate_dx as u32];
        let reads = [read(self.rstd), read(self.x), read(self.d_out)];
        let mut dx_bindings = vec![write(self.d_x)];
        dx_bindings.extend(reads);
        dx_bindings.extend(self.weight.map(read));
        let mut launches = vec![Launch {
            shader: Shader::Rmsnorm,
            entry: if self.weight.is_some() { "rmsnorm_backward_dx" } else { "rmsnorm_backward_dx_unit" },
            params: params.clone(),
            bindings: dx_bindings,
            workgroups: grid(self.rows),
        }];
        // A separate launch: d_weight lives in the gradient buffer and needs a thread per column, not per row.
        if let Some(d_weight) = self.d_weight {
            let mut bindings = vec![write(d_weight)];
            bindings.extend(reads);
            launches.push(Launch {
                shader: Shader::Rmsnorm,
                entry: "rmsnorm_backward_weight",
                params,
                bindings,
                workgroups: [u(self.d), 1, 1],
            });
        }
        launches
    }
}
