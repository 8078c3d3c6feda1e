//! `looplab solve`: one Sudoku, maze or automaton program through a trained model, the board (or space-time
//! diagram) after every iteration, the iteration an adaptive exit stops at, and whether the task's validator
//! accepts the answer.

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use super::{count, io_err, number, DeviceArg};
use crate::config::TaskKind;
use crate::error::LabError;
use crate::problem::{self, Solution};
use crate::solve::Exit;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("problem").required(true).args(["sudoku", "maze", "program"])))]
pub struct SolveArgs {
    /// A model.safetensors written by `train` on Sudoku, mazes or automaton programs
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// A puzzle, row by row: digits for givens, `.` or `0` for empty cells (spaces ignored)
    #[arg(long, value_name = "PUZZLE")]
    sudoku: Option<String>,
    /// A maze drawing: `#` walls, `.` open cells, `S` start, `G` goal
    #[arg(long, value_name = "FILE")]
    maze: Option<PathBuf>,
    /// An automaton program as "RULE TAPE STEPS" (the automaton task)
    #[arg(long, value_name = "RULE TAPE STEPS")]
    program: Option<String>,
    /// The most iterations to run [default: the training depth; for a program at least one per step]
    #[arg(long, value_name = "N", value_parser = count(1..=256, "a count"))]
    iters: Option<usize>,
    #[command(flatten)]
    exit: ExitArgs,
    #[command(flatten)]
    device: DeviceArg,
    /// Print JSON instead of boards
    #[arg(long)]
    json: bool,
}

/// The adaptive exit: `--exit-kl EPS` or `--exit-halt`, for `solve` and `eval`.
#[derive(Args, Debug)]
pub struct ExitArgs {
    /// Exit once the mean KL between successive iterations' predictions falls below EPS
    #[arg(long, value_name = "EPS", allow_negative_numbers = true,
          value_parser = number::<f64>("a positive threshold, e.g. 0.001", |x| x.is_finite() && *x > 0.0))]
    exit_kl: Option<f64>,
    /// Exit where the halting head says stop (models trained with model.halting=true)
    #[arg(long, conflicts_with = "exit_kl")]
    exit_halt: bool,
}

impl ExitArgs {
    pub fn rule(&self) -> Option<Exit> {
        match (self.exit_kl, self.exit_halt) {
            (Some(eps), _) => Some(Exit::Kl(eps)),
            (None, true) => Some(Exit::Halt),
            (None, false) => None,
        }
    }
}

#[derive(serde::Serialize)]
struct Step {
    iteration: usize,
    /// The board or maze drawing the model predicts after this iteration.
    board: String,
    /// Positions whose prediction changed since the previous iteration.
    changed: usize,
    /// Mean KL(p_t || p_{t-1}) over positions (absent for the first iteration).
    kl: Option<f64>,
    /// The halting head's logit (models trained with `model.halting`): positive means "stop".
    halt_logit: Option<f32>,
    valid: bool,
}

/// What `--json` prints: the core's solution without the page's per-cell fields.
#[derive(serde::Serialize)]
struct Solved {
    /// About the input (the automaton's rule: trained on or held out).
    note: Option<String>,
    iterations: Vec<Step>,
    exit_iteration: usize,
    /// The exit rule: "KL < EPS", "halting head", or "none" (the answer after every iteration).
    exit_rule: String,
    answer: String,
    valid: bool,
    /// What the validator found wrong with the answer.
    error: Option<String>,
}

impl From<Solution> for Solved {
    fn from(s: Solution) -> Solved {
        let iterations = s
            .iterations
            .into_iter()
            .enumerate()
            .map(|(i, it)| Step {
                iteration: i + 1,
                board: it.board,
                changed: it.changed,
                kl: it.kl,
                halt_logit: it.halt_logit,
                valid: it.valid,
            })
            .collect();
        Solved {
            note: s.note,
            iterations,
            exit_iteration: s.exit_iteration,
            exit_rule: s.exit_rule,
            answer: s.answer,
            valid: s.valid,
            error: s.error,
        }
    }
}

pub async fn run(a: &SolveArgs) -> Result<(), LabError> {
    let snapshot = super::snapshot(&a.checkpoint, a.device.backend)?;
    let weights = snapshot.weights();
    let task = &weights.config.task;
    let text = match (&a.sudoku, &a.maze, &a.program, task.kind) {
        (Some(text), _, _, TaskKind::Sudoku) | (_, _, Some(text), TaskKind::Automaton) => text.clone(),
        (_, Some(file), _, TaskKind::Maze) => std::fs::read_to_string(file).map_err(io_err(file))?,
        (sudoku, maze, _, kind) => {
            let given = if sudoku.is_some() {
                "--sudoku"
            } else if maze.is_some() {
                "--maze"
            } else {
                "--program"
            };
            return Err(LabError::Input(format!(
                "{given} needs a checkpoint trained on that task; this one was trained on task.kind={kind:?}"
            )));
        }
    };
    let problem = problem::parse(task, weights.config.seed, &text, weights.positions)?;
    // By default at least one iteration per program step (a longer program than trained needs more).
    let depth = a.iters.unwrap_or_else(|| problem::default_depth(&weights.config, problem.as_ref()));
    if weights.config.model.arch == crate::config::Arch::Feedforward && depth != 1 {
        return Err(LabError::invalid("--iters", depth, "1 for a feedforward model"));
    }
    // Without --exit-kl or --exit-halt the answer is the one after every iteration asked for.
    let rule = a.exit.rule();
    let solution: Solved =
        problem::solve(&weights, &mut snapshot.backend().await?, problem.as_ref(), depth, rule).await?.into();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&solution).expect("solution serializes"));
        return Ok(());
    }
    if let Some(note) = &solution.note {
        println!("{note}; {depth} iterations");
    }
    for s in &solution.iterations {
        let kl = s.kl.map_or(String::new(), |k| format!(", KL {k:.2e}"));
        let halt = s.halt_logit.map_or(String::new(), |q| format!(", halting logit {q:.2}"));
        println!("iteration {}: {} changed{kl}{halt}{}", s.iteration, s.changed, if s.valid { ", valid" } else { "" });
        println!("{}", s.board.trim_end());
    }
    match rule {
        Some(rule) => println!("exit at iteration {} of {depth} ({rule})", solution.exit_iteration),
        None => {
            println!("answer after all {depth} iterations (no exit rule: --exit-kl EPS or --exit-halt stops earlier)")
        }
    }
    println!("answer:\n{}", solution.answer.trim_end());
    match &solution.error {
        None => println!("valid: the validator accepts it"),
        Some(e) => println!("not valid: {e}"),
    }
    Ok(())
}
