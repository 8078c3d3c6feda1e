use super::*;
use looplab::ops::activation::{GeluBackward, GeluForward, SwigluBackward, SwigluForward};

struct Setup {
    plan: MemoryPlan,
    x: Tensor,
    out: Tensor,
    d_out: Tensor,
    d_x: Tensor,
}

fn setup(x_len: usize, out_len: usize) -> Setup {
    let mut plan = MemoryPlan::default();
    Setup {
        x: plan.buffer("x", x_len),
        out: plan.buffer("out", out_len),
        d_out: plan.buffer("d_out", out_len),
        d_x: plan.buffer("d_x", x_len),
        plan,
    }
}

fn swiglu(s: &Setup, rows: usize, hidden: usize) -> Vec<Box<dyn Kernel>> {
    vec![
        Box::new(SwigluForward { x: s.x, out: s.out, rows, hidden }),
        Box::new(SwigluBackward { x: s.x, d_out: s.d_out, d_x: s.d_x, rows, hidden }),
    ]
}

fn gelu(s: &Setup) -> Vec<Box<dyn Kernel>> {
    vec![Box::new(GeluForward { x: s.x, out: s.out }), Box::new(GeluBackward { x: s.x, d_out: s.d_out, d_x: s.d_x })]
}

/// Inputs in [-range, range]; the outputs start as garbage so a skipped element shows up.
fn inputs(s: &Setup, rng: &mut Rng, range: f32) -> Vec<(Tensor, Data)> {
    vec![
        (s.x, Data::F32(rng.vec(s.x.len).iter().map(|v| v * range).collect())),
        (s.d_out, Data::F32(rng.vec(s.out.len))),
        (s.out, Data::F32(vec![f32::NAN; s.out.len])),
        (s.d_x, Data::F32(vec![f32::NAN; s.x.len])),
    ]
}

#[test]
fn swiglu_matches_cpu_on_awkward_shapes() {
    for (i, (rows, hidden)) in [(1, 1), (3, 17), (65, 33), (5, 64), (200, 65)].into_iter().enumerate() {
        let mut rng = Rng::new(i as u64);
        let s = setup(rows * 2 * hidden, rows * hidden);
        let range = if i % 2 == 0 { 2.0 } else { 20.0 }; // large gates saturate the sigmoid
        let inputs = inputs(&s, &mut rng, range);
        check(
            &format!("swiglu rows={rows} hidden={hidden}"),
            &s.plan,
            &inputs,
            || swiglu(&s, rows, hidden),
            &[s.out, s.d_x],
            1e-5,
        );
    }
}

#[test]
fn gelu_matches_cpu_on_awkward_sizes() {
    for (i, &n) in AWKWARD.iter().chain(&[1000]).enumerate() {
        let mut rng = Rng::new(i as u64);
        let s = setup(n, n);
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
    let inputs = [(s.x, Data::F32(x0.clone())), (s.d_out, Data::F32(loss_weights.clone()))];
    let d_x = run_cpu(&s.plan, &inputs, kernels, &[s.d_x]).remove(0);
    let numeric: Vec<f32> = (0..x0.len()).map(|i| finite_difference(&loss, &x0, i, 1e-2) as f32).collect();
    assert_close(&format!("{name} d_x vs finite differences"), &d_x, &numeric, 1e-2);
}

#[test]
fn activation_backwards_match_finite_differences() {
    let (rows, hidden) = (2, 3);
    let s = setup(rows * 2 * hidden, rows * hidden);
    check_finite_differences("swiglu", &s, swiglu(&s, rows, hidden), || {
        vec![Box::new(SwigluForward { x: s.x, out: s.out, rows, hidden })]
    });
    let s = setup(9, 9);
    check_finite_differences("gelu", &s, gelu(&s), || vec![Box::new(GeluForward { x: s.x, out: s.out })]);
}
