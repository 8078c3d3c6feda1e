//! RMSNorm with or without a learned scale, forward and backward. Shader: shaders/rmsnorm.wgsl.
//! Without a weight nothing is bound in its place: the `_unit` entry points never touch that binding.

use super::{f, u};
use crate::program::{
    for_each_chunk, for_each_rows, grid, groups, read, write, CpuMemory, Kernel, Launch, Shader, Tensor, WG,
};

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
        let mut rstd = vec![0.0; self.rows];
        for_each_rows(&mut rstd, 1, d, |first, chunk| {
            for (r, s) in chunk.iter_mut().enumerate() {
                let row = &x[(first + r) * d..][..d];
                *s = 1.0 / (row.iter().map(|v| v * v).sum::<f32>() / d as f32 + self.eps).sqrt();
            }
        });
        // Written one after the other: out and rstd may be views of the same buffer.
        mem.out(self.rstd, |_, out| out.copy_from_slice(&rstd));
        mem.out(self.out, |mem, out| {
            let (x, weight) = (mem.get(self.x), self.weight.map(|w| mem.get(w)));
            for_each_rows(out, d, 2, |first, chunk| {
                for (r, row) in chunk.chunks_exact_mut(d).enumerate() {
                    let (x, s) = (&x[(first + r) * d..][..d], rstd[first + r]);
                    for (c, o) in row.iter_mut().enumerate() {
                        *o = x[c] * s * scale(weight, c);
                    }
                }
            });
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
            for_each_rows(d_x, d, 4, |first, chunk| {
                for (r, d_x) in chunk.chunks_exact_mut(d).enumerate() {
                    let at = (first + r) * d;
                    let (x, dy, s) = (&x[at..at + d], &dy[at..at + d], rstd[first + r]);
                    let dot: f32 = (0..d).map(|c| dy[c] * scale(weight, c) * x[c]).sum();
                    let k = s * s * s / d as f32 * dot;
                    for (c, o) in d_x.iter_mut().enumerate() {
                        let g = s * (scale(weight, c) * dy[c]) - x[c] * k;
                        *o = if self.accumulate_dx { *o + g } else { g };
                    }
                }
            });
        });
        if let Some(d_weight) = self.d_weight {
            mem.out(d_weight, |mem, d_weight| {
                let (x, rstd, dy) = (mem.get(self.x), mem.get(self.rstd), mem.get(self.d_out));
                // A chunk of columns per task, summed down the rows in order (each row touches one cache line).
                let rows = self.rows;
                for_each_chunk(d_weight, 16, 16 * rows * 2, |i, cols| {
                    let c0 = i * 16;
                    let mut sums = [0f32; 16];
                    for (r, &s) in rstd.iter().enumerate().take(rows) {
                        let at = r * d + c0;
                        for (j, sum) in sums.iter_mut().enumerate().take(cols.len()) {
                            *sum += dy[at + j] * x[at + j] * s;
                        }
                    }
                    cols.iter_mut().zip(sums).for_each(|(g, sum)| *g += sum);
                });
            });
        }
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let params = vec![u(self.rows), u(self.d), 0, self.accumulate_dx as u32];
        let mut bindings = vec![write(self.d_x), read(self.rstd), read(self.x), read(self.d_out)];
        bindings.extend(self.weight.map(read));
        let row_groups = self.rows.div_ceil(WG as usize);
        // With a weight gradient, d workgroups more in the same dispatch sum its columns (it lives in the
        // gradient buffer, so it is a binding of its own).
        let (entry, workgroups) = match (self.weight, self.d_weight) {
            (None, _) => ("rmsnorm_backward_dx_unit", grid(self.rows)),
            (Some(_), None) => ("rmsnorm_backward_dx", grid(self.rows)),
            (Some(_), Some(d_weight)) => {
                bindings.push(write(d_weight));
                ("rmsnorm_backward", groups(row_groups + self.d))
            }
        };
        vec![Launch { shader: Shader::Rmsnorm, entry, params, bindings, workgroups }]
    }
}
