use super::*;
use looplab::ops::halting::{HaltBackward, HaltForward};

struct Setup {
    plan: MemoryPlan,
    x: Tensor,
    weight: Tensor,
    bias: Tensor,
    exact: Tensor,
    has_target: Tensor,
    q: Tensor,
    losses: Tensor,
    d_q: Tensor,
    d_x: Tensor,
    d_weight: Tensor,
    d_bias: Tensor,
}

/// Weight and bias in one pool with their gradients in another, as the trainer lays parameters out.
fn setup(batch: usize, seq: usize, d: usize) -> Setup {
    let mut plan = MemoryPlan::default();
    let params = plan.pool("params");
    let (weight, bias) = (plan.carve(params, d), plan.carve(params, 1));
    let grads = plan.buffer("grads", plan.len(params)).buf;
    Setup {
        x: plan.buffer("x", batch * seq * d),
        exact: plan.buffer("exact", batch),
        has_target: plan.buffer("has_target", batch),
        q: plan.buffer("q", batch),
        losses: plan.buffer("losses", batch),
        d_q: plan.buffer("d_q", batch),
        d_x: plan.buffer("d_x", batch * seq * d),
        d_weight: weight.in_buf(grads),
        d_bias: bias.in_buf(grads),
        weight,
        bias,
        plan,
    }
}

fn kernels(s: &Setup, batch: usize, seq: usize, d: usize, scale: f32) -> Vec<Box<dyn Kernel>> {
    vec![
        Box::new(HaltForward {
            x: s.x,
            weight: s.weight,
            bias: s.bias,
            exact: s.exact,
            has_target: s.has_target,
            q: s.q,
            losses: s.losses,
            d_q: s.d_q,
            batch,
            seq,
            d,
            scale,
        }),
        Box::new(HaltBackward {
            x: s.x,
            weight: s.weight,
            d_q: s.d_q,
            d_x: s.d_x,
            d_weight: s.d_weight,
            d_bias: s.d_bias,
            batch,
            seq,
            d,
        }),
    ]
}

/// Random flags, some examples without a target (their loss and gradient must be 0).
fn inputs(s: &Setup, batch: usize, seq: usize, d: usize, rng: &mut Rng) -> Vec<(Tensor, Data)> {
    let flags = |rng: &mut Rng| (0..batch).map(|_| rng.below(2) as f32).collect::<Vec<_>>();
    let bias = vec![4.0 * rng.uniform() - 2.0];
    vec![
        (s.x, Data::F32(rng.vec(batch * seq * d))),
        (s.weight, Data::F32(rng.vec(d))),
        (s.bias, Data::F32(bias)),
        (s.exact, Data::F32(flags(rng))),
        (s.has_target, Data::F32(flags(rng))),
        (s.d_x, Data::F32(rng.vec(batch * seq * d))), // gradients accumulate onto what is there
        (s.d_weight, Data::F32(rng.vec(d))),
        (s.d_bias, Data::F32(vec![0.5])),
    ]
}

#[test]
fn halting_head_matches_cpu_on_awkward_shapes() {
    for (i, &(batch, seq, d)) in [(1, 1, 1), (3, 5, 17), (65, 4, 33), (300, 2, 64)].iter().enumerate() {
        let s = setup(batch, seq, d);
        let data = inputs(&s, batch, seq, d, &mut Rng::new(i as u64));
        let outputs = [s.q, s.losses, s.d_q, s.d_x, s.d_weight, s.d_bias];
        check(
            &format!("halting b={batch} seq={seq} d={d}"),
            &s.plan,
            &data,
            || kernels(&s, batch, seq, d, 0.7),
            &outputs,
            1e-5,
        );
        let results = run_cpu(&s.plan, &data, kernels(&s, batch, seq, d, 0.7), &[s.losses, s.d_q]);
        let (Data::F32(has_target), Data::F32(d_x0)) = (&data[4].1, &data[5].1) else { unreachable!() };
        for b in 0..batch {
            if has_target[b] < 0.5 {
                assert_eq!((results[0][b], results[1][b]), (0.0, 0.0), "example {b} has no target");
            }
        }
        // Only the first token of each example receives gradient.
        let d_x = &run_cpu(&s.plan, &data, kernels(&s, batch, seq, d, 0.7), &[s.d_x])[0];
        for r in (0..batch * seq).filter(|r| r % seq != 0) {
            assert_eq!(&d_x[r * d..(r + 1) * d], &d_x0[r * d..(r + 1) * d], "row {r}");
        }
    }
}

/// The backward against finite differences of the mean loss over the batch.
#[test]
fn halting_backward_matches_finite_differences() {
    let (batch, seq, d) = (5, 3, 4);
    let s = setup(batch, seq, d);
    let mut rng = Rng::new(9);
    let mut data = inputs(&s, batch, seq, d, &mut rng);
    data.truncate(5);
    data.push((s.d_x, Data::F32(vec![0.0; batch * seq * d])));
    data.push((s.d_weight, Data::F32(vec![0.0; d])));
    data.push((s.d_bias, Data::F32(vec![0.0])));
    let grads = run_cpu(&s.plan, &data, kernels(&s, batch, seq, d, 1.0), &[s.d_x, s.d_weight, s.d_bias]);
    // The mean loss with one input replaced.
    let loss = |which: usize, values: &[f32]| -> f64 {
        let mut changed = data.clone();
        changed[which].1 = Data::F32(values.to_vec());
        let out = run_cpu(&s.plan, &changed, kernels(&s, batch, seq, d, 1.0), &[s.losses]);
        out[0].iter().map(|&l| l as f64).sum::<f64>() / batch as f64
    };
    for (which, grad) in [(0, &grads[0]), (1, &grads[1]), (2, &grads[2])] {
        let Data::F32(x0) = &data[which].1 else { unreachable!() };
        for (i, &g) in grad.iter().enumerate() {
            let numeric = finite_difference(|v| loss(which, v), x0, i, 1e-2);
            let analytic = g as f64;
            assert!(
                (numeric - analytic).abs() <= 1e-3 + 1e-2 * numeric.abs(),
                "input {which}[{i}]: analytic {analytic} vs numeric {numeric}"
            );
        }
    }
}
