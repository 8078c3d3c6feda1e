//! Watching a trained model iterate on inputs: the output head reads the state after every iteration (the
//! predictions a solving view shows), an adaptive exit per example stops at the first iteration whose output
//! distribution has stopped moving (KL between successive iterations below a threshold), and the task's
//! validator judges the answer.

use crate::backend::Backend;
use crate::error::LabError;
use crate::model::transformer::{Graph, Shape};
use crate::model::Params;
use crate::ops::elementwise::Copy;
use crate::ops::matmul::MatmulPath;
use crate::program::{Kernel, MemoryPlan, VIEW_ALIGN};
use crate::train::checkpoint::Weights;

/// Default exit threshold on the mean per-position KL between successive iterations' outputs (Huginn's).
pub const EXIT_KL: f64 = 1e-3;

/// When an example stops iterating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Exit {
    /// At the first iteration whose outputs moved less than this KL from the previous iteration's.
    Kl(f64),
    /// At the first iteration whose halting-head logit is positive (models trained with `model.halting`).
    Halt,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Exit::Kl(t) => write!(f, "KL < {t:e}"),
            Exit::Halt => write!(f, "halting head"),
        }
    }
}

/// The output logits of a batch after each iteration: `logits[t]` is `[batch, seq, vocab]` after iteration t+1.
pub struct Trace {
    pub batch: usize,
    pub seq: usize,
    pub vocab: usize,
    pub logits: Vec<Vec<f32>>,
    /// The halting head's logit per example after each iteration (empty without `model.halting`).
    pub halt: Vec<Vec<f32>>,
}

/// A trained model planned for a batch of inputs: its graph and parameters, in a plan not yet allocated
/// (callers add buffers of their own first).
pub struct Planned {
    pub graph: Graph,
    pub params: Params,
}

/// Checks that `tokens` are whole `grid` inputs the model can take, then plans its graph with
/// `stored_iterations` of activations (0 for decoding only) and no backward.
pub fn plan(
    weights: &Weights<'_>,
    plan: &mut MemoryPlan,
    tokens: &[u32],
    grid: [usize; 2],
    stored_iterations: usize,
    prefix: &str,
) -> Result<Planned, LabError> {
    let m = &weights.config.model;
    let seq = grid[0] * grid[1];
    if seq == 0 || tokens.is_empty() || !tokens.len().is_multiple_of(seq) {
        return Err(LabError::Input(format!("{} tokens are not whole {}x{} inputs", tokens.len(), grid[0], grid[1])));
    }
    if weights.positions > 0 && seq != weights.positions {
        return Err(LabError::Input(format!(
            "this model learned positions for inputs of exactly {} tokens and got {seq}; train with model.attention=local and model.positions=none to run on other sizes",
            weights.positions
        )));
    }
    if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= weights.vocab) {
        return Err(LabError::Input(format!("token {bad} is outside the model's vocabulary of {}", weights.vocab)));
    }
    crate::model::check_blocks(m, seq)?;
    let (batch, vocab) = (tokens.len() / seq, weights.vocab);
    let params = Params::plan(plan, m, vocab, weights.positions.max(1), false);
    let mut graph = Graph::plan(
        plan,
        m,
        &params,
        Shape { batch, seq, grid, vocab },
        stored_iterations,
        false,
        MatmulPath::Auto,
        prefix,
    );
    graph.stablemax = weights.config.train.stablemax;
    Ok(Planned { graph, params })
}

impl Planned {
    /// After allocation: writes the weights, the initial states and the inputs (with no targets: the loss the
    /// programs end with is not read).
    pub fn load(&self, weights: &Weights<'_>, backend: &mut Backend, tokens: &[u32]) -> Result<(), LabError> {
        let p = &self.params;
        backend.write(p.all(p.values), &weights.values(p)?);
        for (state, values) in p.init_state_values(weights.config.seed) {
            backend.write(state, &values);
        }
        backend.write_u32(self.graph.tokens, tokens);
        backend.write_u32(self.graph.targets, &vec![crate::tasks::IGNORE; tokens.len()]);
        Ok(())
    }
}

/// Runs `batch` examples (`tokens` holds `batch * seq` of them, laid out as `grid`) for `depth` iterations.
pub async fn trace(
    weights: &Weights<'_>,
    backend: &mut Backend,
    tokens: &[u32],
    grid: [usize; 2],
    depth: usize,
) -> Result<Trace, LabError> {
    let mut memory = MemoryPlan::default();
    let planned = plan(weights, &mut memory, tokens, grid, 0, "trace")?;
    let graph = &planned.graph;
    let (batch, seq, vocab) = (graph.shape.batch, graph.shape.seq, graph.shape.vocab);
    let per_iteration = batch * seq * vocab;
    // Each iteration's slice starts on an aligned offset, so it can be bound alone.
    let stride = per_iteration.div_ceil(VIEW_ALIGN) * VIEW_ALIGN;
    let kept = memory.buffer("trace.logits", depth * stride);
    let halt_stride = batch.div_ceil(VIEW_ALIGN) * VIEW_ALIGN;
    let kept_halt = graph.halt_logits().map(|_| memory.buffer("trace.halt", depth * halt_stride));
    backend.allocate(&memory)?;
    let mut program: Vec<Box<dyn Kernel>> = graph.start(true);
    for t in 0..depth {
        program.append(&mut graph.iterate());
        program.append(&mut graph.decode());
        program.push(Box::new(Copy { x: graph.logits, out: kept.slice(t * stride, per_iteration) }));
        if let (Some(q), Some(k)) = (graph.halt_logits(), kept_halt) {
            program.push(Box::new(Copy { x: q, out: k.slice(t * halt_stride, batch) }));
        }
    }
    let program = backend.prepare(program).await?;
    planned.load(weights, backend, tokens)?;
    backend.run(&[program])?;
    let all = backend.read(kept).await?;
    let halt = match kept_halt {
        Some(k) => backend.read(k).await?.chunks(halt_stride).map(|c| c[..batch].to_vec()).collect(),
        None => Vec::new(),
    };
    Ok(Trace { batch, seq, vocab, logits: all.chunks(stride).map(|c| c[..per_iteration].to_vec()).collect(), halt })
}

/// Exact accuracy and mean iterations used when each example of a split exits by the KL rule, next to the
/// exact accuracy at the full depth: the halting measurement of `eval --exit-kl` and of the page's
/// exit histogram.
#[derive(Debug, serde::Serialize)]
pub struct ExitScore {
    /// Examples scored: the split's first `examples`.
    pub examples: usize,
    pub exact_at_exit: f64,
    pub exact_at_depth: f64,
    pub mean_iterations: f64,
    /// `histogram[t-1]`: examples that exited at iteration t.
    pub histogram: Vec<usize>,
}

/// Scores the split's first `examples` examples (all of them when it has fewer).
pub async fn exit_score(
    weights: &Weights<'_>,
    backend: &mut Backend,
    split: &crate::tasks::Split,
    examples: usize,
    depth: usize,
    rule: Exit,
) -> Result<ExitScore, LabError> {
    // Chunks small enough that every iteration's logits fit in a few tens of MiB.
    let chunk = (4_000_000 / (depth * split.seq_len * weights.vocab).max(1)).clamp(1, 512);
    let (mut exact_exit, mut exact_depth, mut iterations) = (0usize, 0usize, 0usize);
    let mut histogram = vec![0; depth];
    let examples = examples.min(split.len());
    for start in (0..examples).step_by(chunk) {
        let ids = start..(start + chunk).min(examples);
        let tokens: Vec<u32> = ids.clone().flat_map(|i| split.example(i).0.to_vec()).collect();
        let t = trace(weights, backend, &tokens, split.grid, depth).await?;
        for (b, i) in ids.enumerate() {
            let targets = split.example(i).1;
            let exact = |p: Vec<u32>| targets.iter().zip(&p).all(|(&y, &x)| y == crate::tasks::IGNORE || y == x);
            let exit = t.exit(b, rule)?;
            histogram[exit - 1] += 1;
            iterations += exit;
            exact_exit += exact(t.predictions(exit - 1, b)) as usize;
            exact_depth += exact(t.predictions(depth - 1, b)) as usize;
        }
    }
    let n = examples.max(1) as f64;
    Ok(ExitScore {
        examples,
        exact_at_exit: exact_exit as f64 / n,
        exact_at_depth: exact_depth as f64 / n,
        mean_iterations: iterations as f64 / n,
        histogram,
    })
}

impl Trace {
    pub fn iterations(&self) -> usize {
        self.logits.len()
    }

    /// Argmax token per position of example `b` after iteration `t` (0-based).
    pub fn predictions(&self, t: usize, b: usize) -> Vec<u32> {
        self.rows(t, b).map(|row| argmax(row) as u32).collect()
    }

    /// Softmax probability of the predicted (argmax) token per position of example `b` after iteration `t`.
    pub fn confidence(&self, t: usize, b: usize) -> Vec<f32> {
        self.rows(t, b).map(|row| log_softmax(row)[argmax(row)].exp() as f32).collect()
    }

    fn rows(&self, t: usize, b: usize) -> impl Iterator<Item = &[f32]> {
        self.logits[t][b * self.seq * self.vocab..(b + 1) * self.seq * self.vocab].chunks(self.vocab)
    }

    /// Mean over positions of KL(p_t || p_{t-1}) for example `b`, `t` >= 1.
    pub fn kl(&self, t: usize, b: usize) -> f64 {
        let total: f64 = self.rows(t, b).zip(self.rows(t - 1, b)).map(|(now, before)| kl(now, before)).sum();
        total / self.seq as f64
    }

    /// The iteration (1-based) at which example `b` exits by `rule`, else the last: for the KL rule the first
    /// t >= 2 with KL(p_t || p_{t-1}) below the threshold, for the halting head the first positive logit.
    pub fn exit(&self, b: usize, rule: Exit) -> Result<usize, LabError> {
        let last = self.iterations();
        Ok(match rule {
            Exit::Kl(threshold) => (1..last).find(|&t| self.kl(t, b) < threshold).map_or(last, |t| t + 1),
            Exit::Halt if self.halt.is_empty() => {
                return Err(LabError::Input(
                    "this model has no halting head (train it with model.halting=true), so it cannot exit by one"
                        .into(),
                ));
            }
            Exit::Halt => (0..last).find(|&t| self.halt[t][b] > 0.0).map_or(last, |t| t + 1),
        })
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &x)| if x > row[best] { i } else { best })
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let log_sum = row.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln() + max;
    row.iter().map(|&x| x as f64 - log_sum).collect()
}

/// KL(softmax(p) || softmax(q)) of two logit rows.
fn kl(p: &[f32], q: &[f32]) -> f64 {
    let (lp, lq) = (log_softmax(p), log_softmax(q));
    lp.iter().zip(&lq).map(|(a, b)| a.exp() * (a - b)).sum::<f64>().max(0.0)
}
