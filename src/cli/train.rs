//! `looplab train`: a run from a preset or a config file, or a resumed one, into a run folder: config.json at
//! the start, then model.safetensors, history.json and history.csv after every evaluation; progress with the
//! elapsed time and an ETA on stderr.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};

use super::{io_err, milliseconds, number, preset_name, read_config, write_atomic, DeviceArg};
use crate::backend::Backend;
use crate::config::LabConfig;
use crate::error::LabError;
use crate::lab::Lab;
use crate::train::{checkpoint, read_history, Record, TrainingPlan};

/// The files `train` writes into a run folder.
const RUN_FILES: [&str; 4] = ["config.json", "model.safetensors", "history.json", "history.csv"];

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("start").required(true).args(["preset", "config", "resume"])))]
pub struct TrainArgs {
    /// Start from this preset (`looplab presets` lists them)
    #[arg(long, value_name = "NAME", value_parser = preset_name(), hide_possible_values = true)]
    preset: Option<String>,
    /// Start from this JSON config: what `looplab config --json` prints, or a run's config.json
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Continue the run in DIR exactly (weights, optimizer state, step, sampler); it keeps its config
    #[arg(long, value_name = "DIR", conflicts_with = "sets")]
    resume: Option<PathBuf>,
    /// Change one config key, e.g. `--set task.p=23` (repeatable; `looplab config --preset NAME` lists the keys)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Train to N steps in all (train.steps; a resumed run trains on to N)
    #[arg(long, value_name = "N", value_parser = number::<u64>("a whole number >= 1", |&n| n >= 1))]
    steps: Option<u64>,
    #[command(flatten)]
    device: DeviceArg,
    /// The run folder [default: runs/PRESET, runs/CONFIG-FILE-STEM, or the resumed folder]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write into a folder that already holds a run, replacing its files
    #[arg(long)]
    force: bool,
    /// Plan the run, print its memory and check it against the device; allocate and write nothing
    #[arg(long)]
    dry_run: bool,
    /// Milliseconds of GPU work one submit may take: longer steps are split into several submits [default: none]
    #[arg(long, value_name = "MS", value_parser = milliseconds())]
    submit_budget: Option<f64>,
}

/// What a run folder's config.json holds: the resolved config and where it ran.
#[derive(serde::Serialize)]
struct RunConfig<'a> {
    looplab: &'static str,
    device: String,
    config: &'a LabConfig,
}

impl TrainArgs {
    fn out(&self) -> PathBuf {
        let named = |name: &str| PathBuf::from("runs").join(name);
        let stem = self.config.as_ref().and_then(|f| f.file_stem()).map(|s| s.to_string_lossy().into_owned());
        self.out
            .clone()
            .or_else(|| self.resume.clone())
            .unwrap_or_else(|| named(self.preset.as_deref().or(stem.as_deref()).unwrap_or("run")))
    }

    fn config(&self) -> Result<LabConfig, LabError> {
        let mut config = match (&self.preset, &self.config) {
            (Some(name), _) => LabConfig::from_preset(name, &self.sets)?,
            (None, Some(file)) => {
                let mut config = read_config(file)?;
                for s in &self.sets {
                    config.set(s)?;
                }
                config
            }
            (None, None) => unreachable!("clap requires --preset, --config or --resume"),
        };
        if let Some(steps) = self.steps {
            config.train.steps = steps;
        }
        Ok(config)
    }
}

/// Refuses a folder that holds a run unless it is the resumed one or `--force` says to replace it; with
/// `--force`, removes the files of the old run so none of them outlives it.
fn claim(out: &Path, a: &TrainArgs) -> Result<(), LabError> {
    let resuming_here = a.resume.as_deref() == Some(out);
    let entries = std::fs::read_dir(out).map(|d| d.count()).unwrap_or(0);
    if entries == 0 || resuming_here {
        return Ok(());
    }
    if !a.force {
        return Err(LabError::Input(format!(
            "{} is not empty; continue the run there with `--resume {}`, or replace it with `--force`",
            out.display(),
            out.display()
        )));
    }
    for name in RUN_FILES {
        let path = out.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// The run planned before anything is allocated, and for a resumed run its checkpoint and history.
fn plan(a: &TrainArgs) -> Result<(TrainingPlan, Option<Resumed>), LabError> {
    let Some(dir) = &a.resume else {
        return Ok((TrainingPlan::new(a.config()?, &[])?, None));
    };
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    let source = path.display().to_string();
    let hist_path = dir.join("history.json");
    let history = match std::fs::read_to_string(&hist_path) {
        Ok(text) => read_history(&text, &hist_path.display().to_string())?,
        Err(_) => Vec::new(),
    };
    Ok((checkpoint::plan(&bytes, &source, &[], &[])?, Some(Resumed { bytes, source, history })))
}

struct Resumed {
    bytes: Vec<u8>,
    source: String,
    history: Vec<Record>,
}

async fn save_run(lab: &mut Lab, out: &Path) -> Result<(), LabError> {
    let ckpt = lab.checkpoint().await?;
    write_atomic(&out.join("model.safetensors"), &ckpt)?;
    write_atomic(&out.join("history.json"), lab.history_json().as_bytes())?;
    write_atomic(&out.join("history.csv"), lab.history_csv().as_bytes())
}

/// `1h02m`, `3m07s` or `12s`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

pub async fn run(a: &TrainArgs) -> Result<(), LabError> {
    let out = a.out();
    // Planned first, so the memory is printed (and a run too large refused) before anything is allocated.
    let (planned, resumed) = plan(a)?;
    eprintln!("memory: {}", planned.memory());
    if a.dry_run {
        let device = Backend::open(a.device.backend).await?;
        planned.check(&device)?;
        eprintln!("fits on {} (dry run: nothing allocated)", device.describe());
        return Ok(());
    }
    claim(&out, a)?;
    let mut lab = match resumed {
        Some(r) => {
            let mut lab = Lab::resume_plan(planned, &r.bytes, &r.source, a.device.backend, r.history).await?;
            if let Some(steps) = a.steps {
                lab.set_total_steps(steps);
            }
            lab
        }
        None => Lab::from_plan(planned, a.device.backend).await?,
    };
    if a.submit_budget.is_some() {
        lab.set_submit_budget(a.submit_budget);
    }
    std::fs::create_dir_all(&out).map_err(io_err(&out))?;
    let run_config = RunConfig { looplab: env!("CARGO_PKG_VERSION"), device: lab.device(), config: lab.config() };
    let text = serde_json::to_string_pretty(&run_config).expect("the run config serializes") + "\n";
    write_atomic(&out.join("config.json"), text.as_bytes())?;
    eprintln!(
        "device: {}\nmodel: {} parameters, {:?} x{} loops; {} steps from step {}; writing {}",
        lab.device(),
        lab.parameter_count(),
        lab.config().model.arch,
        lab.config().model.loops,
        lab.config().train.steps,
        lab.step(),
        out.display()
    );
    let tty = std::io::stderr().is_terminal();
    let total = lab.config().train.steps;
    let started = (lab.step(), web_time::Instant::now());
    while !lab.done() {
        let records = match lab.train(lab.config().train.eval_every).await {
            Ok(r) => r,
            Err(e) => {
                let kept = match lab.history().last() {
                    Some(r) => format!("the checkpoint of step {} is kept in {}", r.step, out.display()),
                    None => "no checkpoint was written yet".to_string(),
                };
                eprintln!("\n{kept}");
                return Err(e);
            }
        };
        save_run(&mut lab, &out).await?;
        let elapsed = started.1.elapsed().as_secs_f64();
        let rate = (lab.step() - started.0) as f64 / elapsed.max(1e-9);
        let eta = (total - lab.step()) as f64 / rate.max(1e-9);
        if let Some(r) = records.last() {
            let norm = r.weight_norm.map_or(String::new(), |w| format!("  |w| {w:.2}"));
            let line = format!(
                "step {:>7}/{total}  {rate:7.1} steps/s  {} elapsed, ETA {}  loss {:.4}  train {:5.1}%  test {:5.1}% (exact {:5.1}%){norm}",
                r.step,
                duration(elapsed),
                duration(eta),
                r.loss,
                100.0 * r.train_acc,
                100.0 * r.test_acc,
                100.0 * r.test_exact
            );
            if tty {
                let width = 24;
                let filled = (width as u64 * lab.step() / total) as usize;
                eprint!("\r[{}{}] {line}", "#".repeat(filled), ".".repeat(width - filled));
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("{line}");
            }
        }
    }
    if tty {
        eprintln!();
    }
    eprintln!(
        "done: {} steps in {}; wrote {}/config.json, history.json, history.csv, model.safetensors",
        lab.step(),
        duration(started.1.elapsed().as_secs_f64()),
        out.display()
    );
    Ok(())
}
