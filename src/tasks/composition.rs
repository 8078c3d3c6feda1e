//! Two-hop (and k-hop) composition over a synthetic knowledge graph (Wang et al. 2024, "Grokked Transformers
//! are Implicit Reasoners"; the k-hop variant as in Kohli et al. 2026).
//!
//! Graph: `task.entities` entities and `task.relations` relations; every (entity h, relation r) pair has one
//! tail t = r(h) drawn uniformly at random (an *atomic fact* h, r -> t). A share `task.ood_fraction` of the
//! atomic facts (`round(ood_fraction * E * R)`, chosen uniformly) is marked *OOD*; the rest are *ID*.
//!
//! An *inferred fact* of k = `task.hops` hops is (h, r1, ..., rk) -> t with bridges b1 = r1(h),
//! b2 = r2(b1), ..., and t = rk(b_{k-1}). Its *hops* are the k atomic facts (h, r1), (b1, r2), ...,
//! (b_{k-1}, rk). An inferred fact is *ID* when every hop is an ID atomic fact, and *OOD* when every hop is
//! an OOD atomic fact (mixed chains are used nowhere).
//!
//! Splits, in this order:
//! - `train`: every atomic fact (ID and OOD), plus `round(phi * |ID atomic facts|)` distinct ID inferred facts
//!   drawn uniformly without replacement; shuffled. OOD atomic facts therefore appear in training only as
//!   atomic facts, never as a hop of a training inferred fact.
//! - `test_id`: up to `task.test_examples` further distinct ID inferred facts, none of them in `train`.
//! - `test_ood`: up to `task.test_examples` distinct OOD inferred facts (never in `train`, since training
//!   inferred facts are all ID).
//!
//! NOTE: the trainer currently reports `splits[0]` as train and `splits[1]` as the test in history records;
//! the third split (`test_ood`) is built here so that later work can report it (the OOD grokking phase).
//!
//! Tokens: entities `0..E`, relations `E..E+R`, then `PAD = E+R` and `SEP = E+R+1` (vocab `E+R+2`). Every
//! sequence has length `hops + 2`: an inferred fact is `[h, r1, ..., rk, SEP]`, an atomic fact
//! `[h, r, PAD, ..., PAD, SEP]`. Only the last (SEP) position is supervised, with target t.

use std::collections::HashSet;

use super::{Dataset, Split, TaskConfig, IGNORE};
use crate::error::LabError;
use crate::rng::Rng;

pub const MAX_ATOMIC_FACTS: usize = 10_000_000;

/// The atomic facts: `tails[h * relations + r] = r(h)`, and which of them are OOD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    pub entities: usize,
    pub relations: usize,
    pub tails: Vec<u32>,
    pub ood: Vec<bool>,
}

/// A query (h, r1, ..., rk): an atomic fact when `relations.len() == 1`. Relations are 0-based ids
/// (token = entities + id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fact {
    pub head: usize,
    pub relations: Vec<usize>,
}

/// The generated graph and facts of every split (the `Dataset` is built from this).
#[derive(Clone, Debug)]
pub struct Composition {
    pub graph: Graph,
    pub hops: usize,
    /// Every atomic fact, in (h, r) order.
    pub atomic: Vec<Fact>,
    /// ID inferred facts of the training split.
    pub train_inferred: Vec<Fact>,
    pub test_id: Vec<Fact>,
    pub test_ood: Vec<Fact>,
}

impl Graph {
    /// Tails drawn from stream "composition-graph", OOD facts from stream "composition-ood".
    pub fn generate(entities: usize, relations: usize, ood_fraction: f64, seed: u64) -> Graph {
        let n = entities * relations;
        let mut rng = Rng::fork(seed, "composition-graph");
        let tails = (0..n).map(|_| rng.below(entities) as u32).collect();
        let mut order: Vec<usize> = (0..n).collect();
        Rng::fork(seed, "composition-ood").shuffle(&mut order);
        let mut ood = vec![false; n];
        for &i in &order[..ood_count(entities, relations, ood_fraction)] {
            ood[i] = true;
        }
        Graph { entities, relations, tails, ood }
    }

    pub fn tail(&self, h: usize, r: usize) -> usize {
        self.tails[h * self.relations + r] as usize
    }

    pub fn is_ood(&self, h: usize, r: usize) -> bool {
        self.ood[h * self.relations + r]
    }

    /// The entities visited by a query: `[b1, ..., b_{k-1}, t]` (the last one is the answer).
    pub fn path(&self, fact: &Fact) -> Vec<usize> {
        let mut e = fact.head;
        fact.relations
            .iter()
            .map(|&r| {
                e = self.tail(e, r);
                e
            })
            .collect()
    }

    pub fn answer(&self, fact: &Fact) -> usize {
        *self.path(fact).last().expect("a fact has at least one relation")
    }

    /// The bridge (intermediate) entities `[b1, ..., b_{k-1}]`; empty for an atomic fact.
    pub fn bridges(&self, fact: &Fact) -> Vec<usize> {
        let mut p = self.path(fact);
        p.pop();
        p
    }

    /// Whether each hop (atomic fact) of the query is OOD, in order.
    pub fn hop_ood(&self, fact: &Fact) -> Vec<bool> {
        let mut e = fact.head;
        fact.relations
            .iter()
            .map(|&r| {
                let o = self.is_ood(e, r);
                e = self.tail(e, r);
                o
            })
            .collect()
    }

    /// `counts[j][e]`: the number of j-hop chains from `e` whose every hop has `is_ood == ood`.
    fn chain_counts(&self, hops: usize, ood: bool) -> Vec<Vec<u128>> {
        let mut counts = vec![vec![1u128; self.entities]];
        for j in 1..=hops {
            let prev = &counts[j - 1];
            let next = (0..self.entities)
                .map(|e| {
                    (0..self.relations)
                        .filter(|&r| self.is_ood(e, r) == ood)
                        .fold(0u128, |s, r| s.saturating_add(prev[self.tail(e, r)]))
                })
                .collect();
            counts.push(next);
        }
        counts
    }

    /// The number of `hops`-hop inferred facts whose every hop is OOD (`ood`) or ID (`!ood`).
    pub fn count_chains(&self, hops: usize, ood: bool) -> u128 {
        self.chain_counts(hops, ood)[hops].iter().fold(0u128, |s, &c| s.saturating_add(c))
    }

    /// `n` distinct chains drawn uniformly (without replacement) from all chains whose every hop has
    /// `is_ood == ood`; fewer if fewer exist.
    fn sample_chains(&self, hops: usize, ood: bool, n: usize, rng: &mut Rng) -> Vec<Fact> {
        let counts = self.chain_counts(hops, ood);
        let total: u128 = counts[hops].iter().fold(0u128, |s, &c| s.saturating_add(c));
        let n = (n as u128).min(total) as usize;
        if (n as u128) * 2 > total {
            // Dense: list them all (at most 2n), shuffle, keep n.
            let mut all = Vec::with_capacity(total as usize);
            for h in 0..self.entities {
                self.enumerate(h, h, hops, ood, &counts, &mut Vec::new(), &mut all);
            }
            rng.shuffle(&mut all);
            all.truncate(n);
            return all;
        }
        // Sparse: uniform draws via the counts, rejecting repeats.
        let mut prefix = Vec::with_capacity(self.entities);
        let mut acc = 0u128;
        for c in &counts[hops] {
            acc = acc.saturating_add(*c);
            prefix.push(acc);
        }
        let mut seen = HashSet::with_capacity(n);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let mut idx = ((rng.next_u64() as u128) << 64 | rng.next_u64() as u128) % total;
            let head = prefix.partition_point(|&p| p <= idx);
            idx -= if head == 0 { 0 } else { prefix[head - 1] };
            let (mut e, mut relations) = (head, Vec::with_capacity(hops));
            for left in (0..hops).rev() {
                for r in (0..self.relations).filter(|&r| self.is_ood(e, r) == ood) {
                    let c = counts[left][self.tail(e, r)];
                    if idx < c {
                        relations.push(r);
                        e = self.tail(e, r);
                        break;
                    }
                    idx -= c;
                }
            }
            let fact = Fact { head, relations };
            if seen.insert(fact.clone()) {
                out.push(fact);
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn enumerate(
        &self,
        head: usize,
        e: usize,
        left: usize,
        ood: bool,
        counts: &[Vec<u128>],
        rels: &mut Vec<usize>,
        out: &mut Vec<Fact>,
    ) {
        if left == 0 {
            out.push(Fact { head, relations: rels.clone() });
            return;
        }
        for r in 0..self.relations {
            if self.is_ood(e, r) == ood && counts[left - 1][self.tail(e, r)] > 0 {
                rels.push(r);
                self.enumerate(head, self.tail(e, r), left - 1, ood, counts, rels, out);
                rels.pop();
            }
        }
    }
}

/// Number of OOD atomic facts.
pub fn ood_count(entities: usize, relations: usize, ood_fraction: f64) -> usize {
    ((ood_fraction * (entities * relations) as f64).round() as usize).min(entities * relations)
}

/// Number of ID inferred facts in the training split: `round(phi * |ID atomic facts|)`.
pub fn train_inferred_count(task: &TaskConfig) -> usize {
    let id_atomic = task.entities * task.relations - ood_count(task.entities, task.relations, task.ood_fraction);
    (task.phi * id_atomic as f64).round() as usize
}

pub fn vocab(task: &TaskConfig) -> usize {
    task.entities + task.relations + 2
}

pub fn seq_len(task: &TaskConfig) -> usize {
    task.hops + 2
}

pub fn pad_token(task: &TaskConfig) -> u32 {
    (task.entities + task.relations) as u32
}

pub fn sep_token(task: &TaskConfig) -> u32 {
    (task.entities + task.relations + 1) as u32
}

/// The query of one example's tokens (`seq_len` of them): head and relations, PAD skipped.
pub fn decode(task: &TaskConfig, tokens: &[u32]) -> Fact {
    let e = task.entities as u32;
    let relations = tokens[1..tokens.len() - 1]
        .iter()
        .filter(|&&t| t >= e && t < pad_token(task))
        .map(|&t| (t - e) as usize)
        .collect();
    Fact { head: tokens[0] as usize, relations }
}

/// The bridge entities of an example (its tokens), for probes: `[b1, ..., b_{k-1}]`, empty for an atomic fact.
pub fn bridges(graph: &Graph, task: &TaskConfig, tokens: &[u32]) -> Vec<usize> {
    graph.bridges(&decode(task, tokens))
}

/// The first bridge b1 = r1(h) of an inferred example; `None` for an atomic fact.
pub fn bridge(graph: &Graph, task: &TaskConfig, tokens: &[u32]) -> Option<usize> {
    bridges(graph, task, tokens).first().copied()
}

/// The graph and facts of every split. Sizes are clamped to what exists, so this never panics on a config
/// that `validate` would reject for lack of facts (the affected split is just short or empty).
pub fn generate(task: &TaskConfig, seed: u64) -> Composition {
    let graph = Graph::generate(task.entities, task.relations, task.ood_fraction, seed);
    let atomic = (0..task.entities)
        .flat_map(|h| (0..task.relations).map(move |r| Fact { head: h, relations: vec![r] }))
        .collect();
    let n_train = train_inferred_count(task);
    let mut id = graph.sample_chains(
        task.hops,
        false,
        n_train.saturating_add(task.test_examples),
        &mut Rng::fork(seed, "composition-id"),
    );
    let test_id = id.split_off(n_train.min(id.len()));
    let test_ood =
        graph.sample_chains(task.hops, true, task.test_examples, &mut Rng::fork(seed, "composition-ood-test"));
    Composition { graph, hops: task.hops, atomic, train_inferred: id, test_id, test_ood }
}

fn encode(task: &TaskConfig, graph: &Graph, name: &'static str, facts: &[&Fact]) -> Split {
    let l = seq_len(task);
    let mut s = Split::sequences(name, l);
    for f in facts {
        s.tokens.push(f.head as u32);
        s.tokens.extend(f.relations.iter().map(|&r| (task.entities + r) as u32));
        s.tokens.extend(std::iter::repeat_n(pad_token(task), task.hops - f.relations.len()));
        s.tokens.push(sep_token(task));
        s.targets.extend(std::iter::repeat_n(IGNORE, l - 1));
        s.targets.push(graph.answer(f) as u32);
    }
    s
}

pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    build_from(task, &generate(task, seed), seed)
}

/// The dataset of an already generated `Composition` (the training split is shuffled by stream
/// "composition-train-order").
pub fn build_from(task: &TaskConfig, c: &Composition, seed: u64) -> Dataset {
    let mut train: Vec<&Fact> = c.atomic.iter().chain(&c.train_inferred).collect();
    Rng::fork(seed, "composition-train-order").shuffle(&mut train);
    let test_id: Vec<&Fact> = c.test_id.iter().collect();
    let test_ood: Vec<&Fact> = c.test_ood.iter().collect();
    Dataset {
        vocab: vocab(task),
        splits: vec![
            encode(task, &c.graph, "train", &train),
            encode(task, &c.graph, "test_id", &test_id),
            encode(task, &c.graph, "test_ood", &test_ood),
        ],
    }
}

/// Ranges, then (building the graph of `seed`) that `test_id` and `test_ood` will not be empty.
pub fn validate(t: &TaskConfig, seed: u64) -> Result<(), LabError> {
    if !(2..=100_000).contains(&t.entities) {
        return Err(LabError::invalid("task.entities", t.entities, "a number of entities from 2 to 100000"));
    }
    if !(1..=1000).contains(&t.relations) {
        return Err(LabError::invalid("task.relations", t.relations, "a number of relations from 1 to 1000"));
    }
    if t.entities * t.relations > MAX_ATOMIC_FACTS {
        return Err(LabError::invalid(
            "task.entities",
            t.entities,
            format!("at most {} entities with task.relations={} (task.entities x task.relations atomic facts must be at most {MAX_ATOMIC_FACTS})", MAX_ATOMIC_FACTS / t.relations, t.relations),
        ));
    }
    if !(2..=8).contains(&t.hops) {
        return Err(LabError::invalid("task.hops", t.hops, "a number of hops per inferred fact from 2 to 8"));
    }
    if !(t.phi > 0.0 && t.phi <= 1e4) {
        return Err(LabError::invalid(
            "task.phi",
            t.phi,
            "a ratio of inferred to ID atomic facts in training, > 0 and at most 10000 (e.g. 7.2)",
        ));
    }
    if !(t.ood_fraction > 0.0 && t.ood_fraction <= 0.5) {
        return Err(LabError::invalid(
            "task.ood_fraction",
            t.ood_fraction,
            "a share of OOD atomic facts in (0, 0.5], e.g. 0.05",
        ));
    }
    if !(1..=10_000_000).contains(&t.test_examples) {
        return Err(LabError::invalid(
            "task.test_examples",
            t.test_examples,
            "a number of test facts per test split from 1 to 10000000",
        ));
    }
    let atomic = t.entities * t.relations;
    let m = ood_count(t.entities, t.relations, t.ood_fraction);
    if m == 0 {
        return Err(LabError::invalid(
            "task.ood_fraction",
            t.ood_fraction,
            format!(
                "a share that marks at least one of the {atomic} atomic facts OOD (at least {:.2e})",
                0.5 / atomic as f64
            ),
        ));
    }
    let graph = Graph::generate(t.entities, t.relations, t.ood_fraction, seed);
    let id_chains = graph.count_chains(t.hops, false);
    let n_train = train_inferred_count(t) as u128;
    if n_train == 0 {
        return Err(LabError::invalid(
            "task.phi",
            t.phi,
            format!("a ratio large enough for at least one training inferred fact ({} ID atomic facts)", atomic - m),
        ));
    }
    if n_train >= id_chains {
        return Err(LabError::invalid(
            "task.phi",
            t.phi,
            format!(
                "a ratio leaving test_id non-empty: phi x {} ID atomic facts = {n_train} training inferred facts, but only {id_chains} ID {}-hop inferred facts exist (lower task.phi, or raise task.entities or task.relations)",
                atomic - m,
                t.hops
            ),
        ));
    }
    if graph.count_chains(t.hops, true) == 0 {
        return Err(LabError::invalid(
            "task.ood_fraction",
            t.ood_fraction,
            format!(
                "a share giving at least one {}-hop chain of OOD atomic facts for test_ood: {m} OOD atomic facts form none with seed {seed} (raise task.ood_fraction or task.relations, or lower task.hops)",
                t.hops
            ),
        ));
    }
    Ok(())
}
