use super::*;
use looplab::ops::embedding::{EmbeddingBackward, EmbeddingForward};

struct Setup {
    plan: MemoryPlan,
    tokens: Tensor,
    table: Tensor,
    positions: Tensor,
    out: Tensor,
    d_out: Tensor,
    d_table: Tensor,
    d_positions: Tensor,
}

/// Parameters in one pool and their gradients at the same offsets in another, as the trainer lays them out.
fn setup(rows: usize, vocab: usize, seq: usize, d: usize) -> Setup {
    let mut plan = MemoryPlan::default();
    let params = plan.pool("params");
    let (table, positions) = (plan.carve(params, vocab * d), plan.carve(params, seq * d));
    let grads = plan.buffer("grads", plan.len(params)).buf;
    Setup {
        tokens: plan.buffer("tokens", rows),
        out: plan.buffer("out", rows * d),
        d_out: plan.buffer("d_out", rows * d),
        d_table: table.in_buf(grads),
        d_positions: positions.in_buf(grads),
        table,
        positions,
        plan,
    }
}

/// Tokens only from the lower half of the vocabulary (the upper rows never receive gradient), with repeats;
/// `with_positions` false is a model without position embeddings (the positions view must stay untouched).
fn case(rows: usize, vocab: usize, seq: usize, d: usize, seed: u64, with_positions: bool) {
    let mut rng = Rng::new(seed);
    let Setup { plan, tokens, table, positions, out, d_out, d_table, d_positions } = setup(rows, vocab, seq, d);
    let token_values: Vec<u32> = (0..rows).map(|_| rng.below(vocab.div_ceil(2)) as u32).collect();
    let inputs = [
        (tokens, Data::U32(token_values)),
        (table, Data::F32(rng.vec(vocab * d))),
        (positions, Data::F32(rng.vec(seq * d))),
        (d_out, Data::F32(rng.vec(rows * d))),
        (d_table, Data::F32(rng.vec(vocab * d))), // gradients accumulate onto what is there
        (d_positions, Data::F32(rng.vec(seq * d))),
    ];
    let (pos, d_pos) = if with_positions { (Some(positions), Some(d_positions)) } else { (None, None) };
    let kernels = || -> Vec<Box<dyn Kernel>> {
        vec![
            Box::new(EmbeddingForward { tokens, table, positions: pos, out, rows, vocab, seq, d }),
            Box::new(EmbeddingBackward { tokens, d_out, d_table, d_positions: d_pos, rows, vocab, seq, d }),
        ]
    };
    let name = format!("embedding rows={rows} vocab={vocab} seq={seq} d={d} positions={with_positions}");
    check(&name, &plan, &inputs, kernels, &[out, d_table, d_positions], 1e-5);
    if !with_positions {
        let results = run_both(&plan, &inputs, kernels, &[out, table, d_positions]);
        let (Data::U32(toks), Data::F32(d_pos0)) = (&inputs[0].1, &inputs[5].1) else { unreachable!() };
        for (i, &t) in toks.iter().enumerate() {
            assert_eq!(
                &results[0].0[i * d..(i + 1) * d],
                &results[1].0[t as usize * d..(t as usize + 1) * d],
                "row {i} is its token's embedding"
            );
        }
        assert_eq!(&results[2].0, d_pos0, "no position gradient without positions");
    }
}

#[test]
fn embedding_matches_cpu_on_awkward_shapes() {
    case(1, 1, 1, 1, 1, true);
    case(17, 5, 17, 3, 2, true);
    case(65, 33, 5, 17, 3, true);
    case(66, 64, 4, 65, 4, true); // rows not a multiple of seq
    case(300, 9, 100, 33, 5, true); // many repeats per token
    case(17, 5, 17, 3, 6, false);
    case(65, 33, 5, 17, 7, false);
}

#[test]
fn embedding_backward_matches_finite_differences() {
    let (rows, vocab, seq, d) = (7, 5, 3, 2);
    let mut rng = Rng::new(11);
    let s = setup(rows, vocab, seq, d);
    let tokens: Vec<u32> = (0..rows).map(|_| rng.below(vocab - 1) as u32).collect(); // the last row stays unused
    let (table0, positions0, weights) = (rng.vec(vocab * d), rng.vec(seq * d), rng.vec(rows * d));
    let forward = |table: &[f32], positions: &[f32]| -> f64 {
        let inputs = [
            (s.tokens, Data::U32(tokens.clone())),
            (s.table, Data::F32(table.to_vec())),
            (s.positions, Data::F32(positions.to_vec())),
        ];
        let kernel = EmbeddingForward {
            tokens: s.tokens,
            table: s.table,
            positions: Some(s.positions),
            out: s.out,
            rows,
            vocab,
            seq,
            d,
        };
        let out = run_cpu(&s.plan, &inputs, vec![Box::new(kernel)], &[s.out]).remove(0);
        out.iter().zip(&weights).map(|(o, w)| *o as f64 * *w as f64).sum()
    };
    let backward = EmbeddingBackward {
        tokens: s.tokens,
        d_out: s.d_out,
        d_table: s.d_table,
        d_positions: Some(s.d_positions),
        rows,
        vocab,
        seq,
        d,
    };
    let inputs = [(s.tokens, Data::U32(tokens.clone())), (s.d_out, Data::F32(weights.clone()))];
    let grads = run_cpu(&s.plan, &inputs, vec![Box::new(backward)], &[s.d_table, s.d_positions]);
    let numeric_table: Vec<f32> =
        (0..table0.len()).map(|i| finite_difference(|t| forward(t, &positions0), &table0, i, 1e-2) as f32).collect();
    let numeric_positions: Vec<f32> = (0..positions0.len())
        .map(|i| finite_difference(|p| forward(&table0, p), &positions0, i, 1e-2) as f32)
        .collect();
    assert_close("embedding d_table vs finite differences", &grads[0], &numeric_table, 1e-2);
    assert_close("embedding d_positions vs finite differences", &grads[1], &numeric_positions, 1e-2);
    assert!(grads[0][(vocab - 1) * d..].iter().all(|&g| g == 0.0), "an unused token row received gradient");
}
