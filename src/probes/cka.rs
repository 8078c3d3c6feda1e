//! Linear CKA (centred kernel alignment, Kornblith et al. 2019) between two representations of the same
//! inputs: `CKA(X, Y) = ‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F)` with X `[n, dx]` and Y `[n, dy]` column-centred.
//! It is 1 for representations equal up to rotation and isotropic scaling, and near 0 for unrelated ones.
//!
//! In the probes a representation is a residual-stream state of every token of every probed example: rows
//! are `examples * tokens` (example-major), columns the model width; so CKA compares token representations
//! over all positions, not one position's.

/// A column-centred representation with its `‖XᵀX‖_F`, ready to be compared with many others.
#[derive(Clone, Debug)]
pub struct Centered {
    pub rows: usize,
    pub cols: usize,
    values: Vec<f64>,
    self_norm: f64,
}

/// `‖AᵀB‖_F²` for row-major A `[n, da]` and B `[n, db]`.
fn cross_sq(a: &[f64], da: usize, b: &[f64], db: usize, n: usize) -> f64 {
    let mut c = vec![0.0f64; da * db];
    if n > 0 && da > 0 && db > 0 {
        // SAFETY: Aᵀ is da x n with row stride 1 and column stride da inside `a` (n * da elements), B is n x db
        // with strides (db, 1) inside `b`, C is da x db with strides (db, 1); the lengths are checked by the
        // callers (`Centered::new` asserts rows * cols).
        unsafe {
            gemm::gemm(
                da,
                db,
                n,
                c.as_mut_ptr(),
                1,
                db as isize,
                false,
                a.as_ptr(),
                da as isize,
                1,
                b.as_ptr(),
                1,
                db as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    c.iter().map(|x| x * x).sum()
}

impl Centered {
    /// `x` is `[rows, cols]` row-major.
    pub fn new(x: &[f32], rows: usize, cols: usize) -> Centered {
        assert_eq!(x.len(), rows * cols, "cka: {} elements, expected {rows}x{cols}", x.len());
        let mut mean = vec![0.0f64; cols];
        for row in x.chunks(cols.max(1)) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows.max(1) as f64);
        let values: Vec<f64> = x.iter().enumerate().map(|(i, &v)| v as f64 - mean[i % cols]).collect();
        let self_norm = cross_sq(&values, cols, &values, cols, rows).sqrt();
        Centered { rows, cols, values, self_norm }
    }

    /// Linear CKA with another representation of the same rows, in [0, 1]; 0 when either is constant (its
    /// centred matrix is zero and CKA is undefined).
    pub fn cka(&self, other: &Centered) -> f64 {
        assert_eq!(self.rows, other.rows, "cka: {} rows vs {}", self.rows, other.rows);
        let denominator = self.self_norm * other.self_norm;
        if denominator == 0.0 {
            return 0.0;
        }
        (cross_sq(&self.values, self.cols, &other.values, other.cols, self.rows) / denominator).clamp(0.0, 1.0)
    }
}

/// Linear CKA of `x` `[n, dx]` and `y` `[n, dy]` (row-major).
pub fn linear_cka(x: &[f32], y: &[f32], n: usize, dx: usize, dy: usize) -> f64 {
    Centered::new(x, n, dx).cka(&Centered::new(y, n, dy))
}

/// How the best-matching twin layer moves along the loop states (in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// The best-matching layer never moves back and takes at least 2 distinct values: later loop states look
    /// like later feedforward layers.
    Diagonal,
    /// With a block of several layers, every iteration repeats one sequence of best layers (the same stage
    /// re-applied), which is not one layer throughout.
    Periodic,
    /// One twin layer is the best match of every loop state.
    Constant,
    /// None of the above.
    Mixed,
}

/// Classifies `best[i]`, the twin layer best matching loop state i, for states ordered iteration-major with
/// `per_iteration` states (calls x layers of the block) per iteration.
pub fn pattern(best: &[usize], per_iteration: usize) -> Pattern {
    let distinct = {
        let mut v = best.to_vec();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    if distinct <= 1 {
        return Pattern::Constant;
    }
    if best.windows(2).all(|w| w[0] <= w[1]) {
        return Pattern::Diagonal;
    }
    let per = per_iteration.max(1);
    if per > 1 && best.len() >= 2 * per && best.chunks(per).all(|c| c.len() < per || c == &best[..per]) {
        return Pattern::Periodic;
    }
    Pattern::Mixed
}
