//! The native command line: train, evaluate, solve, probe, list presets, show the device, benchmark
//! (src/bin/looplab.rs calls `main`).

mod audit;
mod bandit;
mod data;
mod export;
mod probe;
mod self_improve;
mod solve;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::backend::{gpu::GpuBackend, BackendKind};
use crate::config::{LabConfig, PRESETS};
use crate::error::LabError;
use crate::lab::Lab;
use crate::snapshot::Snapshot;
use crate::train::{checkpoint, TrainingPlan};

const USAGE: &str = "usage:
  looplab train --preset NAME [--set key=value ...] [--steps N] [--backend gpu|cpu] [--out DIR] [--dry-run] [--submit-budget MS]
  looplab train --resume DIR [--steps N] [--backend gpu|cpu] [--out DIR] [--dry-run] [--submit-budget MS]
  looplab eval --checkpoint FILE [--iters N,N,...] [--split NAME] [--set task.KEY=VALUE ...] [--exit-kl EPS | --exit-halt] [--backend gpu|cpu] [--json]
  looplab solve --checkpoint FILE (--sudoku PUZZLE | --maze FILE | --program \"RULE TAPE STEPS\") [--iters N] [--exit-kl EPS | --exit-halt] [--backend gpu|cpu] [--json]
  looplab probe --checkpoint FILE [--twin FILE] [--split NAME] [--examples N] [--iters N] [--threshold X] [--backend gpu|cpu] [--json]
  looplab bandit --checkpoint FILE [--tasks N] [--horizon H] [--backend gpu|cpu] [--json]
  looplab self-improve --preset NAME [--set key=value ...] [--rounds R] [--models M] [--agreement X] [--filter none|length|vote|both] [--round-steps N] [--problems N] [--backend gpu|cpu] [--out DIR]
  looplab audit --checkpoint FILE [--backend gpu|cpu] [--json]
  looplab data --preset NAME [--set key=value ...] --out DIR
  looplab export --checkpoint FILE --out DIR [--format page|torch|both] [--name NAME] [--backend gpu|cpu]
  looplab presets
  looplab devices
  looplab bench [--json] [--backend gpu|cpu] [--steps N] [--filter TEXT] [--only NAME,NAME] [--profile] [--save FILE]";

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match pollster::block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if matches!(e, LabError::Usage(_)) {
                eprintln!("{USAGE}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), LabError> {
    let (command, rest) = args.split_first().ok_or_else(|| LabError::Usage("no command given".into()))?;
    match command.as_str() {
        "train" => train(&TrainArgs::parse(rest)?).await,
        "eval" => eval(&EvalArgs::parse(rest)?).await,
        "solve" => solve::run(&solve::SolveArgs::parse(rest)?).await,
        "probe" => probe::run(&probe::ProbeArgs::parse(rest)?).await,
        "bandit" => bandit::run(&bandit::BanditArgs::parse(rest)?).await,
        "audit" => audit::run(&audit::AuditArgs::parse(rest)?).await,
        "data" => data::run(&data::DataArgs::parse(rest)?).await,
        "export" => export::run(&export::ExportArgs::parse(rest)?).await,
        "self-improve" => self_improve::run(&self_improve::SelfImproveArgs::parse(rest)?).await,
        "presets" => {
            no_args("presets", rest)?;
            for p in PRESETS {
                println!("{:<18} {}", p.name, p.description);
            }
            Ok(())
        }
        "devices" => {
            no_args("devices", rest)?;
            devices().await
        }
        "bench" => crate::bench::run(&crate::bench::BenchArgs::parse(rest)?).await,
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(LabError::Usage(format!("unknown command `{other}`; commands: train, eval, solve, probe, bandit, self-improve, audit, data, export, presets, devices, bench"))),
    }
}

fn no_args(command: &str, rest: &[String]) -> Result<(), LabError> {
    match rest.first() {
        Some(a) => Err(LabError::Usage(format!("`{command}` takes no arguments, got `{a}`"))),
        None => Ok(()),
    }
}

#[derive(Debug, Default)]
struct TrainArgs {
    preset: Option<String>,
    sets: Vec<String>,
    steps: Option<u64>,
    backend: Option<BackendKind>,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
    /// Plan, print the memory and check it against the device, allocate nothing.
    dry_run: bool,
    /// Milliseconds one GPU submit may take (longer steps are split; none by default natively).
    submit_budget_ms: Option<f64>,
}

/// The value after a flag, or an error naming the flag.
pub(crate) fn value<'a>(flag: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<&'a String, LabError> {
    it.next().filter(|v| !v.starts_with("--")).ok_or_else(|| LabError::Usage(format!("`{flag}` needs a value")))
}

/// The value of `flag` as a whole number in `range`, or an error naming it: "{what} from {start} to {end}".
pub(crate) fn count<'a>(
    flag: &str,
    it: &mut impl Iterator<Item = &'a String>,
    range: std::ops::RangeInclusive<usize>,
    what: &str,
) -> Result<usize, LabError> {
    let v = value(flag, it)?;
    v.parse::<usize>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| LabError::invalid(flag, v, format!("{what} from {} to {}", range.start(), range.end())))
}

impl TrainArgs {
    fn parse(args: &[String]) -> Result<TrainArgs, LabError> {
        let mut a = TrainArgs::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--preset" => a.preset = Some(value(flag, &mut it)?.clone()),
                "--set" => a.sets.push(value(flag, &mut it)?.clone()),
                "--steps" => {
                    let v = value(flag, &mut it)?;
                    let n = v.parse::<u64>().ok().filter(|&n| n > 0);
                    a.steps = Some(n.ok_or_else(|| LabError::invalid("--steps", v, "a whole number >= 1"))?);
                }
                "--backend" => a.backend = Some(value(flag, &mut it)?.parse()?),
                "--out" => a.out = Some(PathBuf::from(value(flag, &mut it)?)),
                "--resume" => a.resume = Some(PathBuf::from(value(flag, &mut it)?)),
                "--dry-run" => a.dry_run = true,
                "--submit-budget" => {
                    let v = value(flag, &mut it)?;
                    let ms = v.parse::<f64>().ok().filter(|ms| ms.is_finite() && *ms > 0.0);
                    a.submit_budget_ms =
                        Some(ms.ok_or_else(|| LabError::invalid("--submit-budget", v, "milliseconds > 0"))?);
                }
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `train`"))),
            }
        }
        match (&a.preset, &a.resume) {
            (None, None) => Err(LabError::Usage("`train` needs --preset NAME or --resume DIR".into())),
            (Some(_), Some(_)) => Err(LabError::Usage(
                "give either --preset or --resume, not both (a resumed run keeps its config)".into(),
            )),
            (None, Some(_)) if !a.sets.is_empty() => {
                Err(LabError::Usage("--set cannot change a resumed run's config".into()))
            }
            _ => Ok(a),
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> LabError + '_ {
    move |source| LabError::Io { path: path.display().to_string(), source }
}

/// The checkpoint file at `path`, to run on `backend` (default gpu).
pub(crate) fn snapshot(path: &Path, backend: Option<BackendKind>) -> Result<Snapshot, LabError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    Snapshot::new(bytes, &path.display().to_string(), backend.unwrap_or(BackendKind::Gpu))
}

/// Writes a file atomically and durably: into a temporary file in the same directory, flushed to disk, renamed
/// over `path`, then the directory flushed, so a crash or power loss leaves either the old file or the new one,
/// never a half-written one. Every checkpoint, history and report the CLI writes goes through here.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LabError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io_err(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    // The rename lives in the directory: flush it too (directories cannot be opened as files on Windows).
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    }
    Ok(())
}

async fn save_run(lab: &mut Lab, out: &Path) -> Result<(), LabError> {
    let ckpt = lab.checkpoint().await?;
    write_atomic(&out.join("model.safetensors"), &ckpt)?;
    write_atomic(&out.join("history.json"), lab.history_json().as_bytes())?;
    write_atomic(&out.join("history.csv"), lab.history_csv().as_bytes())
}

async fn train(a: &TrainArgs) -> Result<(), LabError> {
    let backend = a.backend.unwrap_or(BackendKind::Gpu);
    // The run is planned first, so its memory is printed (and refused when too large) before anything is allocated.
    let (planned, resumed) = match &a.resume {
        Some(dir) => {
            let path = dir.join("model.safetensors");
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            let source = path.display().to_string();
            (checkpoint::plan(&bytes, &source, &[], &[])?, Some((bytes, source, dir.join("history.json"))))
        }
        None => {
            let mut config = LabConfig::from_preset(a.preset.as_deref().expect("checked by parse"), &a.sets)?;
            if let Some(steps) = a.steps {
                config.train.steps = steps;
            }
            (TrainingPlan::new(config, &[])?, None)
        }
    };
    eprintln!("memory: {}", planned.memory());
    if a.dry_run {
        let device = crate::backend::Backend::open(backend).await?;
        planned.check(&device)?;
        eprintln!("fits on {} (dry run: nothing allocated)", device.describe());
        return Ok(());
    }
    let mut lab = match resumed {
        Some((bytes, source, hist_path)) => {
            let history = match std::fs::read_to_string(&hist_path) {
                Ok(text) => crate::train::read_history(&text, &hist_path.display().to_string())?,
                Err(_) => Vec::new(),
            };
            let mut lab = Lab::resume_plan(planned, &bytes, &source, backend, history).await?;
            if let Some(steps) = a.steps {
                lab.set_total_steps(steps);
            }
            lab
        }
        None => Lab::from_plan(planned, backend).await?,
    };
    if a.submit_budget_ms.is_some() {
        lab.set_submit_budget(a.submit_budget_ms);
    }
    let out = a
        .out
        .clone()
        .or_else(|| a.resume.clone())
        .unwrap_or_else(|| PathBuf::from("runs").join(a.preset.as_deref().unwrap_or("run")));
    std::fs::create_dir_all(&out).map_err(io_err(&out))?;
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
        let result = lab.train(lab.config().train.eval_every).await;
        let records = match result {
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
        let rate = (lab.step() - started.0) as f64 / started.1.elapsed().as_secs_f64().max(1e-9);
        if let Some(r) = records.last() {
            let line = format!(
                "step {:>7}/{total}  {rate:7.1} steps/s  loss {:.4}  train {:5.1}%  test {:5.1}% (exact {:5.1}%)",
                r.step,
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
    eprintln!("done: {} steps; wrote {}/history.json, history.csv, model.safetensors", lab.step(), out.display());
    Ok(())
}

#[derive(Debug, Default)]
struct EvalArgs {
    checkpoint: Option<PathBuf>,
    iters: Vec<usize>,
    split: Option<String>,
    sets: Vec<String>,
    exit: Option<crate::solve::Exit>,
    backend: Option<BackendKind>,
    json: bool,
}

impl EvalArgs {
    fn parse(args: &[String]) -> Result<EvalArgs, LabError> {
        let mut a = EvalArgs::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--checkpoint" => a.checkpoint = Some(PathBuf::from(value(flag, &mut it)?)),
                "--iters" => {
                    let v = value(flag, &mut it)?;
                    a.iters = v
                        .split(',')
                        .map(|x| x.trim().parse::<usize>().ok().filter(|&n| (1..=256).contains(&n)))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            LabError::invalid(
                                "--iters",
                                v,
                                "a comma-separated list of counts from 1 to 256, e.g. 1,2,4,8",
                            )
                        })?;
                }
                "--split" => a.split = Some(value(flag, &mut it)?.clone()),
                "--set" => a.sets.push(value(flag, &mut it)?.clone()),
                "--exit-kl" | "--exit-halt" => a.exit = Some(solve::parse_exit(flag, &mut it, a.exit)?),
                "--backend" => a.backend = Some(value(flag, &mut it)?.parse()?),
                "--json" => a.json = true,
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `eval`"))),
            }
        }
        if a.checkpoint.is_none() {
            return Err(LabError::Usage(
                "`eval` needs --checkpoint FILE (a model.safetensors written by `train`, or a weights-only file from `export`)".into(),
            ));
        }
        Ok(a)
    }
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
async fn eval(a: &EvalArgs) -> Result<(), LabError> {
    let path = a.checkpoint.as_ref().expect("checked by parse");
    let source = path.display().to_string();
    let snapshot = snapshot(path, a.backend)?;
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
    if let Some(rule) = a.exit {
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

async fn devices() -> Result<(), LabError> {
    let g = GpuBackend::new().await?;
    let l = &g.limits;
    println!("adapter: {}", g.info.name);
    println!("backend: {:?}", g.info.backend);
    println!("type:    {:?}{}", g.info.device_type, if g.is_software() { " (software: correct but slow)" } else { "" });
    println!("driver:  {} {}", g.info.driver, g.info.driver_info);
    println!("limits used by looplab:");
    println!("  max_storage_buffer_binding_size     {} MiB", l.max_storage_buffer_binding_size >> 20);
    println!("  max_buffer_size                     {} MiB", l.max_buffer_size >> 20);
    println!("  max_compute_invocations_per_workgroup {}", l.max_compute_invocations_per_workgroup);
    println!("  max_storage_buffers_per_shader_stage {}", l.max_storage_buffers_per_shader_stage);
    println!("  max_compute_workgroup_storage_size  {} KiB", l.max_compute_workgroup_storage_size >> 10);
    Ok(())
}
