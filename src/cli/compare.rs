//! `looplab compare RUN...`: the runs' final metrics and phase steps side by side, then the config keys whose
//! values differ (`crate::runs`), as a table or JSON.

use std::path::PathBuf;

use clap::Args;

use super::{accuracy, read_runs};
use crate::error::LabError;
use crate::runs::{compare, Comparison};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Run folders (history.json or history.csv, and config.json or model.safetensors for the config) or history
    /// files (.json or .csv)
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// The accuracy a split's phase starts at
    #[arg(long, value_name = "X", default_value_t = 0.9, value_parser = accuracy())]
    threshold: f64,
    /// Print JSON instead of the table
    #[arg(long)]
    json: bool,
}

pub fn run(a: &CompareArgs) -> Result<(), LabError> {
    let c = compare(&read_runs(&a.runs)?, a.threshold);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c).expect("the comparison serializes"));
    } else {
        print!("{}", table(&c));
    }
    Ok(())
}

/// A row per metric, a column per run.
fn table(c: &Comparison) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: String, cells: Vec<String>| rows.push((name, cells));
    let each = |f: &dyn Fn(&crate::runs::Summary) -> String| c.runs.iter().map(f).collect::<Vec<_>>();
    row("step".into(), each(&|r| r.step.to_string()));
    row("records".into(), each(&|r| r.records.to_string()));
    row("training loss".into(), each(&|r| format!("{:.4}", r.loss)));
    row("weight norm".into(), each(&|r| r.weight_norm.map_or("-".into(), |w| format!("{w:.3}"))));
    row("seconds".into(), each(&|r| format!("{:.0}", r.elapsed_s)));
    let mut splits: Vec<&str> = Vec::new();
    for s in c.runs.iter().flat_map(|r| r.splits.iter().map(|s| s.split.as_str())) {
        if !splits.contains(&s) {
            splits.push(s);
        }
    }
    for &split in &splits {
        let score = |r: &crate::runs::Summary, f: &dyn Fn(&crate::runs::FinalScore) -> String| {
            r.splits.iter().find(|s| s.split == split).map_or("-".into(), f)
        };
        row(format!("{split} accuracy"), each(&|r| score(r, &|s| format!("{:.2}%", 100.0 * s.accuracy))));
        row(format!("{split} exact"), each(&|r| score(r, &|s| format!("{:.2}%", 100.0 * s.exact))));
        row(
            format!("{split} phase step"),
            each(&|r| {
                let phase = r.phases.iter().find(|p| p.split == split);
                phase.map_or("-".into(), |p| p.accuracy_step.map_or("never".into(), |s| s.to_string()))
            }),
        );
    }
    for d in &c.differences {
        let cell = |v: &Option<serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "-".into(),
        };
        row(d.key.clone(), d.values.iter().map(cell).collect());
    }
    let first = 5 + 3 * splits.len();
    let names: Vec<String> = c.runs.iter().map(|r| r.name.clone()).collect();
    let label = rows.iter().map(|(n, _)| n.len()).chain([6]).max().unwrap_or(6);
    let width = rows.iter().flat_map(|(_, cells)| cells.iter()).chain(&names).map(String::len).max().unwrap_or(4);
    let line = |name: &str, cells: &[String]| {
        let cells: String = cells.iter().map(|x| format!("  {x:>width$}")).collect();
        format!("{name:<label$}{cells}\n")
    };
    let mut s = line("", &names);
    for (name, cells) in &rows[..first] {
        s += &line(name, cells);
    }
    s += &format!("(phase step: the first recorded step a split's token accuracy reaches {})\n", c.threshold);
    let with_config = c.runs.len() - c.without_config.len();
    if !c.differences.is_empty() {
        s += "config differences:\n";
        for (name, cells) in &rows[first..] {
            s += &line(name, cells);
        }
    } else if with_config > 1 {
        s += "config: the same\n";
    }
    if !c.without_config.is_empty() {
        let names = c.without_config.join(", ");
        s += &format!("(no config for {names}: no config.json or model.safetensors beside the history)\n");
    }
    s
}
