//! Probes of a trained model: what its loop does on real inputs. Each measurement is a small pure function
//! over f32 slices in its own file; `run` gathers the activations they read and returns one serializable
//! `ProbeReport` (the CLI prints it, the page draws it).
//!
//! - `convergence`: fixed-point convergence per iteration and per layer of the block (relative change and
//!   cosine between successive iterations' states), and per token;
//! - `attention`: entropy per head and Jensen-Shannon divergence per head between successive iterations' maps;
//! - `lens`: the logit lens per iteration (token / exact accuracy, answer rank; composition's bridge entities);
//! - `cka`: stage mirroring, linear CKA between every loop state and every layer of a feedforward twin;
//! - `path`: path independence, the final state from the true initial state vs from a perturbed one;
//! - `steps`: program steps per iteration (the automaton task): which rows of the space-time diagram are right
//!   after each iteration;
//! - `phases`: first steps at which each split's accuracy crosses a threshold, from the run's history (and
//!   from the twin's, for the held-out gain over it);
//! - `verdict`: the evidence side by side.
//!
//! A *loop state* is the output of one layer of the block in one call of one iteration. Feedforward models
//! run once, so for them the layers stand in for iterations: loop state i is the output of layer i, and
//! "successive iterations" are successive layers (`ProbeReport::step_unit` says which).

pub mod attention;
pub mod cka;
pub mod convergence;
pub mod lens;
pub mod path;
pub mod phases;
pub mod steps;
pub mod verdict;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::config::{Arch, Attention, LabConfig, TaskKind};
use crate::error::LabError;
use crate::model::transformer::Graph;
use crate::model::window;
use crate::program::{MemoryPlan, ProgramId, Tensor};
use crate::rng::Rng;
use crate::tasks::{composition, Dataset, Split};
use crate::train::checkpoint::Weights;
use crate::train::{training_depth, Record};

use attention::MapShape;
use cka::{Centered, Pattern};
use convergence::Change;
use lens::{BridgeReading, LensStep};
use path::PathIndependence;
use phases::Phases;
use steps::StepLens;
use verdict::VerdictLine;

/// Examples probed when not told otherwise: enough for stable means, small enough that every iteration's
/// activations fit.
pub const DEFAULT_EXAMPLES: usize = 32;

/// The most examples a probe takes (activations of every iteration are stored for all of them).
pub const MAX_EXAMPLES: usize = 4096;

/// Thresholds of the verdict and the phases.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Accuracy a split must reach for its phase (default 0.9).
    pub phase: f64,
    /// Final relative change below which a state counts as a fixed point (default 0.01).
    pub fixed_point: f64,
    /// Final JS divergence (nats, largest over heads and layers) below which attention counts as stable
    /// (default 0.01).
    pub attention_js: f64,
    /// Mean cosine above which final states from the true and the perturbed start count as the same
    /// (default 0.99).
    pub path_cosine: f64,
    /// How far a held-out split's final accuracy must lie above the feedforward twin's to count as a gain
    /// (default 0.05: about 1.5 standard deviations of the difference of two 500-example splits at 50%).
    pub gain: f64,
    /// How far the best lens token accuracy must lie above chance for the mechanism questions (fixed point,
    /// attention, stage mirroring, path independence) to be answered; below it the model is too untrained for
    /// its mechanism to mean anything (default 0.1).
    #[serde(default = "default_above_chance")]
    pub above_chance: f64,
}

fn default_above_chance() -> f64 {
    0.1
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            phase: 0.9,
            fixed_point: 0.01,
            attention_js: 0.01,
            path_cosine: 0.99,
            gain: 0.05,
            above_chance: default_above_chance(),
        }
    }
}

/// What to probe besides the model itself.
#[derive(Clone, Copy)]
pub struct ProbeOptions<'a> {
    /// The first `examples` examples of the split (all of them when it has fewer).
    pub examples: usize,
    /// Iterations to run (1 for feedforward models).
    pub depth: usize,
    /// A feedforward checkpoint trained on the same task: enables the CKA matrix.
    pub twin: Option<&'a Weights<'a>>,
    /// The run's history (history.json): enables the phases.
    pub history: Option<&'a [Record]>,
    /// The twin's history: enables the held-out gain over the twin.
    pub twin_history: Option<&'a [Record]>,
    pub thresholds: Thresholds,
}

impl<'a> ProbeOptions<'a> {
    /// No twin, no history, default thresholds.
    pub fn new(examples: usize, depth: usize) -> ProbeOptions<'a> {
        ProbeOptions {
            examples,
            depth,
            twin: None,
            history: None,
            twin_history: None,
            thresholds: Thresholds::default(),
        }
    }
}

/// One loop state: iteration (1-based; the layer for feedforward models), call within the iteration, layer
/// within the call's block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateLabel {
    pub step: usize,
    pub call: usize,
    pub layer: usize,
}

/// The changes of one (call, layer) state across successive steps: `changes[t]` from step t+1 to t+2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceSeries {
    pub call: usize,
    pub layer: usize,
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// One series per (call, layer) of the block, in order of appearance.
    pub series: Vec<ConvergenceSeries>,
    /// The series of the state the output head reads (its last layer).
    pub answer_series: usize,
    /// The heatmap token x step of that state: `per_token[t][i]` is token i's relative change from step t+1
    /// to t+2, averaged over examples.
    pub per_token: Vec<Vec<f64>>,
}

/// Entropy and stability of one (call, layer)'s attention across steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionSeries {
    pub call: usize,
    pub layer: usize,
    /// `entropy[t][h]`: head h's mean entropy (nats) at step t+1.
    pub entropy: Vec<Vec<f64>>,
    /// `js[t][h]`: head h's mean JS divergence (nats) between steps t+1 and t+2.
    pub js: Vec<Vec<f64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionReport {
    pub heads: usize,
    pub seq: usize,
    /// Keys per query: `seq` for global attention; for local attention the `(2r+1)^2` window offsets
    /// (row-major over dy, dx in -r..=r; 0 outside the grid).
    pub keys: usize,
    pub local: bool,
    pub series: Vec<AttentionSeries>,
    /// The example whose maps are kept (the first probed one).
    pub map_example: usize,
    /// `maps[i]`: that example's maps at loop state `ProbeReport::states[i]`, `[heads, seq, keys]`.
    pub maps: Vec<Vec<f32>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CkaReport {
    pub twin_layers: usize,
    /// `values[i][l]`: linear CKA between loop state `ProbeReport::states[i]` and the twin's layer l output
    /// (all tokens of all probed examples; see `cka`).
    pub values: Vec<Vec<f64>>,
    /// Per loop state, the twin layer with the largest CKA.
    pub best: Vec<usize>,
    pub pattern: Pattern,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// `feedforward`, `looped`, `trm` or `hrm`.
    pub arch: Arch,
    pub split: String,
    pub examples: usize,
    pub seq: usize,
    pub d_model: usize,
    /// Iterations run (1 for feedforward).
    pub iterations: usize,
    /// What a step of the probes is: `iteration`, or `layer` for feedforward models.
    pub step_unit: String,
    pub calls_per_iteration: usize,
    /// Layers of each call's block.
    pub block_layers: usize,
    /// Every loop state probed, in order (iteration-major).
    pub states: Vec<StateLabel>,
    pub convergence: Convergence,
    pub attention: AttentionReport,
    /// The logit lens, one entry per iteration.
    pub lens: Vec<LensStep>,
    /// The token accuracy of always answering the most common target of the probed positions: the chance
    /// level the lens is read against.
    #[serde(default)]
    pub chance: f64,
    /// Composition only: per bridge entity, when it is the top token at the answer position.
    pub bridges: Vec<BridgeReading>,
    /// Automaton only: per iteration, which program steps (rows of the space-time diagram) are read right.
    pub steps: Option<StepLens>,
    /// With a feedforward twin.
    pub cka: Option<CkaReport>,
    /// Recurrent models only.
    pub path: Option<PathIndependence>,
    /// With a history.
    pub phases: Option<Phases>,
    /// With the twin's history: the same phases for the feedforward twin.
    pub twin_phases: Option<Phases>,
    pub thresholds: Thresholds,
    pub verdict: Vec<VerdictLine>,
}

/// The split probed when none is named: the first test split (what the model has not trained on), or the
/// training split when the task has no other.
pub fn default_split(dataset: &Dataset) -> &Split {
    dataset.splits.get(1).unwrap_or(&dataset.splits[0])
}

/// The iterations probed when not told: the training depth; 1 for a feedforward model, which runs once.
pub fn default_depth(config: &LabConfig) -> usize {
    if config.model.arch == Arch::Feedforward {
        1
    } else {
        training_depth(config)
    }
}

/// Refuses a twin that is not feedforward or was trained on other inputs, naming the difference.
pub fn check_twin(model: &LabConfig, twin: &LabConfig) -> Result<(), LabError> {
    if twin.model.arch != Arch::Feedforward {
        return Err(LabError::Usage(format!(
            "the twin (--twin) must be a feedforward checkpoint (model.arch=feedforward); this one has model.arch={}",
            serde_json::to_value(twin.model.arch).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        )));
    }
    if twin.task != model.task {
        let (a, b) = (
            serde_json::to_value(&model.task).unwrap_or_default(),
            serde_json::to_value(&twin.task).unwrap_or_default(),
        );
        let differ: Vec<String> = a
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| b.get(k.as_str()) != Some(v))
            .map(|(k, v)| format!("task.{k}: model {v}, twin {}", b.get(k.as_str()).cloned().unwrap_or_default()))
            .collect();
        return Err(LabError::Usage(format!(
            "the twin (--twin) was trained on another task ({}); CKA needs both models on the same inputs",
            differ.join("; ")
        )));
    }
    if model.task.kind == TaskKind::Composition && twin.seed != model.seed {
        return Err(LabError::Usage(format!(
            "the twin (--twin) has seed {} and the model seed {}: for composition the seed draws the knowledge graph, so they learned different facts",
            twin.seed, model.seed
        )));
    }
    Ok(())
}

/// A forward pass planned for probing: `depth` iterations with stored activations, no backward; with maps,
/// one program per recorded call and layer writing its dense attention map into `maps`.
struct Forward {
    graph: Graph,
    start: ProgramId,
    finish: ProgramId,
    maps: Tensor,
    map_programs: Vec<Vec<ProgramId>>,
}

async fn plan_forward(
    weights: &Weights<'_>,
    backend: &mut Backend,
    tokens: &[u32],
    grid: [usize; 2],
    depth: usize,
    prefix: &str,
    with_maps: bool,
) -> Result<Forward, LabError> {
    let mut memory = MemoryPlan::default();
    let planned = crate::solve::plan(weights, &mut memory, tokens, grid, depth, prefix)?;
    let g = &planned.graph;
    let records = if with_maps { g.recorded_calls(depth) } else { Vec::new() };
    let map_len = records.first().and_then(|r| r.maps.first()).map_or(0, |m| g.attention_map_len(m));
    let maps = memory.buffer(format!("{prefix}.maps"), map_len);
    backend.allocate(&memory)?;
    let start = backend.prepare(g.start(true)).await?;
    let finish = backend.prepare(g.finish(depth, 0, 1.0, true).0).await?;
    let mut map_programs = Vec::new();
    for r in &records {
        let mut programs = Vec::new();
        for m in &r.maps {
            programs.push(backend.prepare(vec![g.attention_map(m, maps)]).await?);
        }
        map_programs.push(programs);
    }
    planned.load(weights, backend, tokens)?;
    Ok(Forward { graph: planned.graph, start, finish, maps, map_programs })
}

/// Runs every probe on the first `options.examples` examples of `split`: plans a graph storing `depth`
/// iterations (no backward), runs `start(true)` then the forward of `finish`, reads each recorded call's layer
/// outputs and attention maps back, then runs the perturbed start (path independence), the feedforward twin
/// (CKA) and `solve::trace` (logit lens). Memory is planned up front: a batch the device cannot hold comes back
/// as the backend's `TooLarge` error.
pub async fn run(
    weights: &Weights<'_>,
    backend: &mut Backend,
    split: &Split,
    options: &ProbeOptions<'_>,
) -> Result<ProbeReport, LabError> {
    let config = &weights.config;
    let m = &config.model;
    let feedforward = m.arch == Arch::Feedforward;
    let depth = options.depth;
    if feedforward && depth != 1 {
        return Err(LabError::invalid("--iters", depth, "1 for a feedforward model"));
    }
    if !(1..=256).contains(&depth) {
        return Err(LabError::invalid("--iters", depth, "a count from 1 to 256"));
    }
    if m.mixer == crate::config::Mixer::Mlp {
        return Err(LabError::Input("the probes read attention maps, and this model mixes tokens with an MLP (model.mixer=mlp): not supported yet".into()));
    }
    if m.block > 0 {
        return Err(LabError::Input("the probes read whole-sequence attention maps, and this model runs block by block (model.block > 0): not supported yet".into()));
    }
    if !(1..=MAX_EXAMPLES).contains(&options.examples) {
        return Err(LabError::invalid(
            "--examples",
            options.examples,
            format!("a number of examples from 1 to {MAX_EXAMPLES}"),
        ));
    }
    if split.is_empty() {
        return Err(LabError::Usage(format!("split `{}` has no examples to probe", split.name)));
    }
    let n = options.examples.min(split.len());
    let (seq, d) = (split.seq_len, m.d_model);
    let tokens = &split.tokens[..n * seq];
    let targets = &split.targets[..n * seq];

    // The twin's layer outputs, centred once for every comparison.
    let twin = match options.twin {
        Some(t) => {
            check_twin(config, &t.config)?;
            let f = plan_forward(t, backend, tokens, split.grid, 1, "twin", false).await?;
            backend.run(&[f.start, f.finish])?;
            let mut layers = Vec::new();
            for call in f.graph.recorded_calls(1) {
                for h in call.layer_outputs {
                    layers.push(Centered::new(&backend.read(h).await?, n * seq, t.config.model.d_model));
                }
            }
            Some(layers)
        }
        None => None,
    };

    let f = plan_forward(weights, backend, tokens, split.grid, depth, "probe", true).await?;
    backend.run(&[f.start, f.finish])?;
    let g = &f.graph;
    let records = g.recorded_calls(depth);
    let answer_call = records
        .iter()
        .filter(|r| r.iteration == 0 && r.state == g.answer_state())
        .map(|r| r.call)
        .next_back()
        .unwrap_or(0);
    let answer_key = if feedforward { (0, 0) } else { (answer_call, m.layers - 1) };
    let keys = if m.attention == Attention::Local { window(m) } else { seq };
    let shape = MapShape { batch: n, heads: m.heads, seq, keys };

    let mut states = Vec::new();
    let mut conv: Vec<ConvergenceSeries> = Vec::new();
    let mut att: Vec<AttentionSeries> = Vec::new();
    let mut per_token = Vec::new();
    let mut maps = Vec::new();
    let mut cka_rows = Vec::new();
    let mut previous: HashMap<(usize, usize), (Vec<f32>, Vec<f32>)> = HashMap::new();
    for (r, programs) in records.iter().zip(&f.map_programs) {
        for (j, (&h_t, &map)) in r.layer_outputs.iter().zip(programs).enumerate() {
            let label = if feedforward {
                StateLabel { step: j + 1, call: 0, layer: 0 }
            } else {
                StateLabel { step: r.iteration + 1, call: r.call, layer: j }
            };
            let key = (label.call, label.layer);
            backend.run(&[map])?;
            let (h, p) = (backend.read(h_t).await?, backend.read(f.maps).await?);
            let at = match conv.iter().position(|s| (s.call, s.layer) == key) {
                Some(i) => i,
                None => {
                    conv.push(ConvergenceSeries { call: key.0, layer: key.1, changes: Vec::new() });
                    att.push(AttentionSeries { call: key.0, layer: key.1, entropy: Vec::new(), js: Vec::new() });
                    conv.len() - 1
                }
            };
            att[at].entropy.push(attention::head_entropy(&p, shape));
            if let Some((h0, p0)) = previous.get(&key) {
                conv[at].changes.push(convergence::mean_change(h0, &h, n));
                if key == answer_key {
                    per_token.push(convergence::token_changes(h0, &h, n, seq, d));
                }
                att[at].js.push(attention::head_js(p0, &p, shape));
            }
            if let Some(twin) = &twin {
                let here = Centered::new(&h, n * seq, d);
                cka_rows.push(twin.iter().map(|l| here.cka(l)).collect::<Vec<f64>>());
            }
            maps.push(p[..shape.per_example()].to_vec());
            states.push(label);
            previous.insert(key, (h, p));
        }
    }
    drop(previous);
    let answer_series = conv.iter().position(|s| (s.call, s.layer) == answer_key).unwrap_or(0);

    // Path independence: the same iterations from every state's start plus Gaussian noise.
    let path = if feedforward {
        None
    } else {
        let answer = g.home(g.answer_state());
        let truth = backend.read(answer).await?;
        let noise_std = path::rms(&truth);
        backend.run(&[f.start])?;
        let mut rng = Rng::fork(config.seed, "probe-random-start");
        for s in 0..g.states() {
            let mut v = backend.read(g.home(s)).await?;
            v.iter_mut().for_each(|x| *x += noise_std as f32 * rng.normal());
            backend.write(g.home(s), &v);
        }
        backend.run(&[f.finish])?;
        let random = backend.read(answer).await?;
        Some(path::compare(&truth, &random, n, depth, noise_std))
    };

    // The logit lens (re-plans the backend's memory).
    let trace = crate::solve::trace(weights, backend, tokens, split.grid, depth).await?;
    let lens = lens::lens(&trace.logits, targets, seq, weights.vocab);
    let chance = lens::majority_share(targets);
    let bridges = if config.task.kind == TaskKind::Composition {
        let graph = composition::generate(&config.task, config.seed).graph;
        let per_example: Vec<Vec<usize>> =
            tokens.chunks(seq).map(|t| composition::bridges(&graph, &config.task, t)).collect();
        lens::bridge_lens(&trace.logits, &per_example, seq - 1, seq, weights.vocab)
    } else {
        Vec::new()
    };
    let steps = (config.task.kind == TaskKind::Automaton)
        .then(|| steps::step_lens(&trace.logits, targets, split.grid, weights.vocab));

    let cka = twin.map(|twin| {
        let best: Vec<usize> = cka_rows
            .iter()
            .map(|row| row.iter().enumerate().fold(0, |b, (i, &x)| if x > row[b] { i } else { b }))
            .collect();
        let per_iteration = if feedforward { 1 } else { g.calls_per_iteration() * m.layers };
        CkaReport { twin_layers: twin.len(), pattern: cka::pattern(&best, per_iteration), values: cka_rows, best }
    });
    let mut report = ProbeReport {
        arch: m.arch,
        split: split.name.to_string(),
        examples: n,
        seq,
        d_model: d,
        iterations: depth,
        step_unit: if feedforward { "layer" } else { "iteration" }.to_string(),
        calls_per_iteration: g.calls_per_iteration(),
        block_layers: m.layers,
        states,
        convergence: Convergence { series: conv, answer_series, per_token },
        attention: AttentionReport {
            heads: m.heads,
            seq,
            keys,
            local: m.attention == Attention::Local,
            series: att,
            map_example: 0,
            maps,
        },
        lens,
        chance,
        bridges,
        steps,
        cka,
        path,
        phases: options.history.map(|h| phases::phases(h, options.thresholds.phase)),
        twin_phases: options.twin_history.map(|h| phases::phases(h, options.thresholds.phase)),
        thresholds: options.thresholds,
        verdict: Vec::new(),
    };
    report.verdict = verdict::verdict(&report);
    Ok(report)
}
