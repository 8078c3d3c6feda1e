//! `looplab probe`: runs every probe (`crate::probes`) on a checkpoint and prints a readable report (tables per
//! iteration, a token x iteration heatmap, the CKA matrix as a text heatmap, phases, the verdict) or JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{accuracy, count, DeviceArg};
use crate::config::Arch;
use crate::error::LabError;
use crate::probes::{self, ProbeOptions, ProbeReport, Thresholds, MAX_EXAMPLES};
use crate::train::Record;

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// A model.safetensors written by `train` (its history.json beside it gives the phases)
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// A feedforward twin's checkpoint, trained on the same task: stage mirroring (CKA) and the verdict's gains
    #[arg(long, value_name = "FILE")]
    twin: Option<PathBuf>,
    /// The split to probe [default: the first test split]
    #[arg(long, value_name = "NAME")]
    split: Option<String>,
    /// Probe the first N examples of the split
    #[arg(long, value_name = "N", default_value_t = probes::DEFAULT_EXAMPLES,
          value_parser = count(1..=MAX_EXAMPLES, "a number of examples"))]
    examples: usize,
    /// Iterations to run [default: the training depth]
    #[arg(long, value_name = "N", value_parser = count(1..=256, "a count"))]
    iters: Option<usize>,
    /// The accuracy a split must reach for its phase [default: 0.9]
    #[arg(long, value_name = "X", value_parser = accuracy())]
    threshold: Option<f64>,
    #[command(flatten)]
    device: DeviceArg,
    /// Print JSON (every probe's numbers, the attention maps) instead of the report
    #[arg(long)]
    json: bool,
}

/// The run's history.json next to the checkpoint, if there is one.
fn history_beside(checkpoint: &Path) -> Result<Option<Vec<Record>>, LabError> {
    let path = checkpoint.parent().unwrap_or(Path::new(".")).join("history.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    crate::train::read_history(&text, &path.display().to_string()).map(Some)
}

pub async fn run(a: &ProbeArgs) -> Result<(), LabError> {
    let path = &a.checkpoint;
    let snapshot = super::snapshot(path, a.device.backend)?;
    let weights = snapshot.weights();
    let twin_snapshot = match &a.twin {
        Some(t) => Some(super::snapshot(t, a.device.backend)?),
        None => None,
    };
    let twin = twin_snapshot.as_ref().map(|s| s.weights());
    if let Some(t) = &twin {
        probes::check_twin(&weights.config, &t.config)?;
    }
    let depth = a.iters.unwrap_or_else(|| probes::default_depth(&weights.config));
    if weights.config.model.arch == Arch::Feedforward && depth != 1 {
        return Err(LabError::invalid("--iters", depth, "1 for a feedforward model"));
    }
    let dataset = weights.config.dataset();
    let names: Vec<&str> = dataset.splits.iter().map(|s| s.name).collect();
    let split = match &a.split {
        Some(name) => dataset
            .splits
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| LabError::invalid("--split", name, names.join(", ")))?,
        None => probes::default_split(&dataset),
    };
    let history = history_beside(path)?;
    let twin_history = match &a.twin {
        Some(t) => history_beside(t)?,
        None => None,
    };
    let mut options = ProbeOptions::new(a.examples, depth);
    options.twin = twin.as_ref();
    options.history = history.as_deref();
    options.twin_history = twin_history.as_deref();
    options.thresholds =
        Thresholds { phase: a.threshold.unwrap_or(Thresholds::default().phase), ..Thresholds::default() };
    let report = probes::run(&weights, &mut snapshot.backend().await?, split, &options).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("the report serializes"));
    } else {
        let step = safetensors::SafeTensors::read_metadata(snapshot.bytes())
            .ok()
            .and_then(|(_, m)| m.metadata().as_ref()?.get("step").cloned());
        let step = step.map_or(String::new(), |s| format!(", step {s}"));
        println!("checkpoint {}{step}", path.display());
        print!("{}", render(&report));
    }
    Ok(())
}

/// Shades from low to high.
const SHADES: &[char] = &[' ', '.', ':', '-', '=', '+', '*', '#', '%', '@'];

fn shade(x: f64) -> char {
    SHADES[((x.clamp(0.0, 1.0) * (SHADES.len() - 1) as f64).round()) as usize]
}

/// A relative change on a log scale: 1e-4 or less is blank, 1 or more is full.
fn log_shade(x: f64) -> char {
    shade(((x.max(1e-12).log10() + 4.0) / 4.0).clamp(0.0, 1.0))
}

fn heads(v: &[f64], precision: usize) -> String {
    v.iter().map(|x| format!("{x:>9.precision$}")).collect::<Vec<_>>().join("")
}

/// The readable report.
pub fn render(r: &ProbeReport) -> String {
    let mut s = String::new();
    let unit = &r.step_unit;
    let arch = serde_json::to_value(r.arch).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    let _ = writeln!(
        s,
        "model: {arch}, d_model {}, {} call(s) per iteration of a {}-layer block; {} iteration(s); split `{}`, {} examples of {} tokens",
        r.d_model, r.calls_per_iteration, r.block_layers, r.iterations, r.split, r.examples, r.seq
    );
    if unit == "layer" {
        let _ = writeln!(s, "(feedforward: its layers stand in for iterations below)");
    }

    let c = &r.convergence;
    let _ = writeln!(s, "\nfixed-point convergence: relative change ‖h[t+1]-h[t]‖/‖h[t]‖ and cosine(h[t+1], h[t]) per {unit}, mean over examples");
    let _ = writeln!(s, "  {:>10} {:>5} {:>6} {:>12} {:>10}", unit, "call", "layer", "rel.change", "cosine");
    for (i, series) in c.series.iter().enumerate() {
        for (t, ch) in series.changes.iter().enumerate() {
            let mark = if i == c.answer_series { "  (answer state)" } else { "" };
            let (call, layer) = if unit == "layer" {
                ("-".to_string(), "-".to_string())
            } else {
                (series.call.to_string(), series.layer.to_string())
            };
            let _ = writeln!(
                s,
                "  {:>10} {call:>5} {layer:>6} {:>12.3e} {:>10.6}{mark}",
                format!("{} -> {}", t + 1, t + 2),
                ch.relative_change,
                ch.cosine
            );
        }
    }
    if !c.per_token.is_empty() {
        let _ = writeln!(s, "\nper-token relative change of the answer state (rows: {unit} t -> t+1, columns: tokens; log scale, ' ' <= 1e-4 ... '@' >= 1)");
        for (t, row) in c.per_token.iter().enumerate() {
            let line: String = row.iter().map(|&x| log_shade(x)).collect();
            let max = row.iter().copied().fold(0.0, f64::max);
            let _ = writeln!(s, "  {:>8} |{line}|  max {max:.2e}", format!("{} -> {}", t + 1, t + 2));
        }
    }

    let a = &r.attention;
    let _ = writeln!(
        s,
        "\nattention per head ({} heads, {} keys per query{}): entropy (nats, uniform = {:.3}) at each {unit}; JS divergence (nats, max ln 2 = 0.693) to the next",
        a.heads,
        a.keys,
        if a.local { ", local window" } else { "" },
        (a.keys as f64).ln()
    );
    for series in &a.series {
        if unit != "layer" {
            let _ = writeln!(s, "  call {} layer {}", series.call, series.layer);
        }
        for (t, e) in series.entropy.iter().enumerate() {
            let js = series.js.get(t).map_or(String::new(), |j| format!("   JS to {}:{}", t + 2, heads(j, 4)));
            let _ = writeln!(s, "  {:>8} {:>3} entropy:{}{js}", unit, t + 1, heads(e, 3));
        }
    }
    let _ = writeln!(s, "  (the maps of example {} at every loop state are in --json: attention.maps)", a.map_example);

    let _ = writeln!(s, "\nlogit lens: the output head on the answer state after each iteration");
    let _ = writeln!(s, "  {:>9} {:>10} {:>10} {:>10}", "iteration", "token acc", "exact acc", "mean rank");
    for l in &r.lens {
        let _ = writeln!(
            s,
            "  {:>9} {:>9.2}% {:>9.2}% {:>10.2}",
            l.iteration,
            100.0 * l.token_accuracy,
            100.0 * l.exact_accuracy,
            l.mean_rank
        );
    }
    for b in &r.bridges {
        let share: Vec<String> = b.top_share.iter().map(|x| format!("{:.2}", x)).collect();
        let rank: Vec<String> = b.mean_rank.iter().map(|x| format!("{:.1}", x)).collect();
        let _ = writeln!(
            s,
            "  bridge b{} ({} examples) top at the answer position, share per iteration: {}; mean rank: {}; first top per iteration {:?}, never {}",
            b.bridge,
            b.examples,
            share.join(" "),
            rank.join(" "),
            b.first_top,
            b.never_top
        );
    }

    if let Some(p) = &r.steps {
        let _ = writeln!(s, "\nprogram steps per iteration: rows of the space-time diagram (row t = the tape after t steps) entirely right, share of examples; frontier = leading rows all right, diagonal = row r right after iteration r");
        let header: String = p.rows.iter().map(|t| format!("{:>5}", format!("t{t}"))).collect();
        let _ = writeln!(s, "  {:>9} {:>8} {:>8} {header}", "iteration", "frontier", "diagonal");
        for (i, row) in p.row_exact.iter().enumerate() {
            let cells: String = row.iter().map(|x| format!("{x:>5.2}")).collect();
            let diagonal = p.diagonal.get(i).map_or("-".to_string(), |d| format!("{d:.2}"));
            let _ = writeln!(s, "  {:>9} {:>8.2} {diagonal:>8} {cells}", i + 1, p.frontier[i]);
        }
        let readable: String = p.readable.iter().map(|x| format!("{x:>5}")).collect();
        let _ = writeln!(s, "  {:>27}{readable}   (iteration a row first reaches 90% of its best)", "readable at");
    }

    if let Some(k) = &r.cka {
        let _ = writeln!(s, "\nstage mirroring: linear CKA between each loop state (rows: {unit}.call.layer) and each layer of the feedforward twin (columns)");
        let header: String = (0..k.twin_layers).map(|l| format!("{:>6}", format!("L{l}"))).collect();
        let _ = writeln!(s, "  {:>10} {header}   map  best", "state");
        for (label, (row, &best)) in r.states.iter().zip(k.values.iter().zip(&k.best)) {
            let cells: String = row.iter().map(|x| format!("{x:>6.2}")).collect();
            let map: String = row.iter().map(|&x| shade(x)).collect();
            let _ = writeln!(
                s,
                "  {:>10} {cells}   |{map}|  L{best}",
                format!("{}.{}.{}", label.step, label.call, label.layer)
            );
        }
    }

    if let Some(p) = &r.path {
        let _ = writeln!(
            s,
            "\npath independence: final answer state after {} iterations from the true start vs from start + N(0, {:.3}²): cosine mean {:.4}, min {:.4}; relative distance {:.3e}",
            p.iterations, p.noise_std, p.mean_cosine, p.min_cosine, p.mean_relative_distance
        );
    }

    if let Some(p) = &r.phases {
        let _ = writeln!(
            s,
            "\nphases: first recorded step with accuracy >= {} ({} records up to step {})",
            p.threshold, p.records, p.last_step
        );
        let _ = writeln!(s, "  {:<15} {:>10} {:>10} {:>10} {:>10}", "split", "token acc", "exact", "best", "final");
        let step = |x: Option<u64>| x.map_or("never".to_string(), |v| v.to_string());
        let twin = r.twin_phases.iter().flat_map(|t| t.splits.iter().map(move |ph| (format!("twin {}", ph.split), ph)));
        for (name, ph) in p.splits.iter().map(|ph| (ph.split.clone(), ph)).chain(twin) {
            let _ = writeln!(
                s,
                "  {:<15} {:>10} {:>10} {:>10.4} {:>10.4}",
                name,
                step(ph.accuracy_step),
                step(ph.exact_step),
                ph.best_accuracy,
                ph.final_accuracy
            );
        }
        if let Some(t) = &r.twin_phases {
            let _ = writeln!(s, "  (twin: {} records up to step {})", t.records, t.last_step);
        }
    }

    let _ = writeln!(s, "\nverdict");
    for v in &r.verdict {
        let _ = writeln!(s, "  {} {}\n      {}", v.question, v.answer, v.evidence);
    }
    s
}
