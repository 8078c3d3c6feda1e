//! `looplab solve`: one Sudoku, maze or automaton program through a trained model, the board (or space-time
//! diagram) after every iteration, the iteration an adaptive exit stops at, and whether the task's validator
//! accepts the answer.

use std::path::PathBuf;

use super::{count, io_err, value};
use crate::backend::BackendKind;
use crate::config::TaskKind;
use crate::error::LabError;
use crate::problem::{self, Solution};
use crate::solve::{Exit, EXIT_KL};

#[derive(Debug, Default)]
pub struct SolveArgs {
    checkpoint: Option<PathBuf>,
    sudoku: Option<String>,
    maze: Option<PathBuf>,
    program: Option<String>,
    iters: Option<usize>,
    exit: Option<Exit>,
    backend: Option<BackendKind>,
    json: bool,
}

/// `--exit-kl EPS` or `--exit-halt` (the rule given at most once), for `solve` and `eval`.
pub fn parse_exit(flag: &str, it: &mut std::slice::Iter<String>, current: Option<Exit>) -> Result<Exit, LabError> {
    if current.is_some() {
        return Err(LabError::Usage("give one exit rule: --exit-kl EPS or --exit-halt".into()));
    }
    if flag == "--exit-halt" {
        return Ok(Exit::Halt);
    }
    let v = value(flag, it)?;
    let threshold = v.parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0);
    Ok(Exit::Kl(threshold.ok_or_else(|| LabError::invalid("--exit-kl", v, "a positive threshold, e.g. 0.001"))?))
}

impl SolveArgs {
    pub fn parse(args: &[String]) -> Result<SolveArgs, LabError> {
        let mut a = SolveArgs::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--checkpoint" => a.checkpoint = Some(PathBuf::from(value(flag, &mut it)?)),
                "--sudoku" => a.sudoku = Some(value(flag, &mut it)?.clone()),
                "--maze" => a.maze = Some(PathBuf::from(value(flag, &mut it)?)),
                "--program" => a.program = Some(value(flag, &mut it)?.clone()),
                "--iters" => a.iters = Some(count(flag, &mut it, 1..=256, "a count")?),
                "--exit-kl" | "--exit-halt" => a.exit = Some(parse_exit(flag, &mut it, a.exit)?),
                "--backend" => a.backend = Some(value(flag, &mut it)?.parse()?),
                "--json" => a.json = true,
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `solve`"))),
            }
        }
        if a.checkpoint.is_none() {
            return Err(LabError::Usage(
                "`solve` needs --checkpoint FILE (a model.safetensors written by `train`)".into(),
            ));
        }
        if [a.sudoku.is_some(), a.maze.is_some(), a.program.is_some()].iter().filter(|&&x| x).count() != 1 {
            return Err(LabError::Usage(
                "`solve` needs exactly one of --sudoku PUZZLE, --maze FILE or --program \"RULE TAPE STEPS\"".into(),
            ));
        }
        Ok(a)
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
    /// The exit rule: "KL < EPS" or "halting head".
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
    let snapshot = super::snapshot(a.checkpoint.as_ref().expect("checked by parse"), a.backend)?;
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
    let rule = a.exit.unwrap_or(Exit::Kl(EXIT_KL));
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
    println!("exit at iteration {} of {} ({rule})", solution.exit_iteration, depth);
    println!("answer:\n{}", solution.answer.trim_end());
    match &solution.error {
        None => println!("valid: the validator accepts it"),
        Some(e) => println!("not valid: {e}"),
    }
    Ok(())
}
