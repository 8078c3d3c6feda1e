//! Validation of a whole config: the task validates its own keys (`TaskConfig::validate`), the model and
//! training keys are checked here, each error naming the key and what is allowed.

use super::{Arch, Attention, Depth, LabConfig, Mixer, ModelConfig, Positions, TrainConfig};
use crate::error::{check_range as range, check_whole as whole, LabError};

impl LabConfig {
    pub fn validate(&self) -> Result<(), LabError> {
        let (t, m, tr) = (&self.task, &self.model, &self.train);
        t.validate(self.seed)?;
        whole("model.d_model", m.d_model as u64, 1, 2048)?;
        whole("model.heads", m.heads as u64, 1, 64)?;
        if m.d_model % m.heads != 0 {
            return Err(LabError::invalid(
                "model.heads",
                m.heads,
                format!("a divisor of model.d_model ({})", m.d_model),
            ));
        }
        whole("model.layers", m.layers as u64, 1, 64)?;
        whole("model.loops", m.loops as u64, 1, 256)?;
        if m.arch == Arch::Feedforward && m.loops != 1 {
            return Err(LabError::invalid(
                "model.loops",
                m.loops,
                "1 for model.arch=feedforward (use model.arch=looped to iterate)",
            ));
        }
        validate_recurrence(m, tr)?;
        whole("model.mlp_hidden", m.mlp_hidden as u64, 1, 16384)?;
        whole("train.steps", tr.steps, 1, 1_000_000_000)?;
        range("train.lr", tr.lr, 1e-7, 10.0)?;
        range("train.weight_decay", tr.weight_decay, 0.0, 100.0)?;
        range("train.beta1", tr.beta1, 0.0, 0.999999)?;
        range("train.beta2", tr.beta2, 0.0, 0.999999)?;
        range("train.grad_clip", tr.grad_clip, 0.0, 1e6)?;
        whole("train.eval_every", tr.eval_every, 1, 1_000_000_000)?;
        if !(tr.ema == 0.0 || (tr.ema > 0.0 && tr.ema < 1.0)) {
            return Err(LabError::invalid("train.ema", tr.ema, "0 (off) or a decay in (0, 1), e.g. 0.999"));
        }
        Ok(())
    }
}
/// The recurrent knobs: inner steps, attention and positions, depth schedule, segments.
fn validate_recurrence(m: &ModelConfig, tr: &TrainConfig) -> Result<(), LabError> {
    match m.arch {
        Arch::Trm | Arch::Hrm => whole("model.inner", m.inner as u64, 1, 64)?,
        _ if m.inner != 0 => {
            return Err(LabError::invalid("model.inner", m.inner, "0 unless model.arch is trm or hrm"))
        }
        _ => {}
    }
    match m.attention {
        Attention::Local => {
            whole("model.radius", m.radius as u64, 1, 8)?;
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
    whole("train.segments", tr.segments as u64, 1, 64)?;
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
    whole("model.block", m.block as u64, 1, 4096)?;
    whole("model.memory", m.memory as u64, 0, 256)?;
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
