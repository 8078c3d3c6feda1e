#![cfg(not(target_arch = "wasm32"))]
//! Probes: each measurement on constructed cases with known answers, then the runner end to end on tiny
//! models trained for a few dozen steps on the cpu backend (shapes and ranges, CKA of a model with itself,
//! composition's bridges, a request too large for memory).

mod common;

use common::{config, trained};
use looplab::backend::{Backend, BackendKind};
use looplab::config::LabConfig;
use looplab::error::LabError;
use looplab::probes::attention::{entropy, head_entropy, head_js, js_divergence, MapShape};
use looplab::probes::cka::{linear_cka, pattern, Pattern};
use looplab::probes::convergence::{cosine, mean_change, relative_change, series, token_changes};
use looplab::probes::lens::{bridge_lens, lens};
use looplab::probes::phases::phases;
use looplab::probes::verdict::verdict;
use looplab::probes::{self, path, ProbeOptions, ProbeReport};
use looplab::rng::Rng;
use looplab::train::checkpoint::{self, Weights};
use looplab::train::{Evaluation, Record, SplitScore, Trainer};

const LN2: f64 = std::f64::consts::LN_2;

fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal()).collect()
}

/// `a [n, k] · b [k, m]`.
fn matmul(a: &[f32], b: &[f32], n: usize, k: usize, m: usize) -> Vec<f32> {
    let mut c = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            c[i * m + j] = (0..k).map(|l| a[i * k + l] * b[l * m + j]).sum();
        }
    }
    c
}

/// A random orthogonal `d x d` matrix (Gram-Schmidt on a Gaussian one), rows orthonormal.
fn rotation(rng: &mut Rng, d: usize) -> Vec<f32> {
    let mut q: Vec<Vec<f64>> = Vec::new();
    while q.len() < d {
        let mut v: Vec<f64> = (0..d).map(|_| rng.normal() as f64).collect();
        for u in &q {
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        q.push(v);
    }
    q.into_iter().flatten().map(|x| x as f32).collect()
}

/// CKA straight from the definition, with plain loops (checks the strided products of the real one).
fn naive_cka(x: &[f32], y: &[f32], n: usize, dx: usize, dy: usize) -> f64 {
    let centre = |m: &[f32], d: usize| -> Vec<f64> {
        let mean: Vec<f64> = (0..d).map(|j| (0..n).map(|i| m[i * d + j] as f64).sum::<f64>() / n as f64).collect();
        (0..n * d).map(|i| m[i] as f64 - mean[i % d]).collect()
    };
    let (x, y) = (centre(x, dx), centre(y, dy));
    let cross = |a: &[f64], da: usize, b: &[f64], db: usize| -> f64 {
        let mut s = 0.0;
        for i in 0..da {
            for j in 0..db {
                let v: f64 = (0..n).map(|r| a[r * da + i] * b[r * db + j]).sum();
                s += v * v;
            }
        }
        s
    };
    cross(&y, dy, &x, dx) / (cross(&x, dx, &x, dx).sqrt() * cross(&y, dy, &y, dy).sqrt())
}

#[test]
fn cka_is_one_for_a_representation_with_itself_and_invariant_to_rotation_and_isotropic_scaling() {
    let mut rng = Rng::new(1);
    let (n, d) = (300, 12);
    let x = random(&mut rng, n * d);
    assert!((linear_cka(&x, &x, n, d, d) - 1.0).abs() < 1e-9, "CKA(X, X) = {}", linear_cka(&x, &x, n, d, d));
    let q = rotation(&mut rng, d);
    let rotated: Vec<f32> = matmul(&x, &q, n, d, d).iter().map(|v| 3.7 * v + 0.25).collect();
    let c = linear_cka(&x, &rotated, n, d, d);
    assert!((c - 1.0).abs() < 1e-5, "CKA(X, 3.7 XQ + 0.25) = {c}");
    // A non-orthogonal map of another width changes it, and the fast path agrees with the definition.
    let w = random(&mut rng, d * 5);
    let y = matmul(&x, &w, n, d, 5);
    let (fast, slow) = (linear_cka(&x, &y, n, d, 5), naive_cka(&x, &y, n, d, 5));
    assert!((fast - slow).abs() < 1e-9 && fast > 0.05 && fast < 0.999, "CKA(X, XW): {fast} vs definition {slow}");
    let (fast, slow) = (linear_cka(&y, &x, n, 5, d), naive_cka(&y, &x, n, 5, d));
    assert!((fast - slow).abs() < 1e-9, "CKA(XW, X): {fast} vs definition {slow}");
}

#[test]
fn cka_of_independent_random_matrices_is_near_zero() {
    let mut rng = Rng::new(2);
    let (n, dx, dy) = (4000, 8, 6);
    let (x, y) = (random(&mut rng, n * dx), random(&mut rng, n * dy));
    let c = linear_cka(&x, &y, n, dx, dy);
    // Expected about sqrt(dx dy) / n = 0.002.
    assert!((0.0..0.02).contains(&c), "CKA of independent matrices {c}");
    assert!((c - naive_cka(&x, &y, n, dx, dy)).abs() < 1e-9);
}

#[test]
fn cka_pattern_names_diagonal_periodic_constant_and_mixed() {
    assert_eq!(pattern(&[0, 1, 2, 3], 1), Pattern::Diagonal);
    assert_eq!(pattern(&[0, 0, 1, 3], 1), Pattern::Diagonal);
    assert_eq!(pattern(&[2, 2, 2, 2], 1), Pattern::Constant);
    assert_eq!(pattern(&[0, 3, 0, 3, 0, 3], 2), Pattern::Periodic);
    assert_eq!(pattern(&[2, 0, 3, 1], 1), Pattern::Mixed);
    assert_eq!(pattern(&[0, 3, 1, 3], 2), Pattern::Mixed);
}

#[test]
fn a_state_sequence_that_stops_changing_reports_convergence() {
    let mut rng = Rng::new(3);
    let (examples, seq, d) = (3, 4, 5);
    let len = examples * seq * d;
    let s0 = random(&mut rng, len);
    let s1: Vec<f32> = s0.iter().map(|v| v + 0.5 * rng.normal()).collect();
    let s2: Vec<f32> = s1.iter().map(|v| v + 0.1 * rng.normal()).collect();
    let changes = series(&[&s0, &s1, &s2, &s2, &s2], examples);
    assert_eq!(changes.len(), 4);
    assert!(changes[0].relative_change > changes[1].relative_change && changes[1].relative_change > 0.0, "{changes:?}");
    assert!(changes[0].cosine < 1.0 && changes[0].cosine > 0.0);
    for c in &changes[2..] {
        assert_eq!(c.relative_change, 0.0);
        assert!((c.cosine - 1.0).abs() < 1e-12, "{c:?}");
    }
    assert!(token_changes(&s2, &s2, examples, seq, d).iter().all(|&x| x == 0.0));
    // Known values: doubling is a relative change of 1 at cosine 1, negation a change of 2 at cosine -1.
    let doubled: Vec<f32> = s0.iter().map(|v| 2.0 * v).collect();
    let negated: Vec<f32> = s0.iter().map(|v| -v).collect();
    assert!((relative_change(&s0, &doubled) - 1.0).abs() < 1e-6 && (cosine(&s0, &doubled) - 1.0).abs() < 1e-9);
    assert!((relative_change(&s0, &negated) - 2.0).abs() < 1e-6 && (cosine(&s0, &negated) + 1.0).abs() < 1e-9);
    let c = mean_change(&s0, &doubled, examples);
    assert!((c.relative_change - 1.0).abs() < 1e-6 && (c.cosine - 1.0).abs() < 1e-9);
    // Only token 2 of each example changes: the heatmap shows it there alone.
    let mut moved = s0.clone();
    for e in 0..examples {
        for j in 0..d {
            moved[(e * seq + 2) * d + j] *= 3.0;
        }
    }
    let per_token = token_changes(&s0, &moved, examples, seq, d);
    assert_eq!(per_token.len(), seq);
    assert!(
        per_token.iter().enumerate().all(|(i, &x)| if i == 2 { (x - 2.0).abs() < 1e-6 } else { x == 0.0 }),
        "{per_token:?}"
    );
}

#[test]
fn entropy_and_js_divergence_have_known_values() {
    let n = 7;
    let uniform = vec![1.0 / n as f32; n];
    assert!((entropy(&uniform) - (n as f64).ln()).abs() < 1e-6, "{}", entropy(&uniform));
    let one_hot = [0.0, 1.0, 0.0, 0.0];
    assert_eq!(entropy(&one_hot), 0.0);
    let p = [0.1, 0.2, 0.3, 0.4];
    assert!(js_divergence(&p, &p).abs() < 1e-12);
    assert!((js_divergence(&[0.5, 0.5, 0.0, 0.0], &[0.0, 0.0, 0.25, 0.75]) - LN2).abs() < 1e-9);
    let (a, b) = (js_divergence(&p, &one_hot), js_divergence(&one_hot, &p));
    assert!(a > 0.0 && a < LN2 && (a - b).abs() < 1e-12, "JS is symmetric and strictly between 0 and ln 2: {a} {b}");

    // Two examples, two heads, three queries over four keys: head 0 uniform, head 1 one-hot.
    let shape = MapShape { batch: 2, heads: 2, seq: 3, keys: 4 };
    let maps = |hot: usize| -> Vec<f32> {
        let mut v = Vec::new();
        for _ in 0..shape.batch {
            for h in 0..shape.heads {
                for _ in 0..shape.seq {
                    v.extend((0..4).map(|k| {
                        if h == 0 {
                            0.25
                        } else if k == hot {
                            1.0
                        } else {
                            0.0
                        }
                    }));
                }
            }
        }
        v
    };
    let e = head_entropy(&maps(0), shape);
    assert!((e[0] - 4f64.ln()).abs() < 1e-6 && e[1] == 0.0, "{e:?}");
    let js = head_js(&maps(0), &maps(3), shape);
    assert!(js[0].abs() < 1e-12 && (js[1] - LN2).abs() < 1e-9, "identical head 0, disjoint head 1: {js:?}");
}

fn record(step: u64, train: f64, test: f64, ood: Option<f64>) -> Record {
    let score = |name: &str, accuracy: f64| SplitScore {
        split: name.into(),
        evaluation: Evaluation { loss: 1.0, accuracy, exact: accuracy / 2.0 },
    };
    let mut splits = vec![score("train", train), score("test_id", test)];
    splits.extend(ood.map(|a| score("test_ood", a)));
    Record {
        step,
        loss: 1.0,
        train_acc: train,
        test_acc: test,
        train_exact: train,
        test_exact: test,
        test_loss: 1.0,
        grad_norm: 1.0,
        lr: 1e-3,
        elapsed_s: 0.0,
        weight_norm: Some(1.0),
        splits,
    }
}

#[test]
fn phases_find_the_planted_steps_and_report_never() {
    // Train crosses 0.9 at step 200, test_id at 700; test_ood creeps up to 0.5 and never crosses.
    let history: Vec<Record> = (0..=20)
        .map(|i| {
            let step = 50 * i;
            let train = if step >= 200 { 0.95 } else { 0.1 + 0.003 * step as f64 };
            let test = if step >= 700 { 0.92 } else { 0.05 };
            record(step, train, test, Some(0.5 * step as f64 / 1000.0))
        })
        .collect();
    let p = phases(&history, 0.9);
    let names: Vec<&str> = p.splits.iter().map(|s| s.split.as_str()).collect();
    assert_eq!(names, ["train", "test_id", "test_ood"]);
    assert_eq!(p.splits[0].accuracy_step, Some(200));
    assert_eq!(p.splits[1].accuracy_step, Some(700));
    assert_eq!(p.splits[2].accuracy_step, None);
    assert_eq!(p.splits[0].exact_step, None, "exact accuracy is half the token accuracy here: never >= 0.9");
    assert!((p.splits[2].best_accuracy - 0.5).abs() < 1e-12 && p.last_step == 1000 && p.records == 21);
    // A lower threshold moves the OOD phase to the first step at 0.2.
    assert_eq!(phases(&history, 0.2).splits[2].accuracy_step, Some(400));
    // Records without per-split lists (older histories) give train and test.
    let old: Vec<Record> = history.iter().map(|r| Record { splits: Vec::new(), ..r.clone() }).collect();
    let p = phases(&old, 0.9);
    assert_eq!(
        p.splits.iter().map(|s| (s.split.as_str(), s.accuracy_step)).collect::<Vec<_>>(),
        [("train", Some(200)), ("test", Some(700))]
    );
}

#[test]
fn logit_lens_scores_constructed_logits() {
    use looplab::tasks::IGNORE;
    // 2 examples x 2 positions, vocab 4; only position 1 is supervised, targets 2 and 3.
    let targets = [IGNORE, 2, IGNORE, 3];
    let row = |top: usize, second: usize| -> Vec<f32> {
        (0..4)
            .map(|v| {
                if v == top {
                    2.0
                } else if v == second {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    };
    let iteration = |rows: [Vec<f32>; 4]| rows.concat();
    let logits = vec![
        // Iteration 1: example 0 has 2 second (rank 2); example 1's 3 ties token 2 below two larger logits
        // (rank 3: ties do not count against it).
        iteration([row(0, 1), row(1, 2), row(0, 1), row(0, 1)]),
        // Iteration 2: example 0 right, example 1 second.
        iteration([row(0, 1), row(2, 1), row(0, 1), row(0, 3)]),
        // Iteration 3: both right.
        iteration([row(0, 1), row(2, 1), row(0, 1), row(3, 0)]),
    ];
    let steps = lens(&logits, &targets, 2, 4);
    let got: Vec<(f64, f64, f64)> = steps.iter().map(|s| (s.token_accuracy, s.exact_accuracy, s.mean_rank)).collect();
    assert_eq!(got, [(0.0, 0.0, 2.5), (0.5, 0.5, 1.5), (1.0, 1.0, 1.0)]);
    // Bridges at position 1: example 0's bridge 1 is top at iteration 1 only (ranks 1, 2, 2); example 1's
    // bridge 3 is top at iteration 3 only (ranks 3, 2, 1); a third example without bridges is skipped.
    let mut with_third = logits.clone();
    for (t, it) in with_third.iter_mut().enumerate() {
        it.extend(row(0, 1));
        it.extend(row(if t == 0 { 2 } else { 0 }, 1));
    }
    let bridges = bridge_lens(&with_third, &[vec![1], vec![3], vec![]], 1, 2, 4);
    assert_eq!(bridges.len(), 1);
    let b = &bridges[0];
    assert_eq!((b.bridge, b.examples, b.never_top), (1, 2, 0));
    assert_eq!(b.top_share, [0.5, 0.0, 0.5]);
    assert_eq!(b.first_top, [1, 0, 1]);
    assert_eq!(b.mean_rank, [2.0, 2.0, 1.5]);
}

#[test]
fn path_independence_compares_final_states() {
    let mut rng = Rng::new(4);
    let a = random(&mut rng, 2 * 6);
    let same = path::compare(&a, &a, 2, 5, 1.0);
    assert_eq!(same.cosines.len(), 2);
    assert!((same.mean_cosine - 1.0).abs() < 1e-12 && same.mean_relative_distance == 0.0);
    let flipped: Vec<f32> = a.iter().enumerate().map(|(i, &v)| if i < 6 { v } else { -v }).collect();
    let p = path::compare(&a, &flipped, 2, 5, 1.0);
    assert!(
        (p.min_cosine + 1.0).abs() < 1e-9
            && p.mean_cosine.abs() < 1e-9
            && (p.mean_relative_distance - 1.0).abs() < 1e-6,
        "{p:?}"
    );
}

fn test_split(c: &LabConfig, index: usize) -> looplab::tasks::Split {
    c.dataset().splits[index].clone()
}

fn assert_ranges(r: &ProbeReport, keys: usize) {
    let finite = |x: f64| x.is_finite();
    for s in &r.convergence.series {
        for c in &s.changes {
            assert!(finite(c.relative_change) && c.relative_change >= 0.0 && (-1.0..=1.0).contains(&c.cosine), "{c:?}");
        }
    }
    for s in &r.attention.series {
        for e in s.entropy.iter().flatten() {
            assert!(*e >= 0.0 && *e <= (keys as f64).ln() + 1e-6, "entropy {e} over {keys} keys");
        }
        for j in s.js.iter().flatten() {
            assert!((0.0..=LN2).contains(j), "JS {j}");
        }
    }
    let a = &r.attention;
    assert_eq!(a.maps.len(), r.states.len());
    for m in &a.maps {
        assert_eq!(m.len(), a.heads * a.seq * a.keys);
        for row in m.chunks(a.keys) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "an attention row sums to {sum}");
        }
    }
    assert_eq!(r.lens.len(), r.iterations);
    for l in &r.lens {
        assert!(
            (0.0..=1.0).contains(&l.token_accuracy) && (0.0..=1.0).contains(&l.exact_accuracy) && l.mean_rank >= 1.0,
            "{l:?}"
        );
    }
    if let Some(c) = &r.cka {
        assert_eq!(c.values.len(), r.states.len());
        assert!(c.values.iter().flatten().all(|v| (0.0..=1.0).contains(v)), "{:?}", c.values);
    }
    if let Some(p) = &r.path {
        assert_eq!(p.cosines.len(), r.examples);
        assert!(p.cosines.iter().all(|c| (-1.0..=1.0).contains(c)) && p.noise_std > 0.0, "{p:?}");
    }
    assert!(!r.verdict.is_empty());
    // The report survives JSON (floats up to their last digit: serde_json parses without exact round trip).
    let json = serde_json::to_string(r).unwrap();
    let back: ProbeReport = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (&back.states, &back.verdict, back.attention.maps.len()),
        (&r.states, &r.verdict, r.attention.maps.len())
    );
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
    assert!(back
        .lens
        .iter()
        .zip(&r.lens)
        .all(|(a, b)| close(a.mean_rank, b.mean_rank) && close(a.token_accuracy, b.token_accuracy)));
}

/// A tiny looped model and its feedforward twin, trained 40 steps each: every probe's shape and range, and
/// the twin probed against itself gives CKA 1 on the diagonal and a diagonal pattern.
#[test]
fn probes_a_trained_looped_model_and_its_feedforward_twin() {
    pollster::block_on(async {
        let small = [
            "task.p=11",
            "model.d_model=32",
            "model.mlp_hidden=64",
            "model.zero_init=false",
            "train.steps=40",
            "train.eval_every=20",
        ];
        let looped = config("modular-small", &[&small[..], &["model.loops=3"]].concat());
        let ff = config(
            "modular-small",
            &[&small[..], &["model.arch=feedforward", "model.loops=1", "model.layers=3"]].concat(),
        );
        let (looped_bytes, history) = trained(looped.clone(), 40).await;
        let (ff_bytes, ff_history) = trained(ff, 40).await;
        let weights = Weights::read(&looped_bytes, "looped").unwrap();
        let twin = Weights::read(&ff_bytes, "twin").unwrap();
        let split = test_split(&looped, 1);
        let mut backend = Backend::open(BackendKind::Cpu).await.unwrap();

        let depth = 5;
        let mut options = ProbeOptions::new(16, depth);
        options.twin = Some(&twin);
        options.history = Some(&history);
        options.twin_history = Some(&ff_history);
        let r = probes::run(&weights, &mut backend, &split, &options).await.unwrap();
        let seq = split.seq_len;
        assert_eq!((r.examples, r.seq, r.iterations, r.step_unit.as_str()), (16, seq, depth, "iteration"));
        assert_eq!(r.states.len(), depth);
        assert_eq!(r.states.iter().map(|s| s.step).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(r.convergence.series.len(), 1);
        assert_eq!(r.convergence.series[0].changes.len(), depth - 1);
        assert_eq!(r.convergence.per_token.len(), depth - 1);
        assert!(r.convergence.per_token.iter().all(|row| row.len() == seq));
        assert_eq!(r.attention.series[0].entropy.len(), depth);
        assert_eq!(r.attention.series[0].js.len(), depth - 1);
        assert!(r.attention.series[0].entropy.iter().all(|e| e.len() == 4));
        let c = r.cka.as_ref().expect("a twin gives CKA");
        assert_eq!((c.twin_layers, c.best.len()), (3, depth));
        assert_eq!(r.path.as_ref().expect("a looped model has path independence").iterations, depth);
        let history_phases = r.phases.as_ref().expect("a history gives phases");
        assert_eq!(history_phases.splits.len(), 2);
        assert_eq!(history_phases.last_step, 40);
        assert_eq!(r.twin_phases.as_ref().expect("the twin's history gives its phases").last_step, 40);
        assert_ranges(&r, seq);

        // The held-out gain over the twin, on planted last records: test_ood 0.30 vs 0.10 is a gain, test_id
        // 0.62 vs 0.60 is under the 0.05 margin; the other way round there is none.
        let gain = |model: Record, twin: Record| {
            let mut planted = r.clone();
            (planted.phases, planted.twin_phases) = (Some(phases(&[model], 0.9)), Some(phases(&[twin], 0.9)));
            verdict(&planted)
                .into_iter()
                .find(|v| v.question == "held-out gain over the feedforward twin?")
                .expect("a gain line")
        };
        let (ours, twins) = (record(100, 1.0, 0.62, Some(0.30)), record(100, 1.0, 0.60, Some(0.10)));
        let line = gain(ours.clone(), twins.clone());
        assert_eq!(line.answer, "yes: test_ood +0.200");
        assert!(
            line.evidence.contains("test_id: 0.620 (best 0.620, phase never) vs twin 0.600 (best 0.600, phase never)"),
            "{}",
            line.evidence
        );
        assert_eq!(gain(twins, ours).answer, "no");
        // Near chance the mechanism questions are not answered; the numbers stay in the evidence.
        let mechanisms = |lens_best: f64, chance: f64| {
            let mut planted = r.clone();
            planted.chance = chance;
            planted.lens.iter_mut().for_each(|l| l.token_accuracy = lens_best);
            verdict(&planted)
        };
        let untrained = mechanisms(0.15, 0.1);
        for q in [
            "fixed point reached?",
            "attention stabilized?",
            "stage mirroring (CKA with the feedforward twin)?",
            "path independent?",
        ] {
            let v = untrained.iter().find(|v| v.question == q).unwrap();
            assert_eq!(v.answer, "too untrained to judge", "{q}");
            assert!(
                v.evidence.starts_with(
                    "the best token accuracy of the logit lens, 0.150, is less than 0.1 above chance (0.100"
                ),
                "{}",
                v.evidence
            );
        }
        let lens_line = untrained.iter().find(|v| v.question.starts_with("logit lens")).unwrap();
        assert_eq!(lens_line.answer, "iteration 1 (0.150)", "the lens itself is still read");
        let trained_lines = mechanisms(0.25, 0.1);
        assert!(trained_lines.iter().all(|v| v.answer != "too untrained to judge"), "0.15 above chance is judged");
        assert_eq!(looplab::probes::lens::majority_share(&[3, 3, 1, looplab::tasks::IGNORE, 2, 3]), 0.6);

        let mut alone = r.clone();
        alone.twin_phases = None;
        assert_eq!(
            verdict(&alone).iter().find(|v| v.question.starts_with("held-out gain")).unwrap().answer,
            "not measured"
        );
        // The lens over the whole training split at the training depth is the train accuracy the trainer
        // recorded (well above 0 after 40 steps).
        let train = test_split(&looped, 0);
        let all = probes::run(&weights, &mut backend, &train, &ProbeOptions::new(train.len(), 3)).await.unwrap();
        let recorded = history.last().unwrap().train_acc;
        assert_eq!(all.examples, train.len());
        assert!(
            recorded > 0.2 && (all.lens[2].token_accuracy - recorded).abs() < 1e-9,
            "lens {} vs recorded {recorded}",
            all.lens[2].token_accuracy
        );

        // The twin against itself: each layer matches itself (CKA 1), so the best layers run 0, 1, 2.
        let mut options = ProbeOptions::new(16, 1);
        options.twin = Some(&twin);
        let r = probes::run(&twin, &mut backend, &split, &options).await.unwrap();
        assert_eq!((r.step_unit.as_str(), r.states.len(), r.iterations), ("layer", 3, 1));
        assert!(r.path.is_none() && r.phases.is_none());
        assert_eq!(r.convergence.series[0].changes.len(), 2, "layers 1 -> 2 -> 3");
        let c = r.cka.as_ref().unwrap();
        for (i, row) in c.values.iter().enumerate() {
            assert!((row[i] - 1.0).abs() < 1e-6, "layer {i} against itself: {row:?}");
        }
        assert_eq!((c.best.clone(), c.pattern), (vec![0, 1, 2], Pattern::Diagonal));
        assert_ranges(&r, seq);

        // A looped twin, or one trained on another task, is refused with a message.
        let mut options = ProbeOptions::new(4, 3);
        options.twin = Some(&weights);
        let e = probes::run(&weights, &mut backend, &split, &options).await.unwrap_err();
        assert!(e.to_string().contains("must be a feedforward checkpoint"), "{e}");
        let other =
            config("modular-small", &[&small[..], &["task.p=13", "model.arch=feedforward", "model.loops=1"]].concat());
        let (other_bytes, _) = trained(other, 1).await;
        let other = Weights::read(&other_bytes, "other").unwrap();
        options.twin = Some(&other);
        let e = probes::run(&weights, &mut backend, &split, &options).await.unwrap_err();
        assert!(e.to_string().contains("task.p: model 11, twin 13"), "{e}");
        let e = probes::run(&twin, &mut backend, &split, &ProbeOptions::new(4, 2)).await.unwrap_err();
        assert!(e.to_string().contains("1 for a feedforward model"), "{e}");
    });
}

/// Composition: the bridge entity's readability at the answer position, one reading per bridge.
#[test]
fn probes_composition_bridges() {
    pollster::block_on(async {
        let c = config(
            "composition",
            &[
                "task.entities=40",
                "task.relations=6",
                "task.phi=2",
                "task.ood_fraction=0.2",
                "task.test_examples=50",
                "model.d_model=32",
                "model.mlp_hidden=64",
                "model.loops=3",
                "train.batch_size=64",
                "train.eval_every=10",
            ],
        );
        let (bytes, _) = trained(c.clone(), 20).await;
        let weights = Weights::read(&bytes, "composition").unwrap();
        let split = test_split(&c, 1);
        let mut backend = Backend::open(BackendKind::Cpu).await.unwrap();
        let r = probes::run(&weights, &mut backend, &split, &ProbeOptions::new(32, 3)).await.unwrap();
        assert_eq!(r.bridges.len(), 1, "2 hops: one bridge");
        let b = &r.bridges[0];
        assert_eq!(b.examples, r.examples, "every test_id example is an inferred fact with a bridge");
        assert_eq!(b.first_top.iter().sum::<usize>() + b.never_top, b.examples);
        assert_eq!((b.top_share.len(), b.mean_rank.len()), (3, 3));
        assert!(
            b.top_share.iter().all(|x| (0.0..=1.0).contains(x))
                && b.mean_rank.iter().all(|&x| x >= 1.0 && x <= weights.vocab as f64)
        );
        assert!(r.verdict.iter().any(|v| v.question.starts_with("bridge b1")));
        assert_ranges(&r, r.seq);
    });
}

/// Memory is planned up front: a probe too large for the cpu backend's budget (75% of the machine's memory) is its
/// clear error. d_model 1024 makes the request well over 100 GiB, beyond any machine this runs on.
#[test]
fn a_probe_too_large_for_memory_is_a_clear_error() {
    pollster::block_on(async {
        let c = config("modular-small", &["task.p=97", "train.batch_size=32", "model.d_model=1024"]);
        let mut t = Trainer::new(c.clone(), Backend::open(BackendKind::Cpu).await.unwrap()).await.unwrap();
        let bytes = checkpoint::save(&mut t).await.unwrap();
        drop(t);
        let weights = Weights::read(&bytes, "big").unwrap();
        let split = test_split(&c, 1);
        let mut backend = Backend::open(BackendKind::Cpu).await.unwrap();
        match probes::run(&weights, &mut backend, &split, &ProbeOptions::new(4096, 256)).await {
            Err(LabError::TooLarge { limit, needed, .. }) => {
                assert!(limit.contains("memory budget"), "{limit}");
                println!("refused: needs {needed}");
            }
            Err(e) => panic!("expected TooLarge, got {e}"),
            Ok(_) => panic!("4096 examples x 256 iterations should not fit"),
        }
    });
}

#[test]
fn stage_mirroring_presets_are_iso_flop_twins_on_a_k_hop_task() {
    let looped = config("stage-mirroring", &[]);
    let ff = config("stage-mirroring-ff", &[]);
    assert!(looped.task.hops >= 3, "a k-hop task");
    assert_eq!(looped.task, ff.task);
    assert_eq!(looped.seed, ff.seed);
    assert_eq!(looped.model.arch, looplab::config::Arch::Looped);
    assert_eq!(ff.model.arch, looplab::config::Arch::Feedforward);
    assert_eq!(
        looped.model.layers * looped.model.loops,
        ff.model.layers * ff.model.loops,
        "iso-FLOP: the same layer applications"
    );
    assert_eq!(
        (looped.model.d_model, looped.model.mlp_hidden, looped.model.heads),
        (ff.model.d_model, ff.model.mlp_hidden, ff.model.heads)
    );
    probes::check_twin(&looped, &ff).unwrap();
    let d = looped.dataset();
    let sizes: Vec<(&str, usize)> = d.splits.iter().map(|s| (s.name, s.len())).collect();
    assert!(sizes.iter().all(|&(_, n)| n >= 100), "every split has examples to probe: {sizes:?}");
    println!("stage-mirroring splits: {sizes:?}");
}
