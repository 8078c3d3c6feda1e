//! Matrix multiply with the transposed variants that gradients need: C = (acc ? C : 0) + op(A)·op(B).
//! Shader: shaders/matmul.wgsl.

use super::u;
use crate::program::{read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

/// Which WGSL variant runs: register blocks (with vec4 loads where the shapes allow), or workgroup tiles.
/// Models use register blocks: they measured faster on CPU rasterizers and on an H200 (`looplab bench`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulPath {
    Blocked,
    Tiled,
}

/// Split-K aims at this much of k per slice.
pub const K_PER_SPLIT: usize = 256;
pub const MAX_SPLITS: usize = 64;

/// `c[m,n] (+)= op(a)[m,k] · op(b)[k,n]`; `a` is stored `[k,m]` when `trans_a`, `b` is stored `[n,k]` when `trans_b`.
#[derive(Clone, Debug)]
pub struct Matmul {
    pub a: Tensor,
    pub b: Tensor,
    pub c: Tensor,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub accumulate: bool,
    pub path: MatmulPath,
    /// Split-K: `(scratch, splits)` computes `splits` partial products over slices of k into `scratch`
    /// (`splits * m * n` elements at least) and sums them in order; the CPU reference computes directly.
    pub split: Option<(Tensor, usize)>,
}

impl Matmul {
    /// `c = a·b` for row-major `a[m,k]`, `b[k,n]`.
    pub fn new(a: Tensor, b: Tensor, c: Tensor, m: usize, k: usize, n: usize) -> Matmul {
        Matmul {
            a,
            b,
            c,
            m,
            n,
            k,
            trans_a: false,
            trans_b: false,
            accumulate: false,
            path: MatmulPath::Blocked,
            split: None,
        }
    }
    pub fn trans_a(mut self) -> Self {
        self.trans_a = true;
        self
    }
    pub fn trans_b(mut self) -> Self {
        self.trans_b = true;
        self
    }
    pub fn accumulate(mut self) -> Self {
        self.accumulate = true;
        self
    }
    pub fn path(mut self, path: MatmulPath) -> Self {
        self.path = path;
        self
    }
    /// Splits k into slices of about `K_PER_SPLIT` when that gives at least two, using `scratch`.
    pub fn split_k(mut self, scratch: Tensor) -> Self {
        let splits = Self::splits(self.k);
        if splits > 1 {
            self.split = Some((scratch, splits));
        }
        self
    }
    /// Slices split-K uses for a reduction of length k (at most `MAX_SPLITS`).
    pub fn splits(k: usize) -> usize {
        (k / K_PER_SPLIT).clamp(1, MAX_SPLITS)
    }
    /// Elements of k per slice: a multiple of 4 (the vec4 paths step 4 at a time).
    fn k_chunk(&self, splits: usize) -> usize {
        self.k.div_ceil(splits).div_ceil(4) * 4
    }

    /// Element strides of op(A) along (i, k) and op(B) along (k, j).
    fn strides(&self) -> [usize; 4] {
        let (a_i, a_k) = if self.trans_a { (1, self.m) } else { (self.k, 1) };
        let (b_k, b_j) = if self.trans_b { (1, self.k) } else { (self.n, 1) };
        [a_i, a_k, b_k, b_j]
    }

    /// The WGSL entry point: every variant covers 64x64 outputs per workgroup.
    pub fn entry(&self) -> &'static str {
        let four = |x: usize| x.is_multiple_of(4);
        match (self.path, self.trans_a, self.trans_b) {
            (MatmulPath::Tiled, _, _) => "matmul_tiled",
            (MatmulPath::Blocked, false, false) if four(self.k) && four(self.n) => "matmul_vec4_nn",
            (MatmulPath::Blocked, false, true) if four(self.k) => "matmul_vec4_nt",
            (MatmulPath::Blocked, true, false) if four(self.m) && four(self.n) => "matmul_vec4_tn",
            (MatmulPath::Blocked, _, _) => "matmul_blocked",
        }
    }

    fn check(&self) {
        assert_eq!(
            self.a.len,
            self.m * self.k,
            "matmul: a has {} elements, expected m*k = {}*{}",
            self.a.len,
            self.m,
            self.k
        );
        assert_eq!(
            self.b.len,
            self.k * self.n,
            "matmul: b has {} elements, expected k*n = {}*{}",
            self.b.len,
            self.k,
            self.n
        );
        assert_eq!(
            self.c.len,
            self.m * self.n,
            "matmul: c has {} elements, expected m*n = {}*{}",
            self.c.len,
            self.m,
            self.n
        );
        if let Some((scratch, splits)) = self.split {
            assert!(
                scratch.len >= splits * self.m * self.n,
                "matmul: split-K scratch has {} elements, needs {splits}*{}*{}",
                scratch.len,
                self.m,
                self.n
            );
        }
    }
}

impl Kernel for Matmul {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let [a_i, a_k, b_k, b_j] = self.strides();
        let (m, n, k) = (self.m, self.n, self.k);
        let beta = if self.accumulate { 1.0 } else { 0.0 };
        mem.out(self.c, |mem, c| {
            let (a, b) = (mem.get(self.a), mem.get(self.b));
            if m == 0 || n == 0 {
                return;
            }
            // SAFETY: the strides describe views inside `a`, `b` and `c`, whose lengths `check` verified.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    a_i as isize,
                    a_k as isize,
                    b.as_ptr(),
                    b_k as isize,
                    b_j as isize,
                    beta,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let [a_i, a_k, b_k, b_j] = self.strides();
        let entry = self.entry();
        let params = |accumulate: bool, k_chunk: usize, splits: usize| {
            vec![
                u(self.m),
                u(self.n),
                u(self.k),
                accumulate as u32,
                u(a_i),
                u(a_k),
                u(b_k),
                u(b_j),
                u(k_chunk),
                u(splits),
                0,
                0,
            ]
        };
        let tiles = [u(self.n.div_ceil(64)).max(1), u(self.m.div_ceil(64)).max(1)];
        let Some((scratch, splits)) = self.split else {
            return vec![Launch {
                shader: Shader::Matmul,
                entry,
                params: params(self.accumulate, 0, 1),
                bindings: vec![read(self.a), read(self.b), write(self.c)],
                workgroups: [tiles[0], tiles[1], 1],
            }];
        };
        let parts = scratch.slice(0, splits * self.m * self.n);
        vec![
            Launch {
                shader: Shader::Matmul,
                entry,
                params: params(false, self.k_chunk(splits), splits),
                bindings: vec![read(self.a), read(self.b), write(parts)],
                workgroups: [tiles[0], tiles[1], u(splits)],
            },
            Launch {
                shader: Shader::Matmul,
                entry: "matmul_sum_splits",
                params: params(self.accumulate, 0, splits),
                bindings: vec![read(parts), write(self.c)],
                workgroups: crate::program::grid(self.m * self.n),
            },
        ]
    }
}
