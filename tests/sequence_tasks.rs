#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashSet;

use common::config;
use looplab::config::{LabConfig, TaskConfig, TaskKind};
use looplab::tasks::IGNORE;
use looplab::tasks::{pointer_chasing, prefix_sums, Dataset};

fn rows(d: &Dataset, split: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    let (s, l) = (&d.splits[split], d.splits[split].seq_len);
    (0..s.len()).map(|i| (s.tokens[i * l..(i + 1) * l].to_vec(), s.targets[i * l..(i + 1) * l].to_vec())).collect()
}

/// The message of validating `preset` with `sets`, which must fail.
fn invalid(preset: &str, sets: &[&str]) -> String {
    let mut c = LabConfig::from_preset(preset, &[]).unwrap();
    for s in sets {
        c.set(s).unwrap();
    }
    c.validate().expect_err("should be invalid").to_string()
}

#[test]
fn prefix_sums_targets_are_prefix_parities_and_padding_is_ignored() {
    // Learned absolute positions: both splits padded to the longer length.
    let sizes = ["task.size=5", "task.test_size=9", "task.examples=20", "task.test_examples=30"];
    let c = config(
        "prefix-sums",
        &[&sizes[..], &["model.attention=global", "model.radius=0", "model.positions=learned"]].concat(),
    );
    assert_eq!(c.task.kind, TaskKind::PrefixSums);
    // Without them (the preset), each split keeps its own length: the same strings, unpadded.
    let unpadded = config("prefix-sums", &sizes).dataset();
    assert_eq!(unpadded.splits.iter().map(|s| (s.seq_len, s.grid)).collect::<Vec<_>>(), [(5, [1, 5]), (9, [1, 9])]);
    let d = c.dataset();
    for (split, bits) in [(0, 5), (1, 9)] {
        let (a, b) = (&d.splits[split], &unpadded.splits[split]);
        for i in 0..a.len() {
            assert_eq!(&a.example(i).0[..bits], b.example(i).0, "split {split} example {i}");
        }
    }
    assert_eq!((d.vocab, d.seq_len()), (3, 9));
    assert_eq!(d.splits.iter().map(|s| (s.name, s.len())).collect::<Vec<_>>(), [("train", 20), ("test", 30)]);
    for (split, bits) in [(0, 5), (1, 9)] {
        for (tokens, targets) in rows(&d, split) {
            let mut parity = 0;
            for i in 0..9 {
                if i < bits {
                    assert!(tokens[i] <= 1, "bit token {}", tokens[i]);
                    parity = (parity + tokens[i]) % 2;
                    assert_eq!(targets[i], parity, "position {i} of {tokens:?}");
                } else {
                    assert_eq!((tokens[i], targets[i]), (prefix_sums::PAD, IGNORE), "padding at {i}");
                }
            }
        }
    }
    // Both values occur: the data is not constant.
    let t = &d.splits[0].tokens;
    assert!(t.contains(&0) && t.contains(&1));
    assert_eq!(prefix_sums::parities(&[1, 0, 1, 1, 0]), [1, 1, 0, 1, 1]);
}

#[test]
fn prefix_sums_splits_are_deterministic_distinct_and_disjoint() {
    // 6 bits: 64 strings, 40 + 24 uses every one of them.
    let sets = ["task.size=6", "task.test_size=0", "task.examples=40", "task.test_examples=24"];
    let (a, b) = (config("prefix-sums", &sets).dataset(), config("prefix-sums", &sets).dataset());
    assert_eq!(a.seq_len(), 6);
    assert_eq!((&a.splits[0].tokens, &a.splits[1].tokens), (&b.splits[0].tokens, &b.splits[1].tokens));
    let mut other = sets.to_vec();
    other.push("seed=1");
    assert_ne!(config("prefix-sums", &other).dataset().splits[0].tokens, a.splits[0].tokens);
    let train: HashSet<Vec<u32>> = rows(&a, 0).into_iter().map(|r| r.0).collect();
    let test: HashSet<Vec<u32>> = rows(&a, 1).into_iter().map(|r| r.0).collect();
    assert_eq!((train.len(), test.len()), (40, 24), "strings repeat within a split");
    assert!(train.is_disjoint(&test));
    // A large space (rejection sampling) too.
    let big =
        config("prefix-sums", &["task.size=16", "task.test_size=0", "task.examples=3000", "task.test_examples=3000"])
            .dataset();
    let train: HashSet<Vec<u32>> = rows(&big, 0).into_iter().map(|r| r.0).collect();
    let test: HashSet<Vec<u32>> = rows(&big, 1).into_iter().map(|r| r.0).collect();
    assert_eq!((train.len(), test.len()), (3000, 3000));
    assert!(train.is_disjoint(&test));
}

#[test]
fn prefix_sums_validate_names_each_bad_value() {
    let cases: &[(&[&str], &str)] = &[
        (&["task.size=1"], "`task.size`"),
        (&["task.size=513"], "`task.size`"),
        (&["task.test_size=1"], "`task.test_size`"),
        (&["task.test_size=600"], "`task.test_size`"),
        (&["task.examples=0"], "`task.examples`"),
        (&["task.test_examples=0"], "`task.test_examples`"),
        (&["task.size=3", "task.test_size=0", "task.examples=9"], "`task.examples`"),
        (&["task.size=3", "task.test_size=0", "task.examples=5", "task.test_examples=4"], "`task.test_examples`"),
        (&["task.size=8", "task.test_size=2", "task.examples=5", "task.test_examples=5"], "`task.test_examples`"),
    ];
    for (sets, key) in cases {
        let msg = invalid("prefix-sums", sets);
        assert!(msg.contains(key), "{sets:?}: {msg}");
    }
    // The edges are allowed.
    config("prefix-sums", &["task.size=3", "task.test_size=0", "task.examples=5", "task.test_examples=3"]);
    config("prefix-sums", &["task.size=512", "task.test_size=2", "task.examples=1", "task.test_examples=4"]);
}

fn perm_of(tokens: &[u32], n: usize) -> Vec<u32> {
    let mut perm = vec![u32::MAX; n];
    for pair in tokens[..3 * n].chunks(3) {
        assert_eq!(pair[1], pointer_chasing::arrow(n));
        assert_eq!(perm[pair[0] as usize], u32::MAX, "node {} written twice", pair[0]);
        perm[pair[0] as usize] = pair[1 + 1];
    }
    perm
}

#[test]
fn pointer_chasing_answers_the_kth_successor() {
    for (n, hops) in [(5, 1), (8, 3), (6, 7)] {
        let c = config(
            "pointer-chasing",
            &[&format!("task.size={n}"), &format!("task.hops={hops}"), "task.examples=50", "task.test_examples=20"],
        );
        assert_eq!(c.task.kind, TaskKind::PointerChasing);
        let d = c.dataset();
        assert_eq!((d.vocab, d.seq_len()), (n + 3, 3 * n + 3));
        assert_eq!(d.splits.iter().map(|s| (s.name, s.len())).collect::<Vec<_>>(), [("train", 50), ("test", 20)]);
        let mut answers = HashSet::new();
        for split in 0..2 {
            for (tokens, targets) in rows(&d, split) {
                let perm = perm_of(&tokens, n);
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>(), "not a permutation");
                assert_eq!(tokens[3 * n], pointer_chasing::start(n));
                assert_eq!(tokens[3 * n + 2], pointer_chasing::query(n));
                let mut at = tokens[3 * n + 1];
                assert!((at as usize) < n);
                for _ in 0..hops {
                    at = perm[at as usize];
                }
                assert_eq!(targets[3 * n + 2], at);
                assert!(targets[..3 * n + 2].iter().all(|&t| t == IGNORE));
                answers.insert(at);
            }
        }
        assert!(answers.len() > 1, "answers are constant");
    }
}

#[test]
fn pointer_chasing_splits_are_deterministic_distinct_and_disjoint() {
    let key = |tokens: &[u32], n: usize| (perm_of(tokens, n), tokens[3 * n + 1]);
    // 3 nodes: 3! * 3 = 18 (permutation, start) pairs, all used.
    for (n, train_n, test_n) in [(3, 10, 8), (7, 3000, 3000)] {
        let sets =
            [format!("task.size={n}"), format!("task.examples={train_n}"), format!("task.test_examples={test_n}")];
        let sets: Vec<&str> = sets.iter().map(|s| s.as_str()).collect();
        let (a, b) = (config("pointer-chasing", &sets).dataset(), config("pointer-chasing", &sets).dataset());
        assert_eq!((&a.splits[0].tokens, &a.splits[1].tokens), (&b.splits[0].tokens, &b.splits[1].tokens));
        let mut other = sets.clone();
        other.push("seed=3");
        assert_ne!(config("pointer-chasing", &other).dataset().splits[0].tokens, a.splits[0].tokens);
        let train: HashSet<_> = rows(&a, 0).iter().map(|r| key(&r.0, n)).collect();
        let test: HashSet<_> = rows(&a, 1).iter().map(|r| key(&r.0, n)).collect();
        assert_eq!((train.len(), test.len()), (train_n, test_n), "examples repeat within a split");
        assert!(train.is_disjoint(&test));
    }
    // The pairs are written in shuffled order, not always 0, 1, 2, ...
    let d = config("pointer-chasing", &[]).dataset();
    assert!(rows(&d, 0).iter().any(|r| r.0[0] != 0));
}

#[test]
fn pointer_chasing_validate_names_each_bad_value() {
    let cases: &[(&[&str], &str)] = &[
        (&["task.size=1"], "`task.size`"),
        (&["task.size=65"], "`task.size`"),
        (&["task.hops=0"], "`task.hops`"),
        (&["task.hops=17"], "`task.hops`"),
        (&["task.examples=0"], "`task.examples`"),
        (&["task.test_examples=0"], "`task.test_examples`"),
        (&["task.size=3", "task.examples=19"], "`task.examples`"),
        (&["task.size=3", "task.examples=10", "task.test_examples=9"], "`task.test_examples`"),
    ];
    for (sets, key) in cases {
        let msg = invalid("pointer-chasing", sets);
        assert!(msg.contains(key), "{sets:?}: {msg}");
    }
    config("pointer-chasing", &["task.size=64", "task.hops=16", "task.examples=1", "task.test_examples=1"]);
    config("pointer-chasing", &["task.size=3", "task.hops=1", "task.examples=10", "task.test_examples=8"]);
}

#[test]
fn presets_and_config_keys() {
    let p = config("prefix-sums", &[]);
    assert_eq!(
        (p.task.size, p.task.test_size, p.model.d_model, p.model.loops, p.model.layers, p.model.mlp_hidden),
        (16, 32, 64, 20, 1, 128)
    );
    let d = p.dataset();
    assert_eq!((d.seq_len(), d.splits[1].seq_len), (16, 32));
    let q = config("pointer-chasing", &[]);
    assert_eq!((q.task.size, q.task.hops), (8, 3));
    // Kinds by their names, and a config without `hops` still parses (serde default).
    let mut c = config("grokking", &[]);
    c.set("task.kind=pointer-chasing").unwrap();
    assert_eq!(c.task.kind, TaskKind::PointerChasing);
    c.set("task.kind=prefix-sums").unwrap();
    assert_eq!(c.task.kind, TaskKind::PrefixSums);
    let mut json: serde_json::Value = serde_json::to_value(&q).unwrap();
    json["task"].as_object_mut().unwrap().remove("hops");
    let t: TaskConfig = serde_json::from_value(json["task"].clone()).unwrap();
    assert_eq!(t.hops, 0);
}
