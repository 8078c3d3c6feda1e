use super::attention::assert_gradient;
use super::naive_attention::Naive;
use super::*;
use looplab::ops::attention::{AttentionBackward, AttentionDims, AttentionForward};
use looplab::ops::local_attention::{LocalAttentionBackward, LocalAttentionForward, LocalAttentionProbs, LocalDims};

#[derive(Clone, Copy, Debug)]
struct Shape {
    batch: usize,
    height: usize,
    width: usize,
    heads: usize,
    head_dim: usize,
    radius: usize,
}

impl Shape {
    fn seq(&self) -> usize {
        self.height * self.width
    }
    fn window(&self) -> usize {
        (2 * self.radius + 1).pow(2)
    }
}

struct Case {
    plan: MemoryPlan,
    forward: LocalAttentionForward,
    backward: LocalAttentionBackward,
    probs: LocalAttentionProbs,
    qkv: Vec<f32>,
    bias: Vec<f32>,
    d_out: Vec<f32>,
    d_bias: Vec<f32>,
}

impl Case {
    /// The inputs with `qkv` and `bias` in place of the case's, d_bias starting from the case's values (it
    /// accumulates), and stale values in the other outputs so a kernel that skips an element fails.
    fn inputs(&self, qkv: &[f32], bias: &[f32]) -> Vec<(Tensor, Data)> {
        let mut inputs = vec![
            (self.forward.qkv, Data::F32(qkv.to_vec())),
            (self.forward.bias, Data::F32(bias.to_vec())),
            (self.backward.d_out, Data::F32(self.d_out.clone())),
            (self.backward.d_bias, Data::F32(self.d_bias.clone())),
        ];
        for stale in [self.forward.out, self.forward.lse, self.backward.delta, self.backward.d_qkv, self.probs.probs] {
            inputs.push((stale, Data::F32(vec![7.0; stale.len])));
        }
        inputs
    }
    fn kernels(&self) -> Vec<Box<dyn Kernel>> {
        vec![Box::new(self.forward.clone()), Box::new(self.backward.clone()), Box::new(self.probs.clone())]
    }
    fn outputs(&self) -> [Tensor; 5] {
        [self.forward.out, self.forward.lse, self.backward.d_qkv, self.backward.d_bias, self.probs.probs]
    }
}

const OUTPUTS: [&str; 5] = ["out", "lse", "d_qkv", "d_bias", "probs"];

/// Random qkv (spread 2, so the softmax is far from uniform), bias, d_out and a starting d_bias.
fn case(s: Shape, seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let mut plan = MemoryPlan::default();
    let (tokens, d) = (s.batch * s.seq(), s.heads * s.head_dim);
    let rows = tokens * s.heads;
    let qkv = plan.buffer("qkv", tokens * 3 * d);
    let bias = plan.buffer("bias", s.heads * s.window());
    let out = plan.buffer("out", tokens * d);
    let lse = plan.buffer("lse", rows);
    let d_out = plan.buffer("d_out", tokens * d);
    let delta = plan.buffer("delta", rows);
    let d_qkv = plan.buffer("d_qkv", tokens * 3 * d);
    let d_bias = plan.buffer("d_bias", s.heads * s.window());
    let probs = plan.buffer("probs", rows * s.window());
    let Shape { batch, height, width, heads, head_dim, radius } = s;
    let dims = LocalDims { batch, height, width, heads, head_dim, radius };
    Case {
        plan,
        forward: LocalAttentionForward { qkv, bias, out, lse, dims },
        backward: LocalAttentionBackward { qkv, bias, out, lse, d_out, delta, d_qkv, d_bias, dims },
        probs: LocalAttentionProbs { qkv, bias, probs, dims },
        qkv: rng.vec(qkv.len).iter().map(|v| 2.0 * v).collect(),
        bias: rng.vec(bias.len),
        d_out: rng.vec(d_out.len),
        d_bias: rng.vec(d_bias.len),
    }
}

/// Every probs row sums to 1 and is exactly 0 at offsets whose key lies outside the grid.
fn assert_rows(name: &str, s: Shape, probs: &[f32]) {
    let r = s.radius as isize;
    for (row, p) in probs.chunks_exact(s.window()).enumerate() {
        let i = row % s.seq();
        let (y, x) = ((i / s.width) as isize, (i % s.width) as isize);
        for (o, &v) in p.iter().enumerate() {
            let (dy, dx) = (o as isize / (2 * r + 1) - r, o as isize % (2 * r + 1) - r);
            let inside = (0..s.height as isize).contains(&(y + dy)) && (0..s.width as isize).contains(&(x + dx));
            assert!(inside || v == 0.0, "{name}: row {row} offset {o} is outside the grid but has probability {v}");
        }
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "{name}: row {row} sums to {sum}");
    }
}

fn compare(s: Shape, seed: u64) {
    let c = case(s, seed);
    let results = run_both(&c.plan, &c.inputs(&c.qkv, &c.bias), || c.kernels(), &c.outputs());
    for ((cpu, gpu), name) in results.iter().zip(OUTPUTS) {
        assert_close(&format!("local attention {s:?} {name}"), cpu, gpu, 1e-5);
    }
    assert_rows(&format!("local attention {s:?} cpu probs"), s, &results[4].0);
    assert_rows(&format!("local attention {s:?} gpu probs"), s, &results[4].1);
}

const fn shape(batch: usize, height: usize, width: usize, heads: usize, head_dim: usize, radius: usize) -> Shape {
    Shape { batch, height, width, heads, head_dim, radius }
}

/// 1-D and 2-D grids of odd sizes, radius 1 and 2 (and beyond the grid), heads of 1, 3, 16, 32 dimensions
/// and 70 (two register chunks).
const AWKWARD_SHAPES: [Shape; 10] = [
    shape(1, 1, 1, 1, 1, 1),   // a single token: only the centre offset is inside
    shape(2, 2, 3, 3, 3, 2),   // a grid smaller than the window
    shape(3, 1, 17, 2, 3, 2),  // a sequence: only dy = 0 offsets
    shape(2, 1, 65, 3, 16, 1), // more rows than a workgroup
    shape(2, 5, 7, 2, 3, 1),   // non-square grids, both ways round
    shape(1, 9, 5, 1, 32, 2),
    shape(1, 3, 3, 2, 4, 3),    // radius beyond the grid in every direction
    shape(1, 15, 15, 1, 16, 1), // the 225 tokens of a 15x15 maze
    shape(1, 3, 11, 1, 70, 1),
    shape(2, 21, 19, 2, 6, 1), // d_bias sums more rows than the workgroup has threads
];

#[test]
fn local_attention_matches_cpu_on_awkward_shapes() {
    for (i, s) in AWKWARD_SHAPES.into_iter().enumerate() {
        compare(s, i as u64);
    }
}

/// The oracle's view of a case: the in-grid offsets of query i with their bias slots `h*window + o`.
fn naive_keys(s: Shape, bias: &[f32]) -> impl Fn(usize, usize) -> Vec<(usize, f64, usize)> + '_ {
    move |h, i| {
        let r = s.radius as isize;
        let (y, x) = ((i / s.width) as isize, (i % s.width) as isize);
        (0..s.window())
            .filter_map(|o| {
                let (ky, kx) = (y + o as isize / (2 * r + 1) - r, x + o as isize % (2 * r + 1) - r);
                let inside = (0..s.height as isize).contains(&ky) && (0..s.width as isize).contains(&kx);
                let slot = h * s.window() + o;
                inside.then(|| (ky as usize * s.width + kx as usize, bias[slot] as f64, slot))
            })
            .collect()
    }
}

/// The CPU path against the naive oracle: out, lse, d_qkv and d_bias (the oracle's gradient added to the
/// starting d_bias); the probs rows hold the in-grid offsets in order, so those are compared on their own.
#[test]
fn local_attention_cpu_matches_naive_attention() {
    for (n, s) in AWKWARD_SHAPES.into_iter().enumerate() {
        let c = case(s, 100 + n as u64);
        let cpu = run_cpu(&c.plan, &c.inputs(&c.qkv, &c.bias), c.kernels(), &c.outputs());
        let keys = naive_keys(s, &c.bias);
        let naive = Naive { batch: s.batch, seq: s.seq(), heads: s.heads, head_dim: s.head_dim, keys: &keys };
        let want = naive.run(&c.qkv, &c.d_out, s.window(), s.heads * s.window());
        let d_bias: Vec<f32> = c.d_bias.iter().zip(&want.d_bias).map(|(a, b)| a + b).collect();
        for ((got, want), name) in cpu.iter().zip([&want.out, &want.lse, &want.d_qkv, &d_bias]).zip(OUTPUTS) {
            assert_close(&format!("local attention {s:?} {name}: naive vs cpu"), want, got, 1e-5);
        }
        let packed: Vec<f32> = cpu[4]
            .chunks(s.window())
            .flat_map(|row| {
                let mut inside: Vec<f32> = row.iter().copied().filter(|&p| p != 0.0).collect();
                inside.resize(s.window(), 0.0);
                inside
            })
            .collect();
        assert_close(&format!("local attention {s:?} probs: naive vs cpu"), &want.probs, &packed, 1e-5);
    }
}

/// d_qkv and d_bias from the backward with d_out = W are the gradients of sum(out * W) (d_bias starting at 0).
#[test]
fn local_attention_backward_matches_finite_difference() {
    for s in [shape(2, 2, 3, 2, 2, 1), shape(1, 1, 4, 2, 3, 2)] {
        let mut c = case(s, 11);
        c.d_bias.fill(0.0);
        let (fwd, bwd) = (&c.forward, &c.backward);
        let loss = |qkv: &[f32], bias: &[f32]| {
            let out = run_cpu(&c.plan, &c.inputs(qkv, bias), vec![Box::new(fwd.clone())], &[fwd.out]).remove(0);
            out.iter().zip(&c.d_out).map(|(&o, &w)| o as f64 * w as f64).sum::<f64>()
        };
        let analytic = run_cpu(&c.plan, &c.inputs(&c.qkv, &c.bias), c.kernels(), &[bwd.d_qkv, bwd.d_bias]);
        assert_gradient(&format!("local attention {s:?} d_qkv"), &analytic[0], |i| {
            finite_difference(|q| loss(q, &c.bias), &c.qkv, i, 1e-2)
        });
        assert_gradient(&format!("local attention {s:?} d_bias"), &analytic[1], |i| {
            finite_difference(|b| loss(&c.qkv, b), &c.bias, i, 1e-2)
        });
    }
}

/// With a window covering the whole grid and zero bias, local attention is global (non-causal) attention:
/// the same out, lse and d_qkv, on both backends.
#[test]
fn local_attention_covering_the_grid_is_global_attention() {
    for s in [shape(2, 3, 4, 2, 3, 3), shape(1, 1, 6, 3, 2, 5)] {
        let mut c = case(s, 5);
        c.bias.fill(0.0);
        let (seq, tokens, rows) = (s.seq(), s.batch * s.seq(), s.batch * s.heads * s.seq());
        let out = c.plan.buffer("global out", c.forward.out.len);
        let lse = c.plan.buffer("global lse", rows);
        let delta = c.plan.buffer("global delta", rows);
        let d_qkv = c.plan.buffer("global d_qkv", tokens * 3 * s.heads * s.head_dim);
        let dims = AttentionDims { batch: s.batch, seq, heads: s.heads, head_dim: s.head_dim, causal: false };
        let (qkv, d_out) = (c.forward.qkv, c.backward.d_out);
        let global_forward = AttentionForward { qkv, bias: None, out, lse, dims };
        let global_backward = AttentionBackward { qkv, bias: None, out, lse, d_out, delta, d_qkv, dims };
        let kernels = || {
            let mut k = c.kernels();
            k.push(Box::new(global_forward.clone()));
            k.push(Box::new(global_backward.clone()));
            k
        };
        let outputs = [c.forward.out, out, c.forward.lse, lse, c.backward.d_qkv, d_qkv];
        for (backend, outs) in
            ["cpu", "gpu"].into_iter().zip(transpose(run_both(&c.plan, &c.inputs(&c.qkv, &c.bias), kernels, &outputs)))
        {
            for (k, name) in ["out", "lse", "d_qkv"].into_iter().enumerate() {
                let label = format!("local vs global attention {s:?} {backend} {name}");
                assert_close(&label, &outs[2 * k + 1], &outs[2 * k], 1e-5);
            }
        }
    }
}

/// Per output (cpu, gpu) pairs into the cpu outputs and the gpu outputs.
fn transpose(pairs: Vec<(Vec<f32>, Vec<f32>)>) -> [Vec<Vec<f32>>; 2] {
    let (cpu, gpu) = pairs.into_iter().unzip();
    [cpu, gpu]
}

#[test]
#[should_panic(expected = "bias has 9 elements, expected 18")]
fn local_attention_refuses_a_bias_of_the_wrong_shape() {
    let c = case(shape(1, 2, 2, 2, 2, 1), 3);
    let forward = LocalAttentionForward { bias: c.forward.bias.slice(0, 9), ..c.forward.clone() };
    forward.launches();
}
