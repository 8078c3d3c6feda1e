//! `looplab self-improve`: base-train several models on short additions, then let them label longer ones
//! (src/self_improve.rs); prints the round x length heatmap and writes it to DIR/self_improve.json.

use std::path::PathBuf;

use super::{io_err, value, write_atomic};
use crate::backend::BackendKind;
use crate::config::LabConfig;
use crate::error::LabError;
use crate::self_improve::{self, Options};

#[derive(Debug, Default)]
pub struct SelfImproveArgs {
    preset: Option<String>,
    sets: Vec<String>,
    rounds: Option<usize>,
    models: Option<usize>,
    agreement: Option<f64>,
    filter: Option<self_improve::Filter>,
    round_steps: Option<u64>,
    problems: Option<usize>,
    backend: Option<BackendKind>,
    out: Option<PathBuf>,
}

fn number<T: std::str::FromStr>(flag: &str, v: &str, allowed: &str) -> Result<T, LabError> {
    v.parse().map_err(|_| LabError::invalid(flag, v, allowed))
}

impl SelfImproveArgs {
    pub fn parse(args: &[String]) -> Result<SelfImproveArgs, LabError> {
        let mut a = SelfImproveArgs::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let f = flag.as_str();
            match f {
                "--preset" => a.preset = Some(value(f, &mut it)?.clone()),
                "--set" => a.sets.push(value(f, &mut it)?.clone()),
                "--rounds" => a.rounds = Some(number(f, value(f, &mut it)?, "a whole number >= 1")?),
                "--models" => a.models = Some(number(f, value(f, &mut it)?, "a whole number from 1 to 16")?),
                "--agreement" => {
                    a.agreement = Some(number(f, value(f, &mut it)?, "a share of models in (0, 1], e.g. 0.7")?)
                }
                "--filter" => a.filter = Some(value(f, &mut it)?.parse()?),
                "--round-steps" => a.round_steps = Some(number(f, value(f, &mut it)?, "a whole number >= 1")?),
                "--problems" => a.problems = Some(number(f, value(f, &mut it)?, "a whole number >= 1")?),
                "--backend" => a.backend = Some(value(f, &mut it)?.parse()?),
                "--out" => a.out = Some(PathBuf::from(value(f, &mut it)?)),
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `self-improve`"))),
            }
        }
        if a.preset.is_none() {
            return Err(LabError::Usage("`self-improve` needs --preset NAME (e.g. self-improve-addition)".into()));
        }
        Ok(a)
    }
}

pub async fn run(a: &SelfImproveArgs) -> Result<(), LabError> {
    let preset = a.preset.as_deref().expect("checked by parse");
    let config = LabConfig::from_preset(preset, &a.sets)?;
    let mut o = Options::defaults(&config);
    o.rounds = a.rounds.unwrap_or(o.rounds);
    o.models = a.models.unwrap_or(o.models);
    o.agreement = a.agreement.unwrap_or(o.agreement);
    o.filter = a.filter.unwrap_or(o.filter);
    o.round_steps = a.round_steps.unwrap_or(o.round_steps);
    o.problems = a.problems.unwrap_or(o.problems);
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join("self-improve"));
    std::fs::create_dir_all(&out).map_err(io_err(&out))?;
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
    let report = self_improve::run(&config, &o, a.backend.unwrap_or(BackendKind::Gpu), |r| {
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
