use super::*;
use looplab::ops::attention::{AttentionBackward, AttentionForward};

#[derive(Clone, Copy, Debug)]
struct Shape {
    batch: usize,
    seq: usize,
    heads: usize,
    head_dim: usize,
    causal: bool,
    bias: bool,
}

struct Case {
    plan: MemoryPlan,
    forward: AttentionForward,
    backward: AttentionBackward,
    qkv: Vec<f32>,
    d_out: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl Case {
    /// The inputs with `qkv` in place of the case's, and stale values in the outputs so a kernel that skips an
    /// element fails.
    fn inputs(&self, qkv: &[f32]) -> Vec<(Tensor, Data)> {
        let mut inputs =
            vec![(self.forward.qkv, Data::F32(qkv.to_vec())), (self.backward.d_out, Data::F32(self.d_out.clone()))];
        if let (Some(t), Some(v)) = (self.forward.bias, &self.bias) {
            inputs.push((t, Data::F32(v.clone())));
        }
        for stale in [self.forward.probs, self.forward.out, self.backward.d_scores, self.backward.d_qkv] {
            inputs.push((stale, Data::F32(vec![7.0; stale.len])));
        }
        inputs
    }
}

/// Random qkv (spread 2, so the softmax is far from uniform), bias and d_out.
fn case(s: Shape, seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let mut plan = MemoryPlan::default();
    let (tokens, d) = (s.batch * s.seq, s.heads * s.head_dim);
    let probs_len = s.batch * s.heads * s.seq * s.seq;
    let qkv = plan.buffer("qkv", tokens * 3 * d);
    let bias = s.bias.then(|| plan.buffer("bias", s.seq * s.seq));
    let probs = plan.buffer("probs", probs_len);
    let out = plan.buffer("out", tokens * d);
    let d_out = plan.buffer("d_out", tokens * d);
    let d_scores = plan.buffer("d_scores", probs_len);
    let d_qkv = plan.buffer("d_qkv", tokens * 3 * d);
    let (batch, seq, heads, head_dim, causal) = (s.batch, s.seq, s.heads, s.head_dim, s.causal);
    let forward = AttentionForward { qkv, bias, probs, out, batch, seq, heads, head_dim, causal };
    let backward = AttentionBackward { qkv, probs, d_out, d_scores, d_qkv, batch, seq, heads, head_dim, causal };
    let qkv = rng.vec(qkv.len).iter().map(|v| 2.0 * v).collect();
    let d_out = rng.vec(d_out.len);
    let bias = bias.map(|b| rng.vec(b.len));
    Case { plan, forward, backward, qkv, d_out, bias }
}

fn compare(s: Shape, seed: u64) {
    let c = case(s, seed);
    let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(c.forward.clone()), Box::new(c.backward.clone())] };
    let outputs = [c.forward.probs, c.forward.out, c.backward.d_scores, c.backward.d_qkv];
    for ((cpu, gpu), name) in
        run_both(&c.plan, &c.inputs(&c.qkv), kernels, &outputs).iter().zip(["probs", "out", "d_scores", "d_qkv"])
    {
        assert_close(&format!("attention {s:?} {name}"), cpu, gpu, 1e-5);
    }
}

const fn shape(batch: usize, seq: usize, heads: usize, head_dim: usize, causal: bool, bias: bool) -> Shape {
    Shape { batch, seq, heads, head_dim, causal, bias }
}

#[test]
fn attention_matches_cpu_on_awkward_shapes() {
    let shapes = [
        shape(1, 1, 1, 1, false, false),
        shape(1, 1, 3, 5, true, true),
        shape(3, 4, 2, 1, true, false),
        shape(2, 3, 3, 5, false, true),
        shape(1, 17, 1, 16, true, true),
        shape(2, 65, 3, 5, false, false),
        shape(1, 81, 2, 16, true, false),
        shape(1, 225, 1, 16, false, true),
    ];
    for (i, s) in shapes.into_iter().enumerate() {
        compare(s, i as u64);
    }
}

/// Passes when every analytic gradient is within 1% of the numeric one (relative to |analytic|, floored at 0.05
/// so gradients that are zero in both stay checked by an absolute bound).
pub fn assert_gradient(name: &str, analytic: &[f32], numeric: impl Fn(usize) -> f64) {
    let mut worst = 0f64;
    for (i, &a) in analytic.iter().enumerate() {
        let n = numeric(i);
        let err = (a as f64 - n).abs() / (a as f64).abs().max(0.05);
        assert!(err < 1e-2, "{name}: element {i}: analytic {a} vs finite difference {n} (rel err {err:.2e})");
        worst = worst.max(err);
    }
    println!("{name}: {} gradients, max rel diff to finite differences {worst:.2e}", analytic.len());
}

/// d_qkv from the backward with d_out = W is the gradient of sum(out * W).
#[test]
fn attention_backward_matches_finite_difference() {
    for (causal, bias) in [(false, true), (true, false)] {
        let s = shape(2, 3, 2, 2, causal, bias);
        let c = case(s, 11);
        let (fwd, bwd) = (&c.forward, &c.backward);
        let loss = |qkv: &[f32]| {
            let out = run_cpu(&c.plan, &c.inputs(qkv), vec![Box::new(fwd.clone())], &[fwd.out]).remove(0);
            out.iter().zip(&c.d_out).map(|(&o, &w)| o as f64 * w as f64).sum::<f64>()
        };
        let kernels: Vec<Box<dyn Kernel>> = vec![Box::new(fwd.clone()), Box::new(bwd.clone())];
        let analytic = run_cpu(&c.plan, &c.inputs(&c.qkv), kernels, &[bwd.d_qkv]).remove(0);
        assert_gradient(&format!("attention {s:?} d_qkv"), &analytic, |i| finite_difference(&loss, &c.qkv, i, 1e-2));
    }
}
