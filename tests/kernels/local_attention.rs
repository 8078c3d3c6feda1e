use super::attention::assert_gradient;
use super::*;
use looplab::ops::attention::{AttentionBackward, AttentionForward};
use looplab::ops::local_attention::{LocalAttentionBackward, LocalAttentionForward};

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
        for stale in [self.forward.probs, self.forward.out, self.backward.d_scores, self.backward.d_qkv] {
            inputs.push((stale, Data::F32(vec![7.0; stale.len])));
        }
        inputs
    }
    fn kernels(&self) -> Vec<Box<dyn Kernel>> {
        vec![Box::new(self.forward.clone()), Box::new(self.backward.clone())]
    }
}

/// Random qkv (spread 2, so the softmax is far from uniform), bias, d_out and a starting d_bias.
fn case(s: Shape, seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let mut plan = MemoryPlan::default();
    let (tokens, d) = (s.batch * s.seq(), s.heads * s.head_dim);
    let probs_len = tokens * s.heads * s.window();
    let qkv = plan.buffer("qkv", tokens * 3 * d);
    let bias = plan.buffer("bias", s.heads * s.window());
    let probs = plan.buffer("probs", probs_len);
    let out = plan.buffer("out", tokens * d);
    let d_out = plan.buffer("d_out", tokens * d);
    let d_scores = plan.buffer("d_scores", probs_len);
    let d_qkv = plan.buffer("d_qkv", tokens * 3 * d);
    let d_bias = plan.buffer("d_bias", s.heads * s.window());
    let Shape { batch, height, width, heads, head_dim, radius } = s;
    let forward = LocalAttentionForward { qkv, bias, probs, out, batch, height, width, heads, head_dim, radius };
    let backward = LocalAttentionBackward {
        qkv,
        probs,
        d_out,
        d_scores,
        d_qkv,
        d_bias,
        batch,
        height,
        width,
        heads,
        head_dim,
        radius,
    };
    Case {
        plan,
        forward,
        backward,
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
    let outputs = [c.forward.probs, c.forward.out, c.backward.d_scores, c.backward.d_qkv, c.backward.d_bias];
    let results = run_both(&c.plan, &c.inputs(&c.qkv, &c.bias), || c.kernels(), &outputs);
    for ((cpu, gpu), name) in results.iter().zip(["probs", "out", "d_scores", "d_qkv", "d_bias"]) {
        assert_close(&format!("local attention {s:?} {name}"), cpu, gpu, 1e-5);
    }
    assert_rows(&format!("local attention {s:?} cpu probs"), s, &results[0].0);
    assert_rows(&format!("local attention {s:?} gpu probs"), s, &results[0].1);
}

const fn shape(batch: usize, height: usize, width: usize, heads: usize, head_dim: usize, radius: usize) -> Shape {
    Shape { batch, height, width, heads, head_dim, radius }
}

#[test]
fn local_attention_matches_cpu_on_awkward_shapes() {
    let shapes = [
        shape(1, 1, 1, 1, 1, 1),  // a single token: only the centre offset is inside
        shape(2, 2, 3, 3, 5, 2),  // a grid smaller than the window
        shape(3, 1, 17, 2, 3, 2), // a sequence: only dy = 0 offsets
        shape(2, 1, 65, 3, 5, 1), // more rows than a workgroup
        shape(2, 5, 7, 2, 5, 1),  // non-square grids, both ways round
        shape(1, 9, 4, 1, 16, 2),
        shape(1, 3, 3, 2, 4, 3),   // radius beyond the grid in every direction
        shape(2, 21, 19, 2, 6, 1), // d_bias sums more rows than the workgroup has threads
    ];
    for (i, s) in shapes.into_iter().enumerate() {
        compare(s, i as u64);
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
/// the same out and the same d_qkv, on both backends.
#[test]
fn local_attention_covering_the_grid_is_global_attention() {
    for s in [shape(2, 3, 4, 2, 3, 3), shape(1, 1, 6, 3, 2, 5)] {
        let mut c = case(s, 5);
        c.bias.fill(0.0);
        let (seq, tokens) = (s.seq(), s.batch * s.seq());
        let global_probs = c.plan.buffer("global probs", s.batch * s.heads * seq * seq);
        let global_out = c.plan.buffer("global out", c.forward.out.len);
        let global_d_scores = c.plan.buffer("global d_scores", global_probs.len);
        let global_d_qkv = c.plan.buffer("global d_qkv", tokens * 3 * s.heads * s.head_dim);
        let (batch, heads, head_dim) = (s.batch, s.heads, s.head_dim);
        let (qkv, d_out) = (c.forward.qkv, c.backward.d_out);
        let global_forward = AttentionForward {
            qkv,
            bias: None,
            probs: global_probs,
            out: global_out,
            batch,
            seq,
            heads,
            head_dim,
            causal: false,
        };
        let global_backward = AttentionBackward {
            qkv,
            probs: global_probs,
            d_out,
            d_scores: global_d_scores,
            d_qkv: global_d_qkv,
            batch,
            seq,
            heads,
            head_dim,
            causal: false,
        };
        let kernels = || {
            let mut k = c.kernels();
            k.push(Box::new(global_forward.clone()));
            k.push(Box::new(global_backward.clone()));
            k
        };
        let outputs = [c.forward.out, global_out, c.backward.d_qkv, global_d_qkv];
        for (backend, outs) in
            ["cpu", "gpu"].into_iter().zip(transpose(run_both(&c.plan, &c.inputs(&c.qkv, &c.bias), kernels, &outputs)))
        {
            assert_close(&format!("local vs global attention {s:?} {backend} out"), &outs[1], &outs[0], 1e-5);
            assert_close(&format!("local vs global attention {s:?} {backend} d_qkv"), &outs[3], &outs[2], 1e-5);
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
