//! The trainer: builds the model's buffers and programs once, then runs steps (one submit each, nothing read
//! back) and, every `eval_every` steps, reads the accumulated metrics, evaluates every split and appends a
//! history record. NaN/Inf in the loss or gradient norm stops training with a message; the optimizer skips
//! non-finite updates on the device, so the weights stay those of the last good step.

pub mod checkpoint;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, MemoryPlan, ProgramId, Tensor};
use crate::config::{Arch, LabConfig, Schedule};
use crate::error::LabError;
use crate::model::transformer::Graph;
use crate::model::Params;
use crate::ops::adamw::{AdamW, Ema};
use crate::ops::elementwise::Fill;
use crate::ops::matmul::MatmulPath;
use crate::ops::reduce::{ExactMatch, Reduce, Reduction};
use crate::ops::Kernel;
use crate::rng::Rng;
use crate::tasks::Dataset;

/// One row of the training history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub step: u64,
    /// Mean training loss over the steps since the previous record.
    pub loss: f64,
    /// Token accuracy: the share of supervised positions predicted right.
    pub train_acc: f64,
    pub test_acc: f64,
    /// Exact-match accuracy: the share of examples whose every supervised position is right.
    #[serde(default)]
    pub train_exact: f64,
    #[serde(default)]
    pub test_exact: f64,
    pub test_loss: f64,
    pub grad_norm: f64,
    pub lr: f64,
    pub elapsed_s: f64,
    /// Every split's scores (the fields above repeat the first two, the ones the page plots); tasks with more
    /// splits (composition's `test_id` and `test_ood`) are read from here.
    #[serde(default)]
    pub splits: Vec<SplitScore>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitScore {
    pub split: String,
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

/// Mean loss, token accuracy and exact-match accuracy on one split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub exact: f64,
}

/// Slots of the metrics buffer: accumulated on the device, read back every `eval_every` steps.
mod slot {
    pub const LOSS: usize = 0;
    pub const CORRECT: usize = 1;
    pub const SUPERVISED: usize = 2;
    pub const GRAD_NORM_SQ_SUM: usize = 3;
    pub const EVAL_LOSS: usize = 4;
    pub const EVAL_CORRECT: usize = 5;
    pub const EVAL_SUPERVISED: usize = 6;
    pub const EVAL_EXACT: usize = 7;
    pub const EVAL_EXAMPLES: usize = 8;
    pub const LEN: usize = 9;
    /// Each slot sits on its own aligned offset so a kernel can bind it alone.
    pub const STRIDE: usize = crate::backend::VIEW_ALIGN;
}

/// Inputs of one graph and how many examples it holds.
#[derive(Clone, Copy)]
struct GraphInputs {
    tokens: Tensor,
    targets: Tensor,
    batch: usize,
}

/// An evaluation program at one iteration count (test-time depth).
struct EvalDepth {
    loops: usize,
    inputs: GraphInputs,
    program: ProgramId,
}

pub struct Trainer {
    pub config: LabConfig,
    pub dataset: Dataset,
    pub backend: Backend,
    pub params: Params,
    pub step: u64,
    pub history: Vec<Record>,
    /// Bytes of every buffer the run uses, decided before allocation.
    pub memory_bytes: u64,
    pub batch_rng: Rng,
    train: GraphInputs,
    /// The training depth first, then any extra test-time depths.
    evals: Vec<EvalDepth>,
    metrics: Tensor,
    step_info: Tensor,
    train_program: ProgramId,
    /// Seconds of training before this session (from a resumed checkpoint).
    elapsed_before: f64,
    started: web_time::Instant,
    steps_since_read: u64,
    scratch_tokens: Vec<u32>,
    scratch_targets: Vec<u32>,
}

/// Token rows per evaluation chunk at the training depth: eval graphs keep every iteration's activations (for
/// probes), so chunks shrink in proportion when deeper test-time iteration counts are planned.
const EVAL_ROWS: usize = 8192;

impl Trainer {
    pub async fn new(config: LabConfig, backend: Backend) -> Result<Trainer, LabError> {
        Trainer::with_eval_depths(config, backend, &[]).await
    }

    /// A trainer that can also evaluate at other iteration counts (`evaluate_at`); looped models only.
    pub async fn with_eval_depths(config: LabConfig, mut backend: Backend, extra_depths: &[usize]) -> Result<Trainer, LabError> {
        config.validate()?;
        let m = &config.model;
        let mut depths = vec![m.loops];
        for &d in extra_depths {
            if m.arch == Arch::Feedforward && d != 1 {
                return Err(LabError::invalid("--iters", d, "1 for a feedforward model (only looped models run at other depths)"));
            }
            if d == 0 || d > 256 {
                return Err(LabError::invalid("--iters", d, "a count from 1 to 256"));
            }
            if !depths.contains(&d) {
                depths.push(d);
            }
        }
        let dataset = Dataset::build(&config);
        let (vocab, seq) = (dataset.vocab, dataset.seq_len);
        let train_len = dataset.train().len(seq);
        let batch = if config.train.batch_size == 0 { train_len } else { config.train.batch_size };
        let deepest = depths.iter().copied().max().unwrap_or(1);
        let rows = (EVAL_ROWS * m.loops / deepest).max(seq);
        let eval_batch = dataset.splits.iter().map(|s| s.len(seq)).max().unwrap_or(1).min(rows / seq);
        let path = match &backend {
            Backend::Gpu(g) if !g.is_software() => MatmulPath::Tiled,
            _ => MatmulPath::Blocked,
        };
        let mut plan = MemoryPlan::default();
        let params = Params::plan(&mut plan, m, vocab, seq, config.train.ema > 0.0);
        let mut train_graph = Graph::plan(&mut plan, m, &params, (batch, seq, vocab), m.loops, true, path, "train");
        let eval_params = params.evaluated();
        let mut eval_graphs: Vec<Graph> = depths
            .iter()
            .map(|&loops| Graph::plan(&mut plan, m, &eval_params, (eval_batch, seq, vocab), loops, false, path, &format!("eval{loops}")))
            .collect();
        let metrics = plan.buffer("metrics", slot::LEN * slot::STRIDE);
        let exact = plan.buffer("eval.exact", eval_batch);
        let has_target = plan.buffer("eval.has_target", eval_batch);
        let grad_norm_sq = plan.buffer("grad_norm_sq", 1);
        let step_info = plan.buffer("step_info", 2);
        backend.allocate(&plan)?;
        let memory_bytes = plan.total_bytes();

        let at = |i: usize| metrics.slice(i * slot::STRIDE, 1);
        let grads = params.all(params.grads);
        let mut step: Vec<Box<dyn Kernel>> = vec![Box::new(Fill { out: grads, value: 0.0 })];
        step.append(&mut train_graph.forward);
        step.extend(sums(&train_graph, [at(slot::LOSS), at(slot::CORRECT), at(slot::SUPERVISED)]));
        step.append(&mut train_graph.backward);
        step.push(Box::new(Reduce { x: grads, out: grad_norm_sq, op: Reduction::SumSquares, accumulate: false }));
        step.push(Box::new(Reduce { x: grad_norm_sq, out: at(slot::GRAD_NORM_SQ_SUM), op: Reduction::Sum, accumulate: true }));
        let t = &config.train;
        step.push(Box::new(AdamW {
            params: params.all(params.values),
            grads,
            m: params.all(params.adam_m),
            v: params.all(params.adam_v),
            step_info,
            grad_norm_sq,
            beta1: t.beta1 as f32,
            beta2: t.beta2 as f32,
            eps: 1e-8,
            weight_decay: t.weight_decay as f32,
            clip: t.grad_clip as f32,
            decay_len: params.decay_len,
        }));
        if let Some(ema) = params.ema {
            step.push(Box::new(Ema { params: params.all(params.values), ema: params.all(ema), decay: t.ema as f32 }));
        }
        let train_program = backend.prepare(step).await?;
        let mut evals = Vec::new();
        for (graph, &loops) in eval_graphs.iter_mut().zip(&depths) {
            let mut eval: Vec<Box<dyn Kernel>> = std::mem::take(&mut graph.forward);
            eval.extend(sums(graph, [at(slot::EVAL_LOSS), at(slot::EVAL_CORRECT), at(slot::EVAL_SUPERVISED)]));
            let (correct, supervised) = (graph.correct, graph.supervised);
            eval.push(Box::new(ExactMatch { correct, supervised, exact, has_target, batch: eval_batch, seq }));
            for (x, s) in [(exact, slot::EVAL_EXACT), (has_target, slot::EVAL_EXAMPLES)] {
                eval.push(Box::new(Reduce { x, out: at(s), op: Reduction::Sum, accumulate: true }));
            }
            let inputs = GraphInputs { tokens: graph.tokens, targets: graph.targets, batch: eval_batch };
            evals.push(EvalDepth { loops, inputs, program: backend.prepare(eval).await? });
        }

        let mut trainer = Trainer {
            train: GraphInputs { tokens: train_graph.tokens, targets: train_graph.targets, batch },
            evals,
            batch_rng: Rng::fork(config.seed, "batches"),
            config,
            dataset,
            backend,
            step: 0,
            history: Vec::new(),
            memory_bytes,
            metrics,
            step_info,
            train_program,
            elapsed_before: 0.0,
            started: web_time::Instant::now(),
            steps_since_read: 0,
            scratch_tokens: Vec::new(),
            scratch_targets: Vec::new(),
            params,
        };
        let init = trainer.params.init(trainer.config.seed);
        trainer.backend.write(trainer.params.all(trainer.params.values), &init);
        if let Some(ema) = trainer.params.ema {
            trainer.backend.write(trainer.params.all(ema), &init);
        }
        trainer.upload_full_batch();
        Ok(trainer)
    }

    /// Full-batch training uploads the training split once; minibatches are uploaded per step.
    fn upload_full_batch(&mut self) {
        if self.config.train.batch_size == 0 {
            let ids: Vec<usize> = (0..self.train.batch).collect();
            self.upload_batch(0, &ids, self.train);
        }
    }

    fn upload_batch(&mut self, split: usize, ids: &[usize], inputs: GraphInputs) {
        let (mut tokens, mut targets) = (std::mem::take(&mut self.scratch_tokens), std::mem::take(&mut self.scratch_targets));
        self.dataset.gather(&self.dataset.splits[split], ids, inputs.batch, &mut tokens, &mut targets);
        let (tt, tg) = (inputs.tokens, inputs.targets);
        self.backend.write_u32(tt, &tokens);
        self.backend.write_u32(tg, &targets);
        self.scratch_tokens = tokens;
        self.scratch_targets = targets;
    }

    pub fn lr_at(&self, step: u64) -> f64 {
        let t = &self.config.train;
        let base = t.lr;
        if step <= t.warmup {
            return base * step as f64 / t.warmup.max(1) as f64;
        }
        match t.schedule {
            Schedule::Constant => base,
            Schedule::Cosine => {
                let progress = (step - t.warmup) as f64 / (t.steps - t.warmup).max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
            }
        }
    }

    /// Records one training step on the device: the batch and step info are uploaded, nothing is read back.
    pub fn step_once(&mut self) {
        if self.config.train.batch_size > 0 {
            let n = self.dataset.train().len(self.dataset.seq_len);
            let ids: Vec<usize> = (0..self.train.batch).map(|_| self.batch_rng.below(n)).collect();
            self.upload_batch(0, &ids, self.train);
        }
        self.step += 1;
        let info = [self.step as f32, self.lr_at(self.step) as f32];
        self.backend.write(self.step_info, &info);
        self.backend.run(self.train_program);
        self.steps_since_read += 1;
    }

    /// Continues the clock of a resumed run.
    pub fn set_elapsed_before(&mut self, seconds: f64) {
        self.elapsed_before = seconds;
        self.started = web_time::Instant::now();
    }

    pub fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// Runs up to `steps` steps (stopping at `train.steps`), returning the records made on the way.
    pub async fn train(&mut self, steps: u64) -> Result<Vec<Record>, LabError> {
        let mut records = Vec::new();
        let end = (self.step + steps).min(self.config.train.steps);
        while self.step < end {
            self.step_once();
            if self.step.is_multiple_of(self.config.train.eval_every) || self.step == self.config.train.steps {
                records.push(self.record().await?);
            }
        }
        Ok(records)
    }

    pub fn done(&self) -> bool {
        self.step >= self.config.train.steps
    }

    /// Reads the metrics accumulated since the last record, evaluates every split and appends a record.
    pub async fn record(&mut self) -> Result<Record, LabError> {
        let m = self.read_metrics().await?;
        let steps = self.steps_since_read.max(1) as f64;
        let loss = m[slot::LOSS] as f64 / m[slot::SUPERVISED].max(1.0) as f64;
        let grad_norm = (m[slot::GRAD_NORM_SQ_SUM] as f64 / steps).sqrt();
        if !loss.is_finite() || !grad_norm.is_finite() {
            let what = if !loss.is_finite() { "the loss is NaN/Inf" } else { "the gradient norm is NaN/Inf" };
            let since = self.history.last().map_or("the start".to_string(), |r| format!("the record at step {}", r.step));
            return Err(LabError::Diverged { step: self.step, what: format!("{what} in the steps since {since}") });
        }
        self.backend.write(self.metrics, &[0.0; slot::LEN * slot::STRIDE]);
        self.steps_since_read = 0;
        let mut splits = Vec::new();
        for (i, name) in self.dataset.splits.iter().map(|s| s.name).enumerate().collect::<Vec<_>>() {
            splits.push(SplitScore { split: name.to_string(), evaluation: self.evaluate(i).await? });
        }
        let (train, test) = (splits[0].evaluation, splits[1].evaluation);
        let record = Record {
            step: self.step,
            loss,
            train_acc: train.accuracy,
            test_acc: test.accuracy,
            train_exact: train.exact,
            test_exact: test.exact,
            test_loss: test.loss,
            grad_norm,
            lr: self.lr_at(self.step),
            elapsed_s: self.elapsed(),
            splits,
        };
        self.history.push(record.clone());
        Ok(record)
    }

    /// The metric slots, read back.
    async fn read_metrics(&mut self) -> Result<[f32; slot::LEN], LabError> {
        let all = self.backend.read(self.metrics).await?;
        Ok(std::array::from_fn(|i| all[i * slot::STRIDE]))
    }

    /// Waits until every submitted step has finished (reads one metric).
    pub async fn wait_idle(&mut self) -> Result<(), LabError> {
        self.backend.read(self.metrics.slice(0, 1)).await.map(|_| ())
    }

    /// Loss and accuracies of the model (EMA weights when enabled) on one split, at the training depth.
    pub async fn evaluate(&mut self, split: usize) -> Result<Evaluation, LabError> {
        self.evaluate_at(split, 0).await
    }

    /// The iteration counts `evaluate_at` can run, the training depth first.
    pub fn eval_depths(&self) -> Vec<usize> {
        self.evals.iter().map(|e| e.loops).collect()
    }

    /// Like `evaluate`, running the model for `eval_depths()[depth]` iterations.
    pub async fn evaluate_at(&mut self, split: usize, depth: usize) -> Result<Evaluation, LabError> {
        let (inputs, program) = (self.evals[depth].inputs, self.evals[depth].program);
        let n = self.dataset.splits[split].len(self.dataset.seq_len);
        let eval_slots = self.metrics.slice(slot::EVAL_LOSS * slot::STRIDE, (slot::LEN - slot::EVAL_LOSS) * slot::STRIDE);
        self.backend.write(eval_slots, &[0.0; (slot::LEN - slot::EVAL_LOSS) * slot::STRIDE]);
        let mut start = 0;
        while start < n {
            let ids: Vec<usize> = (start..(start + inputs.batch).min(n)).collect();
            self.upload_batch(split, &ids, inputs);
            self.backend.run(program);
            start += inputs.batch;
        }
        let m = self.read_metrics().await?;
        let count = m[slot::EVAL_SUPERVISED].max(1.0) as f64;
        let examples = m[slot::EVAL_EXAMPLES].max(1.0) as f64;
        Ok(Evaluation {
            loss: m[slot::EVAL_LOSS] as f64 / count,
            accuracy: m[slot::EVAL_CORRECT] as f64 / count,
            exact: m[slot::EVAL_EXACT] as f64 / examples,
        })
    }
}

/// Kernels adding a graph's summed loss, correct count and supervised count into three metric slots.
fn sums(g: &Graph, slots: [Tensor; 3]) -> Vec<Box<dyn Kernel>> {
    [g.losses, g.correct, g.supervised]
        .into_iter()
        .zip(slots)
        .map(|(x, out)| Box::new(Reduce { x, out, op: Reduction::Sum, accumulate: true }) as Box<dyn Kernel>)
        .collect()
}
