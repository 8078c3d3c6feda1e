//! `looplab bench`: milliseconds per training step for each preset and for the reference shapes of
//! shared/bench (the same shapes PyTorch eager is timed on there), with submits, dispatches and bytes
//! allocated per step after warm-up, and matmul GFLOP/s, on both backends. Figures, never assertions.
//! `--profile` adds each step's time per kernel kind (profile.rs); `--json` carries, per figure, the config,
//! shapes and sampled depths it measured, which python/looplab_torch/bench.py reads to time the same models
//! in PyTorch.

mod profile;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::backend::{Backend, BackendKind};
use crate::config::{preset, Arch, LabConfig, TaskKind, PRESETS};
use crate::error::LabError;
use crate::ops::matmul::{Matmul, MatmulPath};
use crate::program::{Kernel, MemoryPlan};
use crate::train::{StepDepth, Trainer};
use profile::{profile_steps, ProfileFigure};

/// What to measure (`looplab bench`'s arguments).
pub struct Options {
    pub json: bool,
    pub backends: Vec<BackendKind>,
    pub steps: usize,
    /// Only figures whose name contains this (`matmul` for the matmul figures).
    pub filter: Option<String>,
    /// Only the figures of exactly these names (`matmul` for the matmul figures).
    pub only: Option<Vec<String>>,
    /// Also profile each step's kernels (on steps of their own).
    pub profile: bool,
    /// Also write the JSON report here (the text still goes to stdout).
    pub save: Option<String>,
    /// Milliseconds one GPU submit may take (`Backend::set_submit_budget`); longer steps show more submits.
    pub submit_budget_ms: Option<f64>,
}

impl Options {
    fn wanted(&self, name: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| name.contains(f.as_str()))
            && self.only.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
    }
}

/// Every name a figure can have: the presets, the reference shapes (`ref:NAME`) and `matmul`.
pub fn figure_names() -> Vec<String> {
    let presets = PRESETS.iter().map(|p| p.name.to_string());
    let shapes = REFERENCE.iter().map(|s| format!("ref:{}", s.0));
    presets.chain(shapes).chain(["matmul".to_string()]).collect()
}

/// The input shape a step figure's model ran on.
#[derive(Serialize)]
pub struct StepShape {
    pub batch: usize,
    pub seq: usize,
    pub grid: [usize; 2],
    pub vocab: usize,
}

#[derive(Serialize)]
pub struct StepFigure {
    pub name: String,
    pub backend: BackendKind,
    pub params: usize,
    pub ms_per_step: f64,
    pub submits_per_step: f64,
    pub dispatches_per_step: f64,
    pub bytes_allocated_per_step: f64,
    /// What was measured, for a twin to rebuild: the config, the training input shape, every parameter's
    /// shape by checkpoint name, and the depth of the warm-up step then of each timed step.
    pub config: LabConfig,
    pub shape: StepShape,
    pub tensors: BTreeMap<String, Vec<usize>>,
    pub depths: Vec<StepDepth>,
    pub threads: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileFigure>,
}

#[derive(Serialize)]
pub struct MatmulFigure {
    pub backend: BackendKind,
    pub path: String,
    pub size: usize,
    pub gflops: f64,
}

/// Why a matmul size was not measured.
#[derive(Serialize)]
pub struct Skipped {
    pub backend: BackendKind,
    pub what: String,
    pub why: String,
}

#[derive(Serialize)]
pub struct Report {
    pub device: String,
    pub steps: Vec<StepFigure>,
    pub matmul: Vec<MatmulFigure>,
    pub skipped: Vec<Skipped>,
}

/// (name, vocab, seq, d, heads, swiglu hidden, block layers, iterations, batch).
type RefShape = (&'static str, usize, usize, usize, usize, usize, usize, usize, usize);

/// The shapes of shared/bench/torch_ref.py.
const REFERENCE: [RefShape; 3] = [
    ("grok-ff1", 99, 4, 128, 4, 512, 1, 1, 512),
    ("sudoku6-loop", 8, 36, 128, 4, 512, 2, 8, 64),
    ("maze15-loop", 6, 225, 64, 4, 256, 1, 16, 32),
];

fn reference_config(shape: RefShape) -> LabConfig {
    let (_, vocab, seq, d, heads, hidden, layers, loops, batch) = shape;
    let mut c = preset("grokking").expect("preset exists");
    c.task.kind = TaskKind::Random;
    (c.task.vocab, c.task.seq_len, c.task.examples) = (vocab, seq, batch * 4);
    c.model.arch = if loops > 1 { Arch::Looped } else { Arch::Feedforward };
    (c.model.d_model, c.model.heads, c.model.mlp_hidden, c.model.layers, c.model.loops) =
        (d, heads, hidden, layers, loops);
    c.train.batch_size = batch;
    // Never reached: the bench drives single steps.
    c.train.steps = 1_000_000_000;
    c.train.eval_every = 1_000_000_000;
    c
}

/// Threads the cpu backend spreads kernels over (1 in wasm).
fn cpu_threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::current_num_threads();
    #[cfg(target_arch = "wasm32")]
    1
}

async fn time_steps(name: &str, config: LabConfig, kind: BackendKind, args: &Options) -> Result<StepFigure, LabError> {
    let (steps, profile) = (args.steps, args.profile);
    let mut t = Trainer::new(config.clone(), Backend::open(kind).await?).await?;
    t.backend.set_submit_budget(args.submit_budget_ms);
    let mut depths = vec![t.step_once()?]; // warm-up: shader compilation, first submit
    t.wait_idle().await?;
    let before = t.backend.stats();
    let start = web_time::Instant::now();
    for _ in 0..steps {
        depths.push(t.step_once()?);
    }
    t.wait_idle().await?;
    let seconds = start.elapsed().as_secs_f64();
    let after = t.backend.stats();
    let per = |a: u64, b: u64| (a - b) as f64 / steps as f64;
    let train = t.dataset.train();
    let shape = StepShape {
        batch: if config.train.batch_size == 0 { train.len() } else { config.train.batch_size },
        seq: train.seq_len,
        grid: train.grid,
        vocab: t.dataset.vocab,
    };
    let profile = if profile { Some(profile_steps(&mut t, steps as u64).await?) } else { None };
    Ok(StepFigure {
        name: name.to_string(),
        backend: kind,
        params: t.params.count(),
        ms_per_step: 1e3 * seconds / steps as f64,
        submits_per_step: per(after.submits, before.submits),
        dispatches_per_step: per(after.dispatches, before.dispatches),
        bytes_allocated_per_step: per(after.bytes_allocated, before.bytes_allocated),
        config,
        shape,
        tensors: t.params.list.iter().map(|p| (p.name.clone(), p.shape.clone())).collect(),
        depths,
        threads: if kind == BackendKind::Cpu { cpu_threads() } else { 1 },
        profile,
    })
}

async fn time_matmul(kind: BackendKind, path: MatmulPath, n: usize) -> Result<MatmulFigure, LabError> {
    let mut backend = Backend::open(kind).await?;
    let mut plan = MemoryPlan::default();
    let (a, b, c) = (plan.buffer("a", n * n), plan.buffer("b", n * n), plan.buffer("c", n * n));
    backend.allocate(&plan)?;
    let ones = vec![1.0f32; n * n];
    backend.write(a, &ones);
    backend.write(b, &ones);
    let reps = 5;
    let kernels: Vec<Box<dyn Kernel>> =
        (0..reps).map(|_| Box::new(Matmul::new(a, b, c, n, n, n).path(path)) as Box<dyn Kernel>).collect();
    let program = backend.prepare(kernels).await?;
    backend.run(&[program])?;
    backend.read(c.slice(0, 1)).await?;
    let start = web_time::Instant::now();
    backend.run(&[program])?;
    backend.read(c.slice(0, 1)).await?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(MatmulFigure {
        backend: kind,
        path: format!("{path:?}").to_lowercase(),
        size: n,
        gflops: 2.0 * (n * n * n * reps) as f64 / seconds / 1e9,
    })
}

/// Matmul sizes measured; 4096³ only on a real GPU (a software adapter would take minutes).
const MATMUL_SIZES: [usize; 4] = [256, 512, 1024, 4096];
const SOFTWARE_MAX_MATMUL: usize = 1024;

pub async fn run(args: &Options) -> Result<(), LabError> {
    let mut report = Report { device: String::new(), steps: Vec::new(), matmul: Vec::new(), skipped: Vec::new() };
    for &kind in &args.backends {
        let backend = Backend::open(kind).await?;
        let device = backend.describe();
        let software = match &backend {
            Backend::Gpu(g) => g.is_software(),
            Backend::Cpu(_) => true,
        };
        drop(backend);
        report.device += &format!("{kind:?}: {device}; ");
        if !args.json {
            println!("== {kind:?} backend: {device}");
        }
        let named = PRESETS.iter().map(|p| (p.name.to_string(), (p.config)()));
        let shapes = REFERENCE.iter().map(|&s| (format!("ref:{}", s.0), reference_config(s)));
        for (name, config) in named.chain(shapes).filter(|(name, _)| args.wanted(name)) {
            let f = time_steps(&name, config, kind, args).await?;
            if !args.json {
                println!(
                    "{:<18} {:>8} params {:>10.1} ms/step  {:>4.0} submits/step  {:>5.0} dispatches/step  {:>4.0} bytes allocated/step",
                    f.name, f.params, f.ms_per_step, f.submits_per_step, f.dispatches_per_step, f.bytes_allocated_per_step
                );
                if let Some(p) = &f.profile {
                    p.print();
                }
            }
            report.steps.push(f);
        }
        // Every variant the autotuner may pick; one this adapter lacks (subgroups) is reported as skipped.
        let paths: &[MatmulPath] = if kind == BackendKind::Gpu { &MatmulPath::FORCED } else { &[MatmulPath::Blocked] };
        for &path in paths.iter().filter(|_| args.wanted("matmul")) {
            for n in MATMUL_SIZES {
                if software && n > SOFTWARE_MAX_MATMUL {
                    let why = if kind == BackendKind::Cpu {
                        format!("{n}³ is measured on GPUs only")
                    } else {
                        format!("{device} is a software adapter: {n}³ would take minutes")
                    };
                    if !args.json {
                        println!("matmul {n:>4}^3 skipped: {why}");
                    }
                    report.skipped.push(Skipped { backend: kind, what: format!("matmul {n}^3 {path:?}"), why });
                    continue;
                }
                let f = match time_matmul(kind, path, n).await {
                    Ok(f) => f,
                    Err(e) => {
                        let why = e.to_string().lines().next().unwrap_or("").to_string();
                        if !args.json {
                            println!("matmul {n:>4}^3 {path:?} skipped: {why}");
                        }
                        report.skipped.push(Skipped { backend: kind, what: format!("matmul {n}^3 {path:?}"), why });
                        break;
                    }
                };
                if !args.json {
                    println!(
                        "matmul {:>4}^3 {:<8} {:>7.2} GFLOP/s",
                        f.size,
                        if kind == BackendKind::Gpu { &f.path } else { "sgemm" },
                        f.gflops
                    );
                }
                report.matmul.push(f);
            }
        }
    }
    let json = serde_json::to_string_pretty(&report).expect("report serializes");
    if let Some(path) = &args.save {
        std::fs::write(path, format!("{json}\n")).map_err(|source| LabError::Io { path: path.clone(), source })?;
    }
    if args.json {
        println!("{json}");
    }
    Ok(())
}
