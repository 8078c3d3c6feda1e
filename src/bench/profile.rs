//! `looplab bench --profile`: a training step's time per kernel kind, from the backend's profile
//! (GPU timestamps or the cpu backend's timers, see backend/profile.rs), measured on steps of their own after
//! the timed ones so profiling never perturbs ms/step.

use serde::Serialize;

use crate::backend::profile::{Profile, ProfileSource};
use crate::error::LabError;
use crate::train::Trainer;

#[derive(Serialize)]
pub struct KernelTime {
    pub kind: String,
    pub calls_per_step: f64,
    pub ms_per_step: f64,
    /// Share of the step's summed kernel time.
    pub share: f64,
}

#[derive(Serialize)]
pub struct ProfileFigure {
    pub source: ProfileSource,
    pub source_note: &'static str,
    pub steps: u64,
    /// Summed kernel time per step (below ms/step by whatever runs between kernels).
    pub kernel_ms_per_step: f64,
    /// Slowest first.
    pub kernels: Vec<KernelTime>,
}

impl ProfileFigure {
    fn from_profile(p: Profile, steps: u64) -> ProfileFigure {
        let steps_f = steps.max(1) as f64;
        let total: f64 = p.kinds.values().map(|&(_, s)| s).sum();
        let mut kernels: Vec<KernelTime> = p
            .kinds
            .into_iter()
            .map(|(kind, (calls, seconds))| KernelTime {
                kind,
                calls_per_step: calls as f64 / steps_f,
                ms_per_step: 1e3 * seconds / steps_f,
                share: if total > 0.0 { seconds / total } else { 0.0 },
            })
            .collect();
        kernels.sort_by(|a, b| b.ms_per_step.total_cmp(&a.ms_per_step).then_with(|| a.kind.cmp(&b.kind)));
        ProfileFigure {
            source: p.source,
            source_note: p.source.describe(),
            steps,
            kernel_ms_per_step: 1e3 * total / steps_f,
            kernels,
        }
    }

    pub fn print(&self) {
        println!("   profile over {} step(s): {}", self.steps, self.source_note);
        let w = self.kernels.iter().map(|k| k.kind.len()).max().unwrap_or(0).max(12);
        println!("   {:<w$} {:>8} {:>11} {:>7}", "kernel", "calls", "ms/step", "share");
        for k in &self.kernels {
            println!("   {:<w$} {:>8.1} {:>11.3} {:>6.1}%", k.kind, k.calls_per_step, k.ms_per_step, 100.0 * k.share);
        }
        println!("   {:<w$} {:>8} {:>11.3}", "all kernels", "", self.kernel_ms_per_step);
    }
}

/// Runs `steps` more training steps with the backend profiling each kernel.
pub async fn profile_steps(t: &mut Trainer, steps: u64) -> Result<ProfileFigure, LabError> {
    t.backend.start_profile()?;
    for _ in 0..steps {
        t.step_once()?;
    }
    t.wait_idle().await?;
    let profile = t.backend.take_profile().expect("profiling was started")?;
    Ok(ProfileFigure::from_profile(profile, steps))
}
