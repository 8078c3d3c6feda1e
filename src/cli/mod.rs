//! The native command line (src/bin/looplab.rs calls `main`): clap parses each command's arguments into its
//! struct, the command calls the core and prints. Exit status: 0 on success, 2 for a usage error (what clap
//! rejects, or the core's `LabError::Usage`), 1 for any other failure.

mod audit;
mod bandit;
mod bench;
mod compare;
mod data;
mod eval;
mod export;
mod plot;
mod probe;
mod self_improve;
mod solve;
mod train;

use std::ffi::OsStr;
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::backend::{gpu::GpuBackend, BackendKind};
use crate::config::{LabConfig, PRESETS};
use crate::error::LabError;
use crate::runs::Run;
use crate::snapshot::Snapshot;
use crate::train::{checkpoint, read_history_file};

#[derive(Parser)]
#[command(
    name = "looplab",
    version,
    about = "A laboratory for looped transformers: train, evaluate, probe and compare recurrent models",
    arg_required_else_help = true,
    args_override_self = true,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a preset or a config file, or resume a run; writes the run folder
    Train(train::TrainArgs),
    /// Loss and accuracies of a checkpoint per split at each test-time iteration count (the depth sweep)
    Eval(eval::EvalArgs),
    /// One Sudoku or maze through a model: the board after every iteration, the exit and the validator's verdict
    Solve(solve::SolveArgs),
    /// What the loop does: convergence, attention, logit lens, CKA against a twin, path independence, phases
    Probe(probe::ProbeArgs),
    /// In-context learning: a bandit model's regret on unseen tasks against the teacher and baselines
    Bandit(bandit::BanditArgs),
    /// Self-improvement on addition: models label longer problems for themselves, round after round
    SelfImprove(self_improve::SelfImproveArgs),
    /// The computation-graph audit of a multiplication model
    Audit(audit::AuditArgs),
    /// A preset's dataset as safetensors plus its config, for another trainer
    Data(data::DataArgs),
    /// A checkpoint as the page's weights-only file (manifest entry, training history) or in PyTorch's layout
    Export(export::ExportArgs),
    /// The resolved config of a preset with overrides, as key=value lines or JSON
    Config(ConfigArgs),
    /// Draws runs' loss, every split's accuracy with its phases, and the weight norm into an SVG or PNG
    Plot(plot::PlotArgs),
    /// Final metrics, phase steps and config differences of runs
    Compare(compare::CompareArgs),
    /// The presets, one a line
    Presets(JsonArg),
    /// The GPU adapter and the limits looplab uses
    Devices(JsonArg),
    /// Milliseconds per training step for each preset and reference shape, and matmul GFLOP/s
    Bench(bench::BenchArgs),
    /// A shell completion script, printed to stdout (e.g. `looplab completions bash > ~/.local/share/bash-completion/completions/looplab`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match pollster::block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if matches!(e, LabError::Usage(_)) {
                eprintln!("\nFor more information, try '--help'.");
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn run(command: Command) -> Result<(), LabError> {
    match command {
        Command::Train(a) => train::run(&a).await,
        Command::Eval(a) => eval::run(&a).await,
        Command::Solve(a) => solve::run(&a).await,
        Command::Probe(a) => probe::run(&a).await,
        Command::Bandit(a) => bandit::run(&a).await,
        Command::SelfImprove(a) => self_improve::run(&a).await,
        Command::Audit(a) => audit::run(&a).await,
        Command::Data(a) => data::run(&a).await,
        Command::Export(a) => export::run(&a).await,
        Command::Config(a) => config(&a),
        Command::Plot(a) => plot::run(&a),
        Command::Compare(a) => compare::run(&a),
        Command::Presets(a) => {
            presets(a.json);
            Ok(())
        }
        Command::Devices(a) => devices(a.json).await,
        Command::Bench(a) => crate::bench::run(&a.options()).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "looplab", &mut std::io::stdout());
            Ok(())
        }
    }
}

#[derive(Args)]
struct JsonArg {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// `--backend`, for every command that runs a model.
#[derive(Args, Debug)]
pub(crate) struct DeviceArg {
    /// Where to run: the GPU through wgpu (WebGPU's API), or the cpu backend (slower, runs anywhere)
    #[arg(long, value_name = "BACKEND", default_value = "gpu", value_parser = backend())]
    pub backend: BackendKind,
}

/// `--preset NAME` and `--set KEY=VALUE ...`: a config from a preset, through the config's own parser.
#[derive(Args, Debug)]
pub(crate) struct PresetArgs {
    /// The preset to start from (`looplab presets` lists them)
    #[arg(long, value_name = "NAME", value_parser = preset_name(), hide_possible_values = true)]
    pub preset: String,
    /// Change one config key, e.g. `--set task.p=23` (repeatable; `looplab config --preset NAME` lists the keys)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

impl PresetArgs {
    pub fn config(&self) -> Result<LabConfig, LabError> {
        LabConfig::from_preset(&self.preset, &self.sets)
    }
}

#[derive(Args)]
struct ConfigArgs {
    #[command(flatten)]
    preset: PresetArgs,
    /// Print the config as JSON (what `train --config FILE` reads) instead of key=value lines
    #[arg(long)]
    json: bool,
}

/// The resolved config: JSON, or one `key=value` line per key (what `--set` takes).
fn config(a: &ConfigArgs) -> Result<(), LabError> {
    let config = a.preset.config()?;
    if a.json {
        print!("{}", crate::export::pretty_config(&config));
    } else {
        for (key, value) in config.leaves() {
            println!("{key}={}", value.as_str().map_or(value.to_string(), String::from));
        }
    }
    Ok(())
}

fn presets(json: bool) {
    if json {
        let list: Vec<_> =
            PRESETS.iter().map(|p| serde_json::json!({ "name": p.name, "description": p.description })).collect();
        println!("{}", serde_json::to_string_pretty(&list).expect("presets serialize"));
    } else {
        for p in PRESETS {
            println!("{:<18} {}", p.name, p.description);
        }
    }
}

async fn devices(json: bool) -> Result<(), LabError> {
    let g = GpuBackend::new().await?;
    let l = &g.limits;
    let limits = [
        ("max_storage_buffer_binding_size", l.max_storage_buffer_binding_size),
        ("max_buffer_size", l.max_buffer_size),
        ("max_compute_invocations_per_workgroup", l.max_compute_invocations_per_workgroup as u64),
        ("max_storage_buffers_per_shader_stage", l.max_storage_buffers_per_shader_stage as u64),
        ("max_compute_workgroup_storage_size", l.max_compute_workgroup_storage_size as u64),
    ];
    if json {
        let report = serde_json::json!({
            "adapter": g.info.name,
            "backend": format!("{:?}", g.info.backend),
            "type": format!("{:?}", g.info.device_type),
            "software": g.is_software(),
            "driver": g.info.driver,
            "driver_info": g.info.driver_info,
            "limits": limits.iter().map(|&(k, v)| (k.to_string(), v.into())).collect::<serde_json::Map<_, _>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("the report serializes"));
        return Ok(());
    }
    println!("adapter: {}", g.info.name);
    println!("backend: {:?}", g.info.backend);
    println!("type:    {:?}{}", g.info.device_type, if g.is_software() { " (software: correct but slow)" } else { "" });
    println!("driver:  {} {}", g.info.driver, g.info.driver_info);
    println!("limits used by looplab:");
    for (name, value) in limits {
        let shown = match name {
            "max_storage_buffer_binding_size" | "max_buffer_size" => format!("{} MiB", value >> 20),
            "max_compute_workgroup_storage_size" => format!("{} KiB", value >> 10),
            _ => value.to_string(),
        };
        println!("  {name:<38} {shown}");
    }
    Ok(())
}

/// A value parser whose error is the core's message, "invalid value "x" for `--flag`: expected ALLOWED"
/// (the flag named by clap), reported by clap as a usage error.
#[derive(Clone)]
pub(crate) struct Checked<T> {
    allowed: String,
    parse: Arc<Parse<T>>,
}

type Parse<T> = dyn Fn(&str) -> Option<T> + Send + Sync;

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Checked<T> {
    type Value = T;
    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &OsStr) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        (self.parse)(&text).ok_or_else(|| {
            let flag = arg.and_then(|a| a.get_long()).map_or_else(|| "value".to_string(), |l| format!("--{l}"));
            let message = LabError::invalid(&flag, &text, self.allowed.clone()).to_string();
            cmd.clone().error(ErrorKind::ValueValidation, message)
        })
    }
}

/// A value parsed by `parse`, or refused as not `allowed`.
pub(crate) fn checked<T>(
    allowed: impl Into<String>,
    parse: impl Fn(&str) -> Option<T> + Send + Sync + 'static,
) -> Checked<T> {
    Checked { allowed: allowed.into(), parse: Arc::new(parse) }
}

/// A number that `ok` accepts, or refused as not `allowed`.
pub(crate) fn number<T: FromStr>(allowed: &str, ok: impl Fn(&T) -> bool + Send + Sync + 'static) -> Checked<T> {
    checked(allowed, move |s| s.parse::<T>().ok().filter(|x| ok(x)))
}

/// A whole number in `range`: "{what} from {start} to {end}".
pub(crate) fn count(range: RangeInclusive<usize>, what: &str) -> Checked<usize> {
    let allowed = format!("{what} from {} to {}", range.start(), range.end());
    number(&allowed, move |n| range.contains(n))
}

/// One of a core enum's names (offered in help and completions); the core's `FromStr` converts it.
pub(crate) fn choice<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = LabError> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

pub(crate) fn backend() -> impl TypedValueParser<Value = BackendKind> {
    choice(&["gpu", "cpu"])
}

/// A submit budget (`Backend::set_submit_budget`).
pub(crate) fn milliseconds() -> Checked<f64> {
    number("milliseconds > 0", |ms: &f64| ms.is_finite() && *ms > 0.0)
}

/// An accuracy threshold (a phase is the first step a split reaches it).
pub(crate) fn accuracy() -> Checked<f64> {
    number("an accuracy in (0, 1], e.g. 0.9", |x: &f64| *x > 0.0 && *x <= 1.0)
}

/// A preset's name (offered in completions and listed when wrong; `looplab presets` describes them).
pub(crate) fn preset_name() -> PossibleValuesParser {
    PossibleValuesParser::new(PRESETS.iter().map(|p| p.name))
}

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> LabError + '_ {
    move |source| LabError::Io { path: path.display().to_string(), source }
}

/// The checkpoint file at `path`, to run on `backend`.
pub(crate) fn snapshot(path: &Path, backend: BackendKind) -> Result<Snapshot, LabError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    Snapshot::new(bytes, &path.display().to_string(), backend)
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

/// A config file: a bare config (what `config --json` prints), or a run's config.json (the config under
/// `config`).
pub(crate) fn read_config(path: &Path) -> Result<LabConfig, LabError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| LabError::Input(format!("{}: not JSON ({e})", path.display())))?;
    let config = value.get("config").filter(|c| c.is_object()).unwrap_or(&value);
    LabConfig::from_json(&config.to_string()).map_err(|e| LabError::Input(format!("{}: {e}", path.display())))
}

/// A run to plot or compare: a run folder (its history.json, or history.csv where it has no JSON, and its config
/// from config.json or else the checkpoint's metadata), or a history file, JSON or `.csv` (no config). Named by
/// the folder, or the file's stem less `.history` (`looped.history.json` and `looped.history.csv` are `looped`).
pub(crate) fn read_run(path: &Path) -> Result<Run, LabError> {
    let folder = path.is_dir();
    let history_path = match folder {
        true if !path.join("history.json").exists() && path.join("history.csv").exists() => path.join("history.csv"),
        true => path.join("history.json"),
        false => path.to_path_buf(),
    };
    let text = std::fs::read_to_string(&history_path).map_err(io_err(&history_path))?;
    let source = history_path.display().to_string();
    let history = read_history_file(&text, &source)?;
    let config = match (folder, path.join("config.json"), path.join("model.safetensors")) {
        (false, _, _) => None,
        (true, json, _) if json.exists() => Some(read_config(&json)?),
        (true, _, ckpt) if ckpt.exists() => {
            let bytes = std::fs::read(&ckpt).map_err(io_err(&ckpt))?;
            Some(checkpoint::read_config(&bytes, &ckpt.display().to_string())?)
        }
        _ => None,
    };
    let stem = if folder { path.file_name() } else { path.file_stem() };
    let name = stem.map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
    let name = name.strip_suffix(".history").map_or(name.clone(), String::from);
    Ok(Run { name, history, config })
}

/// The runs at `paths`, named by their paths where their short names collide.
pub(crate) fn read_runs(paths: &[PathBuf]) -> Result<Vec<Run>, LabError> {
    let mut runs = paths.iter().map(|p| read_run(p)).collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    for (run, path) in runs.iter_mut().zip(paths) {
        if names.iter().filter(|n| **n == run.name).count() > 1 {
            run.name = path.display().to_string();
        }
    }
    Ok(runs)
}
