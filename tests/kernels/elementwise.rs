use super::*;
use looplab::ops::elementwise::{Accumulate, Add, Broadcast, Copy, CopyRows, Fill, Transpose};

/// All four ops in one program, on views at non-zero offsets of shared pools.
fn case(n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut plan = MemoryPlan::default();
    let inputs_pool = plan.pool("inputs");
    plan.carve(inputs_pool, 3); // pushes the real views off offset 0
    let (a, b) = (plan.carve(inputs_pool, n), plan.carve(inputs_pool, n));
    let outputs_pool = plan.pool("outputs");
    let [sum, acc, copy, fill] = [0; 4].map(|_| plan.carve(outputs_pool, n));
    let inputs = [
        (a, Data::F32(rng.vec(n))),
        (b, Data::F32(rng.vec(n))),
        (sum, Data::F32(rng.vec(n))),
        (acc, Data::F32(rng.vec(n))),
        (copy, Data::F32(rng.vec(n))),
        (fill, Data::F32(rng.vec(n))),
    ];
    let kernels = || -> Vec<Box<dyn Kernel>> {
        vec![
            Box::new(Add { a, b, out: sum }),
            Box::new(Accumulate { x: a, out: acc, scale: -0.75 }),
            Box::new(Copy { x: b, out: copy }),
            Box::new(Fill { out: fill, value: 2.5 }),
        ]
    };
    let results = run_both(&plan, &inputs, kernels, &[sum, acc, copy, fill, a, b]);
    for ((cpu, gpu), name) in results.iter().zip(["add", "accumulate", "copy", "fill"]) {
        assert_close(&format!("{name} n={n}"), cpu, gpu, 1e-6);
    }
    // The CPU reference itself, against the definitions.
    let (Data::F32(acc0), (a_vals, b_vals)) = (&inputs[3].1, (&results[4].0, &results[5].0)) else { unreachable!() };
    for i in 0..n {
        assert_eq!(results[0].0[i], a_vals[i] + b_vals[i]);
        assert_eq!(results[1].0[i], acc0[i] + -0.75 * a_vals[i]);
        assert_eq!(results[2].0[i], b_vals[i]);
        assert_eq!(results[3].0[i], 2.5);
    }
}

#[test]
fn elementwise_ops_match_cpu_on_awkward_sizes() {
    for (i, &n) in AWKWARD.iter().chain(&[256, 257, 4099]).enumerate() {
        case(n, i as u64);
    }
}

/// One vector copied into every row of a view at an offset.
#[test]
fn broadcast_matches_cpu() {
    for (i, (rows, width)) in [(1, 1), (3, 5), (65, 17), (300, 64)].into_iter().enumerate() {
        let mut rng = Rng::new(i as u64);
        let mut plan = MemoryPlan::default();
        let pool = plan.pool("pool");
        plan.carve(pool, 3);
        let x = plan.carve(pool, width);
        let out = plan.buffer("out", rows * width);
        let inputs = [(x, Data::F32(rng.vec(width))), (out, Data::F32(rng.vec(rows * width)))];
        let results = run_both(&plan, &inputs, || vec![Box::new(Broadcast { x, out }) as Box<dyn Kernel>], &[out, x]);
        assert_close(&format!("broadcast {rows}x{width}"), &results[0].0, &results[0].1, 0.0);
        for r in 0..rows {
            assert_eq!(&results[0].0[r * width..(r + 1) * width], &results[1].0[..], "row {r}");
        }
    }
}

/// Batches of matrices transposed, including 1-wide and awkward shapes; transposing twice is the identity.
#[test]
fn transpose_matches_cpu() {
    for (i, (batch, rows, cols)) in [(1, 1, 1), (2, 3, 5), (3, 36, 17), (4, 65, 64)].into_iter().enumerate() {
        let mut rng = Rng::new(50 + i as u64);
        let mut plan = MemoryPlan::default();
        let n = batch * rows * cols;
        let (x, t, back) = (plan.buffer("x", n), plan.buffer("t", n), plan.buffer("back", n));
        let inputs = [(x, Data::F32(rng.vec(n)))];
        let kernels = || -> Vec<Box<dyn Kernel>> {
            vec![
                Box::new(Transpose { x, out: t, batch, rows, cols }),
                Box::new(Transpose { x: t, out: back, batch, rows: cols, cols: rows }),
            ]
        };
        let results = run_both(&plan, &inputs, kernels, &[t, back, x]);
        assert_close(&format!("transpose {batch}x{rows}x{cols}"), &results[0].0, &results[0].1, 0.0);
        assert_eq!(results[1].1, results[2].0, "twice is the identity");
        let (x0, t0) = (&results[2].0, &results[0].1);
        assert_eq!(
            t0[(batch - 1) * rows * cols + (cols - 1) * rows],
            x0[(batch - 1) * rows * cols + cols - 1],
            "last matrix, first row, last column"
        );
    }
}

/// Rows gathered out of one sequence layout into another, set and accumulated, per example and shared by
/// every example (`x_seq = 0`), checked against a direct loop.
#[test]
fn copy_rows_matches_cpu() {
    for (i, (batch, rows, d, x_seq, x_start, out_seq, out_start)) in
        [(1, 1, 1, 1, 0, 1, 0), (3, 2, 5, 7, 4, 4, 1), (2, 5, 17, 0, 0, 9, 3), (5, 8, 64, 48, 40, 24, 16)]
            .into_iter()
            .enumerate()
    {
        let mut rng = Rng::new(70 + i as u64);
        let mut plan = MemoryPlan::default();
        let x_len = if x_seq == 0 { rows * d } else { batch * x_seq * d };
        let n = batch * out_seq * d;
        let (x, set, acc) = (plan.buffer("x", x_len), plan.buffer("set", n), plan.buffer("acc", n));
        let (x0, set0, acc0) = (rng.vec(x_len), rng.vec(n), rng.vec(n));
        let inputs = [(x, Data::F32(x0.clone())), (set, Data::F32(set0.clone())), (acc, Data::F32(acc0.clone()))];
        let op = |out, accumulate| CopyRows { x, out, batch, rows, d, x_seq, x_start, out_seq, out_start, accumulate };
        let results = run_both(
            &plan,
            &inputs,
            || vec![Box::new(op(set, false)) as Box<dyn Kernel>, Box::new(op(acc, true))],
            &[set, acc],
        );
        let name = format!("copy_rows {batch}x{rows}x{d} from {x_seq}@{x_start} to {out_seq}@{out_start}");
        let (mut want_set, mut want_acc) = (set0, acc0);
        for b in 0..batch {
            for r in 0..rows * d {
                let (to, from) = ((b * out_seq + out_start) * d + r, (b * x_seq + x_start) * d + r);
                want_set[to] = x0[from];
                want_acc[to] += x0[from];
            }
        }
        assert_close(&name, &results[0].0, &results[0].1, 0.0);
        assert_close(&name, &results[1].0, &results[1].1, 1e-6);
        assert_eq!(results[0].0, want_set, "{name}: set");
        assert_eq!(results[1].0, want_acc, "{name}: accumulate");
    }
}
