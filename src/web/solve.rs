//! The page's solving view: one Sudoku or maze through a copy of the current model, the prediction after every
//! iteration with the probability of each predicted token, the cells that break a rule marked, and the task
//! validator's verdict on the answer where the adaptive exit stops.

use serde::Serialize;

use crate::backend::Backend;
use crate::config::TaskKind;
use crate::error::LabError;
use crate::solve::{trace, Exit, EXIT_KL};
use crate::tasks::maze::{self, Maze};
use crate::tasks::sudoku::{self, Board};
use crate::train::checkpoint::{self, Weights};
use crate::train::{training_depth, Trainer};

#[derive(Serialize)]
pub struct Iteration {
    predictions: Vec<u32>,
    /// Softmax probability of each predicted token.
    confidence: Vec<f32>,
    /// Sudoku: a digit that repeats in its row, column or box, changes a given, or is blank. Maze: a path
    /// position on a wall.
    marked: Vec<bool>,
    valid: bool,
}

#[derive(Serialize)]
pub struct Solution {
    kind: &'static str,
    /// `[height, width]` of `tokens` and of every prediction.
    grid: [usize; 2],
    tokens: Vec<u32>,
    /// The input in the text format the page's box takes (the drawn puzzle, or the one typed).
    text: String,
    iterations: Vec<Iteration>,
    /// 1-based: the first iteration whose outputs moved less than `solve::EXIT_KL` from the previous one.
    exit_iteration: usize,
    valid: bool,
    /// The validator's word on the answer at `exit_iteration`.
    verdict: String,
}

enum Input {
    Sudoku {
        puzzle: Board,
        boxes: (usize, usize),
    },
    /// `padded` is `maze` in the grid the model takes (walled round where it learned positions for a larger grid).
    Maze {
        maze: Maze,
        padded: Maze,
    },
}

impl Input {
    /// `text` in the task's format, or (empty) a test example chosen by `pick` in [0, 1).
    fn new(trainer: &Trainer, weights: &Weights<'_>, text: &str, pick: f64) -> Result<Input, LabError> {
        let task = &trainer.config.task;
        let text = text.trim();
        let drawn = || -> Result<&[u32], LabError> {
            let test = trainer.dataset.splits.iter().find(|s| s.name == "test" && !s.is_empty());
            let test = test.ok_or_else(|| LabError::Input("the test split is empty; type an input instead".into()))?;
            Ok(test.example(((pick * test.len() as f64) as usize).min(test.len() - 1)).0)
        };
        match task.kind {
            TaskKind::Sudoku => {
                let boxes = sudoku::box_shape(task.size)
                    .ok_or_else(|| LabError::invalid("task.size", task.size, "4, 6 or 9"))?;
                let puzzle = if text.is_empty() {
                    Board { n: task.size, cells: drawn()?.iter().map(|&t| t as u8).collect() }
                } else {
                    sudoku::parse(text, task.size)?
                };
                Ok(Input::Sudoku { puzzle, boxes })
            }
            TaskKind::Maze => {
                let maze = if text.is_empty() {
                    crop(drawn()?, if task.test_size == 0 { task.size } else { task.test_size })?
                } else {
                    maze::parse(text)?
                };
                let side =
                    if weights.positions > 0 { (weights.positions as f64).sqrt().round() as usize } else { maze.side };
                if side < maze.side {
                    return Err(LabError::Input(format!(
                        "a {0}x{0} maze grid is larger than the {side}x{side} grid this model learned positions for; train with model.attention=local and model.positions=none to solve larger mazes",
                        maze.side
                    )));
                }
                let padded = Maze::from_tokens(&maze::embed(&maze, side).0)?;
                Ok(Input::Maze { maze, padded })
            }
            kind => Err(LabError::Input(format!(
                "solving is for Sudoku and maze tasks; this lab trains task.kind={}",
                serde_json::to_string(&kind).unwrap_or_default()
            ))),
        }
    }

    fn tokens(&self) -> Vec<u32> {
        match self {
            Input::Sudoku { puzzle, .. } => puzzle.cells.iter().map(|&d| d as u32).collect(),
            Input::Maze { padded, .. } => padded.tokens(),
        }
    }

    fn grid(&self) -> [usize; 2] {
        match self {
            Input::Sudoku { puzzle, .. } => [puzzle.n, puzzle.n],
            Input::Maze { padded, .. } => [padded.side, padded.side],
        }
    }

    /// The marked cells of a prediction and the validator's verdict on it.
    fn judge(&self, p: &[u32]) -> (Vec<bool>, Result<(), String>) {
        match self {
            Input::Sudoku { puzzle, boxes: (br, bc) } => {
                let n = puzzle.n;
                let same_unit = |i: usize, j: usize| {
                    i / n == j / n || i % n == j % n || (i / n / br == j / n / br && i % n / bc == j % n / bc)
                };
                let marked = (0..n * n)
                    .map(|i| {
                        let given = puzzle.cells[i] as u32;
                        p[i] == 0
                            || p[i] as usize > n
                            || (given != 0 && p[i] != given)
                            || (0..n * n).any(|j| j != i && p[j] == p[i] && same_unit(i, j))
                    })
                    .collect();
                let answer = Board { n, cells: p.iter().map(|&d| d.min(255) as u8).collect() };
                (marked, sudoku::check(puzzle, &answer).map_err(|v| v.to_string()))
            }
            Input::Maze { padded, .. } => {
                let path: Vec<usize> = (0..p.len()).filter(|&i| p[i] == 1).collect();
                let marked = (0..p.len()).map(|i| p[i] == 1 && !padded.is_open(i)).collect();
                (marked, maze::check(padded, &path).map_err(|e| e.to_string()))
            }
        }
    }

    fn text(&self) -> String {
        match self {
            Input::Sudoku { puzzle, .. } => sudoku::to_line(puzzle),
            Input::Maze { maze, .. } => maze::to_text(maze, None),
        }
    }
}

/// The top-left `2 * cells + 1` square of a test example: the maze itself where the split pads it with walls.
fn crop(tokens: &[u32], cells: usize) -> Result<Maze, LabError> {
    let side = (tokens.len() as f64).sqrt().round() as usize;
    let inner = (2 * cells + 1).min(side);
    Maze::from_tokens(&(0..inner * inner).map(|i| tokens[(i / inner) * side + i % inner]).collect::<Vec<_>>())
}

/// Solves one input with the trainer's current weights. The trainer's buffers stay untouched: the weights go
/// through a checkpoint to a backend of their own, since `trace` plans fresh memory on the backend it gets.
pub async fn solve(trainer: &mut Trainer, text: &str, pick: f64) -> Result<Solution, LabError> {
    let bytes = checkpoint::save(trainer).await?;
    let weights = Weights::read(&bytes, "the current model")?;
    let input = Input::new(trainer, &weights, text, pick)?;
    let tokens = input.tokens();
    let mut backend = Backend::open(trainer.backend.kind()).await?;
    let t = trace(&weights, &mut backend, &tokens, input.grid(), training_depth(&weights.config)).await?;
    let iterations = (0..t.iterations())
        .map(|i| {
            let predictions = t.predictions(i, 0);
            let (marked, verdict) = input.judge(&predictions);
            Iteration { confidence: t.confidence(i, 0), marked, valid: verdict.is_ok(), predictions }
        })
        .collect();
    let exit_iteration = t.exit(0, Exit::Kl(EXIT_KL))?;
    let verdict = input.judge(&t.predictions(exit_iteration - 1, 0)).1;
    Ok(Solution {
        kind: if matches!(input, Input::Sudoku { .. }) { "sudoku" } else { "maze" },
        grid: input.grid(),
        tokens,
        text: input.text(),
        iterations,
        exit_iteration,
        valid: verdict.is_ok(),
        verdict: match verdict {
            Ok(()) => format!("valid: the validator accepts the answer at iteration {exit_iteration}"),
            Err(why) => format!("not valid: {why}"),
        },
    })
}
