#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashSet;

use looplab::config::{LabConfig, TaskConfig, TaskKind};
use looplab::tasks::composition::{self, Fact};
use looplab::tasks::Dataset;
use looplab::tasks::IGNORE;

fn task(entities: usize, relations: usize, hops: usize, phi: f64) -> TaskConfig {
    let mut t = LabConfig::from_preset("composition", &[]).unwrap().task;
    (t.entities, t.relations, t.hops, t.phi, t.test_examples) = (entities, relations, hops, phi, 100);
    t
}

fn facts(t: &TaskConfig, d: &Dataset, split: usize) -> Vec<(Fact, u32)> {
    let l = d.seq_len();
    let s = &d.splits[split];
    (0..s.len()).map(|i| (composition::decode(t, &s.tokens[i * l..(i + 1) * l]), s.targets[i * l + l - 1])).collect()
}

#[test]
fn preset_validates_and_builds_three_splits() {
    let c = LabConfig::from_preset("composition", &[]).unwrap();
    assert_eq!(c.task.kind, TaskKind::Composition);
    let d = c.dataset();
    assert_eq!(d.vocab, 200 + 10 + 2);
    assert_eq!(d.seq_len(), 4);
    let names: Vec<_> = d.splits.iter().map(|s| s.name).collect();
    assert_eq!(names, ["train", "test_id", "test_ood"]);
    assert_eq!(d.splits[1].len(), 500);
    assert!(!d.splits[2].is_empty());
    // Only the last position is supervised; tokens in range.
    for s in &d.splits {
        for (i, (&tok, &tgt)) in s.tokens.iter().zip(&s.targets).enumerate() {
            assert!((tok as usize) < d.vocab);
            if i % 4 == 3 {
                assert_eq!(tok, composition::sep_token(&c.task));
                assert!((tgt as usize) < 200);
            } else {
                assert_eq!(tgt, IGNORE);
            }
        }
    }
}

#[test]
fn deterministic_by_seed() {
    let t = task(60, 5, 2, 3.0);
    let a = composition::build(&t, 7);
    let b = composition::build(&t, 7);
    let c = composition::build(&t, 8);
    for i in 0..3 {
        assert_eq!(a.splits[i].tokens, b.splits[i].tokens);
        assert_eq!(a.splits[i].targets, b.splits[i].targets);
    }
    assert_ne!(a.splits[0].tokens, c.splits[0].tokens);
}

#[test]
fn splits_follow_the_graph_and_the_id_ood_rules() {
    let t = task(60, 5, 2, 3.0);
    let seed = 3;
    let g = composition::Graph::generate(t.entities, t.relations, t.ood_fraction, seed);
    let d = composition::build(&t, seed);
    let (train, test_id, test_ood) = (facts(&t, &d, 0), facts(&t, &d, 1), facts(&t, &d, 2));
    // Every target is the chain's answer r2(r1(h)), computed here from the stored tails.
    for (f, target) in train.iter().chain(&test_id).chain(&test_ood) {
        let mut e = f.head;
        for &r in &f.relations {
            e = g.tails[e * t.relations + r] as usize;
        }
        assert_eq!(*target as usize, e, "{f:?}");
    }
    let atomic: HashSet<&Fact> = train.iter().map(|(f, _)| f).filter(|f| f.relations.len() == 1).collect();
    assert_eq!(atomic.len(), t.entities * t.relations, "train holds every atomic fact once");
    assert_eq!(train.iter().filter(|(f, _)| f.relations.len() == 1).count(), t.entities * t.relations);
    let inferred: Vec<&Fact> = train.iter().map(|(f, _)| f).filter(|f| f.relations.len() == 2).collect();
    let n_ood = g.ood.iter().filter(|&&o| o).count();
    assert_eq!(n_ood, (0.05 * 300.0f64).round() as usize);
    assert_eq!(inferred.len(), (3.0 * (300 - n_ood) as f64).round() as usize, "phi x |ID atomic facts|");
    let train_set: HashSet<&Fact> = inferred.iter().copied().collect();
    assert_eq!(train_set.len(), inferred.len(), "sampled without replacement");
    for f in &inferred {
        assert_eq!(g.hop_ood(f), [false, false], "OOD atomic facts never appear as a hop of a training inferred fact");
    }
    assert_eq!(test_id.len(), 100);
    let mut seen = HashSet::new();
    for (f, _) in &test_id {
        assert!(!train_set.contains(f) && seen.insert(f.clone()));
        assert_eq!(g.hop_ood(f), [false, false]);
    }
    assert!(!test_ood.is_empty());
    assert_eq!(test_ood.len() as u128, g.count_chains(2, true).min(100));
    for (f, _) in &test_ood {
        assert!(!train_set.contains(f) && seen.insert(f.clone()));
        assert_eq!(g.hop_ood(f), [true, true]);
    }
    // Bridges decode from tokens.
    let l = d.seq_len();
    let toks = &d.splits[1].tokens[..l];
    let f = composition::decode(&t, toks);
    assert_eq!(composition::bridge(&g, &t, toks), Some(g.tail(f.head, f.relations[0])));
}

#[test]
fn sparse_sampling_regime_is_also_correct() {
    // phi small: the ID pool is sampled by rejection instead of being listed.
    let t = task(300, 20, 2, 0.5);
    let c = composition::generate(&t, 11);
    let ids: HashSet<&Fact> = c.train_inferred.iter().chain(&c.test_id).collect();
    assert_eq!(ids.len(), c.train_inferred.len() + c.test_id.len());
    assert_eq!(c.train_inferred.len(), (0.5 * (6000 - 300) as f64).round() as usize);
    assert!(c.train_inferred.iter().chain(&c.test_id).all(|f| c.graph.hop_ood(f) == [false, false]));
    assert!(c.test_ood.iter().all(|f| c.graph.hop_ood(f) == [true, true]));
}

#[test]
fn k_hop_chains() {
    let mut t = task(40, 4, 3, 2.0);
    t.ood_fraction = 0.3;
    let seed = 5;
    let d = composition::build(&t, seed);
    let g = composition::Graph::generate(t.entities, t.relations, t.ood_fraction, seed);
    assert_eq!(d.seq_len(), 5);
    let pad = composition::pad_token(&t);
    let l = d.seq_len();
    for (split, want_ood) in [(0, false), (1, false), (2, true)] {
        let s = &d.splits[split];
        assert!(!s.is_empty());
        for i in 0..s.len() {
            let toks = &s.tokens[i * l..(i + 1) * l];
            let f = composition::decode(&t, toks);
            if f.relations.len() == 1 {
                assert_eq!(split, 0);
                assert_eq!(&toks[2..4], [pad, pad]);
                continue;
            }
            assert_eq!(f.relations.len(), 3);
            let b1 = g.tail(f.head, f.relations[0]);
            let b2 = g.tail(b1, f.relations[1]);
            assert_eq!(s.targets[i * l + l - 1] as usize, g.tail(b2, f.relations[2]));
            assert_eq!(composition::bridges(&g, &t, toks), [b1, b2]);
            assert_eq!(g.hop_ood(&f), [want_ood; 3]);
        }
    }
}

#[test]
fn validate_messages() {
    let err = |o: &[&str]| {
        let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        LabConfig::from_preset("composition", &o).unwrap_err().to_string()
    };
    assert!(err(&["task.entities=1"]).contains("task.entities"));
    assert!(err(&["task.relations=0"]).contains("task.relations"));
    assert!(err(&["task.relations=1001"]).contains("task.relations"));
    assert!(err(&["task.hops=1"]).contains("task.hops"));
    assert!(err(&["task.hops=9"]).contains("task.hops"));
    assert!(err(&["task.phi=0"]).contains("task.phi"));
    assert!(err(&["task.ood_fraction=0"]).contains("task.ood_fraction"));
    assert!(err(&["task.ood_fraction=0.6"]).contains("task.ood_fraction"));
    assert!(err(&["task.test_examples=0"]).contains("task.test_examples"));
    assert!(err(&["task.entities=100000", "task.relations=1000"]).contains("atomic facts"));
    // Too many training inferred facts: nothing left for test_id.
    let e = err(&["task.phi=18"]);
    assert!(e.contains("task.phi") && e.contains("test_id"), "{e}");
    // Too few OOD facts to chain: no test_ood.
    let e = err(&["task.entities=20", "task.relations=2", "task.ood_fraction=0.03", "task.phi=1"]);
    assert!(e.contains("task.ood_fraction") && e.contains("test_ood"), "{e}");
    assert!(LabConfig::from_preset("composition", &["task.hops=3".into(), "task.phi=3".into()]).is_ok());
}
