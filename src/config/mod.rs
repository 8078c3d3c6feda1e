//! The whole configuration of a run as one serde struct. Presets name starting points (presets.rs); `key=value`
//! overrides (CLI `--set`, the page's URL hash) address fields by dotted path (overrides.rs), and every value is
//! validated with a message naming the key and what is allowed (validate.rs; each task validates its own keys).

use serde::{Deserialize, Serialize};

use crate::tasks::Dataset;
pub use crate::tasks::{DigitOrder, ModOp, TaskConfig, TaskKind};

mod overrides;
mod presets;
mod settings;
mod validate;
pub use overrides::preset;
pub use presets::{Preset, PRESETS};
pub use settings::{settings, Setting};

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

impl LabConfig {
    /// The task's data for this run: learned absolute positions need one length, so smaller examples are padded
    /// to the largest split's.
    pub fn dataset(&self) -> Dataset {
        Dataset::build(&self.task, self.seed, self.model.positions == Positions::Learned)
    }
}
