//! The whole configuration of a run as one serde struct. Presets name starting points; `key=value`
//! overrides (CLI `--set`, the page's URL hash) address fields by dotted path, and every value is validated
//! with a message naming the key and what is allowed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::LabError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabConfig {
    pub seed: u64,
    pub task: TaskConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Modular,
    /// Random tokens and targets of a given vocabulary and length: a shape to benchmark, nothing to learn.
    Random,
    /// Sudoku puzzles of side `task.size` (src/tasks/sudoku.rs).
    Sudoku,
    /// Shortest path through a grid maze (see `tasks::maze`).
    Maze,
    /// Prefix-sum parity of `task.size` bits, tested on `task.test_size` bits (see `tasks::prefix_sums`).
    #[serde(rename = "prefix-sums")]
    PrefixSums,
    /// The `task.hops`-th successor in a permutation of `task.size` nodes given as pairs (see `tasks::pointer_chasing`).
    #[serde(rename = "pointer-chasing")]
    PointerChasing,
    /// Two-hop / k-hop composition over a synthetic knowledge graph (see `tasks::composition`).
    Composition,
    /// A passkey at distance D before a query (`task.size` passkeys, `task.seq_len` tokens; see `tasks::passkey`).
    Passkey,
    /// Multi-armed bandit histories of a teacher algorithm, for in-context learning (see `tasks::bandit`).
    Bandit,
    /// Multi-digit addition on a 3-row grid, 1..`task.size` digits for training, up to `task.test_size` for test
    /// (see `tasks::addition`; `looplab self-improve`).
    Addition,
    /// `a x b` of `task.size`- and `task.size_b`-digit numbers, with each answer digit's computation graph (see
    /// `tasks::multiplication`; `looplab audit`).
    Multiplication,
}

/// Which end of a number comes first (left) in a task's layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigitOrder {
    /// Least significant digit first: the carry flows left to right.
    #[default]
    Reverse,
    /// Most significant digit first, as numbers are written: the carry flows right to left.
    Forward,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModOp {
    #[serde(rename = "+")]
    Add,
    #[serde(rename = "-")]
    Sub,
    #[serde(rename = "*")]
    Mul,
    #[serde(rename = "/")]
    Div,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    pub kind: TaskKind,
    /// Modulus of `a op b = c (mod p)`.
    pub p: usize,
    pub op: ModOp,
    /// Share of all (a, b) pairs used for training; the rest is the test split.
    pub train_fraction: f64,
    /// Random task only: vocabulary size, sequence length and number of examples (bandit: `seq_len` is the
    /// episode's steps, `examples` its training tasks).
    pub vocab: usize,
    pub seq_len: usize,
    pub examples: usize,
    /// Sudoku and maze: board side (Sudoku 4, 6 or 9; maze cells per side of the training mazes); bandit: arms.
    #[serde(default)]
    pub size: usize,
    /// Sudoku: givens per puzzle (0 = minimal).
    #[serde(default)]
    pub givens: usize,
    /// Maze: cells per side of the test mazes; 0 means `size`.
    #[serde(default)]
    pub test_size: usize,
    /// Sudoku, maze and others: number of test examples (`examples` is the training count; bandit: test tasks).
    #[serde(default)]
    pub test_examples: usize,
    /// Maze: share of the backtracker's remaining interior walls removed to create loops; 0 gives perfect mazes.
    #[serde(default)]
    pub maze_loops: f64,
    /// Composition: entities, relations, inferred facts per ID atomic fact in training (phi), and share of atomic
    /// facts held out as OOD.
    #[serde(default)]
    pub entities: usize,
    #[serde(default)]
    pub relations: usize,
    #[serde(default)]
    pub phi: f64,
    #[serde(default)]
    pub ood_fraction: f64,
    /// Composition: hops per inferred fact; pointer chasing: successor steps k of the answer pi^k(start).
    #[serde(default)]
    pub hops: usize,
    /// Addition: digit order of the operands and the answer.
    #[serde(default)]
    pub order: DigitOrder,
    /// Multiplication: digits of the second operand b (0 = `size`).
    #[serde(default)]
    pub size_b: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// `layers` distinct layers, run once.
    Feedforward,
    /// A block of `layers` layers with shared weights, run `loops` times.
    Looped,
    /// Tiny Recursive Model: one block of `layers` layers updates a latent z `inner` times from (x, y, z), then
    /// the answer y from (y, z); that is one of `loops` iterations. The head reads y.
    Trm,
    /// Hierarchical Reasoning Model: a fast L block (`layers` layers) runs `inner` steps on (zL, zH, x), then a
    /// slow H block (another `layers` layers) updates zH from (zH, zL); that is one of `loops` cycles. The head
    /// reads zH.
    Hrm,
}

/// How tokens mix across positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    /// Every token attends to every token.
    #[default]
    Global,
    /// Each token attends to its neighbours within `model.radius` on the task's grid (1-D for sequences), with a
    /// learned bias per relative offset: nothing depends on the input size.
    Local,
}

/// What mixes information across tokens in each layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mixer {
    /// Multi-head attention (global or local, `model.attention`).
    #[default]
    Attention,
    /// An MLP across the tokens of each channel (TRM's MLP-mixer variant): weights per position, so every
    /// input has one length.
    Mlp,
}

/// Where position information comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    /// A learned embedding per absolute position (inputs of other sizes are padded to one length).
    #[default]
    Learned,
    /// None beyond local attention's relative bias: the model runs on any input size.
    None,
}

/// How many iterations a training step runs, and through how many the gradient flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Depth {
    /// Always `model.loops` iterations.
    #[default]
    Fixed,
    /// Per step, T ~ Poisson(lambda) with lambda log-normal around `model.loops` (Huginn), clamped to
    /// 1..=2*loops; the gradient flows through the last `train.backprop` of them.
    Random,
    /// DeepThinking's progressive loss: n ~ U[0, loops) iterations without gradient, then k ~ U[1, loops-n]
    /// with gradient; the loss is (1-alpha)*L(loops iterations) + alpha*L(n+k).
    Progressive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mlp {
    Swiglu,
    Gelu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// `h + f(norm(h))`, with a final norm before the output head.
    Pre,
    /// `norm(h + f(h))`.
    Post,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub arch: Arch,
    pub d_model: usize,
    pub heads: usize,
    /// Layers of the feedforward stack, or of the looped block.
    pub layers: usize,
    /// Iterations of the looped block (feedforward: must be 1).
    pub loops: usize,
    pub mlp: Mlp,
    pub mlp_hidden: usize,
    pub norm: Norm,
    /// Learned scale in the RMSNorms.
    pub norm_scale: bool,
    /// Add the input embedding to the state at every iteration (DeepThinking's recall).
    pub injection: bool,
    /// Zero-initialise the attention and MLP output projections so each block starts as the identity.
    pub zero_init: bool,
    pub causal: bool,
    /// TRM: latent updates per iteration (n); HRM: L steps per H step (T).
    #[serde(default)]
    pub inner: usize,
    #[serde(default)]
    pub attention: Attention,
    /// Local attention: neighbours up to this many cells away in each direction.
    #[serde(default)]
    pub radius: usize,
    #[serde(default)]
    pub positions: Positions,
    /// ACT: a halting head on the answer state's first token, trained to predict that the current answer is
    /// exactly right; at test time an example may stop once it says so (`eval --exit-halt`, `solve`).
    #[serde(default)]
    pub halting: bool,
    #[serde(default)]
    pub mixer: Mixer,
    /// Block-wise processing (feedforward only): the sequence is cut into blocks of this many tokens and each
    /// layer runs on one block at a time, attending within [memory; previous block; block]. 0 = off.
    #[serde(default)]
    pub block: usize,
    /// TransformerFAM's feedback memory (with `block`): this many memory vectors per layer, carried from block
    /// to block by the same weights. 0 = none: block sliding-window attention.
    #[serde(default)]
    pub memory: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    Cosine,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub steps: u64,
    /// Examples per step; 0 means the whole training split (full batch).
    pub batch_size: usize,
    pub lr: f64,
    pub warmup: u64,
    pub schedule: Schedule,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    /// Global gradient-norm clip; 0 disables it.
    pub grad_clip: f64,
    /// Evaluate train and test accuracy (and read metrics back) every this many steps.
    pub eval_every: u64,
    /// Decay of the weight EMA used for evaluation; 0 disables it.
    pub ema: f64,
    #[serde(default)]
    pub depth: Depth,
    /// Iterations the gradient flows through, the last ones of a step (0 = all; truncated backprop).
    #[serde(default)]
    pub backprop: usize,
    /// Progressive depth: weight of the progressive loss (1 = only it; below 1 adds the full-depth loss).
    #[serde(default = "one")]
    pub progressive_alpha: f64,
    /// Deep supervision: optimizer steps per batch, each a segment of `model.loops` iterations continuing from
    /// the previous segment's state (detached). 1 = off.
    #[serde(default = "one_usize")]
    pub segments: usize,
    /// Stablemax instead of softmax in the cross-entropy (HRM).
    #[serde(default)]
    pub stablemax: bool,
}

fn one() -> f64 {
    1.0
}

fn one_usize() -> usize {
    1
}

mod presets;
pub use presets::{Preset, PRESETS};

pub fn preset(name: &str) -> Result<LabConfig, LabError> {
    PRESETS.iter().find(|p| p.name == name).map(|p| (p.config)()).ok_or_else(|| LabError::UnknownPreset {
        name: name.to_string(),
        known: PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
    })
}

impl LabConfig {
    /// A preset with `key=value` overrides applied, validated.
    pub fn from_preset(name: &str, overrides: &[String]) -> Result<LabConfig, LabError> {
        let mut config = preset(name)?;
        for o in overrides {
            config.set(o)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Applies one `dotted.key=value`, parsing the value as the type the key already has.
    pub fn set(&mut self, assignment: &str) -> Result<(), LabError> {
        let (key, raw) = assignment
            .split_once('=')
            .ok_or_else(|| LabError::Usage(format!("expected key=value, got {assignment:?} (e.g. task.p=23)")))?;
        let (key, raw) = (key.trim(), raw.trim());
        let mut root = serde_json::to_value(&*self).expect("config serializes");
        let mut node = &mut root;
        let mut path = String::new();
        for part in key.split('.') {
            let obj = node.as_object_mut().ok_or_else(|| unknown(key, &path, &Value::Null))?;
            let known = Value::Object(obj.clone());
            if !obj.contains_key(part) {
                return Err(unknown(key, &path, &known));
            }
            node = obj.get_mut(part).expect("checked");
            path = if path.is_empty() { part.to_string() } else { format!("{path}.{part}") };
        }
        *node = match node {
            Value::Bool(_) => match raw {
                "true" | "1" | "on" => Value::Bool(true),
                "false" | "0" | "off" => Value::Bool(false),
                _ => return Err(LabError::invalid(key, raw, "true or false")),
            },
            Value::Number(n) if n.is_u64() => {
                Value::from(raw.parse::<u64>().map_err(|_| LabError::invalid(key, raw, "a whole number >= 0"))?)
            }
            Value::Number(_) => {
                let x = raw.parse::<f64>().ok().filter(|x| x.is_finite());
                Value::from(x.ok_or_else(|| LabError::invalid(key, raw, "a finite number"))?)
            }
            Value::String(_) => Value::String(raw.to_string()),
            Value::Object(_) => {
                return Err(LabError::invalid(key, raw, format!("one of its fields, e.g. {key}.<field>=...")))
            }
            _ => unreachable!("config holds no null or array"),
        };
        *self =
            serde_json::from_value(root).map_err(|e| LabError::invalid(key, raw, allowed_for(key, &e.to_string())))?;
        Ok(())
    }

    /// Parses a whole config from JSON (a checkpoint's metadata, a saved run), then validates it.
    pub fn from_json(text: &str) -> Result<LabConfig, LabError> {
        let config: LabConfig =
            serde_json::from_str(text).map_err(|e| LabError::Usage(format!("invalid config JSON: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// The preset this config differs from in the fewest keys (one of its task kind where there is one), and
    /// those keys as `key=value` overrides: `from_preset(name, &overrides)` gives the config back.
    pub fn closest_preset(&self) -> (&'static str, Vec<String>) {
        let leaves = flatten(&serde_json::to_value(self).expect("config serializes"));
        let differing = |p: &Preset| -> Vec<String> {
            let theirs = flatten(&serde_json::to_value((p.config)()).expect("config serializes"));
            leaves
                .iter()
                .filter(|(key, value)| theirs.iter().find(|(k, _)| k == key).map(|(_, v)| v) != Some(value))
                .map(|(key, value)| match value {
                    Value::String(s) => format!("{key}={s}"),
                    other => format!("{key}={other}"),
                })
                .collect()
        };
        let same_task = |p: &&Preset| (p.config)().task.kind == self.task.kind;
        let candidates: Vec<&Preset> = match PRESETS.iter().filter(same_task).count() {
            0 => PRESETS.iter().collect(),
            _ => PRESETS.iter().filter(same_task).collect(),
        };
        let best = candidates.into_iter().min_by_key(|p| differing(p).len()).expect("there are presets");
        (best.name, differing(best))
    }

    pub fn validate(&self) -> Result<(), LabError> {
        let (t, m, tr) = (&self.task, &self.model, &self.train);
        match t.kind {
            TaskKind::Modular => validate_modular(t)?,
            TaskKind::Random => {
                range("task.vocab", t.vocab as f64, 2.0, 65536.0)?;
                range("task.seq_len", t.seq_len as f64, 1.0, 4096.0)?;
                range("task.examples", t.examples as f64, 2.0, 1e7)?;
            }
            TaskKind::Sudoku => crate::tasks::sudoku::validate(t)?,
            TaskKind::Maze => crate::tasks::maze::validate(t)?,
            TaskKind::PrefixSums => crate::tasks::prefix_sums::validate(t)?,
            TaskKind::PointerChasing => crate::tasks::pointer_chasing::validate(t)?,
            TaskKind::Composition => crate::tasks::composition::validate(t, self.seed)?,
            TaskKind::Passkey => crate::tasks::passkey::validate(t)?,
            TaskKind::Bandit => crate::tasks::bandit::validate(t)?,
            TaskKind::Addition => crate::tasks::addition::validate(t)?,
            TaskKind::Multiplication => crate::tasks::multiplication::validate(t)?,
        }
        range("model.d_model", m.d_model as f64, 1.0, 2048.0)?;
        range("model.heads", m.heads as f64, 1.0, 64.0)?;
        if m.d_model % m.heads != 0 {
            return Err(LabError::invalid(
                "model.heads",
                m.heads,
                format!("a divisor of model.d_model ({})", m.d_model),
            ));
        }
        range("model.layers", m.layers as f64, 1.0, 64.0)?;
        range("model.loops", m.loops as f64, 1.0, 256.0)?;
        if m.arch == Arch::Feedforward && m.loops != 1 {
            return Err(LabError::invalid(
                "model.loops",
                m.loops,
                "1 for model.arch=feedforward (use model.arch=looped to iterate)",
            ));
        }
        validate_recurrence(m, tr)?;
        range("model.mlp_hidden", m.mlp_hidden as f64, 1.0, 16384.0)?;
        range("train.steps", tr.steps as f64, 1.0, 1e9)?;
        range("train.lr", tr.lr, 1e-7, 10.0)?;
        range("train.weight_decay", tr.weight_decay, 0.0, 100.0)?;
        range("train.beta1", tr.beta1, 0.0, 0.999999)?;
        range("train.beta2", tr.beta2, 0.0, 0.999999)?;
        range("train.grad_clip", tr.grad_clip, 0.0, 1e6)?;
        range("train.eval_every", tr.eval_every as f64, 1.0, 1e9)?;
        if !(tr.ema == 0.0 || (tr.ema > 0.0 && tr.ema < 1.0)) {
            return Err(LabError::invalid("train.ema", tr.ema, "0 (off) or a decay in (0, 1), e.g. 0.999"));
        }
        Ok(())
    }
}

/// The recurrent knobs: inner steps, attention and positions, depth schedule, segments.
fn validate_recurrence(m: &ModelConfig, tr: &TrainConfig) -> Result<(), LabError> {
    match m.arch {
        Arch::Trm | Arch::Hrm => range("model.inner", m.inner as f64, 1.0, 64.0)?,
        _ if m.inner != 0 => {
            return Err(LabError::invalid("model.inner", m.inner, "0 unless model.arch is trm or hrm"))
        }
        _ => {}
    }
    match m.attention {
        Attention::Local => {
            range("model.radius", m.radius as f64, 1.0, 8.0)?;
            if m.causal {
                return Err(LabError::invalid("model.causal", true, "false with model.attention=local"));
            }
        }
        Attention::Global if m.radius != 0 => {
            return Err(LabError::invalid("model.radius", m.radius, "0 unless model.attention=local"))
        }
        Attention::Global => {}
    }
    if m.mixer == Mixer::Mlp {
        if m.attention != Attention::Global || m.causal {
            return Err(LabError::invalid(
                "model.mixer",
                "mlp",
                "attention only with model.attention=global and model.causal=false (the MLP replaces attention)",
            ));
        }
        if m.positions != Positions::Learned {
            return Err(LabError::invalid("model.mixer", "mlp", "attention unless model.positions=learned (the token MLP has weights per position, so inputs are padded to one length)"));
        }
    }
    validate_blocks(m)?;
    let recurrent = m.arch != Arch::Feedforward;
    if tr.backprop > m.loops {
        return Err(LabError::invalid(
            "train.backprop",
            tr.backprop,
            format!("0 (all) or at most model.loops ({})", m.loops),
        ));
    }
    if !recurrent && (tr.depth != Depth::Fixed || tr.backprop > 0 || tr.segments != 1) {
        return Err(LabError::Usage("train.depth, train.backprop and train.segments apply to recurrent models (model.arch looped, trm or hrm), not feedforward".into()));
    }
    if m.arch == Arch::Hrm && tr.backprop > 1 {
        return Err(LabError::invalid(
            "train.backprop",
            tr.backprop,
            "0 or 1 for hrm (its one-step gradient flows through the last L step and the last H step)",
        ));
    }
    if tr.depth == Depth::Progressive && !(tr.progressive_alpha > 0.0 && tr.progressive_alpha <= 1.0) {
        return Err(LabError::invalid("train.progressive_alpha", tr.progressive_alpha, "a weight in (0, 1]"));
    }
    if tr.depth == Depth::Progressive && tr.progressive_alpha < 1.0 && tr.backprop != 0 {
        return Err(LabError::invalid(
            "train.backprop",
            tr.backprop,
            "0 when train.progressive_alpha < 1 (its full-depth loss backpropagates through every iteration)",
        ));
    }
    range("train.segments", tr.segments as f64, 1.0, 64.0)?;
    if tr.segments > 1 && tr.depth == Depth::Progressive && tr.progressive_alpha < 1.0 {
        return Err(LabError::invalid(
            "train.segments",
            tr.segments,
            "1 when train.progressive_alpha < 1 (its full-depth loss restarts the batch's state)",
        ));
    }
    if tr.segments > 1 && m.arch == Arch::Looped && !m.injection {
        return Err(LabError::invalid(
            "train.segments",
            tr.segments,
            "1 for a looped model without model.injection (a later segment would never see the input)",
        ));
    }
    Ok(())
}

/// Block-wise processing and feedback memory (the sequence length is checked against the data by
/// `model::check_blocks`).
fn validate_blocks(m: &ModelConfig) -> Result<(), LabError> {
    if m.block == 0 {
        if m.memory > 0 {
            return Err(LabError::invalid(
                "model.memory",
                m.memory,
                "0 unless model.block > 0 (the memory is carried from block to block)",
            ));
        }
        return Ok(());
    }
    range("model.block", m.block as f64, 1.0, 4096.0)?;
    range("model.memory", m.memory as f64, 0.0, 256.0)?;
    if m.arch != Arch::Feedforward
        || m.attention != Attention::Global
        || m.mixer != Mixer::Attention
        || m.causal
        || m.halting
    {
        return Err(LabError::invalid(
            "model.block",
            m.block,
            "0 unless model.arch=feedforward, model.attention=global, model.mixer=attention, model.causal=false and model.halting=false (block-wise processing is built for those)",
        ));
    }
    Ok(())
}

fn validate_modular(t: &TaskConfig) -> Result<(), LabError> {
    range("task.p", t.p as f64, 2.0, 1000.0)?;
    if t.op == ModOp::Div && !is_prime(t.p) {
        return Err(LabError::invalid(
            "task.p",
            t.p,
            "a prime when task.op is / (division needs every b != 0 invertible)",
        ));
    }
    let pairs = if t.op == ModOp::Div { t.p * (t.p - 1) } else { t.p * t.p };
    let train = (t.train_fraction * pairs as f64).round() as usize;
    if !(t.train_fraction > 0.0 && t.train_fraction < 1.0) || train == 0 || train == pairs {
        return Err(LabError::invalid(
            "task.train_fraction",
            t.train_fraction,
            format!("a fraction in (0, 1) leaving both splits non-empty ({pairs} pairs)"),
        ));
    }
    Ok(())
}

fn range(key: &str, x: f64, lo: f64, hi: f64) -> Result<(), LabError> {
    if x >= lo && x <= hi {
        Ok(())
    } else {
        Err(LabError::invalid(key, x, format!("a number from {lo} to {hi}")))
    }
}

fn is_prime(n: usize) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))
}

/// Every leaf of a JSON object under its dotted path, in order.
fn flatten(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Object(o) => o
            .iter()
            .flat_map(|(k, v)| match v {
                Value::Object(_) => flatten(v).into_iter().map(|(sub, leaf)| (format!("{k}.{sub}"), leaf)).collect(),
                _ => vec![(k.clone(), v.clone())],
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn unknown(key: &str, parent: &str, known: &Value) -> LabError {
    let names: Vec<String> = match known {
        Value::Object(o) => {
            o.keys().map(|k| if parent.is_empty() { k.clone() } else { format!("{parent}.{k}") }).collect()
        }
        _ => vec![],
    };
    LabError::UnknownKey { key: key.to_string(), known: names.join(", ") }
}

/// Turns serde's "unknown variant `x`, expected one of `a`, `b`" into the allowed list.
fn allowed_for(key: &str, serde_msg: &str) -> String {
    match serde_msg.split_once("expected ") {
        Some((_, rest)) => rest.split(" at line").next().unwrap_or(rest).to_string(),
        None => format!("a valid value for {key} ({serde_msg})"),
    }
}
