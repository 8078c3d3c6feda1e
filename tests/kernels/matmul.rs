use super::*;
use looplab::ops::matmul::{Matmul, MatmulPath};
use looplab::program::{BufId, Tensor};

#[allow(clippy::too_many_arguments)]
fn case(m: usize, k: usize, n: usize, trans_a: bool, trans_b: bool, accumulate: bool, path: MatmulPath, seed: u64) {
    case_split(m, k, n, trans_a, trans_b, accumulate, path, seed, false);
}

/// With `split`, k is split into slices (split-K) through a scratch buffer that starts dirty.
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
    let parts_len = Matmul::splits(k) * m * n + 7;
    let parts = plan.buffer("parts", parts_len);
    let inputs = [
        (a, Data::F32(rng.vec(m * k))),
        (b, Data::F32(rng.vec(k * n))),
        (c, Data::F32(rng.vec(m * n))),
        (parts, Data::F32(rng.vec(parts_len))),
    ];
    let kernels = || -> Vec<Box<dyn Kernel>> {
        let mut mm = Matmul::new(a, b, c, m, k, n).path(path);
        mm.trans_a = trans_a;
        mm.trans_b = trans_b;
        mm.accumulate = accumulate;
        if split {
            mm = mm.split_k(parts);
            assert!(mm.split.is_some(), "k = {k} should split");
        }
        vec![Box::new(mm)]
    };
    let name = format!("matmul {m}x{k}x{n} ta={trans_a} tb={trans_b} acc={accumulate} {path:?} split={split}");
    check(&name, &plan, &inputs, kernels, &[c], 1e-4);
}

#[test]
fn matmul_matches_cpu_on_awkward_shapes() {
    let mut rng = Rng::new(7);
    for (i, &m) in AWKWARD.iter().enumerate() {
        let k = AWKWARD[(i + 2) % AWKWARD.len()];
        let n = AWKWARD[(i + 4) % AWKWARD.len()];
        for path in [MatmulPath::Blocked, MatmulPath::Tiled] {
            let (ta, tb, acc) = (rng.below(2) == 1, rng.below(2) == 1, rng.below(2) == 1);
            case(m, k, n, ta, tb, acc, path, i as u64);
        }
    }
}

#[test]
fn matmul_all_transposes_and_accumulate() {
    for path in [MatmulPath::Blocked, MatmulPath::Tiled] {
        for flags in 0..8 {
            case(37, 70, 29, flags & 1 != 0, flags & 2 != 0, flags & 4 != 0, path, flags as u64);
        }
    }
}

#[test]
fn matmul_larger_than_one_tile() {
    case(130, 96, 200, false, false, false, MatmulPath::Blocked, 1);
    case(130, 96, 200, true, false, true, MatmulPath::Tiled, 2);
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
        assert_eq!(mm.entry(), entry, "{m}x{k}x{n}");
        case(m, k, n, trans_a, trans_b, i % 2 == 1, MatmulPath::Blocked, 100 + i as u64);
    }
}

/// Split-K (weight gradients: k is the batch rows) on every path, k not a multiple of the slice or of 4.
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
        for path in [MatmulPath::Blocked, MatmulPath::Tiled] {
            case_split(m, k, n, ta, tb, i % 2 == 0, path, 300 + i as u64, true);
        }
    }
}
