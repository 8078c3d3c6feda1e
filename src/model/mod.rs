//! Parameters of a transformer (feedforward stack, looped block, TRM or HRM) laid out in one flat buffer, with
//! the gradient, Adam moments and EMA in buffers of the same layout (a parameter's gradient is the same view
//! in the gradient buffer). Names double as safetensors tensor names (see ARCHITECTURE.md).

pub mod transformer;

use crate::config::{Arch, Attention, Mixer, Mlp, ModelConfig, Positions};
use crate::error::LabError;
use crate::program::{BufId, MemoryPlan, Tensor, Use};
use crate::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Normal(f32),
    Zeros,
    Ones,
    Constant(f32),
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub tensor: Tensor,
    pub init: Init,
}

/// How a layer mixes tokens.
#[derive(Clone, Copy, Debug)]
pub enum TokenMix {
    /// `qkv [d, 3d]`, `out [d, d]`, and local attention's bias per head and relative offset `[heads, window]`.
    Attention { qkv: Tensor, out: Tensor, rel_bias: Option<Tensor> },
    /// The token MLP across positions: `w_in [seq, 2f]` (SwiGLU) or `[seq, f]` (GELU), `w_out [f, seq]`.
    Mlp { w_in: Tensor, w_out: Tensor },
}

/// The weights of one transformer layer.
#[derive(Clone, Debug)]
pub struct LayerParams {
    pub mix: TokenMix,
    pub mlp_in: Tensor,  // [d, 2f] for SwiGLU (gate, up), [d, f] for GELU
    pub mlp_out: Tensor, // [f, d]
    pub norm1: Option<Tensor>,
    pub norm2: Option<Tensor>,
}

#[derive(Clone, Debug)]
pub struct Params {
    pub list: Vec<Param>,
    pub layers: Vec<LayerParams>,
    pub tok_emb: Tensor,         // [vocab, d]
    pub pos_emb: Option<Tensor>, // [seq, d]
    pub final_norm: Option<Tensor>,
    pub head: Tensor, // [d, vocab]
    /// The parameter buffer and the buffers sharing its layout.
    pub values: BufId,
    pub grads: BufId,
    pub adam_m: BufId,
    pub adam_v: BufId,
    pub ema: Option<BufId>,
    /// ACT's halting head: weight `[d]` and bias `[1]`.
    pub halt: Option<(Tensor, Tensor)>,
    /// Fixed random initial states (aligned views of one buffer), drawn from the seed, never trained: TRM's
    /// and HRM's two states, `[d]` each, or every layer's feedback memory, `[memory, d]`.
    pub init_states: Vec<Tensor>,
    /// Weight decay applies to elements before this offset: matrices and embeddings, not norm scales.
    pub decay_len: usize,
    pub len: usize,
}

/// Layers with weights of their own: HRM's L and H blocks each have `layers`.
pub fn weight_layers(m: &ModelConfig) -> usize {
    if m.arch == Arch::Hrm {
        2 * m.layers
    } else {
        m.layers
    }
}

/// Offsets local attention looks at: a (2r+1) x (2r+1) window.
pub fn window(m: &ModelConfig) -> usize {
    (2 * m.radius + 1).pow(2)
}

/// Lengths of the fixed random initial states: TRM's y and z and HRM's zH and zL (`[d]` each), or each
/// layer's feedback memory (`[memory, d]`; distinct rows, or the memory vectors could never differ).
pub fn random_states(m: &ModelConfig) -> Vec<usize> {
    if matches!(m.arch, Arch::Trm | Arch::Hrm) {
        vec![m.d_model; 2]
    } else if m.memory > 0 {
        vec![m.memory * m.d_model; m.layers]
    } else {
        Vec::new()
    }
}

/// Refuses a sequence length that block-wise processing cannot cut into whole blocks.
pub fn check_blocks(m: &ModelConfig, seq: usize) -> Result<(), LabError> {
    if m.block > 0 && !seq.is_multiple_of(m.block) {
        return Err(LabError::invalid(
            "model.block",
            m.block,
            format!("a divisor of the sequence length ({seq} tokens)"),
        ));
    }
    Ok(())
}

/// Width of the first MLP matrix's output.
pub fn mlp_in_width(m: &ModelConfig) -> usize {
    match m.mlp {
        Mlp::Swiglu => 2 * m.mlp_hidden,
        Mlp::Gelu => m.mlp_hidden,
    }
}

impl Params {
    pub fn plan(plan: &mut MemoryPlan, m: &ModelConfig, vocab: usize, seq: usize, with_ema: bool) -> Params {
        let outer = plan.set_use(Use::Parameters);
        let values = plan.pool("params");
        let mut list = Vec::new();
        let mut add = |plan: &mut MemoryPlan, name: String, shape: Vec<usize>, init: Init| {
            let tensor = plan.carve(values, shape.iter().product());
            list.push(Param { name, shape, tensor, init });
            tensor
        };
        let d = m.d_model;
        // Output projections are scaled down with depth, or zeroed so every block starts as the identity.
        let calls_per_iteration = if matches!(m.arch, Arch::Trm | Arch::Hrm) { m.inner + 1 } else { 1 };
        let applications = (m.layers * m.loops * calls_per_iteration) as f32;
        let out_init = |fan_in: usize| {
            if m.zero_init {
                Init::Zeros
            } else {
                Init::Normal(1.0 / (fan_in as f32).sqrt() / (2.0 * applications).sqrt())
            }
        };
        let mut layers = Vec::new();
        for l in 0..weight_layers(m) {
            let mix = match m.mixer {
                Mixer::Attention => {
                    let qkv = add(
                        plan,
                        format!("layers.{l}.attn.qkv"),
                        vec![d, 3 * d],
                        Init::Normal(1.0 / (d as f32).sqrt()),
                    );
                    TokenMix::Attention {
                        qkv,
                        out: add(plan, format!("layers.{l}.attn.out"), vec![d, d], out_init(d)),
                        rel_bias: None,
                    }
                }
                Mixer::Mlp => {
                    let w_in = add(
                        plan,
                        format!("layers.{l}.mix.in"),
                        vec![seq, mlp_in_width(m)],
                        Init::Normal(1.0 / (seq as f32).sqrt()),
                    );
                    TokenMix::Mlp {
                        w_in,
                        w_out: add(
                            plan,
                            format!("layers.{l}.mix.out"),
                            vec![m.mlp_hidden, seq],
                            out_init(m.mlp_hidden),
                        ),
                    }
                }
            };
            let mlp_in = add(
                plan,
                format!("layers.{l}.mlp.in"),
                vec![d, mlp_in_width(m)],
                Init::Normal(1.0 / (d as f32).sqrt()),
            );
            let mlp_out = add(plan, format!("layers.{l}.mlp.out"), vec![m.mlp_hidden, d], out_init(m.mlp_hidden));
            layers.push(LayerParams { mix, mlp_in, mlp_out, norm1: None, norm2: None });
        }
        let head = add(plan, "head".into(), vec![d, vocab], Init::Normal(1.0 / (d as f32).sqrt()));
        let tok_emb = add(plan, "tok_emb".into(), vec![vocab, d], Init::Normal(1.0));
        let pos_emb =
            (m.positions == Positions::Learned).then(|| add(plan, "pos_emb".into(), vec![seq, d], Init::Normal(1.0)));
        let decay_len = plan.len(values);
        // The halting head starts at "continue" (HRM: weight 0, bias -5).
        let halt = m.halting.then(|| {
            (
                add(plan, "halt.weight".into(), vec![d], Init::Zeros),
                add(plan, "halt.bias".into(), vec![1], Init::Constant(-5.0)),
            )
        });
        if m.attention == Attention::Local {
            for (l, layer) in layers.iter_mut().enumerate() {
                if let TokenMix::Attention { rel_bias, .. } = &mut layer.mix {
                    *rel_bias =
                        Some(add(plan, format!("layers.{l}.attn.rel_bias"), vec![m.heads, window(m)], Init::Zeros));
                }
            }
        }
        let mut final_norm = None;
        if m.norm_scale {
            for (l, layer) in layers.iter_mut().enumerate() {
                layer.norm1 = Some(add(plan, format!("layers.{l}.norm1"), vec![d], Init::Ones));
                layer.norm2 = Some(add(plan, format!("layers.{l}.norm2"), vec![d], Init::Ones));
            }
            if m.norm == crate::config::Norm::Pre {
                final_norm = Some(add(plan, "final_norm".into(), vec![d], Init::Ones));
            }
        }
        let len = plan.len(values);
        let pool = plan.pool("init_states");
        let init_states = random_states(m).into_iter().map(|len| plan.carve(pool, len)).collect();
        let mut twin = |name: &str, holds: Use| {
            plan.set_use(holds);
            plan.buffer(name, len).buf
        };
        let grads = twin("grads", Use::Gradients);
        let (adam_m, adam_v) = (twin("adam_m", Use::Optimizer), twin("adam_v", Use::Optimizer));
        let ema = with_ema.then(|| twin("ema", Use::Ema));
        plan.set_use(outer);
        Params {
            list,
            layers,
            tok_emb,
            pos_emb,
            final_norm,
            head,
            values,
            grads,
            adam_m,
            adam_v,
            ema,
            halt,
            init_states,
            decay_len,
            len,
        }
    }

    /// The weights evaluation reads: the EMA copy when there is one.
    pub fn evaluated(&self) -> Params {
        let Some(ema) = self.ema else { return self.clone() };
        let mut p = self.clone();
        let rebase = |t: &mut Tensor| *t = t.in_buf(ema);
        p.list.iter_mut().for_each(|x| rebase(&mut x.tensor));
        for l in &mut p.layers {
            [&mut l.mlp_in, &mut l.mlp_out].into_iter().for_each(rebase);
            l.norm1.iter_mut().chain(l.norm2.iter_mut()).for_each(rebase);
            match &mut l.mix {
                TokenMix::Attention { qkv, out, rel_bias } => {
                    [qkv, out].into_iter().chain(rel_bias.iter_mut()).for_each(rebase)
                }
                TokenMix::Mlp { w_in, w_out } => [w_in, w_out].into_iter().for_each(rebase),
            }
        }
        [&mut p.tok_emb, &mut p.head].into_iter().for_each(rebase);
        p.pos_emb.iter_mut().chain(p.final_norm.iter_mut()).for_each(rebase);
        if let Some((w, b)) = &mut p.halt {
            rebase(w);
            rebase(b);
        }
        p.values = ema;
        p
    }

    /// The whole buffer as one view (for the optimizer and checkpoints).
    pub fn all(&self, buf: BufId) -> Tensor {
        Tensor { buf, offset: 0, len: self.len }
    }

    /// Initial values of the whole parameter buffer (gaps between aligned views stay 0).
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::fork(seed, "init");
        let mut values = vec![0.0; self.len];
        for p in &self.list {
            let view = &mut values[p.tensor.offset..p.tensor.offset + p.tensor.len];
            match p.init {
                Init::Normal(std) => view.iter_mut().for_each(|x| *x = rng.normal() * std),
                Init::Zeros => {}
                Init::Ones => view.fill(1.0),
                Init::Constant(c) => view.fill(c),
            }
        }
        values
    }

    /// Values of `init_states`: unit normal vectors from the seed's "init-states" stream.
    pub fn init_state_values(&self, seed: u64) -> Vec<(Tensor, Vec<f32>)> {
        let mut rng = Rng::fork(seed, "init-states");
        self.init_states.iter().map(|&t| (t, (0..t.len).map(|_| rng.normal()).collect())).collect()
    }

    pub fn count(&self) -> usize {
        self.list.iter().map(|p| p.tensor.len).sum()
    }
}
