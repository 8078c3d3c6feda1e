//! The programs of a transformer for one batch shape, as kernels over buffers planned up front.
//!
//! Every architecture is a *recurrence*: a few state tensors (`[rows, d]` each), how each starts, and the
//! *calls* of one iteration, each `state <- block(sum of some states and the input embedding)`. Feedforward
//! is one iteration of one call; looped is one call per iteration; TRM and HRM have `inner + 1` calls. States
//! persist in *home* buffers between programs, so a training step is composed of small programs recorded into
//! one submit (see `train`): `start` (embed, and reset the states for a new batch), `iterate` (one iteration
//! without gradient: activations live in scratch reused by every call), and `finish(k)` (the last k iterations
//! with their activations stored, the loss, and the backward through them only: truncated backprop). States
//! reached without gradient are constants to the backward (detached), which is also what separates the
//! segments of deep supervision.

use std::ops::Range;

mod layer;
mod memory;

use super::Params;
use crate::config::{Arch, ModelConfig, Norm};
use crate::ops::cross_entropy::CrossEntropy;
use crate::ops::elementwise::{Accumulate, Add, Broadcast, Copy, Fill};
use crate::ops::embedding::{EmbeddingBackward, EmbeddingForward};
use crate::ops::halting::{HaltBackward, HaltForward};
use crate::ops::matmul::{FoldSplits, Matmul, MatmulPath};
use crate::ops::reduce::ExactMatch;
use crate::program::{Kernel, MemoryPlan, Tensor, Use};
use layer::{map_len, plan_layer, plan_mix_scratch, LayerActs, Scratch};
use memory::{largest_window_rows, plan_block_scratch, plan_blocked, BlockScratch, Blocked};

const EPS: f32 = 1e-5;

type Kernels = Vec<Box<dyn Kernel>>;

/// Examples per batch, tokens per example and their `[height, width]` layout, vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub batch: usize,
    pub seq: usize,
    pub grid: [usize; 2],
    pub vocab: usize,
}

/// Where a call's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    State(usize),
    Input,
}

/// How a state starts for a new batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    Zero,
    Input,
    /// The i-th of the fixed random `init_states`.
    Random(usize),
}

/// `out <- block(sum of inputs)`, the block being layers `layers` (HRM's two blocks are two ranges).
#[derive(Clone, Debug)]
struct Call {
    layers: Range<usize>,
    inputs: Vec<Source>,
    out: usize,
}

#[derive(Clone, Debug)]
struct Recurrence {
    starts: Vec<Start>,
    /// The state the output head reads.
    answer: usize,
    /// The calls of one iteration, in order.
    calls: Vec<Call>,
}

fn recurrence(m: &ModelConfig) -> Recurrence {
    use Source::{Input, State};
    let block = 0..m.layers;
    match m.arch {
        Arch::Feedforward => Recurrence {
            starts: vec![Start::Input],
            answer: 0,
            calls: vec![Call { layers: block, inputs: vec![State(0)], out: 0 }],
        },
        // With injection h starts at 0 and every iteration reads h + x; without, h starts as x.
        Arch::Looped if m.injection => Recurrence {
            starts: vec![Start::Zero],
            answer: 0,
            calls: vec![Call { layers: block, inputs: vec![State(0), Input], out: 0 }],
        },
        Arch::Looped => Recurrence {
            starts: vec![Start::Input],
            answer: 0,
            calls: vec![Call { layers: block, inputs: vec![State(0)], out: 0 }],
        },
        // States: y = 0, z = 1. n times z <- net(x + y + z), then y <- net(y + z).
        Arch::Trm => {
            let mut calls =
                vec![Call { layers: block.clone(), inputs: vec![Input, State(0), State(1)], out: 1 }; m.inner];
            calls.push(Call { layers: block, inputs: vec![State(0), State(1)], out: 0 });
            Recurrence { starts: vec![Start::Random(0), Start::Random(1)], answer: 0, calls }
        }
        // States: zH = 0, zL = 1. T times zL <- L(zL + zH + x), then zH <- H(zH + zL).
        Arch::Hrm => {
            let mut calls = vec![Call { layers: block, inputs: vec![State(1), State(0), Input], out: 1 }; m.inner];
            calls.push(Call { layers: m.layers..2 * m.layers, inputs: vec![State(0), State(1)], out: 0 });
            Recurrence { starts: vec![Start::Random(0), Start::Random(1)], answer: 0, calls }
        }
    }
}

/// Activations of one call: its summed input and each layer's, or with `model.block` its block-wise windows.
#[derive(Clone, Debug)]
struct CallActs {
    input: Tensor,
    layers: Vec<LayerActs>,
    blocked: Option<Blocked>,
}

impl CallActs {
    fn output(&self) -> Tensor {
        match &self.blocked {
            Some(bl) => bl.output(),
            None => self.layers.last().expect("a block has layers").h_out,
        }
    }

    fn layer_outputs(&self) -> Vec<Tensor> {
        match &self.blocked {
            Some(bl) => bl.outputs().to_vec(),
            None => self.layers.iter().map(|l| l.h_out).collect(),
        }
    }

    /// Each layer's attention, for its map (block-wise: the last block's windows).
    fn maps(&self) -> Vec<AttentionMap> {
        let layers = match &self.blocked {
            Some(bl) => bl.last_windows(),
            None => &self.layers,
        };
        layers.iter().map(|&acts| AttentionMap(acts)).collect()
    }
}

pub struct Graph {
    pub shape: Shape,
    pub rows: usize,
    pub tokens: Tensor,
    pub targets: Tensor,
    pub logits: Tensor,
    pub losses: Tensor,
    pub correct: Tensor,
    pub supervised: Tensor,
    /// Iterations `finish` can run with stored activations.
    pub stored_iterations: usize,
    /// Score with stablemax instead of softmax (set before recording programs).
    pub stablemax: bool,
    m: ModelConfig,
    p: Params,
    path: MatmulPath,
    rec: Recurrence,
    emb: Tensor,
    homes: Vec<Tensor>,
    /// No-gradient activations, one set per block (keyed by its first layer).
    scratch: Vec<(usize, CallActs)>,
    /// Stored activations of `stored_iterations` iterations of calls.
    stored: Vec<CallActs>,
    final_out: Tensor,
    final_rstd: Tensor,
    d_logits: Tensor,
    count: Tensor,
    halt: Option<HaltBuffers>,
    grads: Option<Scratch>,
    /// The block-wise backward's buffers (`model.block` with a backward).
    blocks: Option<BlockScratch>,
}

/// The halting head's per-example buffers: its target (exact match now), logit, loss and logit gradient.
struct HaltBuffers {
    exact: Tensor,
    has_target: Tensor,
    q: Tensor,
    losses: Tensor,
    d_q: Tensor,
}

/// Where one call of `finish`'s stored iterations left its activations (for probes): its iteration and index
/// within the iteration, the state it wrote, and each layer's output (the last is the new state) and
/// attention, whose dense map `Graph::attention_map` computes on request.
#[derive(Clone, Debug)]
pub struct CallRecord {
    pub iteration: usize,
    pub call: usize,
    pub state: usize,
    pub layer_outputs: Vec<Tensor>,
    pub maps: Vec<AttentionMap>,
}

/// One stored layer application's attention: what its dense map is computed from.
#[derive(Clone, Copy, Debug)]
pub struct AttentionMap(LayerActs);

/// Allocates buffers under a prefix.
/// The most elements the split-K copies of the weight gradients may take (64 MiB): a larger model splits its
/// weight gradients into fewer slices (its products have more tiles to spread over anyway).
const MAX_PARTS: usize = 1 << 24;

/// Elements between two split-K copies of the weight gradients: the matrices and embeddings of the parameter
/// layout (`[0, decay_len)`, every product's gradient), aligned so each copy's views can be bound.
pub(super) fn parts_stride(p: &Params) -> usize {
    p.decay_len.next_multiple_of(crate::program::VIEW_ALIGN).max(crate::program::VIEW_ALIGN)
}

struct Planner<'a> {
    plan: &'a mut MemoryPlan,
    prefix: String,
}

impl Planner<'_> {
    fn buf(&mut self, name: &str, len: usize) -> Tensor {
        self.plan.buffer(format!("{}.{name}", self.prefix), len)
    }

    /// Plans with `f` under another use (a training graph's temporaries count as scratch).
    fn holding<R>(&mut self, holds: Use, f: impl FnOnce(&mut Self) -> R) -> R {
        let outer = self.plan.set_use(holds);
        let r = f(self);
        self.plan.set_use(outer);
        r
    }
}

impl Graph {
    #[allow(clippy::too_many_arguments)]
    /// Plans the buffers for `shape`, with activations stored for up to `stored_iterations` iterations (0 for
    /// evaluation) and, when `with_backward`, the backward's scratch. Buffers count under the plan's current use;
    /// a training graph's reused temporaries (no-gradient iterations, the backward's) count as scratch.
    pub fn plan(
        plan: &mut MemoryPlan,
        m: &ModelConfig,
        p: &Params,
        shape: Shape,
        stored_iterations: usize,
        with_backward: bool,
        path: MatmulPath,
        prefix: &str,
    ) -> Graph {
        let rows = shape.batch * shape.seq;
        let d = m.d_model;
        let rec = recurrence(m);
        let mut b = Planner { plan, prefix: prefix.to_string() };
        let temporaries = if with_backward { Use::Scratch } else { b.plan.current_use() };
        let tokens = b.buf("tokens", rows);
        let targets = b.buf("targets", rows);
        let emb = b.buf("emb", rows * d);
        let homes = (0..rec.starts.len()).map(|s| b.buf(&format!("state{s}"), rows * d)).collect();
        let call_acts = |b: &mut Planner, tag: &str, layers: Range<usize>, stored: bool| {
            let input = b.buf(&format!("{tag}.in"), rows * d);
            if m.block > 0 {
                return CallActs {
                    input,
                    layers: Vec::new(),
                    blocked: Some(plan_blocked(b, m, shape, tag, layers, stored)),
                };
            }
            let mut h = input;
            let mut acts = Vec::new();
            for l in layers {
                let a = plan_layer(b, m, shape, l, &format!("{tag}.l{l}"), h);
                h = a.h_out;
                acts.push(a);
            }
            CallActs { input, layers: acts, blocked: None }
        };
        let mut scratch: Vec<(usize, CallActs)> = Vec::new();
        for call in &rec.calls {
            if !scratch.iter().any(|(first, _)| *first == call.layers.start) {
                let tag = format!("scratch{}", call.layers.start);
                let acts = b.holding(temporaries, |b| call_acts(b, &tag, call.layers.clone(), false));
                scratch.push((call.layers.start, acts));
            }
        }
        let per_iteration = rec.calls.len();
        let stored = (0..stored_iterations * per_iteration)
            .map(|i| {
                call_acts(
                    &mut b,
                    &format!("it{}.c{}", i / per_iteration, i % per_iteration),
                    rec.calls[i % per_iteration].layers.clone(),
                    true,
                )
            })
            .collect();
        let final_out = b.buf("final", rows * d);
        let final_rstd = b.buf("final_rstd", rows);
        let logits = b.buf("logits", rows * shape.vocab);
        let losses = b.buf("losses", rows);
        let correct = b.buf("correct", rows);
        let supervised = b.buf("supervised", rows);
        let count = b.buf("count", 1);
        let d_logits = b.buf("d_logits", rows * shape.vocab);
        let halt = p.halt.map(|_| HaltBuffers {
            exact: b.buf("halt.exact", shape.batch),
            has_target: b.buf("halt.has_target", shape.batch),
            q: b.buf("halt.q", shape.batch),
            losses: b.buf("halt.losses", shape.batch),
            d_q: b.buf("halt.d_q", shape.batch),
        });
        let (grads, blocks) = b.holding(temporaries, |b| {
            let grads = with_backward.then(|| {
                let d_emb = b.buf("d_emb", rows * d);
                let d_final = b.buf("d_final", rows * d);
                // Token-MLP weight gradients reduce over batch * d channel rows, the others over the tokens.
                let splits = Matmul::splits(rows.max(shape.batch * d).max(largest_window_rows(m, shape)));
                let copies = splits.min((MAX_PARTS / parts_stride(p)).max(1));
                let parts = if copies > 1 { copies * parts_stride(p) } else { 0 };
                let wgrad_parts = b.buf("wgrad_parts", parts);
                Scratch {
                    mix: plan_mix_scratch(b, m, shape),
                    d_states: (0..rec.starts.len()).map(|s| b.buf(&format!("d_state{s}"), rows * d)).collect(),
                    ..Scratch::plan(b, "", m, shape, d_emb, d_final, wgrad_parts)
                }
            });
            let blocks = grads.as_ref().filter(|_| m.block > 0).map(|s| plan_block_scratch(b, m, shape, m.layers, s));
            (grads, blocks)
        });
        Graph {
            shape,
            rows,
            tokens,
            targets,
            logits,
            losses,
            correct,
            supervised,
            stored_iterations,
            stablemax: false,
            m: m.clone(),
            p: p.clone(),
            path,
            rec,
            emb,
            homes,
            scratch,
            stored,
            final_out,
            final_rstd,
            d_logits,
            count,
            halt,
            grads,
            blocks,
        }
    }

    /// Whether some state starts as the input embedding (so a backward reaching the start flows into it).
    pub fn starts_from_input(&self) -> bool {
        self.rec.starts.contains(&Start::Input)
    }

    /// Embeds the batch and, for a new batch (`reset`), sets every state to its start.
    pub fn start(&self, reset: bool) -> Kernels {
        let mut ks: Kernels = vec![Box::new(EmbeddingForward {
            tokens: self.tokens,
            table: self.p.tok_emb,
            positions: self.p.pos_emb,
            out: self.emb,
            rows: self.rows,
            vocab: self.shape.vocab,
            seq: self.shape.seq,
            d: self.m.d_model,
        })];
        if reset {
            for (&start, &home) in self.rec.starts.iter().zip(&self.homes) {
                ks.push(match start {
                    Start::Zero => Box::new(Fill { out: home, value: 0.0 }),
                    Start::Input => Box::new(Copy { x: self.emb, out: home }),
                    Start::Random(i) => Box::new(Broadcast { x: self.p.init_states[i], out: home }),
                });
            }
        }
        ks
    }

    /// The halting head's logit per example after the last `head` (a `decode` or `finish`), with halting.
    pub fn halt_logits(&self) -> Option<Tensor> {
        self.halt.as_ref().map(|h| h.q)
    }

    /// The halting head's binary cross-entropy per example (0 without a target), with halting.
    pub fn halt_losses(&self) -> Option<Tensor> {
        self.halt.as_ref().map(|h| h.losses)
    }

    /// The state the output head reads, among `states()` recurrent states.
    pub fn answer_state(&self) -> usize {
        self.rec.answer
    }

    pub fn states(&self) -> usize {
        self.rec.starts.len()
    }

    /// The home buffer of recurrent state `state` (`[rows, d]`): where `start` puts its initial value and
    /// where every program leaves it. Probes read the final state here and overwrite the initial one (path
    /// independence: the same loop started from a perturbed state).
    pub fn home(&self, state: usize) -> Tensor {
        self.homes[state]
    }

    /// The activations `finish(k, 0, ..)` leaves for each of its calls, in order.
    pub fn recorded_calls(&self, k: usize) -> Vec<CallRecord> {
        let per_iteration = self.rec.calls.len();
        (0..k * per_iteration)
            .map(|i| CallRecord {
                iteration: i / per_iteration,
                call: i % per_iteration,
                state: self.rec.calls[i % per_iteration].out,
                layer_outputs: self.stored[i].layer_outputs(),
                maps: self.stored[i].maps(),
            })
            .collect()
    }

    /// Elements of the dense attention map of `map`, `[batch, heads, seq, keys]` (keys = seq for global
    /// attention, the window for local; block-wise, seq is the window's rows).
    pub fn attention_map_len(&self, map: &AttentionMap) -> usize {
        map_len(&self.m, map.0.shape)
    }

    /// A kernel writing the dense map of `map` (from `recorded_calls`, after `finish` ran) into `probs`, of
    /// `attention_map_len(map)` elements: probabilities are stored nowhere else.
    pub fn attention_map(&self, map: &AttentionMap, probs: Tensor) -> Box<dyn Kernel> {
        self.layer_attention_map(&map.0, probs)
    }

    /// Calls of one iteration.
    pub fn calls_per_iteration(&self) -> usize {
        self.rec.calls.len()
    }

    /// One iteration without gradient, from the home states back into them.
    pub fn iterate(&self) -> Kernels {
        self.lead(self.rec.calls.len())
    }

    /// The first `calls` calls of an iteration without gradient (HRM's one-step gradient runs all but the
    /// last L step and the H step this way before `finish`).
    pub fn lead(&self, calls: usize) -> Kernels {
        let mut ks = Vec::new();
        let mut at = self.homes.clone();
        for call in &self.rec.calls[..calls] {
            self.call_without_grad(call, &mut at, &mut ks);
        }
        ks
    }

    fn call_without_grad(&self, call: &Call, at: &mut [Tensor], ks: &mut Kernels) {
        let acts = &self.scratch.iter().find(|(first, _)| *first == call.layers.start).expect("planned").1;
        self.call_forward(call, acts, at, ks);
        ks.push(Box::new(Copy { x: acts.output(), out: self.homes[call.out] }));
        at[call.out] = self.homes[call.out];
    }

    /// What the output head reads: the final norm of the state (pre-norm), or the state itself.
    fn head_input(&self, state: Tensor) -> Tensor {
        if self.m.norm == Norm::Pre {
            self.final_out
        } else {
            state
        }
    }

    /// Decodes `state` with the output head into `logits`, and scores it: `losses`, `correct`, `supervised`,
    /// and `d_logits` scaled by `loss_scale`; with halting, the halting head's logit and loss too.
    fn head(&self, state: Tensor, loss_scale: f32, ks: &mut Kernels) {
        let (d, vocab) = (self.m.d_model, self.shape.vocab);
        // Pre-norm: the final norm runs inside the head's product.
        ks.push(if self.m.norm == Norm::Pre {
            let norm = self.norm_input(self.p.final_norm, self.final_out, self.final_rstd);
            self.normed_linear(state, norm, self.p.head, self.logits, d, vocab)
        } else {
            self.linear(state, self.p.head, self.logits, d, vocab, None)
        });
        ks.push(Box::new(CrossEntropy {
            logits: self.logits,
            targets: self.targets,
            d_logits: self.d_logits,
            losses: self.losses,
            correct: self.correct,
            supervised: self.supervised,
            count: self.count,
            rows: self.rows,
            vocab,
            stablemax: self.stablemax,
            scale: loss_scale,
        }));
        if let (Some(h), Some((weight, bias))) = (&self.halt, self.p.halt) {
            let Shape { batch, seq, .. } = self.shape;
            ks.push(Box::new(ExactMatch {
                correct: self.correct,
                supervised: self.supervised,
                exact: h.exact,
                has_target: h.has_target,
                batch,
                seq,
            }));
            ks.push(Box::new(HaltForward {
                x: self.head_input(state),
                weight,
                bias,
                exact: h.exact,
                has_target: h.has_target,
                q: h.q,
                losses: h.losses,
                d_q: h.d_q,
                batch,
                seq,
                d,
                scale: loss_scale,
            }));
        }
    }

    /// The halting head's backward into `d_input` (the gradient of what the output head read).
    fn halt_backward(&self, input: Tensor, d_input: Tensor, ks: &mut Kernels) {
        if let (Some(h), Some((weight, bias))) = (&self.halt, self.p.halt) {
            let Shape { batch, seq, .. } = self.shape;
            ks.push(Box::new(HaltBackward {
                x: input,
                weight,
                d_q: h.d_q,
                d_x: d_input,
                d_weight: self.grad(weight),
                d_bias: self.grad(bias),
                batch,
                seq,
                d: self.m.d_model,
            }));
        }
    }

    /// The output head on the answer state as it is at home (evaluation after each iteration).
    pub fn decode(&self) -> Kernels {
        let mut ks = Vec::new();
        self.head(self.homes[self.rec.answer], 1.0, &mut ks);
        ks
    }

    /// The rest of `k` iterations with stored activations (the first `led` calls ran before, by `lead`), the
    /// loss (its gradient scaled by `loss_scale`) and, when planned, the backward through them; the states end
    /// at home. `from_start`: the states at home are the starts of this batch (nothing ran since
    /// `start(true)`), so a state that started as the input embedding passes its gradient on to it.
    pub fn finish(&self, k: usize, led: usize, loss_scale: f32, from_start: bool) -> (Kernels, Kernels) {
        assert!(k >= 1 && k <= self.stored_iterations, "finish: {k} iterations, {} stored", self.stored_iterations);
        let per_iteration = self.rec.calls.len();
        assert!(led < per_iteration, "finish: {led} calls led of {per_iteration}");
        let mut fwd = Vec::new();
        let mut at = self.homes.clone();
        let mut stored_calls = Vec::new();
        for i in led..k * per_iteration {
            let call = &self.rec.calls[i % per_iteration];
            let acts = &self.stored[i];
            self.call_forward(call, acts, &at, &mut fwd);
            at[call.out] = acts.output();
            stored_calls.push((call, acts));
        }
        let answer = at[self.rec.answer];
        self.head(answer, loss_scale, &mut fwd);
        for (&now, &home) in at.iter().zip(&self.homes) {
            if now != home {
                fwd.push(Box::new(Copy { x: now, out: home }));
            }
        }
        let Some(s) = &self.grads else { return (fwd, Vec::new()) };
        let mut bwd: Kernels = Vec::new();
        let (d, vocab) = (self.m.d_model, self.shape.vocab);
        let answer_grad = s.d_states[self.rec.answer];
        if self.m.norm == Norm::Pre {
            self.linear_backward(self.final_out, self.p.head, self.d_logits, s.d_final, d, vocab, false, &mut bwd);
            self.halt_backward(self.final_out, s.d_final, &mut bwd);
            bwd.push(self.norm_backward(answer, self.p.final_norm, self.final_rstd, s.d_final, answer_grad, false));
        } else {
            self.linear_backward(answer, self.p.head, self.d_logits, answer_grad, d, vocab, false, &mut bwd);
            self.halt_backward(answer, answer_grad, &mut bwd);
        }
        for (i, &g) in s.d_states.iter().enumerate() {
            if i != self.rec.answer {
                bwd.push(Box::new(Fill { out: g, value: 0.0 }));
            }
        }
        bwd.push(Box::new(Fill { out: s.d_emb, value: 0.0 }));
        // The state whose gradient is in s.dh rather than in its d_states buffer: a call whose output state is
        // also a summand leaves that gradient there, and the call before it (the same state, in a looped
        // model) picks it up without a copy either way.
        let mut in_dh: Option<usize> = None;
        for (call, acts) in stored_calls.iter().rev() {
            match in_dh.take() {
                Some(i) if i == call.out => {}
                held => {
                    if let Some(i) = held {
                        bwd.push(Box::new(Copy { x: s.dh, out: s.d_states[i] }));
                    }
                    bwd.push(Box::new(Copy { x: s.d_states[call.out], out: s.dh }));
                }
            }
            match &acts.blocked {
                Some(bl) => self.blocked_backward(bl, s, &mut bwd),
                None => acts.layers.iter().rev().for_each(|layer| self.layer_backward(layer, s, &mut bwd)),
            }
            // s.dh is now the gradient of the summed input: each summand gets it. The state's earlier version
            // only matters if it was one of them.
            if !call.inputs.contains(&Source::State(call.out)) {
                bwd.push(Box::new(Fill { out: s.d_states[call.out], value: 0.0 }));
            }
            for &source in &call.inputs {
                let out = match source {
                    Source::State(i) if i == call.out => {
                        in_dh = Some(i);
                        continue;
                    }
                    Source::State(i) => s.d_states[i],
                    Source::Input => s.d_emb,
                };
                bwd.push(Box::new(Accumulate { x: s.dh, out, scale: 1.0 }));
            }
        }
        if from_start && led == 0 {
            for (i, (&start, &g)) in self.rec.starts.iter().zip(&s.d_states).enumerate() {
                if start == Start::Input {
                    let x = if in_dh == Some(i) { s.dh } else { g };
                    bwd.push(Box::new(Accumulate { x, out: s.d_emb, scale: 1.0 }));
                }
            }
        }
        bwd.push(Box::new(EmbeddingBackward {
            tokens: self.tokens,
            d_out: s.d_emb,
            d_table: self.p.tok_emb.in_buf(self.p.grads),
            d_positions: self.p.pos_emb.map(|t| t.in_buf(self.p.grads)),
            rows: self.rows,
            vocab,
            seq: self.shape.seq,
            d,
        }));
        let (stride, copies) = (parts_stride(&self.p), s.wgrad_parts.len / parts_stride(&self.p));
        if copies > 1 {
            let out = Tensor { buf: self.p.grads, offset: 0, len: self.p.decay_len };
            bwd.push(Box::new(FoldSplits { parts: s.wgrad_parts, out, stride, copies }));
        }
        (fwd, bwd)
    }

    /// Sums the call's sources into its input buffer, then runs its layers.
    fn call_forward(&self, call: &Call, acts: &CallActs, at: &[Tensor], ks: &mut Kernels) {
        let source = |s: Source| match s {
            Source::State(i) => at[i],
            Source::Input => self.emb,
        };
        let mut sources = call.inputs.iter().map(|&s| source(s));
        let first = sources.next().expect("a call has inputs");
        match sources.next() {
            None => ks.push(Box::new(Copy { x: first, out: acts.input })),
            Some(second) => ks.push(Box::new(Add { a: first, b: second, out: acts.input })),
        }
        for x in sources {
            ks.push(Box::new(Accumulate { x, out: acts.input, scale: 1.0 }));
        }
        match &acts.blocked {
            Some(bl) => self.blocked_forward(acts.input, bl, ks),
            None => acts.layers.iter().for_each(|layer| self.layer_forward(layer, ks)),
        }
    }
}
