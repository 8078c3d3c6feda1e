#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::looplab;
use looplab::audit::audit;
use looplab::config::LabConfig;
use looplab::tasks::multiplication::{self, graph, Problem};
use looplab::tasks::IGNORE;

/// Operand digits, least significant first, of a written number.
fn n(x: u64, digits: usize) -> Vec<u8> {
    (0..digits).map(|i| ((x / 10u64.pow(i as u32)) % 10) as u8).collect()
}

fn p(a: u64, na: usize, b: u64, nb: usize) -> Problem {
    Problem { a: n(a, na), b: n(b, nb) }
}

#[test]
fn long_multiplication_graph_of_12_times_34() {
    // 12 x 34 = 408: columns 8 | 6 + 4 = 10 | 3 + carry 1 = 4 | final carry 0.
    assert_eq!(p(12, 2, 34, 2).product(), vec![8, 0, 4, 0]);
    assert_eq!(p(99, 2, 99, 2).product(), n(9801, 4));
    assert_eq!(p(987, 3, 65, 2).product(), n(64155, 5));
    let g = graph(2, 2);
    assert_eq!(g.iter().map(|d| d.depth).collect::<Vec<_>>(), [3, 5, 7, 7]);
    assert_eq!(g[0].ancestors, [(0, 0)]);
    assert_eq!(g[1].ancestors, [(0, 0), (0, 1), (1, 0)]);
    assert_eq!(g[2].ancestors, [(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert_eq!(g[3].ancestors, g[2].ancestors, "the top digit is the carry out of the column below");
    assert_eq!(graph(3, 2).iter().map(|d| d.depth).collect::<Vec<_>>(), [3, 5, 7, 9, 9]);
    // The key of digit k holds the low k+1 digits of each operand.
    let q = p(12, 2, 34, 2);
    assert_eq!(q.subgraph_key(0), (0, 2, 2, vec![2], vec![4]));
    assert_eq!(q.subgraph_key(3), (3, 2, 2, vec![2, 1], vec![4, 3]));
}

#[test]
fn dataset_holds_true_products_and_disjoint_splits() {
    let sets = ["task.examples=300", "task.test_examples=100"].map(String::from);
    let c = LabConfig::from_preset("multiplication", &sets).unwrap();
    let too_many = LabConfig::from_preset("multiplication", &["task.size=1".into(), "task.size_b=1".into()])
        .unwrap_err()
        .to_string();
    assert!(too_many.contains("at most 1000000 each and 100 together (distinct 1x1-digit problems)"), "{too_many}");
    let bad_b = LabConfig::from_preset("multiplication", &["task.size_b=9".into()]).unwrap_err().to_string();
    assert!(bad_b.contains("`task.size_b`"), "{bad_b}");
    let d = c.dataset();
    assert_eq!((d.splits[0].len(), d.splits[1].len(), d.seq_len()), (300, 100, 12));
    let mut train = std::collections::HashSet::new();
    for (k, s) in d.splits.iter().enumerate() {
        for i in 0..s.len() {
            let (tokens, targets) = s.example(i);
            let q = multiplication::decode(tokens, 3, 2);
            let value = |x: &[u8]| x.iter().rev().fold(0u64, |v, &d| 10 * v + d as u64);
            assert!(q.a[2] > 0 && q.b[1] > 0);
            assert_eq!(value(&q.product()), value(&q.a) * value(&q.b));
            assert_eq!(&targets[7..], q.product().iter().map(|&x| x as u32).collect::<Vec<_>>());
            assert!(targets[..7].iter().all(|&t| t == IGNORE));
            if k == 0 {
                train.insert(q);
            } else {
                assert!(!train.contains(&q), "test problem in training");
            }
        }
    }
}

#[test]
fn audit_classifies_seen_subgraphs_and_error_kinds_on_planted_answers() {
    // Training holds 12 x 34 only. Test: 12 x 44 shares digit 0's subgraph (2, 4) and nothing above;
    // 22 x 34 shares digit 0's too; 13 x 35 shares nothing.
    let train = vec![p(12, 2, 34, 2)];
    let test = vec![p(12, 2, 44, 2), p(22, 2, 34, 2), p(13, 2, 35, 2)];
    let right = |q: &Problem| q.product().iter().map(|&d| d as u32).collect::<Vec<u32>>();
    // 12 x 44 = 528: all right. 22 x 34 = 748: digit 1 wrong (local), digit 2 then wrong too (propagation).
    // 13 x 35 = 455: digit 0 wrong (local), rest right.
    let mut second = right(&test[1]);
    second[1] = (second[1] + 1) % 10;
    second[2] = (second[2] + 1) % 10;
    let mut third = right(&test[2]);
    third[0] = (third[0] + 1) % 10;
    let a = audit(&test, &[right(&test[0]), second, third], &train);
    assert_eq!(a.examples, 3);
    assert!((a.exact - 1.0 / 3.0).abs() < 1e-12);
    let d0 = &a.digits[0];
    assert_eq!((d0.correct_seen, d0.correct_unseen, d0.wrong_seen, d0.wrong_unseen), (2, 0, 0, 1));
    assert_eq!((d0.local_errors, d0.propagation_errors), (1, 0));
    let d1 = &a.digits[1];
    assert_eq!((d1.correct_seen, d1.correct_unseen, d1.wrong_seen, d1.wrong_unseen), (0, 2, 0, 1));
    assert_eq!((d1.local_errors, d1.propagation_errors), (1, 0));
    let d2 = &a.digits[2];
    assert_eq!((d2.wrong_unseen, d2.local_errors, d2.propagation_errors), (1, 0, 1));
    // 13 x 35's digit 0 error makes its later (right) digits neither kind; a right digit is never an error.
    assert_eq!(a.digits[3].local_errors + a.digits[3].propagation_errors, 0);
    assert_eq!(
        a.by_depth.iter().map(|d| (d.depth, d.digits.clone())).collect::<Vec<_>>(),
        [(3, vec![0]), (5, vec![1]), (7, vec![2, 3])]
    );
    assert!((a.by_depth[0].accuracy - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn audit_cli_reports_a_trained_checkpoint_and_refuses_bad_arguments() {
    let dir = std::env::temp_dir().join(format!("looplab-audit-test-{}", std::process::id()));
    let run = looplab;
    let out = dir.to_str().unwrap();
    let sets = [
        "--set",
        "task.examples=200",
        "--set",
        "task.test_examples=40",
        "--set",
        "model.d_model=16",
        "--set",
        "model.mlp_hidden=32",
    ];
    let (code, _, err) =
        run(&[&["train", "--preset", "multiplication", "--backend", "cpu", "--steps", "10", "--out", out][..], &sets]
            .concat());
    assert_eq!(code, 0, "{err}");
    let ckpt = dir.join("model.safetensors");
    let (code, stdout, err) = run(&["audit", "--checkpoint", ckpt.to_str().unwrap(), "--backend", "cpu", "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["examples"], 40);
    let digits = j["digits"].as_array().unwrap();
    assert_eq!(digits.iter().map(|d| d["depth"].as_u64().unwrap()).collect::<Vec<_>>(), [3, 5, 7, 9, 9]);
    for d in digits {
        let sum: u64 = ["correct_seen", "correct_unseen", "wrong_seen", "wrong_unseen"]
            .iter()
            .map(|k| d[k].as_u64().unwrap())
            .sum();
        assert_eq!(sum, 40, "{d}");
        let wrong = d["wrong_seen"].as_u64().unwrap() + d["wrong_unseen"].as_u64().unwrap();
        assert_eq!(d["local_errors"].as_u64().unwrap() + d["propagation_errors"].as_u64().unwrap(), wrong);
    }
    let (code, stdout, _) = run(&["audit", "--checkpoint", ckpt.to_str().unwrap(), "--backend", "cpu"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("accuracy by graph depth: 3:"), "{stdout}");
    let (code, _, err) = run(&["audit"]);
    assert_eq!(code, 2, "a usage error");
    assert!(err.contains("required arguments were not provided:\n  --checkpoint <FILE>"), "{err}");
    let (code, _, err) =
        run(&["audit", "--checkpoint", dir.join("missing.safetensors").to_str().unwrap(), "--backend", "cpu"]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
