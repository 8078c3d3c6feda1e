use super::*;
use looplab::ops::activation::ActivationGrad;
use looplab::ops::matmul::{FoldSplits, Matmul, MatmulPath, NormInput};
use looplab::program::Tunable;
use looplab::program::{BufId, Tensor};

/// Every variant the autotuner can pick on this adapter; one it cannot offer is named as skipped, never
/// counted as passing.
fn variants() -> Vec<MatmulPath> {
    let gpu = pollster::block_on(GpuBackend::new()).expect("a GPU adapter (lavapipe in CI)");
    let t = |len| Tensor { buf: BufId(0), offset: 0, len };
    let probe = Matmul::new(t(1), t(1), t(1), 1, 1, 1);
    let offered: Vec<MatmulPath> = gpu.offered_variants(&probe).into_iter().map(|v| probe.choices()[v].path).collect();
    for path in MatmulPath::FORCED.iter().filter(|p| !offered.contains(p)) {
        println!("SKIPPED: matmul variant {path:?} (this adapter lacks the feature it needs)");
    }
    offered
}

#[allow(clippy::too_many_arguments)]
fn case(m: usize, k: usize, n: usize, trans_a: bool, trans_b: bool, accumulate: bool, path: MatmulPath, seed: u64) {
    case_split(m, k, n, trans_a, trans_b, accumulate, path, seed, false);
}

/// With `split`, k is split into slices (split-K) whose partial products land in copies of `c` (a stride that is
/// not m*n apart, so a slice placed by m*n lands wrong), folded into `c` by `FoldSplits`, which leaves the copies
/// zero again (checked too).
#[allow(clippy::too_many_arguments)]
fn case_split(
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
    path: MatmulPath,
    seed: u64,
    split: bool,
) {
    let mut rng = Rng::new(seed);
    let mut plan = MemoryPlan::default();
    let a = plan.buffer("a", m * k);
    let b = plan.buffer("b", k * n);
    let c = plan.buffer("c", m * n);
    let (copies, stride) = (Matmul::splits(k), m * n + 7);
    let parts = plan.buffer("parts", copies * stride);
    let inputs = [
        (a, Data::F32(rng.vec(m * k))),
        (b, Data::F32(rng.vec(k * n))),
        (c, Data::F32(rng.vec(m * n))),
        (parts, Data::F32(vec![0.0; copies * stride])),
    ];
    let kernels = || -> Vec<Box<dyn Kernel>> {
        let mut mm = Matmul::new(a, b, c, m, k, n).path(path);
        mm.trans_a = trans_a;
        mm.trans_b = trans_b;
        mm.accumulate = accumulate;
        if !split {
            return vec![Box::new(mm)];
        }
        mm = mm.split_k(parts, stride, copies);
        assert!(mm.split.is_some(), "k = {k} should split");
        vec![Box::new(mm), Box::new(FoldSplits { parts, out: c, stride, copies })]
    };
    let name = format!("matmul {m}x{k}x{n} ta={trans_a} tb={trans_b} acc={accumulate} {path:?} split={split}");
    check(&name, &plan, &inputs, kernels, &[c, parts], 1e-4);
}

#[test]
fn matmul_matches_cpu_on_awkward_shapes() {
    let mut rng = Rng::new(7);
    for (i, &m) in AWKWARD.iter().enumerate() {
        let k = AWKWARD[(i + 2) % AWKWARD.len()];
        let n = AWKWARD[(i + 4) % AWKWARD.len()];
        for path in variants() {
            let (ta, tb, acc) = (rng.below(2) == 1, rng.below(2) == 1, rng.below(2) == 1);
            case(m, k, n, ta, tb, acc, path, i as u64);
        }
    }
}

#[test]
fn matmul_all_transposes_and_accumulate() {
    for path in variants() {
        for flags in 0..8 {
            case(37, 70, 29, flags & 1 != 0, flags & 2 != 0, flags & 4 != 0, path, flags as u64);
        }
    }
}

#[test]
fn matmul_larger_than_one_tile() {
    for (i, path) in variants().into_iter().enumerate() {
        case(130, 96, 200, false, false, false, path, 1 + i as u64);
        case(257, 40, 130, true, false, true, path, 11 + i as u64);
    }
}

/// Shapes whose contiguous dimensions are multiples of 4 take the vec4 entry points; edges still awkward.
#[test]
fn matmul_vec4_paths_match_cpu() {
    for (i, &(m, k, n, trans_a, trans_b, entry)) in [
        (37, 64, 20, false, false, "matmul_vec4_nn"),
        (1, 4, 4, false, false, "matmul_vec4_nn"),
        (33, 12, 5, false, true, "matmul_vec4_nt"),
        (3, 128, 65, false, true, "matmul_vec4_nt"),
        (20, 33, 8, true, false, "matmul_vec4_tn"),
        (64, 130, 100, true, false, "matmul_vec4_tn"),
    ]
    .iter()
    .enumerate()
    {
        let mut mm = Matmul::new(
            Tensor { buf: BufId(0), offset: 0, len: m * k },
            Tensor { buf: BufId(1), offset: 0, len: k * n },
            Tensor { buf: BufId(2), offset: 0, len: m * n },
            m,
            k,
            n,
        );
        (mm.trans_a, mm.trans_b) = (trans_a, trans_b);
        assert_eq!(mm.entry().1, entry, "{m}x{k}x{n}");
        case(m, k, n, trans_a, trans_b, i % 2 == 1, MatmulPath::Blocked, 100 + i as u64);
    }
}

/// Split-K (weight gradients, which accumulate: k is the batch rows) on every path, k not a multiple of the
/// slice or of 4.
#[test]
fn matmul_split_k_matches_cpu() {
    for (i, &(m, k, n, ta, tb)) in [
        (20, 1030, 8, true, false),
        (7, 777, 5, true, false),
        (64, 2048, 96, true, false),
        (9, 600, 13, false, true),
        (12, 516, 16, false, false),
    ]
    .iter()
    .enumerate()
    {
        for path in variants() {
            case_split(m, k, n, ta, tb, true, path, 300 + i as u64, true);
        }
    }
}

/// The residual epilogue `c = r + a·b` (a linear layer's output added to the residual stream) on every path
/// and awkward shapes; `c` starts dirty, so a missed residual or a kept old value both fail.
#[test]
fn matmul_residual_matches_cpu() {
    for (i, &(m, k, n, ta, tb)) in [
        (17, 33, 65, false, false),
        (64, 128, 20, false, false),
        (3, 8, 12, false, true),
        (65, 600, 5, true, false),
        (20, 1030, 8, true, false),
    ]
    .iter()
    .enumerate()
    {
        for path in variants() {
            let mut rng = Rng::new(500 + i as u64);
            let mut plan = MemoryPlan::default();
            let (a, b, c) = (plan.buffer("a", m * k), plan.buffer("b", k * n), plan.buffer("c", m * n));
            let r = plan.buffer("r", m * n);
            let inputs = [
                (a, Data::F32(rng.vec(m * k))),
                (b, Data::F32(rng.vec(k * n))),
                (c, Data::F32(rng.vec(m * n))),
                (r, Data::F32(rng.vec(m * n))),
            ];
            let kernels = || -> Vec<Box<dyn Kernel>> {
                let mut mm = Matmul::new(a, b, c, m, k, n).path(path).residual(r);
                (mm.trans_a, mm.trans_b) = (ta, tb);
                vec![Box::new(mm)]
            };
            check(&format!("matmul residual {m}x{k}x{n} {path:?}"), &plan, &inputs, kernels, &[c], 1e-4);
        }
    }
}

/// The activation-gradient epilogue (the MLP backward: `d_u = act'(u) ⊙ (d_y · W_outᵀ)`) on every path and
/// awkward shapes, inputs large enough to saturate the sigmoid and reach tanh's clamp; `c` starts as NaN, so an
/// element the epilogue skips (SwiGLU's up half) fails.
#[test]
fn matmul_activation_grad_matches_cpu() {
    for (i, &(m, k, n)) in [(1, 1, 1), (17, 33, 65), (36, 128, 64), (65, 3, 17), (5, 64, 33)].iter().enumerate() {
        for act in [ActivationGrad::Swiglu, ActivationGrad::Gelu] {
            for path in variants() {
                let mut rng = Rng::new(700 + i as u64);
                let mut plan = MemoryPlan::default();
                let (a, b) = (plan.buffer("d_y", m * k), plan.buffer("w_out", n * k));
                let (x, c) = (plan.buffer("u", m * n * act.width()), plan.buffer("d_u", m * n * act.width()));
                let range = if i % 2 == 0 { 3.0 } else { 20.0 };
                let inputs = [
                    (a, Data::F32(rng.vec(m * k))),
                    (b, Data::F32(rng.vec(n * k))),
                    (x, Data::F32(rng.vec(x.len).iter().map(|v| v * range).collect())),
                    (c, Data::F32(vec![f32::NAN; c.len])),
                ];
                let kernels = || -> Vec<Box<dyn Kernel>> {
                    vec![Box::new(Matmul::new(a, b, c, m, k, n).trans_b().path(path).activation_grad(act, x))]
                };
                check(&format!("matmul {act:?} grad {m}x{k}x{n} {path:?}"), &plan, &inputs, kernels, &[c], 1e-4);
            }
        }
    }
}

/// The normalized input `c = rmsnorm(a) · op(b)` (a pre-norm and the product after it, one dispatch) on every
/// path, with and without the norm's weight, on shapes off every tile and vec4 width (one row; k = 1; n = 7 as
/// a small vocabulary's head; n over two wide tiles, so several workgroups share each row's writes). The
/// normalized rows and rstd start as NaN, so a row or element no thread writes fails, as do a skipped weight or
/// rstd in the product.
#[test]
fn matmul_norm_input_matches_cpu() {
    for (i, &(m, k, n, tb)) in [
        (1, 1, 1, false),
        (3, 4, 8, false),
        (17, 33, 65, false),
        (36, 128, 384, false),
        (65, 64, 7, false),
        (33, 20, 17, true),
        (130, 96, 12, true),
        (5, 256, 300, false),
    ]
    .iter()
    .enumerate()
    {
        for (weighted, fused) in [(true, true), (false, true), (true, false)] {
            for path in variants() {
                let mut rng = Rng::new(900 + i as u64);
                let mut plan = MemoryPlan::default();
                let (a, b, c) = (plan.buffer("x", m * k), plan.buffer("w", k * n), plan.buffer("c", m * n));
                let (weight, normed, rstd) =
                    (plan.buffer("g", k), plan.buffer("normed", m * k), plan.buffer("rstd", m));
                let inputs = [
                    (a, Data::F32(rng.vec(m * k).iter().map(|v| v * 4.0).collect())),
                    (b, Data::F32(rng.vec(k * n))),
                    (weight, Data::F32(rng.vec(k).iter().map(|v| 1.0 + v).collect())),
                    (c, Data::F32(rng.vec(m * n))),
                    (normed, Data::F32(vec![f32::NAN; m * k])),
                    (rstd, Data::F32(vec![f32::NAN; m])),
                ];
                let kernels = || -> Vec<Box<dyn Kernel>> {
                    let norm = NormInput { weight: weighted.then_some(weight), normed, rstd, eps: 1e-5, fused };
                    let mut mm = Matmul::new(a, b, c, m, k, n).path(path).norm_input(norm);
                    mm.trans_b = tb;
                    vec![Box::new(mm)]
                };
                let name = format!("matmul norm {m}x{k}x{n} tb={tb} weight={weighted} fused={fused} {path:?}");
                check(&name, &plan, &inputs, kernels, &[c, normed, rstd], 1e-4);
            }
        }
    }
}

/// The trial picks a variant this adapter offers, every candidate's result agreeing with the register-blocked
/// one, and the table the page stores round-trips through JSON (a damaged one is refused with a message).
#[test]
fn matmul_tuner_picks_an_offered_variant_and_its_table_round_trips() {
    pollster::block_on(async {
        let mut gpu = GpuBackend::new().await.expect("a GPU adapter");
        let mut plan = MemoryPlan::default();
        let views = [plan.buffer("x", 65 * 600), plan.buffer("dy", 600 * 33), plan.buffer("dw", 65 * 33)];
        let parts = plan.buffer("parts", Matmul::splits(600) * 65 * 33);
        let mm = Matmul::new(views[0], views[1], views[2], 65, 600, 33).trans_a().accumulate();
        let mm = mm.split_k(parts, 65 * 33, Matmul::splits(600));
        assert!(mm.split.is_some(), "k = 600 splits");
        let offered = gpu.offered_variants(&mm);
        let chosen = gpu.tune(&mm).await.unwrap();
        assert!(offered.contains(&chosen), "variant {chosen} of {offered:?}");
        assert_eq!(mm.variants().len(), 2 * MatmulPath::FORCED.len(), "every path with split-K on and off");
        for v in offered {
            let (seconds, result) = gpu.trial(&mm, v).await.unwrap();
            assert!(seconds > 0.0 && result.len() == 65 * 33, "{:?}: {seconds} s", mm.variants()[v]);
        }
        // A normalized input: every path fused and separate, the separate register-blocked one first (the
        // reference, and the choice on software adapters); every offered variant agrees with it.
        let (x, w, c) = (plan.buffer("x", 36 * 128), plan.buffer("w", 128 * 384), plan.buffer("c", 36 * 384));
        let (g, normed, rstd) = (plan.buffer("g", 128), plan.buffer("normed", 36 * 128), plan.buffer("rstd", 36));
        let norm = NormInput { weight: Some(g), normed, rstd, eps: 1e-5, fused: true };
        let nm = Matmul::new(x, w, c, 36, 128, 384).norm_input(norm);
        let names: Vec<String> = nm.variants().into_iter().map(|(name, _)| name).collect();
        assert_eq!((names.len(), names[0].as_str(), names[1].as_str()), (8, "blocked-separate", "blocked"));
        let reference = gpu.trial(&nm, 0).await.unwrap().1;
        for v in gpu.offered_variants(&nm) {
            let result = gpu.trial(&nm, v).await.unwrap().1;
            assert_close(&format!("normalized input, variant {}", names[v]), &reference, &result, 1e-4);
        }
        let table = looplab::backend::gpu::tuning_json();
        looplab::backend::gpu::set_tuning_json(&table).unwrap();
        assert_eq!(looplab::backend::gpu::tuning_json(), table);
        let err = looplab::backend::gpu::set_tuning_json("{not json").unwrap_err().to_string();
        assert!(err.contains("matmul tuning"), "{err}");
    });
}
