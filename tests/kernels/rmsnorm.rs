use super::*;
use looplab::ops::rmsnorm::{RmsNormBackward, RmsNormForward};

const EPS: f32 = 1e-5;

struct Setup {
    plan: MemoryPlan,
    x: Tensor,
    weight: Option<Tensor>,
    out: Tensor,
    rstd: Tensor,
    d_out: Tensor,
    d_x: Tensor,
    d_weight: Option<Tensor>,
}

/// `out` and `rstd` are views of one activation pool (both written by the forward); the weight and its
/// gradient sit at the same offset of a parameter and a gradient pool.
fn setup(rows: usize, d: usize, weighted: bool) -> Setup {
    let mut plan = MemoryPlan::default();
    let params = plan.pool("params");
    plan.carve(params, 5);
    let weight = weighted.then(|| plan.carve(params, d));
    let grads = plan.buffer("grads", plan.len(params)).buf;
    let activations = plan.pool("activations");
    Setup {
        x: plan.buffer("x", rows * d),
        out: plan.carve(activations, rows * d),
        rstd: plan.carve(activations, rows),
        d_out: plan.buffer("d_out", rows * d),
        d_x: plan.buffer("d_x", rows * d),
        d_weight: weight.map(|w| w.in_buf(grads)),
        weight,
        plan,
    }
}

fn kernels(s: &Setup, rows: usize, d: usize, accumulate_dx: bool) -> Vec<Box<dyn Kernel>> {
    vec![
        Box::new(RmsNormForward { x: s.x, weight: s.weight, out: s.out, rstd: s.rstd, rows, d, eps: EPS }),
        Box::new(RmsNormBackward {
            x: s.x,
            weight: s.weight,
            rstd: s.rstd,
            d_out: s.d_out,
            d_x: s.d_x,
            d_weight: s.d_weight,
            rows,
            d,
            accumulate_dx,
        }),
    ]
}

fn case(rows: usize, d: usize, weighted: bool, accumulate_dx: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    let s = setup(rows, d, weighted);
    let mut inputs = vec![
        (s.x, Data::F32(rng.vec(rows * d))),
        (s.d_out, Data::F32(rng.vec(rows * d))),
        (s.d_x, Data::F32(rng.vec(rows * d))),
    ];
    if let (Some(w), Some(dw)) = (s.weight, s.d_weight) {
        inputs.push((w, Data::F32(rng.vec(d).iter().map(|v| 1.0 + 0.5 * v).collect())));
        inputs.push((dw, Data::F32(rng.vec(d))));
    }
    let outputs: Vec<Tensor> = [s.out, s.rstd, s.d_x].into_iter().chain(s.d_weight).collect();
    let name = format!("rmsnorm rows={rows} d={d} weight={weighted} acc_dx={accumulate_dx}");
    check(&name, &s.plan, &inputs, || kernels(&s, rows, d, accumulate_dx), &outputs, 2e-5);
}

#[test]
fn rmsnorm_matches_cpu_on_awkward_shapes() {
    let mut seed = 0;
    for (rows, d) in [(1, 1), (3, 17), (65, 64), (17, 65), (300, 33), (5, 512)] {
        for (weighted, accumulate_dx) in [(true, false), (false, true), (true, true), (false, false)] {
            seed += 1;
            case(rows, d, weighted, accumulate_dx, seed);
        }
    }
}

#[test]
fn rmsnorm_backward_matches_finite_differences() {
    let (rows, d) = (3, 5);
    for weighted in [true, false] {
        let mut rng = Rng::new(5);
        let s = setup(rows, d, weighted);
        let (x0, w0, loss_weights) = (rng.vec(rows * d), rng.vec(d), rng.vec(rows * d));
        let loss = |x: &[f32], w: &[f32]| -> f64 {
            let mut inputs = vec![(s.x, Data::F32(x.to_vec()))];
            inputs.extend(s.weight.map(|t| (t, Data::F32(w.to_vec()))));
            let forward = RmsNormForward { x: s.x, weight: s.weight, out: s.out, rstd: s.rstd, rows, d, eps: EPS };
            let out = run_cpu(&s.plan, &inputs, vec![Box::new(forward)], &[s.out]).remove(0);
            out.iter().zip(&loss_weights).map(|(o, l)| *o as f64 * *l as f64).sum()
        };
        let mut inputs = vec![(s.x, Data::F32(x0.clone())), (s.d_out, Data::F32(loss_weights.clone()))];
        inputs.extend(s.weight.map(|t| (t, Data::F32(w0.clone()))));
        let outputs: Vec<Tensor> = [s.d_x].into_iter().chain(s.d_weight).collect();
        let grads = run_cpu(&s.plan, &inputs, kernels(&s, rows, d, false), &outputs);
        let numeric_x: Vec<f32> =
            (0..x0.len()).map(|i| finite_difference(|x| loss(x, &w0), &x0, i, 1e-2) as f32).collect();
        assert_close(&format!("rmsnorm d_x weight={weighted} vs finite differences"), &grads[0], &numeric_x, 1e-2);
        if weighted {
            let numeric_w: Vec<f32> =
                (0..d).map(|i| finite_difference(|w| loss(&x0, w), &w0, i, 1e-2) as f32).collect();
            assert_close("rmsnorm d_weight vs finite differences", &grads[1], &numeric_w, 1e-2);
        }
    }
}
