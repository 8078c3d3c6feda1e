//! Self-improvement on addition (Lee et al. 2025): M models (seeds) learn 1..n-digit addition, then each round
//! labels problems one digit longer than the last with the models' own answers, filters the labels, adds them
//! to every model's training set and trains on briefly, continuing from the weights and optimizer state. After
//! base training and after every round each model is scored (exact match) on held-out, truly labelled problems
//! of every length: the round x length heatmap.
//!
//! Filters: `length` keeps an answer only if it is a well-formed number of L or L+1 digits
//! (`addition::well_formed`); `vote` keeps a problem only if at least `agreement` of the M models gave the same
//! answer, and then labels it with that answer for every model; `both` applies the length filter before the
//! vote (a malformed answer is a vote for nothing, so agreement still counts all M models); `none` trains each
//! model on its own answers as they are. Without a vote each model learns its own labels.
//!
//! All models share the data of the config's seed (training problems, held-out problems, the generated ones);
//! model m initializes and samples batches from seed + m. Generated problems never occur in a held-out split.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::backend::Backend;
use crate::config::{LabConfig, TaskKind};
use crate::error::LabError;
use crate::rng::Rng;
use crate::snapshot::Snapshot;
use crate::solve::trace;
use crate::tasks::addition::{self, Problem};
use crate::train::{training_depth, Trainer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    None,
    Length,
    Vote,
    Both,
}

impl std::str::FromStr for Filter {
    type Err = LabError;
    fn from_str(s: &str) -> Result<Filter, LabError> {
        match s {
            "none" => Ok(Filter::None),
            "length" => Ok(Filter::Length),
            "vote" => Ok(Filter::Vote),
            "both" => Ok(Filter::Both),
            _ => Err(LabError::invalid("--filter", s, "none, length, vote or both")),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Options {
    pub rounds: usize,
    pub models: usize,
    pub agreement: f64,
    pub filter: Filter,
    /// Training steps per round (continuing each model's run).
    pub round_steps: u64,
    /// Problems generated and labelled per round.
    pub problems: usize,
}

impl Options {
    /// Defaults for a config: 3 rounds, 3 models, agreement 0.7, both filters, a sixth of the base steps per
    /// round, and per round a quarter as many problems as base training has per length.
    pub fn defaults(config: &LabConfig) -> Options {
        Options {
            rounds: 3,
            models: 3,
            agreement: 0.7,
            filter: Filter::Both,
            round_steps: (config.train.steps / 6).max(1),
            problems: (config.task.examples / config.task.size.max(1) / 4).max(1),
        }
    }

    pub fn validate(&self, config: &LabConfig) -> Result<(), LabError> {
        if config.task.kind != TaskKind::Addition {
            return Err(LabError::invalid(
                "task.kind",
                format!("{:?}", config.task.kind).to_lowercase(),
                "addition (self-improvement labels longer addition problems)",
            ));
        }
        if config.train.batch_size == 0 {
            return Err(LabError::invalid(
                "train.batch_size",
                0,
                "a minibatch size >= 1 (the training set grows every round)",
            ));
        }
        if !(1..=addition::MAX_DIGITS - config.task.size).contains(&self.rounds) {
            return Err(LabError::invalid(
                "--rounds",
                self.rounds,
                format!(
                    "from 1 to {} (task.size + rounds digits at most {})",
                    addition::MAX_DIGITS - config.task.size,
                    addition::MAX_DIGITS
                ),
            ));
        }
        if !(1..=16).contains(&self.models) {
            return Err(LabError::invalid("--models", self.models, "from 1 to 16"));
        }
        if !(self.agreement > 0.0 && self.agreement <= 1.0) {
            return Err(LabError::invalid("--agreement", self.agreement, "a share of models in (0, 1]"));
        }
        if !(1..=1_000_000).contains(&self.problems) {
            return Err(LabError::invalid("--problems", self.problems, "from 1 to 1000000"));
        }
        Ok(())
    }
}

/// One row of the heatmap: the state after base training (round 0) or after a round.
#[derive(Clone, Debug, Serialize)]
pub struct Round {
    pub round: usize,
    /// The longest operand length in the training data so far.
    pub frontier: usize,
    /// Length of the problems labelled in this round (none in round 0).
    pub labelled_length: Option<usize>,
    pub generated: usize,
    /// Per model: self-labelled problems kept by the filter, and how many of them carry the true sum.
    pub kept: Vec<usize>,
    pub kept_correct: Vec<usize>,
    /// Per model: training examples after this round.
    pub train_examples: Vec<usize>,
    /// Exact accuracy per held-out length (index: length - 1), the mean over models.
    pub accuracy: Vec<f64>,
    /// `[model][length - 1]`.
    pub per_model: Vec<Vec<f64>>,
    /// The longest length L such that every length up to L has mean accuracy >= `FRONTIER_ACCURACY`.
    pub accuracy_frontier: usize,
}

/// Mean exact accuracy a length needs to count as solved in `Round::accuracy_frontier`.
pub const FRONTIER_ACCURACY: f64 = 0.9;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub config: LabConfig,
    pub options: Options,
    /// Held-out lengths, 1..=task.test_size (the heatmap's columns).
    pub lengths: Vec<usize>,
    pub rounds: Vec<Round>,
}

/// Labels per model and problem (`None`: dropped) from each model's answer slots `[model][problem]`.
pub fn labels(answers: &[Vec<Vec<u32>>], filter: Filter, agreement: f64) -> Vec<Vec<Option<Vec<u32>>>> {
    let models = answers.len();
    let problems = answers.first().map_or(0, Vec::len);
    let length = matches!(filter, Filter::Length | Filter::Both);
    let admitted = |a: &Vec<u32>| !length || addition::well_formed(a);
    if !matches!(filter, Filter::Vote | Filter::Both) {
        return answers.iter().map(|mine| mine.iter().map(|a| admitted(a).then(|| a.clone())).collect()).collect();
    }
    let voted: Vec<Option<Vec<u32>>> = (0..problems)
        .map(|p| {
            let mut counts: HashMap<&Vec<u32>, usize> = HashMap::new();
            for a in answers.iter().map(|m| &m[p]).filter(|a| admitted(a)) {
                *counts.entry(a).or_default() += 1;
            }
            // The most common answer; ties go to the smaller answer so the choice does not depend on hashing.
            let best = counts.into_iter().max_by(|x, y| x.1.cmp(&y.1).then(y.0.cmp(x.0)))?;
            (best.1 as f64 >= agreement * models as f64 - 1e-9).then(|| best.0.clone())
        })
        .collect();
    vec![voted; models]
}

/// Each model's answer slots for `problems` of one length, read from its predictions at its training depth.
async fn answers(trainer: &mut Trainer, problems: &[Problem]) -> Result<Vec<Vec<u32>>, LabError> {
    let snapshot = Snapshot::of(trainer, "self-improve").await?;
    let weights = snapshot.weights();
    let task = &trainer.config.task;
    let (w, order, depth) = (addition::width(task), task.order, training_depth(&trainer.config));
    let mut backend = snapshot.backend().await?;
    let seq = addition::ROWS * w;
    // Chunks small enough that every iteration's logits fit in a few tens of MiB.
    let chunk = (4_000_000 / (depth * seq * addition::VOCAB)).clamp(1, 512);
    let mut out = Vec::with_capacity(problems.len());
    for part in problems.chunks(chunk) {
        let tokens: Vec<u32> =
            part.iter().flat_map(|p| addition::encode(p, &addition::true_answer(p), w, order).0).collect();
        let t = trace(&weights, &mut backend, &tokens, [addition::ROWS, w], depth).await?;
        out.extend(
            part.iter()
                .enumerate()
                .map(|(b, p)| addition::answer_slots(&t.predictions(depth - 1, b), p.len(), w, order)),
        );
    }
    Ok(out)
}

/// Exact accuracy per length (index length - 1) from the last history record's split scores.
fn accuracy_by_length(trainer: &Trainer, lengths: usize) -> Vec<f64> {
    let record = trainer.history.last().expect("a record after training");
    (1..=lengths)
        .map(|len| {
            record.splits.iter().find(|s| s.split == addition::split_name(len)).map_or(0.0, |s| s.evaluation.exact)
        })
        .collect()
}

fn frontier_of(accuracy: &[f64]) -> usize {
    accuracy.iter().take_while(|&&a| a >= FRONTIER_ACCURACY).count()
}

/// Trains for `steps` more steps and returns each model's accuracy per length.
async fn train_all(trainers: &mut [Trainer], steps: u64, lengths: usize) -> Result<Vec<Vec<f64>>, LabError> {
    let mut per_model = Vec::new();
    for t in trainers.iter_mut() {
        t.config.train.steps = t.step + steps;
        t.config.train.eval_every = t.config.train.steps;
        t.train(steps).await?;
        per_model.push(accuracy_by_length(t, lengths));
    }
    Ok(per_model)
}

fn round_row(
    round: usize,
    frontier: usize,
    labelled: Option<usize>,
    trainers: &[Trainer],
    per_model: Vec<Vec<f64>>,
) -> Round {
    let lengths = per_model[0].len();
    let accuracy: Vec<f64> =
        (0..lengths).map(|l| per_model.iter().map(|m| m[l]).sum::<f64>() / per_model.len() as f64).collect();
    Round {
        round,
        frontier,
        labelled_length: labelled,
        generated: 0,
        kept: Vec::new(),
        kept_correct: Vec::new(),
        train_examples: trainers.iter().map(|t| t.dataset.train().len()).collect(),
        accuracy_frontier: frontier_of(&accuracy),
        accuracy,
        per_model,
    }
}

/// Runs the whole experiment; `progress` sees each row as it is made.
pub async fn run(
    config: &LabConfig,
    options: &Options,
    backend: crate::backend::BackendKind,
    mut progress: impl FnMut(&Round),
) -> Result<Report, LabError> {
    let mut config = config.clone();
    // Every labelled length gets a held-out split.
    config.task.test_size = config.task.test_size.max(config.task.size + options.rounds);
    config.validate()?;
    options.validate(&config)?;
    let dataset = config.dataset();
    let test = addition::test_problems(&config.task, config.seed);
    let lengths = test.len();
    let mut trainers = Vec::new();
    for m in 0..options.models {
        let mut c = config.clone();
        c.seed = config.seed + m as u64;
        let mut t = Trainer::new(c, Backend::open(backend).await?).await?;
        t.dataset = dataset.clone();
        trainers.push(t);
    }
    let base_steps = config.train.steps;
    let per_model = train_all(&mut trainers, base_steps, lengths).await?;
    let mut rows = vec![round_row(0, config.task.size, None, &trainers, per_model)];
    progress(&rows[0]);
    let (w, order) = (addition::width(&config.task), config.task.order);
    for round in 1..=options.rounds {
        let len = config.task.size + round;
        let exclude: HashSet<Problem> = test[len - 1].iter().cloned().collect();
        let generated = addition::problems(
            len,
            options.problems,
            &exclude,
            &mut Rng::fork(config.seed, &format!("self-improve-{round}")),
        );
        let mut all = Vec::new();
        for t in trainers.iter_mut() {
            all.push(answers(t, &generated).await?);
        }
        let labels = labels(&all, options.filter, options.agreement);
        let (mut kept, mut kept_correct) = (Vec::new(), Vec::new());
        for (t, mine) in trainers.iter_mut().zip(&labels) {
            let (mut k, mut right) = (0, 0);
            for (p, label) in generated.iter().zip(mine) {
                if let Some(label) = label {
                    let (tokens, targets) = addition::encode(p, label, w, order);
                    t.dataset.splits[0].push(&tokens, &targets);
                    k += 1;
                    right += usize::from(*label == addition::true_answer(p));
                }
            }
            kept.push(k);
            kept_correct.push(right);
        }
        let per_model = train_all(&mut trainers, options.round_steps, lengths).await?;
        let mut row = round_row(round, len, Some(len), &trainers, per_model);
        (row.generated, row.kept, row.kept_correct) = (generated.len(), kept, kept_correct);
        progress(&row);
        rows.push(row);
    }
    Ok(Report { config, options: options.clone(), lengths: (1..=lengths).collect(), rounds: rows })
}

impl Report {
    /// The heatmap as a text table: one row per round, one column per held-out length, mean exact accuracy.
    pub fn table(&self) -> String {
        let mut s = format!("{:>5} {:>8} {:>10} ", "round", "frontier", "kept/gen");
        s += &self.lengths.iter().map(|l| format!("{:>5}", format!("L{l}"))).collect::<String>();
        s += "\n";
        for r in &self.rounds {
            let kept = if r.labelled_length.is_some() {
                format!("{}/{}", r.kept.iter().sum::<usize>() / r.kept.len().max(1), r.generated)
            } else {
                "-".into()
            };
            s += &format!("{:>5} {:>8} {:>10} ", r.round, r.frontier, kept);
            s += &r.accuracy.iter().map(|a| format!("{:>5.0}", 100.0 * a)).collect::<String>();
            s += "\n";
        }
        s
    }
}
