//! `looplab bench`'s arguments (src/bench/ measures).

use clap::Args;

use super::{backend, checked, milliseconds, number, Checked};
use crate::backend::BackendKind;
use crate::bench::{figure_names, Options};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Print the JSON report (each figure with its config, shapes and sampled depths) instead of the table
    #[arg(long)]
    json: bool,
    /// Measure on this backend only [default: both]
    #[arg(long, value_name = "BACKEND", value_parser = backend())]
    backend: Option<BackendKind>,
    /// Timed steps per figure (after one warm-up step)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = number::<usize>("a whole number >= 1", |&n| n >= 1))]
    steps: usize,
    /// Only figures whose name contains TEXT (`matmul` for the matmul figures)
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// Only the figures of exactly these names: presets, ref:SHAPE, matmul
    #[arg(long, value_name = "NAME,NAME", value_delimiter = ',', value_parser = figure_name())]
    only: Vec<String>,
    /// Also time each kernel kind of a step (on steps of their own)
    #[arg(long)]
    profile: bool,
    /// Also write the JSON report to FILE
    #[arg(long, value_name = "FILE")]
    save: Option<String>,
    /// Milliseconds of GPU work one submit may take (longer steps show more submits/step) [default: none]
    #[arg(long, value_name = "MS", value_parser = milliseconds())]
    submit_budget: Option<f64>,
}

/// One name of `--only`'s list, checked against every figure's.
fn figure_name() -> Checked<String> {
    let known = figure_names();
    let allowed = format!("comma-separated names among {}", known.join(", "));
    checked(allowed, move |s| known.iter().find(|k| *k == s.trim()).cloned())
}

impl BenchArgs {
    pub fn options(&self) -> Options {
        Options {
            json: self.json,
            backends: self.backend.map_or(vec![BackendKind::Gpu, BackendKind::Cpu], |b| vec![b]),
            steps: self.steps,
            filter: self.filter.clone(),
            only: if self.only.is_empty() { None } else { Some(self.only.clone()) },
            profile: self.profile,
            save: self.save.clone(),
            submit_budget_ms: self.submit_budget,
        }
    }
}
