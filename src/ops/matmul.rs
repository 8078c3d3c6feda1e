//! Matrix multiply with the transposed variants that gradients need: C = (acc ? C : 0) + op(A)·op(B), the
//! product of RMSNorm'd rows (`NormInput`: the norm and the product that follows it in one dispatch), and the
//! fold of split-K partial products (`FoldSplits`). Shader: shaders/matmul.wgsl.

use super::activation::{gelu_grad, swiglu_grad, ActivationGrad};
use super::rmsnorm::RmsNormForward;
use super::{f, u};
use crate::program::{
    for_each_rows, for_each_span, read, spare, write, CpuMemory, Kernel, Launch, Shader, Tensor, Tunable,
};

/// Which WGSL variant runs. `Auto` (what models use) lets the GPU backend pick per adapter and shape bucket
/// from a short measured trial (backend/gpu/tune.rs, through `Tunable`); the others force one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatmulPath {
    Auto,
    /// Registers only, 4x4 outputs per thread, vec4 loads where the contiguous dimensions allow: fastest on
    /// CPU rasterizers (lavapipe, SwiftShader), where barriers are expensive.
    Blocked,
    /// 64x64 workgroup tiles staged in workgroup memory, 4x4 per thread.
    Tiled,
    /// 128x128 workgroup tiles, 8x8 per thread: the most reuse per loaded value, for large products on real GPUs.
    Wide,
    /// Register blocks whose A values travel by subgroupShuffle (only where the adapter has SUBGROUP).
    Subgroup,
}

impl MatmulPath {
    /// Every variant a trial may pick (the subgroup one only where the adapter offers subgroups).
    pub const FORCED: [MatmulPath; 4] =
        [MatmulPath::Blocked, MatmulPath::Tiled, MatmulPath::Wide, MatmulPath::Subgroup];

    /// Outputs per workgroup along each dimension.
    fn tile(self) -> usize {
        if self == MatmulPath::Wide {
            128
        } else {
            64
        }
    }
}

/// A variant of an `Auto` matmul: the path, whether a planned split-K is used, and whether a normalized input
/// is normalized inside the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulChoice {
    pub path: MatmulPath,
    pub split: bool,
    pub fused: bool,
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
    /// `c = residual + op(a)·op(b)` (a residual connection in the epilogue, instead of a copy and `accumulate`).
    pub residual: Option<Tensor>,
    /// `c = dL/dx` of an activation with input `x`, the product being dL/d(activation output): the MLP's
    /// backward without a kernel of its own. `c` and `x` are `[m, width * n]` (`ActivationGrad::width`).
    pub activation_grad: Option<(ActivationGrad, Tensor)>,
    pub path: MatmulPath,
    /// Split-K: each slice of k adds its partial product into its own copy of `c` in a parts buffer; a later
    /// `FoldSplits` adds the copies into `c` (the CPU reference computes into `c` directly).
    pub split: Option<SplitK>,
    /// `c = rmsnorm(a) · op(b)`, the normalized rows and their rstd stored for the backward.
    pub norm: Option<NormInput>,
}

/// An RMSNorm applied to A's rows inside the product (as `RmsNormForward` would, into `normed` and `rstd`): a
/// thread walks its rows' whole k anyway, so it sums their squares on the way, B's rows take the weight as they
/// load, and the epilogue multiplies by rstd. A is row-major `[m, k]`, the norm runs over k.
/// Unfused (`fused: false`), the norm runs as its own dispatch before the product: each thread of the fused
/// product sums its rows' squares and scales B again, which costs more than a dispatch on software adapters
/// (the autotuner's choice there); models ask for it fused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormInput {
    pub weight: Option<Tensor>,
    pub normed: Tensor,
    pub rstd: Tensor,
    pub eps: f32,
    pub fused: bool,
}

/// Where a split-K product's partial sums go: slice z of k adds into `parts.slice(z * stride, m * n)`, so every
/// weight gradient of a backward accumulates into copies of the gradient layout (`stride` apart) and one
/// `FoldSplits` at its end sums them all, instead of a sum after each product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitK {
    /// From the first copy of `c` to the end of the last: `(splits - 1) * stride + m * n` elements.
    pub parts: Tensor,
    pub stride: usize,
    pub splits: usize,
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
            residual: None,
            activation_grad: None,
            path: MatmulPath::Auto,
            split: None,
            norm: None,
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
    pub fn residual(mut self, residual: Tensor) -> Self {
        self.residual = Some(residual);
        self
    }
    /// Stores the gradient of `activation` at `x` instead of the product (see `activation_grad`).
    pub fn activation_grad(mut self, activation: ActivationGrad, x: Tensor) -> Self {
        self.activation_grad = Some((activation, x));
        self
    }
    /// Normalizes A's rows first (see `NormInput`).
    pub fn norm_input(mut self, norm: NormInput) -> Self {
        self.norm = Some(norm);
        self
    }
    /// The norm of a normalized input as a kernel of its own: the reference, and the separate variant.
    fn norm_kernel(&self, n: NormInput) -> RmsNormForward {
        RmsNormForward { x: self.a, weight: n.weight, out: n.normed, rstd: n.rstd, rows: self.m, d: self.k, eps: n.eps }
    }
    pub fn path(mut self, path: MatmulPath) -> Self {
        self.path = path;
        self
    }
    /// Splits k into slices of about `K_PER_SPLIT` (at most `copies`) when that gives at least two, adding
    /// slice z into `parts.slice(z * stride, m * n)`: `parts` is the first copy of `c` in a buffer of `copies`
    /// copies `stride` apart, which a `FoldSplits` adds into `c`. Only an accumulating product splits.
    pub fn split_k(mut self, parts: Tensor, stride: usize, copies: usize) -> Self {
        let splits = Self::splits(self.k).min(copies);
        if splits > 1 {
            let len = (splits - 1) * stride + self.m * self.n;
            self.split = Some(SplitK { parts: Tensor { len, ..parts }, stride, splits });
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

    /// This product with an `Auto` variant decided (`split: false` drops a planned split-K).
    pub fn chosen(&self, choice: MatmulChoice) -> Matmul {
        let mut mm = self.clone();
        mm.path = choice.path;
        if !choice.split {
            mm.split = None;
        }
        if let Some(norm) = &mut mm.norm {
            norm.fused = choice.fused;
        }
        mm
    }

    /// The shader and entry point. `Auto` outside the GPU backend's choice is the register-blocked one.
    pub fn entry(&self) -> (Shader, &'static str) {
        let four = |x: usize| x.is_multiple_of(4);
        let entry = match (self.path, self.trans_a, self.trans_b) {
            (MatmulPath::Subgroup, _, _) => {
                return (Shader::MatmulSubgroup { norm: self.norm.is_some() }, "matmul_subgroup")
            }
            (MatmulPath::Tiled, _, _) => "matmul_tiled",
            (MatmulPath::Wide, _, _) => "matmul_wide",
            (MatmulPath::Blocked | MatmulPath::Auto, false, false) if four(self.k) && four(self.n) => "matmul_vec4_nn",
            (MatmulPath::Blocked | MatmulPath::Auto, false, true) if four(self.k) => "matmul_vec4_nt",
            (MatmulPath::Blocked | MatmulPath::Auto, true, false) if four(self.m) && four(self.n) => "matmul_vec4_tn",
            (MatmulPath::Blocked | MatmulPath::Auto, _, _) => "matmul_blocked",
        };
        (Shader::Matmul { norm: self.norm.is_some() }, entry)
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
        let width = self.activation_grad.map_or(1, |(act, _)| act.width());
        assert_eq!(
            self.c.len,
            self.m * self.n * width,
            "matmul: c has {} elements, expected m*n*{width} = {}*{}*{width}",
            self.c.len,
            self.m,
            self.n
        );
        if let Some((_, x)) = self.activation_grad {
            assert!(
                !self.accumulate && self.residual.is_none() && self.split.is_none(),
                "matmul: an activation gradient is stored alone (no accumulate, residual or split-K)"
            );
            assert_eq!(
                x.len, self.c.len,
                "matmul: the activation's input has {} elements, expected {}",
                x.len, self.c.len
            );
        }
        if let Some(r) = self.residual {
            assert!(!self.accumulate, "matmul: a residual and accumulate exclude each other");
            assert_eq!(r.len, self.m * self.n, "matmul: residual has {} elements, expected m*n", r.len);
        }
        if let Some(n) = self.norm {
            assert!(
                !self.trans_a && !self.accumulate && self.residual.is_none() && self.split.is_none(),
                "matmul: a normalized input is row-major A into a fresh c (no accumulate, residual or split-K)"
            );
            assert!(self.activation_grad.is_none(), "matmul: a normalized input takes no activation gradient");
            assert_eq!(n.normed.len, self.a.len, "matmul: the normalized rows have {} elements", n.normed.len);
            assert_eq!(n.rstd.len, self.m, "matmul: rstd has {} elements, expected m = {}", n.rstd.len, self.m);
            assert!(n.normed.buf != self.c.buf, "matmul: the normalized rows share a buffer with c");
            if let Some(w) = n.weight {
                assert_eq!(w.len, self.k, "matmul: the norm's weight has {} elements, expected k", w.len);
            }
        }
        if let Some(SplitK { parts, stride, splits }) = self.split {
            assert!(self.accumulate && self.residual.is_none(), "matmul: split-K partials fold into an accumulate");
            assert!(stride >= self.m * self.n, "matmul: split-K stride {stride} below m*n");
            assert_eq!(parts.len, (splits - 1) * stride + self.m * self.n, "matmul: split-K parts length");
        }
    }
}

/// The cpu backend's sgemm spreads over every core natively; wasm has one thread.
#[cfg(not(target_arch = "wasm32"))]
const PARALLELISM: gemm::Parallelism = gemm::Parallelism::Rayon(0);
#[cfg(target_arch = "wasm32")]
const PARALLELISM: gemm::Parallelism = gemm::Parallelism::None;

impl Kernel for Matmul {
    fn tunable(&self) -> Option<&dyn Tunable> {
        (self.path == MatmulPath::Auto).then_some(self as &dyn Tunable)
    }

    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        // The reference runs the norm as its own kernel would, then multiplies the normalized rows.
        let a = match self.norm {
            Some(n) => {
                self.norm_kernel(n).cpu(mem);
                n.normed
            }
            None => self.a,
        };
        let [a_i, a_k, b_k, b_j] = self.strides();
        let (m, n, k) = (self.m, self.n, self.k);
        // With a SwiGLU gradient the product goes into the gate columns of c (row stride 2n), then each row
        // turns into both gradients.
        let c_row = n * self.activation_grad.map_or(1, |(act, _)| act.width());
        mem.out(self.c, |mem, c| {
            let (a, b) = (mem.get(a), mem.get(self.b));
            if let Some(r) = self.residual {
                let r = mem.get(r);
                for_each_span(c, |span, c| c.copy_from_slice(&r[span]));
            }
            if m == 0 || n == 0 {
                return;
            }
            // SAFETY: the strides describe views inside `a`, `b` and `c`, whose lengths `check` verified.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    c_row as isize,
                    self.accumulate || self.residual.is_some(),
                    a.as_ptr(),
                    a_k as isize,
                    a_i as isize,
                    b.as_ptr(),
                    b_j as isize,
                    b_k as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    PARALLELISM,
                );
            }
            match self.activation_grad {
                None => {}
                Some((ActivationGrad::Swiglu, x)) => {
                    let x = mem.get(x);
                    for_each_rows(c, c_row, 12, |first, rows| {
                        for (r, row) in rows.chunks_exact_mut(c_row).enumerate() {
                            let x = &x[(first + r) * c_row..][..c_row];
                            let (d_gate, d_up) = row.split_at_mut(n);
                            for j in 0..n {
                                (d_gate[j], d_up[j]) = swiglu_grad(x[j], x[n + j], d_gate[j]);
                            }
                        }
                    });
                }
                Some((ActivationGrad::Gelu, x)) => {
                    let x = mem.get(x);
                    for_each_span(c, |span, c| c.iter_mut().zip(&x[span]).for_each(|(c, &x)| *c = gelu_grad(x, *c)));
                }
            }
        });
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        if let Some(n) = self.norm.filter(|n| !n.fused) {
            let mut launches = self.norm_kernel(n).launches();
            launches.extend(Matmul { a: n.normed, norm: None, ..self.clone() }.launches());
            return launches;
        }
        let [a_i, a_k, b_k, b_j] = self.strides();
        let (shader, entry) = self.entry();
        let activation = self.activation_grad.map_or(0, |(act, _)| act.code());
        let norm = self.norm.map_or(0, |n| if n.weight.is_some() { 2 } else { 1 });
        let eps = self.norm.map_or(0, |n| f(n.eps));
        let params = |accumulate: bool, residual: bool, k_chunk: usize, stride: usize| {
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
                0,
                residual as u32,
                u(stride),
                activation,
                norm,
                eps,
                0,
            ]
        };
        let tile = self.path.tile();
        let tiles = [u(self.n.div_ceil(tile)).max(1), u(self.m.div_ceil(tile)).max(1)];
        // The residual, or the activation's input; without either an input is bound in its place (never read).
        let residual = read(self.residual.or(self.activation_grad.map(|(_, x)| x)).unwrap_or(self.a));
        // The norm's weight, rows, rstd and A again; without a norm (or its weight) they are never touched.
        let norm_bindings = match self.norm {
            Some(n) => [read(n.weight.unwrap_or(self.a)), write(n.normed), write(n.rstd), read(self.a)],
            None => [read(self.a), spare(), spare(), read(self.a)],
        };
        let Some(SplitK { parts, stride, splits }) = self.split else {
            let mut bindings = vec![read(self.a), read(self.b), write(self.c), residual];
            bindings.extend(norm_bindings);
            return vec![Launch {
                shader,
                entry,
                params: params(self.accumulate, self.residual.is_some(), 0, 0),
                bindings,
                workgroups: [tiles[0], tiles[1], 1],
            }];
        };
        let mut bindings = vec![read(self.a), read(self.b), write(parts), read(self.a)];
        bindings.extend(norm_bindings);
        vec![Launch {
            shader,
            entry,
            params: params(true, false, self.k_chunk(splits), stride),
            bindings,
            workgroups: [tiles[0], tiles[1], u(splits)],
        }]
    }
}

/// `out[i] += Σ_z parts[z * stride + i]` for z < copies, then the copies are zeroed for the next backward:
/// the split-K products' partial sums (`Matmul::split_k`) folded into the gradients, one dispatch per backward.
/// The CPU reference's products never write the parts, so there it adds what they hold (zero).
#[derive(Clone, Debug)]
pub struct FoldSplits {
    /// `copies` copies of `out`'s layout, `stride` elements apart.
    pub parts: Tensor,
    pub out: Tensor,
    pub stride: usize,
    pub copies: usize,
}

impl FoldSplits {
    fn check(&self) {
        assert!(self.stride >= self.out.len, "fold_splits: stride {} below the {} outputs", self.stride, self.out.len);
        assert!(
            self.parts.len >= (self.copies.max(1) - 1) * self.stride + self.out.len,
            "fold_splits: parts has {} elements, {} copies {} apart need more",
            self.parts.len,
            self.copies,
            self.stride
        );
    }
}

impl Kernel for FoldSplits {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let (stride, copies) = (self.stride, self.copies);
        mem.out(self.out, |mem, out| {
            let parts = mem.get(self.parts);
            for_each_span(out, |span, out| {
                for (o, i) in out.iter_mut().zip(span) {
                    *o += (0..copies).map(|z| parts[z * stride + i]).sum::<f32>();
                }
            });
        });
        mem.out(self.parts, |_, parts| for_each_span(parts, |_, parts| parts.fill(0.0)));
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let (n, copies, stride) = (u(self.out.len), u(self.copies), u(self.stride));
        vec![Launch {
            shader: Shader::Matmul { norm: false },
            entry: "matmul_fold_splits",
            params: vec![0, n, 0, 0, 0, 0, 0, 0, 0, copies, 0, stride, 0, 0, 0, 0],
            bindings: vec![write(self.parts), write(self.out)],
            workgroups: crate::program::grid(self.out.len),
        }]
    }
}

impl Matmul {
    /// The variants a trial may pick, register blocks with any planned split-K first (the reference, and the
    /// choice on software adapters).
    pub fn choices(&self) -> Vec<MatmulChoice> {
        let splits: &[bool] = if self.split.is_some() { &[true, false] } else { &[true] };
        // A normalized input unfused first: the reference, and the choice on software adapters.
        let fused: &[bool] = if self.norm.is_some() { &[false, true] } else { &[true] };
        let mut choices = Vec::new();
        for &path in &MatmulPath::FORCED {
            for &split in splits {
                choices.extend(fused.iter().map(|&fused| MatmulChoice { path, split, fused }));
            }
        }
        choices
    }
}

impl Tunable for Matmul {
    /// The layout, each dimension rounded up to a power of two, whether vec4 loads apply, the planned splits.
    fn bucket(&self) -> String {
        let t = |x: bool| if x { 't' } else { 'n' };
        let log = |x: usize| x.max(1).next_power_of_two().trailing_zeros();
        let vec4 = self
            .chosen(MatmulChoice { path: MatmulPath::Blocked, split: true, fused: true })
            .entry()
            .1
            .contains("vec4");
        let split = self.split.map_or(0, |s| s.splits);
        let (m, n, k) = (log(self.m), log(self.n), log(self.k));
        let norm = if self.norm.is_some() { "-norm" } else { "" };
        format!("{}{}-m{m}-n{n}-k{k}-v{}-s{split}{norm}", t(self.trans_a), t(self.trans_b), vec4 as u8)
    }

    fn variants(&self) -> Vec<(String, bool)> {
        let name = |c: MatmulChoice| {
            let (split, fused) = (if c.split { "" } else { "-whole" }, if c.fused { "" } else { "-separate" });
            format!("{:?}{split}{fused}", c.path).to_lowercase()
        };
        self.choices().into_iter().map(|c| (name(c), c.path == MatmulPath::Subgroup)).collect()
    }

    /// a, b, the norm's weight, c, the split-K partials (copies of c side by side), the normalized rows, rstd.
    fn trial_buffers(&self) -> (Vec<usize>, usize) {
        let (m, n, k) = (self.m, self.n, self.k);
        (vec![m * k, k * n, k, m * n, self.split.map_or(1, |s| s.splits) * m * n, m * k, m], 3)
    }

    fn trial(&self, buffers: &[Tensor], v: usize) -> (Vec<Box<dyn Kernel>>, Tensor) {
        let (m, n) = (self.m, self.n);
        let c = buffers[3];
        let mut mm = Matmul::new(buffers[0], buffers[1], c, m, self.k, n);
        (mm.trans_a, mm.trans_b, mm.accumulate, mm.residual) = (self.trans_a, self.trans_b, self.accumulate, None);
        mm.split = self.split.map(|s| SplitK {
            parts: buffers[4].slice(0, (s.splits - 1) * m * n + m * n),
            stride: m * n,
            ..s
        });
        mm.norm = self.norm.map(|norm| NormInput {
            weight: norm.weight.map(|_| buffers[2]),
            normed: buffers[5],
            rstd: buffers[6],
            ..norm
        });
        let mm = mm.chosen(self.choices()[v]);
        let fold = mm.split.map(|s| FoldSplits { parts: s.parts, out: c, stride: s.stride, copies: s.splits });
        let mut kernels: Vec<Box<dyn Kernel>> = vec![Box::new(mm)];
        kernels.extend(fold.map(|f| Box::new(f) as Box<dyn Kernel>));
        (kernels, c)
    }

    fn launches_as(&self, v: usize) -> Vec<Launch> {
        self.chosen(self.choices()[v]).launches()
    }
}
