#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashSet;

use common::config;
use looplab::backend::BackendKind;
use looplab::config::{DigitOrder, LabConfig};
use looplab::self_improve::{self, labels, Filter, Options};
use looplab::tasks::addition::{self, answer_slots, encode, true_answer, well_formed, Problem, BLANK, PAD};
use looplab::tasks::IGNORE;

/// The number an operand's digits (least significant first) stand for.
fn value(digits: &[u8]) -> u64 {
    digits.iter().rev().fold(0, |v, &d| 10 * v + d as u64)
}

fn problem(a: u64, b: u64, len: usize) -> Problem {
    let digits = |mut x: u64| {
        (0..len)
            .map(|_| {
                let d = (x % 10) as u8;
                x /= 10;
                d
            })
            .collect()
    };
    Problem { a: digits(a), b: digits(b) }
}

#[test]
fn sums_carry_and_both_orders_lay_out_the_same_digits_mirrored() {
    // 957 + 68 would have different lengths; both operands have 3 digits: 957 + 468 = 1425 (carries everywhere).
    let p = problem(957, 468, 3);
    assert_eq!(p.sum(), vec![5, 2, 4, 1]);
    assert_eq!(problem(123, 456, 3).sum(), vec![9, 7, 5, 0]);
    assert_eq!(problem(999, 1, 3).sum(), vec![0, 0, 0, 1], "a carry chain through every column");
    let width = 6;
    let (tokens, targets) = encode(&p, &true_answer(&p), width, DigitOrder::Reverse);
    let row = |v: &[u32], r: usize| v[r * width..(r + 1) * width].to_vec();
    assert_eq!(row(&tokens, 0), [7, 5, 9, PAD, PAD, PAD]);
    assert_eq!(row(&tokens, 1), [BLANK, BLANK, BLANK, BLANK, PAD, PAD]);
    assert_eq!(row(&tokens, 2), [8, 6, 4, PAD, PAD, PAD]);
    assert_eq!(row(&targets, 1), [5, 2, 4, 1, IGNORE, IGNORE]);
    assert!(
        row(&targets, 0).iter().chain(&row(&targets, 2)).all(|&t| t == IGNORE),
        "only the answer row is supervised"
    );
    let (ftokens, ftargets) = encode(&p, &true_answer(&p), width, DigitOrder::Forward);
    for r in 0..3 {
        let mirrored: Vec<u32> = row(&tokens, r).into_iter().rev().collect();
        assert_eq!(row(&ftokens, r), mirrored, "row {r}");
        let mirrored: Vec<u32> = row(&targets, r).into_iter().rev().collect();
        assert_eq!(row(&ftargets, r), mirrored, "targets row {r}");
    }
    assert_eq!(row(&ftokens, 0), [PAD, PAD, PAD, 9, 5, 7], "forward reads as written: 957");
    // Reading the answer slots back gives the sum in either order.
    for (order, t) in [(DigitOrder::Reverse, &targets), (DigitOrder::Forward, &ftargets)] {
        assert_eq!(answer_slots(t, 3, width, order), true_answer(&p));
    }
}

#[test]
fn splits_cover_their_lengths_with_true_sums_and_held_out_problems_never_train() {
    let c = config(
        "self-improve-addition",
        &["task.size=3", "task.test_size=5", "task.examples=600", "task.test_examples=40"],
    );
    let d = c.dataset();
    let names: Vec<&str> = d.splits.iter().map(|s| s.name).collect();
    assert_eq!(names, ["train", "len5", "len4", "len3", "len2", "len1"]);
    assert!(d.splits.iter().all(|s| s.grid == [3, 6]), "one geometry: 3 rows x (5 + 1) columns");
    // Decode every example back into its problem and check the targets are its sum.
    let decode = |s: &looplab::tasks::Split, i: usize| -> (Problem, Vec<u32>) {
        let (tokens, targets) = s.example(i);
        let len = tokens[..6].iter().filter(|&&t| t <= 9).count();
        let p = Problem {
            a: tokens[..len].iter().map(|&t| t as u8).collect(),
            b: tokens[12..12 + len].iter().map(|&t| t as u8).collect(),
        };
        (p, answer_slots(targets, len, 6, DigitOrder::Reverse))
    };
    let mut seen = HashSet::new();
    let mut lengths = vec![0; 6];
    let mut carries = 0;
    for (k, s) in d.splits.iter().enumerate() {
        for i in 0..s.len() {
            let (p, answer) = decode(s, i);
            assert_eq!(answer, true_answer(&p), "{} example {i}", s.name);
            assert_eq!(value(&p.sum()), value(&p.a) + value(&p.b));
            if p.len() > 1 {
                assert!(p.a[p.len() - 1] > 0 && p.b[p.len() - 1] > 0, "no leading zeros");
            }
            carries += usize::from(p.sum()[p.len()] == 1);
            if k == 0 {
                lengths[p.len()] += 1;
                seen.insert(p);
            } else {
                assert_eq!(s.name, addition::split_name(p.len()));
                assert!(!seen.contains(&p), "held-out problem {p:?} is in training");
            }
        }
    }
    // Length 1 has only 100 problems: the test split takes 40 of them, training gets 200 / length elsewhere.
    assert_eq!(lengths, [0, 60, 200, 200, 0, 0]);
    assert!(d.splits[1..].iter().all(|s| s.len() == 40));
    assert!(carries > 100, "final carries occur ({carries})");
}

#[test]
fn filters_keep_agreed_well_formed_labels_and_drop_the_rest() {
    let good = vec![5, 2, 4, 1];
    let other = vec![5, 2, 4, 0];
    let malformed = vec![5, PAD, 4, 1];
    let big_carry = vec![5, 2, 4, 7];
    assert!(well_formed(&good) && well_formed(&other));
    assert!(!well_formed(&malformed) && !well_formed(&big_carry) && !well_formed(&[]));
    // [model][problem]: problem 0 all agree, 1 two of three, 2 all agree on a malformed answer, 3 one malformed.
    let answers = vec![
        vec![good.clone(), good.clone(), malformed.clone(), good.clone()],
        vec![good.clone(), other.clone(), malformed.clone(), malformed.clone()],
        vec![good.clone(), other.clone(), malformed.clone(), good.clone()],
    ];
    let none = labels(&answers, Filter::None, 0.7);
    assert_eq!(none[1][2], Some(malformed.clone()), "no filter: each model keeps its own answers");
    assert_eq!(none[0][1], Some(good.clone()));
    let length = labels(&answers, Filter::Length, 0.7);
    assert_eq!(length[0], [Some(good.clone()), Some(good.clone()), None, Some(good.clone())]);
    assert_eq!(length[1], [Some(good.clone()), Some(other.clone()), None, None]);
    let vote = labels(&answers, Filter::Vote, 0.7);
    for (m, vote) in vote.iter().enumerate() {
        assert_eq!(*vote, [Some(good.clone()), None, Some(malformed.clone()), None], "model {m}: 2/3 < 0.7 is dropped");
    }
    let vote_half = labels(&answers, Filter::Vote, 0.6);
    assert_eq!(vote_half[0][1], Some(other.clone()), "the majority answer labels every model");
    assert_eq!(vote_half[0][3], Some(good.clone()));
    let both = labels(&answers, Filter::Both, 0.6);
    assert_eq!(both[2], [Some(good.clone()), Some(other.clone()), None, Some(good.clone())]);
}

#[test]
fn self_improve_rejects_what_it_cannot_run() {
    let c = config("self-improve-addition", &[]);
    let bad = |o: Options, c: &LabConfig| o.validate(c).expect_err("invalid").to_string();
    let o = Options::defaults(&c);
    assert!(bad(Options { agreement: 0.0, ..o.clone() }, &c).contains("--agreement"));
    assert!(bad(Options { models: 0, ..o.clone() }, &c).contains("--models"));
    assert!(bad(o.clone(), &LabConfig::from_preset("maze", &[]).unwrap()).contains("addition"));
    assert!(bad(o.clone(), &config("self-improve-addition", &["train.batch_size=0"])).contains("train.batch_size"));
    assert!("most".parse::<Filter>().unwrap_err().to_string().contains("none, length, vote or both"));
    let task = |sets: &[&str]| {
        let mut c = config("self-improve-addition", &[]);
        sets.iter().for_each(|s| c.set(s).unwrap());
        c.validate().expect_err("invalid").to_string()
    };
    assert!(task(&["task.size=0"]).contains("`task.size`: expected the longest training operand, from 1 to 64 digits"));
    assert!(task(&["task.test_size=3"]).contains("from task.size (4) to 64"));
    assert!(task(&["task.test_examples=0"]).contains("`task.test_examples`"));
    let order = config("self-improve-addition", &[]).set("task.order=sideways").unwrap_err().to_string();
    assert!(order.contains("`task.order`: expected `reverse` or `forward`"), "{order}");
}

#[test]
fn self_improve_rounds_extend_the_labelled_frontier_and_record_a_round_by_length_heatmap() {
    let c = config(
        "self-improve-addition",
        &[
            "task.size=2",
            "task.test_size=3",
            "task.examples=300",
            "task.test_examples=20",
            "model.d_model=16",
            "model.mlp_hidden=32",
            "model.loops=4",
            "train.batch_size=16",
        ],
    );
    let c = LabConfig { train: looplab::config::TrainConfig { steps: 20, ..c.train }, ..c };
    let o = Options { rounds: 2, models: 2, agreement: 0.7, filter: Filter::Both, round_steps: 10, problems: 30 };
    let mut seen = Vec::new();
    let report = pollster::block_on(self_improve::run(&c, &o, BackendKind::Cpu, |r| seen.push(r.round))).unwrap();
    assert_eq!(seen, [0, 1, 2]);
    // task.test_size was raised to size + rounds so every labelled length is scored.
    assert_eq!(report.lengths, [1, 2, 3, 4]);
    assert_eq!(report.rounds.iter().map(|r| r.frontier).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(report.rounds.iter().map(|r| r.labelled_length).collect::<Vec<_>>(), [None, Some(3), Some(4)]);
    for r in &report.rounds {
        assert_eq!(r.accuracy.len(), 4);
        assert_eq!(r.per_model.len(), 2);
        assert!(r.accuracy.iter().all(|a| (0.0..=1.0).contains(a)));
        if r.round > 0 {
            assert_eq!(r.generated, 30);
            assert!(r.kept.iter().zip(&r.kept_correct).all(|(k, c)| c <= k && *k <= 30));
            assert_eq!(r.kept[0], r.kept[1], "a vote labels every model alike");
        }
    }
    // Kept labels were added to the training sets.
    let base = report.rounds[0].train_examples[0];
    assert_eq!(report.rounds[2].train_examples[0], base + report.rounds[1].kept[0] + report.rounds[2].kept[0]);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rounds"][1]["per_model"][1].as_array().unwrap().len(), 4);
    assert!(report.table().lines().count() == 4);
}
