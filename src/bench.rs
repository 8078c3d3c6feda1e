//! `looplab bench`: milliseconds per training step for each preset and for the reference shapes of
//! shared/bench (the same shapes PyTorch eager is timed on there), with submits, dispatches and bytes
//! allocated per step after warm-up, and matmul GFLOP/s, on both backends. Figures, never assertions.

use serde::Serialize;

use crate::backend::{Backend, BackendKind, MemoryPlan};
use crate::config::{preset, Arch, LabConfig, TaskKind, PRESETS};
use crate::error::LabError;
use crate::ops::matmul::{Matmul, MatmulPath};
use crate::ops::Kernel;
use crate::train::Trainer;

pub struct BenchArgs {
    pub json: bool,
    pub backends: Vec<BackendKind>,
    pub steps: usize,
    /// Only figures whose name contains this (`matmul` for the matmul figures).
    pub filter: Option<String>,
}

impl BenchArgs {
    pub fn parse(args: &[String]) -> Result<BenchArgs, LabError> {
        let mut a =
            BenchArgs { json: false, backends: vec![BackendKind::Gpu, BackendKind::Cpu], steps: 3, filter: None };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().cloned().ok_or_else(|| LabError::Usage(format!("`{flag}` needs a value")));
            match flag.as_str() {
                "--json" => a.json = true,
                "--backend" => a.backends = vec![value()?.parse()?],
                "--filter" => a.filter = Some(value()?),
                "--steps" => {
                    let v = value()?;
                    a.steps = v
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| LabError::invalid("--steps", v, "a whole number >= 1"))?;
                }
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `bench`"))),
            }
        }
        Ok(a)
    }
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
}

#[derive(Serialize)]
pub struct MatmulFigure {
    pub backend: BackendKind,
    pub path: String,
    pub size: usize,
    pub gflops: f64,
}

#[derive(Serialize)]
pub struct Report {
    pub device: String,
    pub steps: Vec<StepFigure>,
    pub matmul: Vec<MatmulFigure>,
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

async fn time_steps(name: &str, config: LabConfig, kind: BackendKind, steps: usize) -> Result<StepFigure, LabError> {
    let mut t = Trainer::new(config, Backend::open(kind).await?).await?;
    t.step_once(); // warm-up: shader compilation, first submit
    t.wait_idle().await?;
    let before = t.backend.stats();
    let start = web_time::Instant::now();
    for _ in 0..steps {
        t.step_once();
    }
    t.wait_idle().await?;
    let seconds = start.elapsed().as_secs_f64();
    let after = t.backend.stats();
    let per = |a: u64, b: u64| (a - b) as f64 / steps as f64;
    Ok(StepFigure {
        name: name.to_string(),
        backend: kind,
        params: t.params.count(),
        ms_per_step: 1e3 * seconds / steps as f64,
        submits_per_step: per(after.submits, before.submits),
        dispatches_per_step: per(after.dispatches, before.dispatches),
        bytes_allocated_per_step: per(after.bytes_allocated, before.bytes_allocated),
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
    backend.run(&[program]);
    backend.read(c.slice(0, 1)).await?;
    let start = web_time::Instant::now();
    backend.run(&[program]);
    backend.read(c.slice(0, 1)).await?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(MatmulFigure {
        backend: kind,
        path: format!("{path:?}").to_lowercase(),
        size: n,
        gflops: 2.0 * (n * n * n * reps) as f64 / seconds / 1e9,
    })
}

pub async fn run(args: &BenchArgs) -> Result<(), LabError> {
    let mut report = Report { device: String::new(), steps: Vec::new(), matmul: Vec::new() };
    for &kind in &args.backends {
        let device = Backend::open(kind).await?.describe();
        report.device += &format!("{kind:?}: {device}; ");
        if !args.json {
            println!("== {kind:?} backend: {device}");
        }
        let named = PRESETS.iter().map(|p| (p.name.to_string(), (p.config)()));
        let shapes = REFERENCE.iter().map(|&s| (format!("ref:{}", s.0), reference_config(s)));
        let wanted = |name: &str| args.filter.as_ref().is_none_or(|f| name.contains(f.as_str()));
        for (name, config) in named.chain(shapes).filter(|(name, _)| wanted(name)) {
            let f = time_steps(&name, config, kind, args.steps).await?;
            if !args.json {
                println!(
                    "{:<18} {:>8} params {:>10.1} ms/step  {:>4.0} submits/step  {:>5.0} dispatches/step  {:>4.0} bytes allocated/step",
                    f.name, f.params, f.ms_per_step, f.submits_per_step, f.dispatches_per_step, f.bytes_allocated_per_step
                );
            }
            report.steps.push(f);
        }
        // Every variant the autotuner may pick; one the adapter lacks (subgroups) is reported as skipped.
        let paths: &[MatmulPath] = if kind == BackendKind::Gpu { &MatmulPath::FORCED } else { &[MatmulPath::Blocked] };
        for &path in paths.iter().filter(|_| wanted("matmul")) {
            for n in [256, 512, 1024] {
                let f = match time_matmul(kind, path, n).await {
                    Ok(f) => f,
                    Err(e) if !args.json => {
                        println!("matmul {n:>4}^3 {path:?}: skipped ({})", e.to_string().lines().next().unwrap_or(""));
                        break;
                    }
                    Err(_) => break,
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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
    }
    Ok(())
}
