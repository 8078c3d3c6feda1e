//! `looplab bandit`: rolls a model trained on bandit episodes out on unseen tasks with its weights fixed and
//! prints its regret by step next to the teacher's, a random policy's and a greedy one's (`crate::bandit`).

use std::path::PathBuf;

use clap::Args;

use super::{count, number, DeviceArg};
use crate::bandit::evaluate;
use crate::error::LabError;

/// The most tasks `--tasks` takes (all are one batch).
pub const MAX_TASKS: usize = 100_000;

#[derive(Args, Debug)]
pub struct BanditArgs {
    /// A model.safetensors written by `train --preset bandit` (or bandit-looped)
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// Unseen tasks to roll out on
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = count(2..=MAX_TASKS, "a number of unseen tasks"))]
    tasks: usize,
    /// Steps per episode [default: the trained episode length]
    #[arg(long, value_name = "H",
          value_parser = number::<usize>("a number of steps, at most the trained episode length", |_| true))]
    horizon: Option<usize>,
    #[command(flatten)]
    device: DeviceArg,
    /// Print JSON (every policy's regret per step) instead of the table
    #[arg(long)]
    json: bool,
}

pub async fn run(a: &BanditArgs) -> Result<(), LabError> {
    let snapshot = super::snapshot(&a.checkpoint, a.device.backend)?;
    let mut backend = snapshot.backend().await?;
    let report = evaluate(&snapshot.weights(), &mut backend, a.tasks, a.horizon).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
    } else {
        println!("{}", report.table());
    }
    Ok(())
}
