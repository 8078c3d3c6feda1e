//! An automaton program as a problem: the space-time diagram laid out for the model, each prediction read
//! against the true execution (wrong cells marked), the answer right when the whole run is.

use super::Problem;
use crate::error::LabError;
use crate::tasks::automaton::{self, Program};
use crate::tasks::TaskConfig;

pub struct AutomatonProblem {
    program: Program,
    /// The grid the model takes (the program's own, or the padded one of a model with learned positions).
    grid: [usize; 2],
    /// Whether the rule was trained on or held out.
    note: String,
}

impl AutomatonProblem {
    /// `program` for a model of `task` and `seed` with `positions` learned positions (0: none, so any size).
    pub fn new(program: Program, task: &TaskConfig, seed: u64, positions: usize) -> Result<AutomatonProblem, LabError> {
        let grid = automaton::model_grid(&program, task, positions)?;
        let note = automaton::rule_note(program.rule, task, seed);
        Ok(AutomatonProblem { program, grid, note })
    }

    fn read(&self, prediction: &[u32]) -> automaton::Reading {
        automaton::read(&self.program, prediction, self.grid)
    }
}

impl Problem for AutomatonProblem {
    fn kind(&self) -> &'static str {
        "automaton"
    }

    fn tokens(&self) -> Vec<u32> {
        self.program.encode(self.grid).0
    }

    fn grid(&self) -> [usize; 2] {
        self.grid
    }

    fn text(&self) -> String {
        self.program.to_text()
    }

    /// The predicted space-time diagram beside the true one.
    fn render(&self, prediction: &[u32]) -> String {
        automaton::render(&self.program, &self.read(prediction))
    }

    /// A slot whose prediction differs from the true execution.
    fn marked(&self, prediction: &[u32]) -> Vec<bool> {
        let (reading, w) = (self.read(prediction), self.grid[1]);
        let mut marked = vec![false; prediction.len()];
        for (t, row) in reading.wrong.iter().enumerate() {
            for (j, &wrong) in row.iter().enumerate() {
                marked[(t + 1) * w + j + 1] = wrong;
            }
        }
        marked
    }

    fn judge(&self, prediction: &[u32]) -> Result<(), String> {
        automaton::verdict(&self.program, &self.read(prediction))
    }

    fn note(&self) -> Option<String> {
        Some(self.note.clone())
    }

    /// One iteration per program step at least: row t cannot be right before iteration t.
    fn min_depth(&self) -> usize {
        self.program.steps
    }

    fn expected(&self) -> Option<Vec<u32>> {
        let (tokens, targets) = self.program.encode(self.grid);
        Some(tokens.iter().zip(&targets).map(|(&x, &y)| if y == crate::tasks::IGNORE { x } else { y }).collect())
    }
}
