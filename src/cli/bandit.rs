//! `looplab bandit`: rolls a model trained on bandit episodes out on unseen tasks with its weights fixed and
//! prints its regret by step next to the teacher's, a random policy's and a greedy one's (`crate::bandit`).

use std::path::PathBuf;

use super::{count, value};
use crate::backend::BackendKind;
use crate::bandit::evaluate;
use crate::error::LabError;

/// The most tasks `--tasks` takes (all are one batch).
pub const MAX_TASKS: usize = 100_000;

#[derive(Debug, Default)]
pub struct BanditArgs {
    checkpoint: Option<PathBuf>,
    tasks: Option<usize>,
    horizon: Option<usize>,
    backend: Option<BackendKind>,
    json: bool,
}

impl BanditArgs {
    pub fn parse(args: &[String]) -> Result<BanditArgs, LabError> {
        let mut a = BanditArgs::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--checkpoint" => a.checkpoint = Some(PathBuf::from(value(flag, &mut it)?)),
                "--tasks" => a.tasks = Some(count(flag, &mut it, 2..=MAX_TASKS, "a number of unseen tasks")?),
                "--horizon" => {
                    let v = value(flag, &mut it)?;
                    a.horizon = Some(v.parse::<usize>().map_err(|_| {
                        LabError::invalid("--horizon", v, "a number of steps, at most the trained episode length")
                    })?);
                }
                "--backend" => a.backend = Some(value(flag, &mut it)?.parse()?),
                "--json" => a.json = true,
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `bandit`"))),
            }
        }
        if a.checkpoint.is_none() {
            return Err(LabError::Usage(
                "`bandit` needs --checkpoint FILE (a model.safetensors written by `train --preset bandit`)".into(),
            ));
        }
        Ok(a)
    }
}

pub async fn run(a: &BanditArgs) -> Result<(), LabError> {
    let snapshot = super::snapshot(a.checkpoint.as_ref().expect("checked by parse"), a.backend)?;
    let mut backend = snapshot.backend().await?;
    let report = evaluate(&snapshot.weights(), &mut backend, a.tasks.unwrap_or(1000), a.horizon).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
    } else {
        println!("{}", report.table());
    }
    Ok(())
}
