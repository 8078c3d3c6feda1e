use super::*;
use looplab::ops::adamw::{AdamW, Ema};

struct Setup {
    plan: MemoryPlan,
    params: Tensor,
    grads: Tensor,
    m: Tensor,
    v: Tensor,
    step_info: Tensor,
    grad_norm_sq: Tensor,
}

/// The optimizer's layout: parameters, gradients and moments in buffers of their own; step info and the
/// gradient norm in a metrics buffer.
fn setup(n: usize) -> Setup {
    let mut plan = MemoryPlan::default();
    let params = plan.buffer("params", n);
    let grads = params.in_buf(plan.buffer("grads", n).buf);
    let m = params.in_buf(plan.buffer("m", n).buf);
    let v = params.in_buf(plan.buffer("v", n).buf);
    let metrics = plan.pool("metrics");
    let (step_info, grad_norm_sq) = (plan.carve(metrics, 2), plan.carve(metrics, 1));
    Setup { plan, params, grads, m, v, step_info, grad_norm_sq }
}

fn adamw(s: &Setup, clip: f32, decay_len: usize) -> AdamW {
    AdamW {
        params: s.params,
        grads: s.grads,
        m: s.m,
        v: s.v,
        step_info: s.step_info,
        grad_norm_sq: s.grad_norm_sq,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.1,
        clip,
        decay_len,
    }
}

/// Random state; `norm_sq` None writes the true squared norm of the gradients.
fn inputs(s: &Setup, rng: &mut Rng, t: f32, norm_sq: Option<f32>) -> Vec<(Tensor, Data)> {
    let n = s.params.len;
    let grads = rng.vec(n);
    let true_norm_sq = grads.iter().map(|g| g * g).sum();
    vec![
        (s.params, Data::F32(rng.vec(n))),
        (s.grads, Data::F32(grads)),
        (s.m, Data::F32(rng.vec(n).iter().map(|x| 0.1 * x).collect())),
        (s.v, Data::F32(rng.vec(n).iter().map(|x| 0.01 * x.abs()).collect())),
        (s.step_info, Data::F32(vec![t, 3e-2])),
        (s.grad_norm_sq, Data::F32(vec![norm_sq.unwrap_or(true_norm_sq)])),
    ]
}

#[test]
fn adamw_matches_cpu_with_and_without_clipping() {
    let mut seed = 0;
    for n in [1, 65, 1000] {
        for t in [1.0, 2.0, 10.0, 1000.0] {
            // clip 0: off; 0.5: active (norms are ~sqrt(n/3)); 1e6: on but never binding.
            for clip in [0.0, 0.5, 1e6] {
                seed += 1;
                let mut rng = Rng::new(seed);
                let s = setup(n);
                let decay_len = n * 2 / 3;
                let inputs = inputs(&s, &mut rng, t, None);
                let name = format!("adamw n={n} t={t} clip={clip} decay_len={decay_len}");
                let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(adamw(&s, clip, decay_len))] };
                check(&name, &s.plan, &inputs, kernels, &[s.params, s.m, s.v], 1e-5);
            }
        }
    }
}

#[test]
fn adamw_skips_the_step_when_the_norm_is_not_finite() {
    for (i, norm_sq) in [f32::NAN, f32::INFINITY, -f32::NAN].into_iter().enumerate() {
        let mut rng = Rng::new(i as u64);
        let s = setup(300);
        let inputs = inputs(&s, &mut rng, 3.0, Some(norm_sq));
        let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(adamw(&s, 1.0, 100))] };
        let results = run_both(&s.plan, &inputs, kernels, &[s.params, s.m, s.v]);
        let before_state = [&inputs[0].1, &inputs[2].1, &inputs[3].1]; // params, m, v
        for ((cpu, gpu), before) in results.iter().zip(before_state) {
            let Data::F32(before) = before else { unreachable!() };
            assert_eq!(cpu, before, "cpu reference changed state with norm_sq = {norm_sq}");
            assert_eq!(gpu, before, "gpu changed state with norm_sq = {norm_sq}");
        }
        println!("adamw norm_sq={norm_sq}: params, m, v unchanged on both backends");
    }
}

#[test]
fn adamw_cpu_reference_follows_the_formula() {
    // One element by hand: g = 0.5 scaled by clip/(norm+1e-6) = 0.25/(0.5+1e-6).
    let s = setup(2);
    let inputs = [
        (s.params, Data::F32(vec![1.0, 1.0])),
        (s.grads, Data::F32(vec![0.5, 0.0])),
        (s.step_info, Data::F32(vec![1.0, 0.1])),
        (s.grad_norm_sq, Data::F32(vec![0.25])),
    ];
    let out = run_cpu(&s.plan, &inputs, vec![Box::new(adamw(&s, 0.25, 1))], &[s.params]).remove(0);
    let g = 0.5 * 0.25 / (0.5 + 1e-6);
    // Bias-corrected m/sqrt(v) at t = 1 is g/|g| = 1 (up to eps); decay 0.1*0.1 on the first element only.
    let expected = [1.0 - 0.01 - 0.1 * g / (g + 1e-8), 1.0];
    assert_close("adamw by hand", &out, &expected, 1e-6);
}

#[test]
fn ema_matches_cpu() {
    for (i, &n) in AWKWARD.iter().chain(&[1000]).enumerate() {
        let mut rng = Rng::new(i as u64);
        let mut plan = MemoryPlan::default();
        let params = plan.buffer("params", n);
        let ema = plan.buffer("ema", n);
        let inputs = [(params, Data::F32(rng.vec(n))), (ema, Data::F32(rng.vec(n)))];
        let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(Ema { params, ema, decay: 0.99 })] };
        check(&format!("ema n={n}"), &plan, &inputs, kernels, &[ema], 1e-6);
    }
}
