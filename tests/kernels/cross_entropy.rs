use super::*;
use looplab::ops::cross_entropy::CrossEntropy;
use looplab::tasks::IGNORE;

struct Case {
    plan: MemoryPlan,
    op: CrossEntropy,
    inputs: Vec<(Tensor, Data)>,
}

/// Logits of spread 3 with a quarter of the rows ignored, a third of the others targeting their argmax (so
/// `correct` has both values), and row 0 all equal with target 0 (an argmax tie: the first maximum is correct).
fn case(rows: usize, vocab: usize, seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let mut plan = MemoryPlan::default();
    let logits = plan.buffer("logits", rows * vocab);
    let targets = plan.buffer("targets", rows);
    let op = CrossEntropy {
        logits,
        targets,
        d_logits: plan.buffer("d_logits", rows * vocab),
        losses: plan.buffer("losses", rows),
        correct: plan.buffer("correct", rows),
        supervised: plan.buffer("supervised", rows),
        count: plan.buffer("count", 1),
        rows,
        vocab,
        stablemax: false,
        scale: 1.0,
    };
    let mut x: Vec<f32> = rng.vec(rows * vocab).iter().map(|v| 3.0 * v).collect();
    x[..vocab].fill(0.5);
    let mut t: Vec<u32> = (0..rows)
        .map(|r| {
            let row = &x[r * vocab..(r + 1) * vocab];
            let argmax = (0..vocab).fold(0, |best, j| if row[j] > row[best] { j } else { best });
            match rng.below(12) {
                0..=2 => IGNORE,
                3..=5 => argmax as u32,
                _ => rng.below(vocab) as u32,
            }
        })
        .collect();
    t[0] = 0;
    // Stale values in the outputs, to check every element is written.
    let mut inputs = vec![(logits, Data::F32(x)), (targets, Data::U32(t))];
    for out in [op.d_logits, op.losses, op.correct, op.supervised, op.count] {
        inputs.push((out, Data::F32(vec![7.0; out.len])));
    }
    Case { plan, op, inputs }
}

fn compare(rows: usize, vocab: usize, seed: u64, stablemax: bool, scale: f32) {
    let Case { plan, mut op, inputs } = case(rows, vocab, seed);
    (op.stablemax, op.scale) = (stablemax, scale);
    let outputs = [op.d_logits, op.losses, op.correct, op.supervised, op.count];
    let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(op.clone())] };
    let results = run_both(&plan, &inputs, kernels, &outputs);
    let name = format!("cross_entropy {rows}x{vocab} stablemax={stablemax} scale={scale}");
    for ((cpu, gpu), output) in results.iter().zip(["d_logits", "losses", "correct", "supervised", "count"]) {
        assert_close(&format!("{name} {output}"), cpu, gpu, 1e-5);
    }
    // d_logits is divided by the count; compare it at the scale of one row so small errors are not hidden.
    let count = results[4].0[0].max(1.0);
    let scaled = |v: &[f32]| v.iter().map(|x| x * count / scale).collect::<Vec<f32>>();
    assert_close(&format!("{name} d_logits*count/scale"), &scaled(&results[0].0), &scaled(&results[0].1), 1e-5);
    let ties = results[2].0[0];
    println!("{name}: {count} supervised, tie row correct = {ties}");
}

#[test]
fn cross_entropy_matches_cpu_on_awkward_shapes() {
    for (i, &rows) in AWKWARD.iter().enumerate() {
        compare(rows, AWKWARD[(i + 3) % AWKWARD.len()], i as u64, false, 1.0);
    }
    compare(1500, 1000, 99, false, 1.0);
}

#[test]
fn cross_entropy_stablemax_and_scale_match_cpu() {
    for (i, &rows) in AWKWARD.iter().enumerate() {
        compare(rows, AWKWARD[(i + 3) % AWKWARD.len()], i as u64, true, 1.0);
        compare(rows, AWKWARD[(i + 5) % AWKWARD.len()], 10 + i as u64, i % 2 == 0, 0.3);
    }
    compare(1500, 1000, 99, true, 2.5);
}

/// Stablemax on one row by hand: logits [1, -1, 0] give s = [2, 1/2, 1], so p_0 = 2/3.5 and
/// d_logits = [1/3.5 - 1/2, (1/4)/3.5, 1/3.5].
#[test]
fn cross_entropy_stablemax_of_a_known_row() {
    let Case { plan, mut op, mut inputs } = case(1, 3, 0);
    op.stablemax = true;
    inputs[0] = (op.logits, Data::F32(vec![1.0, -1.0, 0.0]));
    inputs[1] = (op.targets, Data::U32(vec![0]));
    let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(op.clone())] };
    let results = run_both(&plan, &inputs, kernels, &[op.losses, op.d_logits]);
    let expected = [vec![1.75f32.ln()], vec![1.0 / 3.5 - 0.5, 0.25 / 3.5, 1.0 / 3.5]];
    for (((cpu, gpu), want), name) in results.iter().zip(&expected).zip(["losses", "d_logits"]) {
        assert_close(&format!("stablemax known row cpu {name}"), want, cpu, 1e-6);
        assert_close(&format!("stablemax known row gpu {name}"), want, gpu, 1e-6);
    }
}

/// p_t = exp(-loss) for target t, so repeating one row of logits with every target gives its whole
/// distribution, which must sum to 1.
#[test]
fn cross_entropy_stablemax_probabilities_sum_to_one() {
    let (vocab, blocks) = (17, 3);
    let Case { plan, mut op, mut inputs } = case(blocks * vocab, vocab, 4);
    op.stablemax = true;
    let Data::F32(x) = &mut inputs[0].1 else { unreachable!() };
    for r in 0..blocks * vocab {
        let first = r / vocab * vocab;
        x.copy_within(first * vocab..(first + 1) * vocab, r * vocab);
    }
    inputs[1] = (op.targets, Data::U32((0..blocks * vocab).map(|r| (r % vocab) as u32).collect()));
    let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(op.clone())] };
    for (cpu, gpu) in run_both(&plan, &inputs, kernels, &[op.losses]) {
        for (backend, losses) in [("cpu", cpu), ("gpu", gpu)] {
            let mut worst = 0f64;
            for (b, block) in losses.chunks_exact(vocab).enumerate() {
                let sum: f64 = block.iter().map(|&l| (-l as f64).exp()).sum();
                assert!((sum - 1.0).abs() < 1e-5, "stablemax {backend}: block {b} probabilities sum to {sum}");
                worst = worst.max((sum - 1.0).abs());
            }
            println!("stablemax {backend}: {blocks} distributions, max |sum - 1| {worst:.2e}");
        }
    }
}

#[test]
fn cross_entropy_with_every_row_ignored_writes_zeros() {
    let Case { plan, op, mut inputs } = case(5, 7, 1);
    inputs[1] = (op.targets, Data::U32(vec![IGNORE; 5]));
    let outputs = [op.d_logits, op.losses, op.correct, op.supervised, op.count];
    let kernels = || -> Vec<Box<dyn Kernel>> { vec![Box::new(op.clone())] };
    for (cpu, gpu) in run_both(&plan, &inputs, kernels, &outputs) {
        assert!(cpu.iter().chain(&gpu).all(|&v| v == 0.0), "cpu {cpu:?} gpu {gpu:?}");
    }
}

#[test]
#[should_panic(expected = "outside vocab")]
fn cross_entropy_cpu_refuses_targets_outside_vocab() {
    let Case { plan, op, mut inputs } = case(3, 4, 2);
    inputs[1] = (op.targets, Data::U32(vec![0, 4, IGNORE]));
    run_cpu(&plan, &inputs, vec![Box::new(op.clone())], &[op.losses]);
}

/// d_logits is the gradient of `scale` times the mean loss, for softmax and stablemax; the losses are unscaled.
#[test]
fn cross_entropy_gradient_matches_finite_difference() {
    for (stablemax, scale) in [(false, 1.0), (true, 1.0), (true, 0.5)] {
        let Case { plan, mut op, inputs } = case(4, 5, 3);
        (op.stablemax, op.scale) = (stablemax, scale);
        let (Data::F32(x), Data::U32(targets)) = (&inputs[0].1, &inputs[1].1) else { unreachable!() };
        let mean_loss = |logits: &[f32]| {
            let inputs = [(op.logits, Data::F32(logits.to_vec())), (op.targets, Data::U32(targets.clone()))];
            let outs = run_cpu(&plan, &inputs, vec![Box::new(op.clone())], &[op.losses, op.count]);
            outs[0].iter().map(|&l| l as f64).sum::<f64>() / outs[1][0] as f64
        };
        let analytic = run_cpu(&plan, &inputs, vec![Box::new(op.clone())], &[op.d_logits]).remove(0);
        let name = format!("cross_entropy stablemax={stablemax} scale={scale} d_logits");
        super::attention::assert_gradient(&name, &analytic, |i| {
            scale as f64 * finite_difference(&mean_loss, x, i, 1e-2)
        });
    }
}
