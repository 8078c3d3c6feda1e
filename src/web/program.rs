//! The page's program view (the automaton task): one program through a copy of the current model, the
//! space-time diagram it predicts after every iteration beside the true execution, and the verdict.

use serde::Serialize;

use crate::backend::Backend;
use crate::config::TaskKind;
use crate::error::LabError;
use crate::solve::{trace, Exit, EXIT_KL};
use crate::tasks::automaton::{self, Program, Reading};
use crate::train::checkpoint::{self, Weights};
use crate::train::{training_depth, Trainer};

#[derive(Serialize)]
pub struct Iteration {
    #[serde(flatten)]
    reading: Reading,
    /// `confidence[t-1][j]`: the probability of the predicted token of cell j after t steps.
    confidence: Vec<Vec<f32>>,
}

#[derive(Serialize)]
pub struct Execution {
    /// The program in the text format the page's box takes (the drawn one, or the one typed).
    text: String,
    rule: u8,
    steps: usize,
    cells: usize,
    held_out: bool,
    /// Whether the rule was trained on or held out, with its relatives.
    note: String,
    /// Rows 0..=steps of the true space-time diagram.
    truth: Vec<Vec<u8>>,
    iterations: Vec<Iteration>,
    /// 1-based: the first iteration whose outputs moved less than `solve::EXIT_KL` from the previous one.
    exit_iteration: usize,
    valid: bool,
    verdict: String,
}

/// Runs `text` (`RULE TAPE STEPS`), or when it is empty a program drawn by `pick` in [0, 1) from the held-out
/// split, through the trainer's current weights for max(training depth, steps) iterations. The trainer's
/// buffers stay untouched: the weights go through a checkpoint to a backend of their own.
pub async fn run(trainer: &mut Trainer, text: &str, pick: f64) -> Result<Execution, LabError> {
    let (task, seed) = (&trainer.config.task.clone(), trainer.config.seed);
    if task.kind != TaskKind::Automaton {
        return Err(LabError::Input(format!(
            "programs run on automaton models; this lab trains task.kind={}",
            serde_json::to_string(&task.kind).unwrap_or_default()
        )));
    }
    let program = if text.trim().is_empty() {
        let split = trainer.dataset.splits.iter().find(|s| s.name == "unseen" && !s.is_empty());
        let split =
            split.ok_or_else(|| LabError::Input("the held-out split is empty; type a program instead".into()))?;
        let i = ((pick * split.len() as f64) as usize).min(split.len() - 1);
        Program::from_tokens(split.example(i).0, split.grid)?
    } else {
        automaton::parse(text)?
    };
    let bytes = checkpoint::save(trainer).await?;
    let weights = Weights::read(&bytes, "the current model")?;
    let grid = automaton::model_grid(&program, task, weights.positions)?;
    let (tokens, _) = program.encode(grid);
    let mut backend = Backend::open(trainer.backend.kind()).await?;
    let depth = training_depth(&weights.config).max(program.steps);
    let t = trace(&weights, &mut backend, &tokens, grid, depth).await?;
    let cells = program.tape.len();
    let iterations: Vec<Iteration> = (0..t.iterations())
        .map(|i| {
            let confidence = t.confidence(i, 0);
            let rows = (1..=program.steps).map(|r| confidence[r * grid[1] + 1..][..cells].to_vec()).collect();
            Iteration { reading: automaton::read(&program, &t.predictions(i, 0), grid), confidence: rows }
        })
        .collect();
    let exit_iteration = t.exit(0, Exit::Kl(EXIT_KL))?;
    let verdict = automaton::verdict(&program, &iterations[exit_iteration - 1].reading);
    Ok(Execution {
        text: program.to_text(),
        rule: program.rule,
        steps: program.steps,
        cells,
        held_out: automaton::is_held_out(program.rule, task, seed),
        note: automaton::rule_note(program.rule, task, seed),
        truth: program.run(),
        iterations,
        exit_iteration,
        valid: verdict.is_ok(),
        verdict: match verdict {
            Ok(()) => {
                format!("right: the model ran all {} steps correctly by iteration {exit_iteration}", program.steps)
            }
            Err(why) => format!("wrong: {why}"),
        },
    })
}
