//! `looplab solve`: one Sudoku, maze or automaton program through a trained model, the board (or space-time
//! diagram) after every iteration, the iteration an adaptive exit stops at, and whether the task's validator
//! accepts the answer.

use std::path::PathBuf;

use super::{count, io_err, value};
use crate::backend::{Backend, BackendKind};
use crate::config::TaskKind;
use crate::error::LabError;
use crate::solve::{trace, Exit, Trace, EXIT_KL};
use crate::tasks::{automaton, maze, sudoku};
use crate::train::{checkpoint::Weights, training_depth};

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

#[derive(serde::Serialize)]
struct Solution {
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

type Render = Box<dyn Fn(&[u32]) -> String>;
type Judge = Box<dyn Fn(&[u32]) -> Result<(), String>>;

/// A task's view of one input: tokens, grid, and how to render and judge a prediction.
struct Problem {
    tokens: Vec<u32>,
    grid: [usize; 2],
    render: Render,
    judge: Judge,
    /// A line about the input to print first (the automaton's rule: trained on or held out).
    note: Option<String>,
    /// The fewest iterations that can solve it, when the task knows (one per program step).
    min_depth: usize,
}

fn sudoku_problem(text: &str, n: usize) -> Result<Problem, LabError> {
    let puzzle = sudoku::parse(text, n)?;
    let board = move |p: &[u32]| sudoku::Board { n, cells: p.iter().map(|&d| d.min(255) as u8).collect() };
    let given = puzzle.clone();
    Ok(Problem {
        tokens: puzzle.cells.iter().map(|&d| d as u32).collect(),
        grid: [n, n],
        render: Box::new(move |p| sudoku::pretty(&board(p))),
        judge: Box::new(move |p| sudoku::check(&given, &board(p)).map_err(|v| v.to_string())),
        note: None,
        min_depth: 1,
    })
}

/// A maze; with learned positions it is padded with walls to the side the model was trained on.
fn maze_problem(text: &str, positions: usize) -> Result<Problem, LabError> {
    let m = maze::parse(text)?;
    let side = if positions > 0 { (positions as f64).sqrt().round() as usize } else { m.side };
    if side < m.side {
        return Err(LabError::Input(format!(
            "a {0}x{0} maze grid is larger than the {side}x{side} grid this model learned positions for; train with model.attention=local and model.positions=none to solve larger mazes",
            m.side
        )));
    }
    let (tokens, _) = maze::embed(&m, side);
    let inside = move |i: usize| (i / side < m.side && i % side < m.side).then(|| (i / side) * m.side + i % side);
    let path = move |p: &[u32]| -> Vec<usize> { (0..p.len()).filter(|&i| p[i] == 1).filter_map(inside).collect() };
    let (draw, check) = (m.clone(), m);
    Ok(Problem {
        tokens,
        grid: [side, side],
        render: Box::new(move |p| maze::to_text(&draw, Some(&path(p)))),
        judge: Box::new(move |p| maze::check(&check, &path(p)).map_err(|e| e.to_string())),
        note: None,
        min_depth: 1,
    })
}

/// An automaton program, laid out on the grid the model takes (see `automaton::model_grid`).
fn program_problem(text: &str, weights: &Weights<'_>) -> Result<Problem, LabError> {
    let program = automaton::parse(text)?;
    let (task, seed) = (&weights.config.task, weights.config.seed);
    let grid = automaton::model_grid(&program, task, weights.positions)?;
    let (tokens, _) = program.encode(grid);
    let (shown, judged) = (program.clone(), program.clone());
    Ok(Problem {
        tokens,
        grid,
        render: Box::new(move |p| automaton::render(&shown, &automaton::read(&shown, p, grid))),
        judge: Box::new(move |p| automaton::verdict(&judged, &automaton::read(&judged, p, grid))),
        note: Some(format!(
            "{}; {} program step(s) need at least as many iterations",
            automaton::rule_note(program.rule, task, seed),
            program.steps
        )),
        min_depth: program.steps,
    })
}

fn steps(problem: &Problem, t: &Trace) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut before: Option<Vec<u32>> = None;
    for i in 0..t.iterations() {
        let p = t.predictions(i, 0);
        let changed = before.as_ref().map_or(p.len(), |b| b.iter().zip(&p).filter(|(x, y)| x != y).count());
        out.push(Step {
            iteration: i + 1,
            board: (problem.render)(&p),
            changed,
            kl: (i > 0).then(|| t.kl(i, 0)),
            halt_logit: t.halt.get(i).map(|q| q[0]),
            valid: (problem.judge)(&p).is_ok(),
        });
        before = Some(p);
    }
    out
}

pub async fn run(a: &SolveArgs) -> Result<(), LabError> {
    let path = a.checkpoint.as_ref().expect("checked by parse");
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let weights = Weights::read(&bytes, &path.display().to_string())?;
    let task = &weights.config.task;
    let problem = match (&a.sudoku, &a.maze, &a.program, task.kind) {
        (Some(text), _, _, TaskKind::Sudoku) => sudoku_problem(text, task.size)?,
        (_, Some(file), _, TaskKind::Maze) => {
            maze_problem(&std::fs::read_to_string(file).map_err(io_err(file))?, weights.positions)?
        }
        (_, _, Some(text), TaskKind::Automaton) => program_problem(text, &weights)?,
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
    // By default at least one iteration per program step (a longer program than trained needs more).
    let depth = a.iters.unwrap_or_else(|| training_depth(&weights.config).max(problem.min_depth));
    if weights.config.model.arch == crate::config::Arch::Feedforward && depth != 1 {
        return Err(LabError::invalid("--iters", depth, "1 for a feedforward model"));
    }
    let mut backend = Backend::open(a.backend.unwrap_or(BackendKind::Gpu)).await?;
    let t = trace(&weights, &mut backend, &problem.tokens, problem.grid, depth).await?;
    let rule = a.exit.unwrap_or(Exit::Kl(EXIT_KL));
    let exit = t.exit(0, rule)?;
    let answer = t.predictions(exit - 1, 0);
    let verdict = (problem.judge)(&answer);
    let solution = Solution {
        note: problem.note.clone(),
        iterations: steps(&problem, &t),
        exit_iteration: exit,
        exit_rule: rule.to_string(),
        answer: (problem.render)(&answer),
        valid: verdict.is_ok(),
        error: verdict.err(),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&solution).expect("solution serializes"));
        return Ok(());
    }
    if let Some(note) = &solution.note {
        println!("{note}");
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
