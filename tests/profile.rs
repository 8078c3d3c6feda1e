#![cfg(not(target_arch = "wasm32"))]
//! Per-kernel profiles (`looplab bench --profile`): on both backends a profiled program computes what an
//! unprofiled one does, every dispatch is counted under its kind once per run, and profiling stops when the
//! profile is taken.

use std::collections::BTreeMap;

use looplab::backend::profile::ProfileSource;
use looplab::backend::{Backend, BackendKind};
use looplab::ops::elementwise::{Accumulate, Fill};
use looplab::ops::embedding::EmbeddingBackward;
use looplab::ops::matmul::{FoldSplits, Matmul};
use looplab::program::{Kernel, MemoryPlan};

const RUNS: u64 = 3;

#[test]
fn profiles_count_every_dispatch_and_leave_results_unchanged() {
    pollster::block_on(async {
        // The gpu twice: with timestamps where the adapter has them, and by one submit per dispatch.
        for (kind, by_submits) in [(BackendKind::Cpu, false), (BackendKind::Gpu, false), (BackendKind::Gpu, true)] {
            let (m, k, n) = (17, 33, 5);
            let mut plan = MemoryPlan::default();
            let (a, b, c, sum) =
                (plan.buffer("a", m * k), plan.buffer("b", k * n), plan.buffer("c", m * n), plan.buffer("sum", m * n));
            let kernels = || -> Vec<Box<dyn Kernel>> {
                vec![
                    Box::new(Fill { out: sum, value: 0.5 }),
                    Box::new(Matmul::new(a, b, c, m, k, n)),
                    Box::new(Accumulate { x: c, out: sum, scale: 2.0 }),
                ]
            };
            let mut backend = Backend::open(kind).await.expect("a backend (lavapipe in CI)");
            backend.allocate(&plan).unwrap();
            backend.write(a, &(0..m * k).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>());
            backend.write(b, &(0..k * n).map(|i| (i % 5) as f32 * 0.25).collect::<Vec<_>>());
            let program = backend.prepare(kernels()).await.unwrap();
            backend.run(&[program]).unwrap();
            let plain = backend.read(sum).await.unwrap();

            match &mut backend {
                Backend::Gpu(g) if by_submits => g.start_profile_by_submits().unwrap(),
                _ => backend.start_profile().unwrap(),
            }
            for _ in 0..RUNS {
                backend.run(&[program]).unwrap();
            }
            let profiled = backend.read(sum).await.unwrap();
            let profile = backend.take_profile().expect("started").unwrap();
            assert_eq!(plain, profiled, "{kind:?}: profiling changed the results");
            assert_eq!(profile.runs, RUNS);
            assert!(backend.take_profile().is_none(), "taking the profile ends profiling");

            // Expected kinds and calls per run, from the kernels themselves.
            let mut expected: BTreeMap<String, u64> = BTreeMap::new();
            for kernel in kernels() {
                let entries: Vec<&str> = kernel.launches().iter().map(|l| l.entry).collect();
                match (kind, profile.source) {
                    (BackendKind::Cpu, source) => {
                        assert_eq!(source, ProfileSource::CpuTimers);
                        *expected.entry(format!("{} {}", kernel.name(), entries[0])).or_default() += 1;
                    }
                    (BackendKind::Gpu, source) => {
                        if by_submits {
                            assert_eq!(source, ProfileSource::GpuSubmitPerDispatch);
                        }
                        for e in entries {
                            // The gpu kind is `<shader file> <entry>`.
                            let name = profile.kinds.keys().find(|k| k.ends_with(&format!(" {e}"))).cloned();
                            *expected.entry(name.unwrap_or_else(|| format!("? {e}"))).or_default() += 1;
                        }
                    }
                }
            }
            let counted: BTreeMap<String, u64> =
                profile.kinds.iter().map(|(k, &(calls, _))| (k.clone(), calls)).collect();
            let expected: BTreeMap<String, u64> =
                expected.into_iter().map(|(k, per_run)| (k, per_run * RUNS)).collect();
            assert_eq!(counted, expected, "{kind:?}: kinds and calls");
            let seconds: Vec<f64> = profile.kinds.values().map(|&(_, s)| s).collect();
            assert!(seconds.iter().all(|s| s.is_finite() && *s >= 0.0), "{kind:?}: times {seconds:?}");
            assert!(seconds.iter().sum::<f64>() > 0.0, "{kind:?}: no time measured at all");
            println!("{kind:?} ({:?}): {:?}", profile.source, profile.kinds);
        }
    });
}

/// More dispatches in one run than one query set holds (wgpu's 4096 timestamps): every one is still timed.
#[test]
fn gpu_profiles_span_several_query_sets() {
    pollster::block_on(async {
        let dispatches = wgpu::QUERY_SET_MAX_QUERIES as usize + 5;
        let mut plan = MemoryPlan::default();
        let out = plan.buffer("out", 1);
        let mut backend = Backend::open(BackendKind::Gpu).await.expect("a GPU adapter (lavapipe in CI)");
        backend.allocate(&plan).unwrap();
        let kernels: Vec<Box<dyn Kernel>> =
            (0..dispatches).map(|i| Box::new(Fill { out, value: i as f32 }) as Box<dyn Kernel>).collect();
        let program = backend.prepare(kernels).await.unwrap();
        backend.start_profile().unwrap();
        backend.run(&[program]).unwrap();
        assert_eq!(backend.read(out).await.unwrap(), vec![(dispatches - 1) as f32]);
        let profile = backend.take_profile().expect("started").unwrap();
        let (calls, seconds) = profile.kinds.values().fold((0, 0.0), |(c, s), &(n, t)| (c + n, s + t));
        assert_eq!(calls, dispatches as u64, "{:?}", profile.kinds);
        assert!(seconds.is_finite() && seconds > 0.0, "{seconds}");
    });
}

/// `looplab bench` reports dispatches per step on both backends: the cpu backend counts the GPU dispatches its
/// kernels launch, the same number the gpu backend records (the embedding backward with positions launches two).
#[test]
fn both_backends_count_the_dispatches_a_program_launches() {
    pollster::block_on(async {
        let (m, k, n) = (8, 1024, 8);
        let (copies, stride) = (Matmul::splits(k), m * n);
        let (rows, vocab, seq, d) = (12, 5, 4, 8);
        let mut plan = MemoryPlan::default();
        let (a, b, c) = (plan.buffer("a", k * m), plan.buffer("b", k * n), plan.buffer("c", m * n));
        let parts = plan.buffer("parts", copies * stride);
        let (tokens, d_out) = (plan.buffer("tokens", rows), plan.buffer("d_out", rows * d));
        let (d_table, d_positions) = (plan.buffer("d_table", vocab * d), plan.buffer("d_positions", seq * d));
        let kernels = || -> Vec<Box<dyn Kernel>> {
            vec![
                Box::new(Fill { out: c, value: 0.0 }),
                Box::new(Matmul::new(a, b, c, m, k, n).trans_a().accumulate().split_k(parts, stride, copies)),
                Box::new(FoldSplits { parts, out: c, stride, copies }),
                Box::new(EmbeddingBackward {
                    tokens,
                    d_out,
                    d_table,
                    d_positions: Some(d_positions),
                    rows,
                    vocab,
                    seq,
                    d,
                }),
            ]
        };
        let launched: u64 = kernels().iter().map(|k| k.launches().len() as u64).sum();
        assert!(launched > kernels().len() as u64, "the embedding backward launches more than one dispatch");
        for kind in [BackendKind::Cpu, BackendKind::Gpu] {
            let mut backend = Backend::open(kind).await.expect("a backend (lavapipe in CI)");
            backend.allocate(&plan).unwrap();
            let program = backend.prepare(kernels()).await.unwrap();
            let before = backend.stats().dispatches;
            backend.run(&[program]).unwrap();
            backend.run(&[program]).unwrap();
            backend.read(c).await.unwrap();
            assert_eq!(backend.stats().dispatches - before, 2 * launched, "{kind:?}");
        }
    });
}
