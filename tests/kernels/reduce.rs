use super::*;
use looplab::ops::reduce::{ExactMatch, Reduce, Reduction};

/// Runs one reduction of `x` into a slot that starts at `start`, returning (cpu, gpu).
fn reduce_both(x: &[f32], op: Reduction, accumulate: bool, start: f32) -> (f32, f32) {
    let mut plan = MemoryPlan::default();
    let xt = plan.buffer("x", x.len());
    let out = plan.buffer("out", 1);
    let inputs = [(xt, Data::F32(x.to_vec())), (out, Data::F32(vec![start]))];
    let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(Reduce { x: xt, out, op, accumulate })] };
    let (cpu, gpu) = run_both(&plan, &inputs, kernels, &[out]).remove(0);
    (cpu[0], gpu[0])
}

#[test]
fn reduce_matches_cpu_on_awkward_sizes() {
    let mut rng = Rng::new(3);
    for (i, &n) in AWKWARD.iter().chain(&[255, 256, 257, 1000]).enumerate() {
        let op = if i % 2 == 0 { Reduction::Sum } else { Reduction::SumSquares };
        let accumulate = i % 3 == 0;
        let (cpu, gpu) = reduce_both(&rng.vec(n), op, accumulate, 0.75);
        assert_close(&format!("reduce {op:?} n={n} acc={accumulate}"), &[cpu], &[gpu], 1e-5);
    }
}

#[test]
fn reduce_a_million_elements() {
    let mut rng = Rng::new(4);
    let x = rng.vec(1 << 20);
    for op in [Reduction::Sum, Reduction::SumSquares] {
        let (cpu, gpu) = reduce_both(&x, op, false, 0.0);
        assert_close(&format!("reduce {op:?} n=2^20"), &[cpu], &[gpu], 1e-4);
    }
}

#[test]
fn reduce_sets_instead_of_accumulating() {
    let (cpu, gpu) = reduce_both(&[1.0, 2.0, 3.0], Reduction::SumSquares, false, 100.0);
    assert_eq!((cpu, gpu), (14.0, 14.0));
    let (cpu, gpu) = reduce_both(&[1.0, 2.0, 3.0], Reduction::Sum, true, 100.0);
    assert_eq!((cpu, gpu), (106.0, 106.0));
}

#[test]
fn reduce_propagates_nan_and_inf() {
    let mut rng = Rng::new(5);
    for (bad, n, at) in [(f32::NAN, 1000, 999), (f32::INFINITY, 300, 17), (f32::NEG_INFINITY, 5, 0)] {
        let mut x = rng.vec(n);
        x[at] = bad;
        for op in [Reduction::Sum, Reduction::SumSquares] {
            let (cpu, gpu) = reduce_both(&x, op, false, 0.0);
            println!("reduce {op:?} with {bad} at {at}: cpu {cpu}, gpu {gpu}");
            assert!(!cpu.is_finite() && !gpu.is_finite(), "{op:?}: {bad} did not propagate (cpu {cpu}, gpu {gpu})");
            assert_eq!(cpu.is_nan(), gpu.is_nan(), "{op:?} with {bad}: cpu {cpu} vs gpu {gpu}");
            if !cpu.is_nan() {
                assert_eq!(cpu, gpu);
            }
        }
    }
}

/// Exact match on hand-built examples (known answers), then GPU against CPU on random flags.
#[test]
fn exact_match_flags_whole_examples() {
    let run = |correct: Vec<f32>, supervised: Vec<f32>, batch: usize, seq: usize| {
        let mut plan = MemoryPlan::default();
        let (c, s) = (plan.buffer("correct", batch * seq), plan.buffer("supervised", batch * seq));
        let (exact, has) = (plan.buffer("exact", batch), plan.buffer("has_target", batch));
        let inputs = [(c, Data::F32(correct)), (s, Data::F32(supervised))];
        let kernels = || -> Vec<Box<dyn Kernel>> {
            vec![Box::new(ExactMatch { correct: c, supervised: s, exact, has_target: has, batch, seq })]
        };
        let out = run_both(&plan, &inputs, kernels, &[exact, has]);
        for (i, (cpu, gpu)) in out.iter().enumerate() {
            assert_eq!(cpu, gpu, "output {i}");
        }
        (out[0].0.clone(), out[1].0.clone())
    };
    // Examples of 3 rows: all right; one supervised row wrong; the wrong row unsupervised; nothing supervised.
    let correct = vec![1., 1., 1., 1., 0., 1., 1., 0., 1., 0., 0., 0.];
    let supervised = vec![1., 1., 1., 1., 1., 0., 1., 0., 1., 0., 0., 0.];
    let (exact, has) = run(correct, supervised, 4, 3);
    assert_eq!(exact, vec![1., 0., 1., 0.]);
    assert_eq!(has, vec![1., 1., 1., 0.]);

    let mut rng = Rng::new(9);
    for &(batch, seq) in &[(1, 1), (17, 3), (300, 5), (65, 81)] {
        let flags = |rng: &mut Rng| (0..batch * seq).map(|_| (rng.below(10) > 0) as u32 as f32).collect::<Vec<_>>();
        let (correct, supervised) = (flags(&mut rng), flags(&mut rng));
        run(correct, supervised, batch, seq);
    }
}
