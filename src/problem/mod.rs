//! A person's input to a trained model and the model's answer to it, judged: `parse` reads an input in its
//! task's text format (or `draw` takes one from a split), pads it to the grid the model takes, and `solve` runs
//! the model on it, keeping every iteration's prediction with the cells that break a rule marked and the task's
//! validator's verdict. `looplab solve` and the page's solving view are faces of this.
//!
//! A task plugs in by implementing [`Problem`] in a file here and adding its arm to `parse` and `draw`.

mod automaton;
mod maze;
mod sudoku;

use serde::Serialize;

use crate::backend::Backend;
use crate::error::LabError;
use crate::solve::{trace, Exit};
use crate::tasks::{Split, TaskConfig, TaskKind};
use crate::train::checkpoint::Weights;

/// One input of a task, laid out for a model, and how to show and judge that model's predictions.
pub trait Problem {
    /// The task's name, as the page's views key on it.
    fn kind(&self) -> &'static str;
    /// The model's input, `grid[0] * grid[1]` tokens.
    fn tokens(&self) -> Vec<u32>;
    fn grid(&self) -> [usize; 2];
    /// The input in the task's text format (what `parse` reads).
    fn text(&self) -> String;
    /// A prediction drawn in the task's text format.
    fn render(&self, prediction: &[u32]) -> String;
    /// Per position of the prediction: does it break a rule on its own (a repeated digit, a path on a wall)?
    fn marked(&self, prediction: &[u32]) -> Vec<bool>;
    /// The validator's verdict on the prediction as an answer.
    fn judge(&self, prediction: &[u32]) -> Result<(), String>;
    /// A line about the input to show first (an automaton's rule: trained on or held out).
    fn note(&self) -> Option<String> {
        None
    }
    /// The fewest iterations that can solve it (an automaton: one per program step).
    fn min_depth(&self) -> usize {
        1
    }
    /// The true answer as tokens of the whole grid, where the task computes it (an automaton's execution).
    fn expected(&self) -> Option<Vec<u32>> {
        None
    }
}

/// The iterations to run `problem` when none are asked for: the training depth, and at least one per step the
/// problem needs (`Problem::min_depth`) for a recurrent model; a feedforward model runs once.
pub fn default_depth(config: &crate::config::LabConfig, problem: &dyn Problem) -> usize {
    if config.model.arch == crate::config::Arch::Feedforward {
        1
    } else {
        crate::train::training_depth(config).max(problem.min_depth())
    }
}

/// The split a view draws an input from when none is typed: the held-out rules for the automaton.
pub fn draw_split(task: &TaskConfig) -> &'static str {
    if task.kind == TaskKind::Automaton {
        "unseen"
    } else {
        "test"
    }
}

/// The input `text` of `task` (a model of `seed`: the automaton's held-out rules depend on it), padded to the
/// grid a model with `positions` learned positions takes (0: none, so any size).
pub fn parse(task: &TaskConfig, seed: u64, text: &str, positions: usize) -> Result<Box<dyn Problem>, LabError> {
    match task.kind {
        TaskKind::Automaton => {
            let program = crate::tasks::automaton::parse(text)?;
            Ok(Box::new(automaton::AutomatonProblem::new(program, task, seed, positions)?))
        }
        TaskKind::Sudoku => Ok(Box::new(sudoku::Sudoku::parse(text, task.size)?)),
        TaskKind::Maze => Ok(Box::new(maze::MazeProblem::new(crate::tasks::maze::parse(text)?, positions)?)),
        kind => Err(unsolvable(kind)),
    }
}

/// Example `i` of `split` (a split of `task`) as a problem, as `parse` would give it from its text.
pub fn draw(
    task: &TaskConfig,
    seed: u64,
    split: &Split,
    i: usize,
    positions: usize,
) -> Result<Box<dyn Problem>, LabError> {
    let tokens = split.example(i).0;
    match task.kind {
        TaskKind::Automaton => {
            let program = crate::tasks::automaton::Program::from_tokens(tokens, split.grid)?;
            Ok(Box::new(automaton::AutomatonProblem::new(program, task, seed, positions)?))
        }
        TaskKind::Sudoku => Ok(Box::new(sudoku::Sudoku::from_tokens(tokens, task.size)?)),
        TaskKind::Maze => {
            let cells = if task.test_size == 0 { task.size } else { task.test_size };
            Ok(Box::new(maze::MazeProblem::new(maze::crop(tokens, cells)?, positions)?))
        }
        kind => Err(unsolvable(kind)),
    }
}

fn unsolvable(kind: TaskKind) -> LabError {
    LabError::Input(format!(
        "solving is for Sudoku, maze and automaton tasks; this lab trains task.kind={}",
        serde_json::to_string(&kind).unwrap_or_default()
    ))
}

/// The model's prediction after one iteration.
#[derive(Debug, Serialize)]
pub struct Iteration {
    pub predictions: Vec<u32>,
    /// Softmax probability of each predicted token.
    pub confidence: Vec<f32>,
    /// `Problem::marked` of the predictions.
    pub marked: Vec<bool>,
    pub valid: bool,
    /// The predictions drawn (`Problem::render`).
    pub board: String,
    /// Positions whose prediction changed since the previous iteration (all of them at the first).
    pub changed: usize,
    /// Mean KL(p_t || p_{t-1}) over positions (absent for the first iteration).
    pub kl: Option<f64>,
    /// The halting head's logit (models trained with `model.halting`): positive means "stop".
    pub halt_logit: Option<f32>,
}

#[derive(Debug, Serialize)]
pub struct Solution {
    pub kind: &'static str,
    /// `[height, width]` of `tokens` and of every prediction.
    pub grid: [usize; 2],
    pub tokens: Vec<u32>,
    /// The input in the task's text format.
    pub text: String,
    pub iterations: Vec<Iteration>,
    /// About the input (`Problem::note`).
    pub note: Option<String>,
    /// The true answer over the whole grid, where the task computes it (`Problem::expected`).
    pub expected: Option<Vec<u32>>,
    /// 1-based: where the exit rule stops (the last iteration without one).
    pub exit_iteration: usize,
    /// The exit rule: "KL < EPS", "halting head", or "none" (the answer after every iteration).
    pub exit_rule: String,
    /// The answer at `exit_iteration`, drawn.
    pub answer: String,
    pub valid: bool,
    /// What the validator found wrong with the answer.
    pub error: Option<String>,
    /// The validator's word on the answer, as a sentence.
    pub verdict: String,
}

/// Runs the model on `problem` for `depth` iterations and judges each prediction and the answer where `rule`
/// exits (without a rule, after the last iteration).
pub async fn solve(
    weights: &Weights<'_>,
    backend: &mut Backend,
    problem: &dyn Problem,
    depth: usize,
    rule: Option<Exit>,
) -> Result<Solution, LabError> {
    let tokens = problem.tokens();
    let t = trace(weights, backend, &tokens, problem.grid(), depth).await?;
    let mut iterations: Vec<Iteration> = Vec::new();
    for i in 0..t.iterations() {
        let predictions = t.predictions(i, 0);
        let changed = iterations
            .last()
            .map_or(predictions.len(), |b| b.predictions.iter().zip(&predictions).filter(|(x, y)| x != y).count());
        iterations.push(Iteration {
            confidence: t.confidence(i, 0),
            marked: problem.marked(&predictions),
            valid: problem.judge(&predictions).is_ok(),
            board: problem.render(&predictions),
            changed,
            kl: (i > 0).then(|| t.kl(i, 0)),
            halt_logit: t.halt.get(i).map(|q| q[0]),
            predictions,
        });
    }
    let exit_iteration = match rule {
        Some(rule) => t.exit(0, rule)?,
        None => t.iterations(),
    };
    let answer = &iterations[exit_iteration - 1].predictions;
    let error = problem.judge(answer).err();
    Ok(Solution {
        kind: problem.kind(),
        note: problem.note(),
        expected: problem.expected(),
        grid: problem.grid(),
        text: problem.text(),
        answer: problem.render(answer),
        exit_rule: rule.map_or("none".into(), |r| r.to_string()),
        valid: error.is_none(),
        verdict: match &error {
            None => format!("valid: the validator accepts the answer at iteration {exit_iteration}"),
            Some(why) => format!("not valid: {why}"),
        },
        error,
        exit_iteration,
        iterations,
        tokens,
    })
}
