//! Recording the trainer's programs once, at construction: the pieces a training step is composed of (zero
//! the gradients, start, iterate, HRM's lead, `finish(k)` for every k a step may backpropagate through, the
//! optimizer), and per input geometry an evaluation program scoring every iteration into its metric slots.

use super::{slot, training_depth};
use crate::backend::Backend;
use crate::config::{Arch, Attention, Depth, LabConfig};
use crate::error::LabError;
use crate::model::transformer::{Graph, Shape};
use crate::model::Params;
use crate::ops::adamw::{AdamW, Ema};
use crate::ops::elementwise::Fill;
use crate::ops::matmul::MatmulPath;
use crate::ops::reduce::{ExactMatch, Reduce, Reduction};
use crate::program::{Kernel, MemoryPlan, ProgramId, Tensor};
use crate::tasks::Dataset;

/// Token rows per evaluation chunk, and the most attention-map elements one layer may hold.
const EVAL_ROWS: usize = 8192;
const EVAL_PROBS: usize = 1 << 24;

/// Inputs of one graph and how many examples it holds.
#[derive(Clone, Copy)]
pub(super) struct GraphInputs {
    pub tokens: Tensor,
    pub targets: Tensor,
    pub batch: usize,
}

impl GraphInputs {
    pub fn of(graph: &Graph) -> GraphInputs {
        GraphInputs { tokens: graph.tokens, targets: graph.targets, batch: graph.shape.batch }
    }
}

/// The evaluation program of one input geometry: every iteration up to the deepest requested depth, the
/// output head scoring the state after each into that depth's slots.
pub(super) struct EvalProgram {
    pub seq: usize,
    pub grid: [usize; 2],
    pub inputs: GraphInputs,
    /// Runs the training depth (what records score).
    pub program: ProgramId,
    /// Runs `1..=deepest` iterations when that is more than the training depth (`evaluate_depths`).
    pub deep: Option<ProgramId>,
}

/// The programs a training step is composed of (recorded into one submit).
pub(super) struct StepPrograms {
    pub zero_grads: ProgramId,
    pub start_new: ProgramId,
    pub start_continue: ProgramId,
    pub iterate: ProgramId,
    /// HRM's one-step gradient: the calls of the last cycle before its last L step, without gradient.
    pub lead: Option<(usize, ProgramId)>,
    /// `(k, from_start, program)`: the last k iterations with gradient.
    pub finish: Vec<(usize, bool, ProgramId)>,
    /// Progressive depth with alpha < 1: the full-depth pass weighted 1 - alpha.
    pub full_depth: Option<ProgramId>,
    /// A state starts as the input embedding, so `finish` differs when it reaches the start.
    pub starts_from_input: bool,
    pub optimize: ProgramId,
    /// The squared L2 norm of the weights into its metrics slot (run at records, not in steps).
    pub weight_norm: ProgramId,
}

/// Buffers the step programs accumulate into or read: the training metrics, the squared gradient norm and the
/// step number with its learning rate.
pub(super) struct StepBuffers {
    pub metrics: Tensor,
    pub grad_norm_sq: Tensor,
    pub step_info: Tensor,
}

/// Iterations stored for the gradient (the most a step backpropagates through).
pub(super) fn stored_iterations(config: &LabConfig) -> usize {
    let (m, t) = (&config.model, &config.train);
    match (m.arch, t.depth) {
        (Arch::Feedforward, _) => 1,
        _ if one_step(config) => 1,
        (_, Depth::Random) if t.backprop == 0 => 2 * m.loops,
        _ if t.backprop > 0 => t.backprop,
        _ => m.loops,
    }
}

/// HRM's one-step gradient approximation.
fn one_step(config: &LabConfig) -> bool {
    config.model.arch == Arch::Hrm && config.train.backprop == 1
}

/// One evaluation graph per distinct input geometry (a maze model tested on larger mazes has two), each with
/// a batch as large as its largest split or the evaluation chunk allows.
pub(super) fn plan_eval_graphs(
    plan: &mut MemoryPlan,
    config: &LabConfig,
    dataset: &Dataset,
    eval_params: &Params,
    path: MatmulPath,
) -> Vec<Graph> {
    let m = &config.model;
    let mut graphs: Vec<Graph> = Vec::new();
    for s in &dataset.splits {
        if graphs.iter().any(|g| g.shape.seq == s.seq_len && g.shape.grid == s.grid) {
            continue;
        }
        let keys = if m.attention == Attention::Local { crate::model::window(m) } else { s.seq_len };
        let rows = EVAL_ROWS.min(EVAL_PROBS / (m.heads * keys)).max(s.seq_len);
        let largest = dataset
            .splits
            .iter()
            .filter(|o| o.seq_len == s.seq_len && o.grid == s.grid)
            .map(|o| o.len())
            .max()
            .unwrap_or(1);
        let batch = largest.clamp(1, rows / s.seq_len);
        let shape = Shape { batch, seq: s.seq_len, grid: s.grid, vocab: dataset.vocab };
        let mut g = Graph::plan(plan, m, eval_params, shape, 0, false, path, &format!("eval{}", graphs.len()));
        g.stablemax = config.train.stablemax;
        graphs.push(g);
    }
    graphs
}

/// Records the training step's programs on `g`, the training graph.
pub(super) async fn record_step(
    backend: &mut Backend,
    config: &LabConfig,
    g: &Graph,
    params: &Params,
    buffers: &StepBuffers,
) -> Result<StepPrograms, LabError> {
    let (m, t) = (&config.model, &config.train);
    let at = |i: usize| buffers.metrics.slice(i * slot::STRIDE, 1);
    let grads = params.all(params.grads);
    let mut prepare = async |ks: Vec<Box<dyn Kernel>>| backend.prepare(ks).await;
    let zero_grads = prepare(vec![Box::new(Fill { out: grads, value: 0.0 })]).await?;
    let start_new = prepare(g.start(true)).await?;
    let start_continue = prepare(g.start(false)).await?;
    let iterate = prepare(g.iterate()).await?;
    let led = if one_step(config) { g.calls_per_iteration() - 2 } else { 0 };
    let lead = if led > 0 { Some((led, prepare(g.lead(led)).await?)) } else { None };
    let alpha = if t.depth == Depth::Progressive { t.progressive_alpha as f32 } else { 1.0 };
    let train_sums = || sums(g, [at(slot::LOSS), at(slot::CORRECT), at(slot::SUPERVISED)]);
    let finish_program = |k: usize, led: usize, scale: f32, from_start: bool| {
        let (mut fwd, mut bwd) = g.finish(k, led, scale, from_start);
        fwd.extend(train_sums());
        fwd.append(&mut bwd);
        fwd
    };
    let mut finish = Vec::new();
    for k in 1..=stored_iterations(config) {
        for from_start in [false, true] {
            if from_start && !g.starts_from_input() {
                continue;
            }
            finish.push((k, from_start, prepare(finish_program(k, led, alpha, from_start)).await?));
        }
    }
    let full_depth =
        if alpha < 1.0 { Some(prepare(finish_program(m.loops, 0, 1.0 - alpha, true)).await?) } else { None };
    let grad_norm_sq = buffers.grad_norm_sq;
    let mut opt: Vec<Box<dyn Kernel>> = vec![
        Box::new(Reduce { x: grads, out: grad_norm_sq, op: Reduction::SumSquares, accumulate: false }),
        Box::new(Reduce { x: grad_norm_sq, out: at(slot::GRAD_NORM_SQ_SUM), op: Reduction::Sum, accumulate: true }),
        Box::new(AdamW {
            params: params.all(params.values),
            grads,
            m: params.all(params.adam_m),
            v: params.all(params.adam_v),
            step_info: buffers.step_info,
            grad_norm_sq,
            beta1: t.beta1 as f32,
            beta2: t.beta2 as f32,
            eps: 1e-8,
            weight_decay: t.weight_decay as f32,
            clip: t.grad_clip as f32,
            decay_len: params.decay_len,
        }),
    ];
    if let Some(ema) = params.ema {
        opt.push(Box::new(Ema { params: params.all(params.values), ema: params.all(ema), decay: t.ema as f32 }));
    }
    let optimize = prepare(opt).await?;
    let weight_norm = prepare(vec![Box::new(Reduce {
        x: params.all(params.values),
        out: at(slot::WEIGHT_NORM_SQ),
        op: Reduction::SumSquares,
        accumulate: false,
    })])
    .await?;
    Ok(StepPrograms {
        zero_grads,
        start_new,
        start_continue,
        iterate,
        lead,
        finish,
        full_depth,
        starts_from_input: g.starts_from_input(),
        optimize,
        weight_norm,
    })
}

/// Records each evaluation graph's programs: iterations `1..=depth`, each decoded and scored into its slots of
/// `eval_metrics` (loss, correct, supervised, exact, examples), at the training depth and, when deeper, at
/// `deepest`. `flags` holds each graph's per-example exact and has-target buffers.
pub(super) async fn record_evals(
    backend: &mut Backend,
    config: &LabConfig,
    graphs: &[Graph],
    flags: &[(Tensor, Tensor)],
    eval_metrics: Tensor,
    deepest: usize,
) -> Result<Vec<EvalProgram>, LabError> {
    let mut evals = Vec::new();
    for (graph, &(exact, has_target)) in graphs.iter().zip(flags) {
        let eval = |depths: usize| {
            let mut eval: Vec<Box<dyn Kernel>> = graph.start(true);
            for depth in 0..depths {
                eval.append(&mut graph.iterate());
                eval.append(&mut graph.decode());
                let slot_at = |i: usize| eval_metrics.slice((depth * slot::EVAL_LEN + i) * slot::STRIDE, 1);
                eval.extend(sums(graph, [slot_at(0), slot_at(1), slot_at(2)]));
                let (correct, supervised) = (graph.correct, graph.supervised);
                eval.push(Box::new(ExactMatch {
                    correct,
                    supervised,
                    exact,
                    has_target,
                    batch: graph.shape.batch,
                    seq: graph.shape.seq,
                }) as Box<dyn Kernel>);
                for (x, s) in [(exact, 3), (has_target, 4)] {
                    eval.push(Box::new(Reduce { x, out: slot_at(s), op: Reduction::Sum, accumulate: true }));
                }
            }
            eval
        };
        let depth = training_depth(config);
        let program = backend.prepare(eval(depth)).await?;
        let deep = if deepest > depth { Some(backend.prepare(eval(deepest)).await?) } else { None };
        evals.push(EvalProgram {
            seq: graph.shape.seq,
            grid: graph.shape.grid,
            inputs: GraphInputs::of(graph),
            program,
            deep,
        });
    }
    Ok(evals)
}

/// Kernels adding a graph's summed loss, correct count and supervised count into three metric slots.
fn sums(g: &Graph, slots: [Tensor; 3]) -> Vec<Box<dyn Kernel>> {
    [g.losses, g.correct, g.supervised]
        .into_iter()
        .zip(slots)
        .map(|(x, out)| Box::new(Reduce { x, out, op: Reduction::Sum, accumulate: true }) as Box<dyn Kernel>)
        .collect()
}
