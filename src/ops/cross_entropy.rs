//! Softmax (or stablemax) cross-entropy with an ignore mask: only rows with a target count.
//! Shader: shaders/cross_entropy.wgsl.

use super::{f, u};
use crate::program::{grid, read, write, CpuMemory, Kernel, Launch, Shader, Tensor};

use crate::tasks::IGNORE;

/// For each row r with a target: `losses[r] = -log p(logits[r])[t]`, `correct[r] = 1` when the argmax
/// (first maximum) equals t, and `d_logits[r] = scale * d losses[r] / d logits[r] / count`, where `count[0]` is
/// the number of supervised rows (computed by the first launch): the gradient of `scale` times the mean loss.
/// Ignored rows get loss 0, correct 0, gradient 0. `supervised[r]` is 1 for rows with a target, else 0 (so
/// metrics can count them).
///
/// `p` is softmax, or with `stablemax` (Prieto et al. 2025, as in HRM) `p_j = s(x_j) / Σ_k s(x_k)` with
/// `s(x) = x + 1` for x >= 0 and `1 / (1 - x)` below: it grows linearly rather than exponentially, so logits
/// need not blow up to push a probability to 1. `scale` weights this loss's gradient against others combined
/// in the same backward (progressive loss, several supervised segments); the reported losses are unscaled.
#[derive(Clone, Debug)]
pub struct CrossEntropy {
    pub logits: Tensor,  // [rows, vocab]
    pub targets: Tensor, // [rows] u32
    pub d_logits: Tensor,
    pub losses: Tensor,     // [rows]
    pub correct: Tensor,    // [rows]
    pub supervised: Tensor, // [rows]
    pub count: Tensor,      // [1]
    pub rows: usize,
    pub vocab: usize,
    pub stablemax: bool,
    pub scale: f32,
}

/// Stablemax's s(x); `stable_slope` is s'(x). The two pieces meet at s(0) = 1 with slope 1.
fn stable(x: f64) -> f64 {
    if x >= 0.0 {
        x + 1.0
    } else {
        1.0 / (1.0 - x)
    }
}

fn stable_slope(x: f64) -> f64 {
    if x >= 0.0 {
        1.0
    } else {
        1.0 / ((1.0 - x) * (1.0 - x))
    }
}

impl CrossEntropy {
    fn check(&self) {
        let (rows, vocab) = (self.rows, self.vocab);
        assert!(vocab > 0, "cross_entropy: vocab must be positive");
        for (name, t) in [("logits", self.logits), ("d_logits", self.d_logits)] {
            assert_eq!(
                t.len,
                rows * vocab,
                "cross_entropy: {name} has {} elements, expected rows*vocab = {rows}*{vocab}",
                t.len
            );
        }
        for (name, t) in [
            ("targets", self.targets),
            ("losses", self.losses),
            ("correct", self.correct),
            ("supervised", self.supervised),
        ] {
            assert_eq!(t.len, rows, "cross_entropy: {name} has {} elements, expected rows = {rows}", t.len);
        }
        assert_eq!(self.count.len, 1, "cross_entropy: count has {} elements, expected 1", self.count.len);
    }

    // p_j = weight(x_j) / Σ_k weight(x_k), so d loss / d x_j = slope(x_j) / Σ_k weight(x_k) - [j = t] d_log_weight(x_t).
    // Softmax's weight is exp(x - max): the row maximum keeps exp finite and cancels in p.
    fn weight(&self, x: f64, max: f64) -> f64 {
        if self.stablemax {
            stable(x)
        } else {
            libm::exp(x - max)
        }
    }
    fn slope(&self, x: f64, max: f64) -> f64 {
        if self.stablemax {
            stable_slope(x)
        } else {
            libm::exp(x - max)
        }
    }
    /// log weight(x), written out for softmax so a far-from-maximum target does not underflow to log(0).
    fn log_weight(&self, x: f64, max: f64) -> f64 {
        if self.stablemax {
            libm::log(stable(x))
        } else {
            x - max
        }
    }
    fn d_log_weight(&self, x: f64) -> f64 {
        if self.stablemax {
            stable_slope(x) / stable(x)
        } else {
            1.0
        }
    }
}

impl Kernel for CrossEntropy {
    fn cpu(&self, mem: &mut CpuMemory) {
        self.check();
        let targets = mem.get_u32(self.targets);
        for (r, &t) in targets.iter().enumerate() {
            assert!(
                t == IGNORE || (t as usize) < self.vocab,
                "cross_entropy: row {r} has target {t}, outside vocab {}",
                self.vocab
            );
        }
        let supervised: Vec<f32> = targets.iter().map(|&t| (t != IGNORE) as u32 as f32).collect();
        let count: f32 = supervised.iter().sum();
        mem.out(self.count, |_, c| c[0] = count);
        mem.out(self.supervised, |_, s| s.copy_from_slice(&supervised));
        let vocab = self.vocab;
        // Per row: (loss, correct, d_logits row); ignored rows keep zeros.
        let mut losses = vec![0.0; self.rows];
        let mut correct = vec![0.0; self.rows];
        mem.out(self.d_logits, |mem, d_logits| {
            let logits = mem.get(self.logits);
            for (r, &t) in targets.iter().enumerate() {
                let d_row = &mut d_logits[r * vocab..(r + 1) * vocab];
                if t == IGNORE {
                    d_row.fill(0.0);
                    continue;
                }
                let row = &logits[r * vocab..(r + 1) * vocab];
                let mut argmax = 0;
                for (j, &v) in row.iter().enumerate() {
                    if v > row[argmax] {
                        argmax = j;
                    }
                }
                let max = row[argmax] as f64;
                let sum: f64 = row.iter().map(|&v| self.weight(v as f64, max)).sum();
                let x_t = row[t as usize] as f64;
                losses[r] = (libm::log(sum) - self.log_weight(x_t, max)) as f32;
                correct[r] = (argmax == t as usize) as u32 as f32;
                for (j, (d, &v)) in d_row.iter_mut().zip(row).enumerate() {
                    let at_target = if j == t as usize { self.d_log_weight(x_t) } else { 0.0 };
                    *d = ((self.slope(v as f64, max) / sum - at_target) * self.scale as f64 / count.max(1.0) as f64)
                        as f32;
                }
            }
        });
        mem.out(self.losses, |_, l| l.copy_from_slice(&losses));
        mem.out(self.correct, |_, c| c.copy_from_slice(&correct));
    }

    fn launches(&self) -> Vec<Launch> {
        self.check();
        let params = vec![u(self.rows), u(self.vocab), self.stablemax as u32, f(self.scale)];
        vec![
            Launch {
                shader: Shader::CrossEntropy,
                entry: "count_supervised",
                params: params.clone(),
                bindings: vec![read(self.targets), write(self.count)],
                workgroups: [1, 1, 1],
            },
            Launch {
                shader: Shader::CrossEntropy,
                entry: "cross_entropy_rows",
                params,
                bindings: vec![
                    read(self.targets),
                    read(self.count),
                    read(self.logits),
                    write(self.d_logits),
                    write(self.losses),
                    write(self.correct),
                    write(self.supervised),
                ],
                workgroups: grid(self.rows),
            },
        ]
    }
}
