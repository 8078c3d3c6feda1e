//! `looplab self-improve`: base-train several models on short additions, then let them label longer ones
//! (src/self_improve.rs); prints the round x length heatmap and writes it to DIR/self_improve.json.

use std::path::PathBuf;

use clap::Args;

use super::{choice, io_err, number, write_atomic, DeviceArg, PresetArgs};
use crate::error::LabError;
use crate::self_improve::{self, Options};

#[derive(Args, Debug)]
pub struct SelfImproveArgs {
    /// The base training (e.g. `--preset self-improve-addition`) and its overrides
    #[command(flatten)]
    preset: PresetArgs,
    /// Rounds of labelling, one digit longer each [default: 3]
    #[arg(long, value_name = "R", value_parser = number::<usize>("a whole number >= 1", |_| true))]
    rounds: Option<usize>,
    /// Models (seeds) trained side by side [default: 3]
    #[arg(long, value_name = "M", value_parser = number::<usize>("a whole number from 1 to 16", |_| true))]
    models: Option<usize>,
    /// The share of models that must give the same answer for `vote` to keep it [default: 0.7]
    #[arg(long, value_name = "X", value_parser = number::<f64>("a share of models in (0, 1], e.g. 0.7", |_| true))]
    agreement: Option<f64>,
    /// Which labels to keep: well-formed lengths, a majority vote, both, or every answer [default: both]
    #[arg(long, value_name = "FILTER", value_parser = choice::<self_improve::Filter>(&["none", "length", "vote", "both"]))]
    filter: Option<self_improve::Filter>,
    /// Training steps per round [default: a sixth of the base steps]
    #[arg(long, value_name = "N", value_parser = number::<u64>("a whole number >= 1", |_| true))]
    round_steps: Option<u64>,
    /// Problems labelled per round [default: a quarter of the training problems per length]
    #[arg(long, value_name = "N", value_parser = number::<usize>("a whole number >= 1", |_| true))]
    problems: Option<usize>,
    #[command(flatten)]
    device: DeviceArg,
    /// The folder for self_improve.json
    #[arg(long, value_name = "DIR", default_value = "runs/self-improve")]
    out: PathBuf,
}

pub async fn run(a: &SelfImproveArgs) -> Result<(), LabError> {
    let config = a.preset.config()?;
    let mut o = Options::defaults(&config);
    o.rounds = a.rounds.unwrap_or(o.rounds);
    o.models = a.models.unwrap_or(o.models);
    o.agreement = a.agreement.unwrap_or(o.agreement);
    o.filter = a.filter.unwrap_or(o.filter);
    o.round_steps = a.round_steps.unwrap_or(o.round_steps);
    o.problems = a.problems.unwrap_or(o.problems);
    let out = &a.out;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    eprintln!(
        "{} models, {} base steps, {} rounds of {} problems and {} steps, filter {:?} (agreement {}); writing {}",
        o.models,
        config.train.steps,
        o.rounds,
        o.problems,
        o.round_steps,
        o.filter,
        o.agreement,
        out.display()
    );
    let report = self_improve::run(&config, &o, a.device.backend, |r| {
        let kept =
            r.kept.iter().zip(&r.kept_correct).map(|(k, c)| format!("{k} ({c} right)")).collect::<Vec<_>>().join(", ");
        let acc = r.accuracy.iter().map(|a| format!("{:.0}", 100.0 * a)).collect::<Vec<_>>().join(" ");
        eprintln!(
            "round {}: frontier {}, kept of {} labelled: [{kept}]; exact % by length 1..: {acc}",
            r.round, r.frontier, r.generated
        );
    })
    .await?;
    let path = out.join("self_improve.json");
    write_atomic(&path, serde_json::to_string_pretty(&report).expect("report serializes").as_bytes())?;
    println!("mean exact accuracy (%) on held-out problems of each length (L1..) after each round:");
    print!("{}", report.table());
    eprintln!("wrote {}", path.display());
    Ok(())
}
