//! The trainer: builds the model's buffers and programs once, then runs steps (one submit each, nothing read
//! back) and, every `eval_every` steps, reads the accumulated metrics, evaluates every split and appends a
//! history record. NaN/Inf in the loss or gradient norm stops training with a message; the optimizer skips
//! non-finite updates on the device, so the weights stay those of the last good step.

pub mod checkpoint;
mod history;
mod programs;

use serde::{Deserialize, Serialize};

pub use history::{history_csv, read_history, read_history_csv, read_history_file};
use programs::{EvalProgram, GraphInputs, StepBuffers, StepPrograms};

use crate::backend::Backend;
use crate::config::{Arch, Depth, LabConfig, Schedule};
use crate::error::LabError;
use crate::model::transformer::{Graph, Shape};
use crate::model::Params;
use crate::ops::matmul::MatmulPath;
use crate::program::{MemoryBreakdown, MemoryPlan, Tensor, Use};
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
    /// The L2 norm of every trained parameter (the optimizer's weights, not the EMA copy), at the record's step;
    /// `None` in histories written before it was recorded.
    #[serde(default)]
    pub weight_norm: Option<f64>,
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

/// What one training step ran: iterations in all, the last `backprop` of them with gradient, and whether it
/// started a new batch (deep supervision continues the previous segment's states otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StepDepth {
    pub iterations: usize,
    pub backprop: usize,
    pub new_batch: bool,
}

/// Slots of the training metrics buffer: accumulated on the device, read back every `eval_every` steps.
mod slot {
    pub const LOSS: usize = 0;
    pub const CORRECT: usize = 1;
    pub const SUPERVISED: usize = 2;
    pub const GRAD_NORM_SQ_SUM: usize = 3;
    /// Written by its own program at each record, never inside a step.
    pub const WEIGHT_NORM_SQ: usize = 4;
    pub const LEN: usize = 5;
    /// Per evaluated depth, in the evaluation buffer: loss, correct, supervised, exact, examples.
    pub const EVAL_LEN: usize = 5;
    /// Each slot sits on its own aligned offset so a kernel can bind it alone.
    pub const STRIDE: usize = crate::program::VIEW_ALIGN;
}

pub struct Trainer {
    pub config: LabConfig,
    pub dataset: Dataset,
    pub backend: Backend,
    pub params: Params,
    pub step: u64,
    pub history: Vec<Record>,
    /// Bytes of every buffer the run uses, decided before allocation.
    pub memory: MemoryBreakdown,
    /// Batches and sampled depths.
    pub batch_rng: Rng,
    train: GraphInputs,
    programs: StepPrograms,
    /// Iterations stored for the gradient (the most a step backpropagates through).
    stored_iterations: usize,
    /// A new batch (and state reset) is due at the next step: deep supervision continues a batch otherwise.
    batch_due: bool,
    /// Evaluated depths: `1..=deepest`; the training depth is reported in records.
    deepest: usize,
    requested_depths: Vec<usize>,
    evals: Vec<EvalProgram>,
    metrics: Tensor,
    eval_metrics: Tensor,
    step_info: Tensor,
    /// Seconds of training before this session (from a resumed checkpoint).
    elapsed_before: f64,
    started: web_time::Instant,
    steps_since_read: u64,
    scratch_tokens: Vec<u32>,
    scratch_targets: Vec<u32>,
}

/// Training examples scored at each record (a sample: scoring a large training set would cost more than
/// training between records).
pub const TRAIN_EVAL_EXAMPLES: usize = 2048;

/// Iterations a model runs at its training depth (deep supervision's segments continue one another).
pub fn training_depth(config: &LabConfig) -> usize {
    config.model.loops * config.train.segments
}

/// The training depth first, then the extra iteration counts asked for (recurrent models only).
fn requested_depths(config: &LabConfig, extra_depths: &[usize]) -> Result<Vec<usize>, LabError> {
    let mut requested = vec![training_depth(config)];
    for &d in extra_depths {
        if config.model.arch == Arch::Feedforward && d != 1 {
            return Err(LabError::invalid(
                "--iters",
                d,
                "1 for a feedforward model (only recurrent models run at other depths)",
            ));
        }
        if d == 0 || d > 256 {
            return Err(LabError::invalid("--iters", d, "a count from 1 to 256"));
        }
        if !requested.contains(&d) {
            requested.push(d);
        }
    }
    Ok(requested)
}

impl Trainer {
    pub async fn new(config: LabConfig, backend: Backend) -> Result<Trainer, LabError> {
        Trainer::with_eval_depths(config, backend, &[]).await
    }

    /// A trainer that can also evaluate at other iteration counts (`evaluate_depths`); recurrent models only.
    pub async fn with_eval_depths(
        config: LabConfig,
        backend: Backend,
        extra_depths: &[usize],
    ) -> Result<Trainer, LabError> {
        Trainer::from_plan(TrainingPlan::new(config, extra_depths)?, backend).await
    }

    /// Allocates a plan's buffers (the backend refuses a plan it cannot hold), records its programs and writes
    /// the initial weights.
    pub async fn from_plan(planned: TrainingPlan, mut backend: Backend) -> Result<Trainer, LabError> {
        let p = planned;
        backend.allocate(&p.plan)?;
        let programs = programs::record_step(&mut backend, &p.config, &p.train_graph, &p.params, &p.buffers).await?;
        let evals =
            programs::record_evals(&mut backend, &p.config, &p.eval_graphs, &p.eval_flags, p.eval_metrics, p.deepest)
                .await?;
        let mut trainer = Trainer {
            train: GraphInputs::of(&p.train_graph),
            programs,
            stored_iterations: p.stored_iterations,
            batch_due: true,
            deepest: p.deepest,
            requested_depths: p.requested,
            evals,
            batch_rng: Rng::fork(p.config.seed, "batches"),
            config: p.config,
            dataset: p.dataset,
            backend,
            step: 0,
            history: Vec::new(),
            memory: p.plan.breakdown(),
            metrics: p.buffers.metrics,
            eval_metrics: p.eval_metrics,
            step_info: p.buffers.step_info,
            elapsed_before: 0.0,
            started: web_time::Instant::now(),
            steps_since_read: 0,
            scratch_tokens: Vec::new(),
            scratch_targets: Vec::new(),
            params: p.params,
        };
        let init = trainer.params.init(trainer.config.seed);
        trainer.backend.write(trainer.params.all(trainer.params.values), &init);
        if let Some(ema) = trainer.params.ema {
            trainer.backend.write(trainer.params.all(ema), &init);
        }
        for (state, values) in trainer.params.init_state_values(trainer.config.seed) {
            trainer.backend.write(state, &values);
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
        let (mut tokens, mut targets) =
            (std::mem::take(&mut self.scratch_tokens), std::mem::take(&mut self.scratch_targets));
        Dataset::gather(&self.dataset.splits[split], ids, inputs.batch, &mut tokens, &mut targets);
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
                base * 0.5 * (1.0 + libm::cos(std::f64::consts::PI * progress.min(1.0)))
            }
        }
    }

    /// Iterations this step runs and how many of the last ones the gradient flows through.
    fn sample_depth(&mut self) -> (usize, usize) {
        let (m, t) = (&self.config.model, &self.config.train);
        let k_max = self.stored_iterations;
        match t.depth {
            Depth::Fixed => (m.loops, k_max.min(m.loops)),
            Depth::Random => {
                // Huginn: lambda log-normal with mean `loops`, T ~ Poisson(lambda), clamped to 1..=2*loops.
                let sigma = 0.5f64;
                let tau = libm::log(m.loops as f64) - sigma * sigma / 2.0 + sigma * self.batch_rng.normal() as f64;
                let total = poisson(libm::exp(tau), &mut self.batch_rng).clamp(1, 2 * m.loops);
                (total, k_max.min(total))
            }
            Depth::Progressive => {
                let n = self.batch_rng.below(m.loops);
                let k = 1 + self.batch_rng.below(k_max.min(m.loops - n));
                (n + k, k)
            }
        }
    }

    /// Records one training step on the device: the batch and step info are uploaded, nothing is read back.
    /// Returns the depth it ran (the bench reports it, so a twin can replay the same sampled depths); fails once
    /// the GPU device is lost.
    pub fn step_once(&mut self) -> Result<StepDepth, LabError> {
        let new_batch = self.batch_due || self.step.is_multiple_of(self.config.train.segments as u64);
        if new_batch && self.config.train.batch_size > 0 {
            let n = self.dataset.train().len();
            let ids: Vec<usize> = (0..self.train.batch).map(|_| self.batch_rng.below(n)).collect();
            self.upload_batch(0, &ids, self.train);
        }
        self.batch_due = false;
        let (total, k) = self.sample_depth();
        self.step += 1;
        let info = [self.step as f32, self.lr_at(self.step) as f32];
        self.backend.write(self.step_info, &info);
        let p = &self.programs;
        let mut run = vec![p.zero_grads];
        if let Some(full) = p.full_depth {
            run.extend([p.start_new, full]);
        }
        run.push(if new_batch { p.start_new } else { p.start_continue });
        run.extend(std::iter::repeat_n(p.iterate, total - k));
        run.extend(p.lead.map(|(_, program)| program));
        let from_start = new_batch && total == k && p.lead.is_none() && p.starts_from_input;
        run.push(p.finish.iter().find(|f| f.0 == k && f.1 == from_start).expect("planned").2);
        run.push(p.optimize);
        self.backend.run(&run)?;
        self.steps_since_read += 1;
        Ok(StepDepth { iterations: total, backprop: k, new_batch })
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
            self.step_once()?;
            if self.step.is_multiple_of(self.config.train.eval_every) || self.step == self.config.train.steps {
                records.push(self.record().await?);
            }
        }
        Ok(records)
    }

    pub fn done(&self) -> bool {
        self.step >= self.config.train.steps
    }

    /// Reads the metrics accumulated since the last record and the weight norm, evaluates every split and
    /// appends a record.
    pub async fn record(&mut self) -> Result<Record, LabError> {
        self.backend.run(&[self.programs.weight_norm])?;
        let all = self.backend.read(self.metrics).await?;
        let m: [f32; slot::LEN] = std::array::from_fn(|i| all[i * slot::STRIDE]);
        let steps = self.steps_since_read.max(1) as f64;
        let loss = m[slot::LOSS] as f64 / m[slot::SUPERVISED].max(1.0) as f64;
        let grad_norm = (m[slot::GRAD_NORM_SQ_SUM] as f64 / steps).sqrt();
        if !loss.is_finite() || !grad_norm.is_finite() {
            let what = if !loss.is_finite() { "the loss is NaN/Inf" } else { "the gradient norm is NaN/Inf" };
            let since =
                self.history.last().map_or("the start".to_string(), |r| format!("the record at step {}", r.step));
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
            weight_norm: Some((m[slot::WEIGHT_NORM_SQ] as f64).sqrt()),
            splits,
        };
        self.history.push(record.clone());
        Ok(record)
    }

    /// Waits until every submitted step has finished (reads one metric).
    pub async fn wait_idle(&mut self) -> Result<(), LabError> {
        self.backend.read(self.metrics.slice(0, 1)).await.map(|_| ())
    }

    /// Loss and accuracies of the model (EMA weights when enabled) on one split, at the training depth.
    pub async fn evaluate(&mut self, split: usize) -> Result<Evaluation, LabError> {
        let depth = training_depth(&self.config);
        Ok(self.sweep(split, depth).await?[depth - 1])
    }

    /// The iteration counts asked for at construction, the training depth first.
    pub fn eval_depths(&self) -> Vec<usize> {
        self.requested_depths.clone()
    }

    /// Scores of one split after each iteration, `1..=` the deepest iteration count planned (one pass: the
    /// output head reads the state after every iteration). The training split is scored on its first
    /// `TRAIN_EVAL_EXAMPLES` examples.
    pub async fn evaluate_depths(&mut self, split: usize) -> Result<Vec<Evaluation>, LabError> {
        self.sweep(split, self.deepest).await
    }

    /// Scores after iterations `1..=depths` (the training depth or the deepest planned).
    async fn sweep(&mut self, split: usize, depths: usize) -> Result<Vec<Evaluation>, LabError> {
        let s = &self.dataset.splits[split];
        let n = if split == 0 { s.len().min(TRAIN_EVAL_EXAMPLES) } else { s.len() };
        let (seq, grid) = (s.seq_len, s.grid);
        let e = self.evals.iter().find(|e| e.seq == seq && e.grid == grid).expect("an evaluation program per geometry");
        let (inputs, program) =
            (e.inputs, if depths > training_depth(&self.config) { e.deep.expect("planned") } else { e.program });
        let len = depths * slot::EVAL_LEN * slot::STRIDE;
        let slots = self.eval_metrics.slice(0, len);
        self.backend.write(slots, &vec![0.0; len]);
        let mut start = 0;
        while start < n {
            let ids: Vec<usize> = (start..(start + inputs.batch).min(n)).collect();
            self.upload_batch(split, &ids, inputs);
            self.backend.run(&[program])?;
            start += inputs.batch;
        }
        let all = self.backend.read(slots).await?;
        let at = |depth: usize, i: usize| all[(depth * slot::EVAL_LEN + i) * slot::STRIDE] as f64;
        Ok((0..depths)
            .map(|d| {
                let count = at(d, 2).max(1.0);
                Evaluation { loss: at(d, 0) / count, accuracy: at(d, 1) / count, exact: at(d, 3) / at(d, 4).max(1.0) }
            })
            .collect())
    }
}

/// Every buffer of a training run, planned and not yet allocated: `memory()` says what it needs, so the CLI and
/// the page can show it (and the backend refuse it) before anything is allocated.
pub struct TrainingPlan {
    config: LabConfig,
    dataset: Dataset,
    plan: MemoryPlan,
    params: Params,
    train_graph: Graph,
    eval_graphs: Vec<Graph>,
    eval_flags: Vec<(Tensor, Tensor)>,
    eval_metrics: Tensor,
    buffers: StepBuffers,
    stored_iterations: usize,
    deepest: usize,
    requested: Vec<usize>,
}

impl TrainingPlan {
    /// Plans a run of `config` that can also evaluate at `extra_depths` iterations (see `Trainer::with_eval_depths`).
    pub fn new(config: LabConfig, extra_depths: &[usize]) -> Result<TrainingPlan, LabError> {
        config.validate()?;
        let m = &config.model;
        let requested = requested_depths(&config, extra_depths)?;
        let deepest = requested.iter().copied().max().unwrap_or(1);
        let dataset = config.dataset();
        let train_split = dataset.train();
        let batch = if config.train.batch_size == 0 { train_split.len() } else { config.train.batch_size };
        // The GPU backend picks each product's variant for its adapter (ops::matmul, backend/gpu/tune.rs).
        let path = MatmulPath::Auto;
        let stored_iterations = programs::stored_iterations(&config);
        let mut plan = MemoryPlan::default();
        plan.set_use(Use::Activations);
        let max_seq = dataset.splits.iter().map(|s| s.seq_len).max().unwrap_or(1);
        for s in &dataset.splits {
            crate::model::check_blocks(m, s.seq_len)?;
        }
        let params = Params::plan(&mut plan, m, dataset.vocab, max_seq, config.train.ema > 0.0);
        let shape = Shape { batch, seq: train_split.seq_len, grid: train_split.grid, vocab: dataset.vocab };
        let mut train_graph = Graph::plan(&mut plan, m, &params, shape, stored_iterations, true, path, "train");
        train_graph.stablemax = config.train.stablemax;
        plan.set_use(Use::Evaluation);
        let eval_graphs = programs::plan_eval_graphs(&mut plan, &config, &dataset, &params.evaluated(), path);
        let eval_metrics = plan.buffer("eval_metrics", deepest * slot::EVAL_LEN * slot::STRIDE);
        let eval_flags: Vec<(Tensor, Tensor)> = (0..eval_graphs.len())
            .map(|i| {
                let batch = eval_graphs[i].shape.batch;
                (plan.buffer(format!("eval{i}.exact"), batch), plan.buffer(format!("eval{i}.has_target"), batch))
            })
            .collect();
        plan.set_use(Use::Scratch);
        let buffers = StepBuffers {
            metrics: plan.buffer("metrics", slot::LEN * slot::STRIDE),
            grad_norm_sq: plan.buffer("grad_norm_sq", 1),
            step_info: plan.buffer("step_info", 2),
        };
        Ok(TrainingPlan {
            config,
            dataset,
            plan,
            params,
            train_graph,
            eval_graphs,
            eval_flags,
            eval_metrics,
            buffers,
            stored_iterations,
            deepest,
            requested,
        })
    }

    /// The planned memory per use.
    pub fn memory(&self) -> MemoryBreakdown {
        self.plan.breakdown()
    }

    /// Whether `backend` could hold the plan (the check `Trainer::from_plan` makes before allocating).
    pub fn check(&self, backend: &Backend) -> Result<(), LabError> {
        backend.check(&self.plan)
    }

    pub fn config(&self) -> &LabConfig {
        &self.config
    }
}

/// A Poisson draw (Knuth's method; lambda here is at most a few hundred, so split it into chunks of 30).
fn poisson(lambda: f64, rng: &mut Rng) -> usize {
    let mut total = 0;
    let mut left = lambda;
    while left > 0.0 {
        let chunk = left.min(30.0);
        left -= chunk;
        let limit = libm::exp(-chunk);
        let mut product = rng.uniform();
        while product > limit {
            total += 1;
            product *= rng.uniform();
        }
    }
    total
}
