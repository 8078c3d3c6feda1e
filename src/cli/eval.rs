//! `looplab eval`: the depth sweep of a checkpoint (loss, token accuracy and exact-match accuracy per split at
//! each iteration count) and, with an exit rule, the adaptive exit.

use std::path::PathBuf;

use clap::Args;

use super::solve::ExitArgs;
use super::{number, snapshot, Checked, DeviceArg};
use crate::error::LabError;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A model.safetensors written by `train`, or a weights-only file from `export`
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// Iteration counts to evaluate at, e.g. 1,2,4,8 (recurrent models) [default: the training depth]
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', value_parser = iteration_list())]
    iters: Vec<usize>,
    /// Only this split [default: every split]
    #[arg(long, value_name = "NAME")]
    split: Option<String>,
    /// Change a task key for the evaluation, e.g. `--set task.test_size=8` (task.* keys only; repeatable)
    #[arg(long = "set", value_name = "task.KEY=VALUE")]
    sets: Vec<String>,
    #[command(flatten)]
    exit: ExitArgs,
    #[command(flatten)]
    device: DeviceArg,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// One count of a comma-separated list.
fn iteration_list() -> Checked<usize> {
    number("a comma-separated list of counts from 1 to 256, e.g. 1,2,4,8", |n| (1..=256).contains(n))
}

#[derive(serde::Serialize)]
struct EvalRow<'a> {
    iterations: usize,
    split: &'a str,
    loss: f64,
    accuracy: f64,
    exact: f64,
}

#[derive(serde::Serialize)]
struct ExitRow<'a> {
    split: &'a str,
    rule: String,
    max_iterations: usize,
    exact_at_exit: f64,
    exact_at_max: f64,
    mean_iterations: f64,
    histogram: Vec<usize>,
}

/// The depth sweep: loss, token accuracy and exact-match accuracy per split at each iteration count.
pub async fn run(a: &EvalArgs) -> Result<(), LabError> {
    let path = &a.checkpoint;
    let source = path.display().to_string();
    let snapshot = snapshot(path, a.device.backend)?;
    let backend = snapshot.backend().await?;
    let mut t =
        crate::train::checkpoint::restore_weights(snapshot.bytes(), &source, backend, &a.iters, &a.sets).await?;
    let names: Vec<&'static str> = t.dataset.splits.iter().map(|s| s.name).collect();
    let splits: Vec<usize> = match &a.split {
        None => (0..names.len()).collect(),
        Some(name) => vec![names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| LabError::invalid("--split", name, names.join(", ")))?],
    };
    let depths = t.eval_depths();
    let wanted: Vec<usize> = if a.iters.is_empty() { vec![depths[0]] } else { a.iters.clone() };
    let mut rows = Vec::new();
    for (&s, sweep) in splits.iter().zip(crate::depths::sweep(&mut t, &splits).await?) {
        for &d in &wanted {
            let (loss, accuracy, exact) = (sweep.loss[d - 1], sweep.accuracy[d - 1], sweep.exact[d - 1]);
            rows.push(EvalRow { iterations: d, split: names[s], loss, accuracy, exact });
        }
    }
    rows.sort_by_key(|r| r.iterations);
    let mut exits = Vec::new();
    if let Some(rule) = a.exit.rule() {
        let depth = wanted.iter().copied().max().unwrap_or(depths[0]);
        for &s in &splits {
            let split = &t.dataset.splits[s];
            let e = crate::depths::exit_histogram(&snapshot, split, split.len(), depth, rule).await?.score;
            exits.push(ExitRow {
                split: names[s],
                rule: rule.to_string(),
                max_iterations: depth,
                exact_at_exit: e.exact_at_exit,
                exact_at_max: e.exact_at_depth,
                mean_iterations: e.mean_iterations,
                histogram: e.histogram,
            });
        }
    }
    if a.json {
        let out = serde_json::json!({ "depths": rows, "exit": exits });
        println!("{}", serde_json::to_string_pretty(&out).expect("rows serialize"));
    } else {
        println!("checkpoint {} (step {}, trained at {} iterations)", path.display(), t.step, depths[0]);
        println!("{:>10}  {:<10} {:>8} {:>9} {:>9}", "iterations", "split", "loss", "accuracy", "exact");
        for r in &rows {
            println!(
                "{:>10}  {:<10} {:>8.4} {:>8.2}% {:>8.2}%",
                r.iterations,
                r.split,
                r.loss,
                100.0 * r.accuracy,
                100.0 * r.exact
            );
        }
        for e in &exits {
            let exits: Vec<String> =
                e.histogram.iter().enumerate().filter(|(_, &n)| n > 0).map(|(t, n)| format!("{}:{n}", t + 1)).collect();
            println!(
                "adaptive exit on {} ({}, at most {}): exact {:.2}% (vs {:.2}% at {}), mean {:.2} iterations; examples exiting at iteration t (t:count) {}",
                e.split, e.rule, e.max_iterations, 100.0 * e.exact_at_exit, 100.0 * e.exact_at_max, e.max_iterations, e.mean_iterations, exits.join(" ")
            );
        }
    }
    Ok(())
}
