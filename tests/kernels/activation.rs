//! The activations forward, and their gradients as they run: in the epilogue of the product that yields
//! dL/d(activation output) (`Matmul::activation_grad`, here `d_out · I` so the product is `d_out` itself;
//! tests/kernels/matmul.rs runs the epilogue on real products and every path).
use super::*;
use looplab::ops::activation::{ActivationGrad, GeluForward, SwigluForward};
use looplab::ops::matmul::Matmul;

struct Setup {
    plan: MemoryPlan,
    x: Tensor,
    out: Tensor,
    d_out: Tensor,
    d_x: Tensor,
    /// The identity `[hidden, hidden]`.
    eye: Tensor,
    rows: usize,
    hidden: usize,
}

fn setup(rows: usize, hidden: usize, act: ActivationGrad) -> Setup {
    let mut plan = MemoryPlan::default();
    let x_len = rows * hidden * act.width();
    Setup {
        x: plan.buffer("x", x_len),
        out: plan.buffer("out", rows * hidden),
        d_out: plan.buffer("d_out", rows * hidden),
        d_x: plan.buffer("d_x", x_len),
        eye: plan.buffer("eye", hidden * hidden),
        rows,
        hidden,
        plan,
    }
}

fn backward(s: &Setup, act: ActivationGrad) -> Box<dyn Kernel> {
    let (rows, hidden) = (s.rows, s.hidden);
    Box::new(Matmul::new(s.d_out, s.eye, s.d_x, rows, hidden, hidden).trans_b().activation_grad(act, s.x))
}

fn swiglu(s: &Setup) -> Vec<Box<dyn Kernel>> {
    let (rows, hidden) = (s.rows, s.hidden);
    vec![Box::new(SwigluForward { x: s.x, out: s.out, rows, hidden }), backward(s, ActivationGrad::Swiglu)]
}

fn gelu(s: &Setup) -> Vec<Box<dyn Kernel>> {
    vec![Box::new(GeluForward { x: s.x, out: s.out }), backward(s, ActivationGrad::Gelu)]
}

fn eye(n: usize) -> Vec<f32> {
    (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect()
}

/// Inputs in [-range, range]; the outputs start as garbage so a skipped element shows up.
fn inputs(s: &Setup, rng: &mut Rng, range: f32) -> Vec<(Tensor, Data)> {
    vec![
        (s.x, Data::F32(rng.vec(s.x.len).iter().map(|v| v * range).collect())),
        (s.d_out, Data::F32(rng.vec(s.out.len))),
        (s.out, Data::F32(vec![f32::NAN; s.out.len])),
        (s.d_x, Data::F32(vec![f32::NAN; s.x.len])),
        (s.eye, Data::F32(eye(s.hidden))),
    ]
}

#[test]
fn swiglu_matches_cpu_on_awkward_shapes() {
    for (i, (rows, hidden)) in [(1, 1), (3, 17), (65, 33), (5, 64), (200, 65)].into_iter().enumerate() {
        let mut rng = Rng::new(i as u64);
        let s = setup(rows, hidden, ActivationGrad::Swiglu);
        let range = if i % 2 == 0 { 2.0 } else { 20.0 }; // large gates saturate the sigmoid
        let inputs = inputs(&s, &mut rng, range);
        check(&format!("swiglu rows={rows} hidden={hidden}"), &s.plan, &inputs, || swiglu(&s), &[s.out, s.d_x], 1e-5);
    }
}

#[test]
fn gelu_matches_cpu_on_awkward_sizes() {
    for (i, &n) in AWKWARD.iter().chain(&[1000]).enumerate() {
        let mut rng = Rng::new(i as u64);
        let s = setup(1, n, ActivationGrad::Gelu);
        let range = if i % 2 == 0 { 3.0 } else { 30.0 }; // large inputs reach tanh's clamp
        let inputs = inputs(&s, &mut rng, range);
        check(&format!("gelu n={n}"), &s.plan, &inputs, || gelu(&s), &[s.out, s.d_x], 1e-5);
    }
}

/// d_x from the CPU backward against central differences of `sum(out * d_out)` through the CPU forward.
fn check_finite_differences(
    name: &str,
    s: &Setup,
    kernels: Vec<Box<dyn Kernel>>,
    forward: impl Fn() -> Vec<Box<dyn Kernel>>,
) {
    let mut rng = Rng::new(3);
    let (x0, loss_weights) = (rng.vec(s.x.len).iter().map(|v| v * 3.0).collect::<Vec<_>>(), rng.vec(s.out.len));
    let loss = |x: &[f32]| -> f64 {
        let out = run_cpu(&s.plan, &[(s.x, Data::F32(x.to_vec()))], forward(), &[s.out]).remove(0);
        out.iter().zip(&loss_weights).map(|(o, w)| *o as f64 * *w as f64).sum()
    };
    let inputs =
        [(s.x, Data::F32(x0.clone())), (s.d_out, Data::F32(loss_weights.clone())), (s.eye, Data::F32(eye(s.hidden)))];
    let d_x = run_cpu(&s.plan, &inputs, kernels, &[s.d_x]).remove(0);
    let numeric: Vec<f32> = (0..x0.len()).map(|i| finite_difference(&loss, &x0, i, 1e-2) as f32).collect();
    assert_close(&format!("{name} d_x vs finite differences"), &d_x, &numeric, 1e-2);
}

#[test]
fn activation_backwards_match_finite_differences() {
    let (rows, hidden) = (2, 3);
    let s = setup(rows, hidden, ActivationGrad::Swiglu);
    check_finite_differences("swiglu", &s, swiglu(&s), || {
        vec![Box::new(SwigluForward { x: s.x, out: s.out, rows, hidden })]
    });
    let s = setup(1, 9, ActivationGrad::Gelu);
    check_finite_differences("gelu", &s, gelu(&s), || vec![Box::new(GeluForward { x: s.x, out: s.out })]);
}
