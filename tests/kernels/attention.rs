use super::naive_attention::Naive;
use super::*;
use looplab::ops::attention::{AttentionBackward, AttentionDims, AttentionForward, AttentionProbs};

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
    probs: AttentionProbs,
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
        for stale in [self.forward.out, self.forward.lse, self.backward.delta, self.backward.d_qkv, self.probs.probs] {
            inputs.push((stale, Data::F32(vec![7.0; stale.len])));
        }
        inputs
    }
    fn kernels(&self) -> Vec<Box<dyn Kernel>> {
        vec![Box::new(self.forward.clone()), Box::new(self.backward.clone()), Box::new(self.probs.clone())]
    }
    fn outputs(&self) -> [Tensor; 4] {
        [self.forward.out, self.forward.lse, self.backward.d_qkv, self.probs.probs]
    }
}

const OUTPUTS: [&str; 4] = ["out", "lse", "d_qkv", "probs"];

/// Random qkv (spread 2, so the softmax is far from uniform), bias and d_out.
fn case(s: Shape, seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let mut plan = MemoryPlan::default();
    let (tokens, d) = (s.batch * s.seq, s.heads * s.head_dim);
    let rows = s.batch * s.heads * s.seq;
    let qkv = plan.buffer("qkv", tokens * 3 * d);
    let bias = s.bias.then(|| plan.buffer("bias", s.seq * s.seq));
    let out = plan.buffer("out", tokens * d);
    let lse = plan.buffer("lse", rows);
    let d_out = plan.buffer("d_out", tokens * d);
    let delta = plan.buffer("delta", rows);
    let d_qkv = plan.buffer("d_qkv", tokens * 3 * d);
    let probs = plan.buffer("probs", rows * s.seq);
    let dims = AttentionDims { batch: s.batch, seq: s.seq, heads: s.heads, head_dim: s.head_dim, causal: s.causal };
    let forward = AttentionForward { qkv, bias, out, lse, dims };
    let backward = AttentionBackward { qkv, bias, out, lse, d_out, delta, d_qkv, dims };
    let probs = AttentionProbs { qkv, bias, probs, dims };
    let qkv = rng.vec(qkv.len).iter().map(|v| 2.0 * v).collect();
    let d_out = rng.vec(d_out.len);
    let bias = bias.map(|b| rng.vec(b.len));
    Case { plan, forward, backward, probs, qkv, d_out, bias }
}

const fn shape(batch: usize, seq: usize, heads: usize, head_dim: usize, causal: bool, bias: bool) -> Shape {
    Shape { batch, seq, heads, head_dim, causal, bias }
}

/// Sequences of 1, 3, 17, 33, 65 and 225 against the shaders' 64-row blocks and 16-row tiles and the CPU's
/// 64-query blocks; heads of 1, 3, 16 and 32 dimensions (one register chunk of 16 or 32) and 70 (two chunks of
/// 64, the second mostly padding). The backward is one dispatch (`attention_backward_short`) on all but the
/// heads of 70, the sequences of 225 and those of 65 with 32-dimension heads, which take the two tiled passes.
const AWKWARD_SHAPES: [Shape; 14] = [
    shape(1, 1, 1, 1, false, false),
    shape(1, 1, 3, 3, true, true),
    shape(3, 3, 2, 1, true, false),
    shape(2, 3, 3, 3, false, true),
    shape(1, 17, 1, 16, true, true),
    shape(2, 17, 2, 3, false, false),
    shape(1, 33, 2, 32, false, true),
    shape(2, 33, 1, 16, true, false),
    shape(2, 65, 3, 3, false, false),
    shape(1, 65, 1, 70, true, true),
    shape(1, 225, 2, 16, false, true),
    shape(1, 225, 1, 32, true, false),
    shape(2, 65, 2, 32, true, true),
    shape(2, 3, 1, 70, false, true),
];

/// The one-dispatch backward's shapes: sequences of 1, 3, 4 (grokking), 17, 33 and 36 (a 6x6 Sudoku) with heads
/// of 1, 8 and 32 dimensions, pair counts that leave the last workgroup part empty, causal and biased.
const SHORT_SHAPES: [Shape; 18] = [
    shape(3, 1, 5, 1, false, false),
    shape(2, 1, 3, 8, true, true),
    shape(1, 1, 1, 32, false, true),
    shape(5, 3, 3, 1, true, false),
    shape(3, 3, 2, 8, false, true),
    shape(2, 3, 1, 32, true, true),
    shape(7, 4, 3, 1, false, true),
    shape(5, 4, 2, 8, true, false),
    shape(9, 4, 4, 32, false, false),
    shape(2, 17, 1, 1, false, true),
    shape(3, 17, 2, 8, true, true),
    shape(1, 17, 3, 32, false, false),
    shape(2, 33, 1, 1, true, true),
    shape(1, 33, 2, 8, false, false),
    shape(2, 33, 2, 32, true, false),
    shape(1, 36, 3, 1, false, false),
    shape(2, 36, 1, 8, true, true),
    shape(3, 36, 2, 32, false, true),
];

#[test]
fn attention_matches_cpu_on_awkward_shapes() {
    for (i, s) in AWKWARD_SHAPES.into_iter().enumerate() {
        let c = case(s, i as u64);
        let results = run_both(&c.plan, &c.inputs(&c.qkv), || c.kernels(), &c.outputs());
        for ((cpu, gpu), name) in results.iter().zip(OUTPUTS) {
            assert_close(&format!("attention {s:?} {name}"), cpu, gpu, 1e-5);
        }
    }
}

#[test]
fn attention_short_backward_matches_cpu() {
    for (i, s) in SHORT_SHAPES.into_iter().enumerate() {
        let c = case(s, 200 + i as u64);
        let entries: Vec<&str> = c.backward.launches().iter().map(|l| l.entry).collect();
        assert_eq!(entries, ["attention_backward_short"], "{s:?}");
        let results = run_both(&c.plan, &c.inputs(&c.qkv), || c.kernels(), &c.outputs());
        for ((cpu, gpu), name) in results.iter().zip(OUTPUTS) {
            assert_close(&format!("attention {s:?} {name}"), cpu, gpu, 1e-5);
        }
    }
}

/// Sequences too long for one workgroup, and heads wider than a register chunk, keep the two tiled passes.
#[test]
fn attention_backward_is_tiled_where_a_pair_does_not_fit() {
    for s in [shape(2, 65, 2, 32, true, true), shape(1, 225, 1, 16, false, false), shape(2, 3, 1, 70, false, true)] {
        let entries: Vec<&str> = case(s, 0).backward.launches().iter().map(|l| l.entry).collect();
        assert_eq!(entries, ["attention_backward_query", "attention_backward_key"], "{s:?}");
    }
}

/// The oracle's view of a case: key j of query i with `bias[i, j]`, or none past i when causal.
fn naive_keys(s: Shape, bias: Option<&[f32]>) -> impl Fn(usize, usize) -> Vec<(usize, f64, usize)> + '_ {
    move |_, i| {
        let visible = if s.causal { i + 1 } else { s.seq };
        (0..visible).map(|j| (j, bias.map_or(0.0, |b| b[i * s.seq + j] as f64), 0)).collect()
    }
}

/// The fast CPU path (sgemm over blocks of 64 queries, probabilities recomputed in the backward) against the
/// naive oracle, on the awkward shapes and more blocks (130 queries: two full and one partial).
#[test]
fn attention_cpu_matches_naive_attention() {
    let more = [shape(2, 130, 2, 8, true, true), shape(1, 130, 3, 5, false, false)];
    for (i, s) in AWKWARD_SHAPES.into_iter().chain(more).enumerate() {
        let c = case(s, 100 + i as u64);
        let cpu = run_cpu(&c.plan, &c.inputs(&c.qkv), c.kernels(), &c.outputs());
        let keys = naive_keys(s, c.bias.as_deref());
        let naive = Naive { batch: s.batch, seq: s.seq, heads: s.heads, head_dim: s.head_dim, keys: &keys };
        let want = naive.run(&c.qkv, &c.d_out, s.seq, 1);
        for ((got, want), name) in cpu.iter().zip([&want.out, &want.lse, &want.d_qkv, &want.probs]).zip(OUTPUTS) {
            assert_close(&format!("attention {s:?} {name}: naive vs cpu"), want, got, 1e-5);
        }
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

/// d_qkv from the CPU backward with d_out = W is the gradient of sum(out * W), the forward rerun per nudge.
#[test]
fn attention_backward_matches_finite_difference() {
    for s in [shape(2, 3, 2, 2, false, true), shape(1, 70, 1, 3, true, false)] {
        let c = case(s, 11);
        let fwd = &c.forward;
        let loss = |qkv: &[f32]| {
            let out = run_cpu(&c.plan, &c.inputs(qkv), vec![Box::new(fwd.clone())], &[fwd.out]).remove(0);
            out.iter().zip(&c.d_out).map(|(&o, &w)| o as f64 * w as f64).sum::<f64>()
        };
        let analytic = run_cpu(&c.plan, &c.inputs(&c.qkv), c.kernels(), &[c.backward.d_qkv]).remove(0);
        // Every element of the small case; a stride through the long one (queries of both CPU blocks).
        let step = if s.seq > 8 { 7 } else { 1 };
        let picked: Vec<usize> = (0..analytic.len()).step_by(step).collect();
        let analytic_picked: Vec<f32> = picked.iter().map(|&i| analytic[i]).collect();
        assert_gradient(&format!("attention {s:?} d_qkv"), &analytic_picked, |n| {
            finite_difference(&loss, &c.qkv, picked[n], 1e-2)
        });
    }
}

#[test]
#[should_panic(expected = "lse has 5 elements, expected 6")]
fn attention_refuses_statistics_of_the_wrong_shape() {
    let c = case(shape(1, 3, 2, 2, false, false), 3);
    let forward = AttentionForward { lse: c.forward.lse.slice(0, 5), ..c.forward.clone() };
    forward.launches();
}
