//! A maze as a problem: one token per grid position, the prediction's path positions (token 1) judged by the
//! maze validator on the grid the model sees.

use super::Problem;
use crate::error::LabError;
use crate::tasks::maze::{self, Maze};

pub struct MazeProblem {
    /// The maze as given.
    maze: Maze,
    /// `maze` in the grid the model takes: walled round (right and below) where it learned positions for a
    /// larger grid.
    padded: Maze,
}

impl MazeProblem {
    /// `maze` for a model with `positions` learned positions (0: none, so any size).
    pub fn new(maze: Maze, positions: usize) -> Result<MazeProblem, LabError> {
        let side = if positions > 0 { (positions as f64).sqrt().round() as usize } else { maze.side };
        if side < maze.side {
            return Err(LabError::Input(format!(
                "a {0}x{0} maze grid is larger than the {side}x{side} grid this model learned positions for; train with model.attention=local and model.positions=none to solve larger mazes",
                maze.side
            )));
        }
        let padded = Maze::from_tokens(&maze::embed(&maze, side).0)?;
        Ok(MazeProblem { maze, padded })
    }

    /// Path positions of a prediction, in the grid the model sees.
    fn path(prediction: &[u32]) -> Vec<usize> {
        (0..prediction.len()).filter(|&i| prediction[i] == 1).collect()
    }
}

/// The top-left `2 * cells + 1` square of a split's example: the maze itself where the split pads it with walls.
pub fn crop(tokens: &[u32], cells: usize) -> Result<Maze, LabError> {
    let side = (tokens.len() as f64).sqrt().round() as usize;
    let inner = (2 * cells + 1).min(side);
    Maze::from_tokens(&(0..inner * inner).map(|i| tokens[(i / inner) * side + i % inner]).collect::<Vec<_>>())
}

impl Problem for MazeProblem {
    fn kind(&self) -> &'static str {
        "maze"
    }

    fn tokens(&self) -> Vec<u32> {
        self.padded.tokens()
    }

    fn grid(&self) -> [usize; 2] {
        [self.padded.side, self.padded.side]
    }

    fn text(&self) -> String {
        maze::to_text(&self.maze, None)
    }

    /// The maze as given with the predicted path positions inside it.
    fn render(&self, prediction: &[u32]) -> String {
        let (side, inner) = (self.padded.side, self.maze.side);
        let inside = |&i: &usize| (i / side < inner && i % side < inner).then(|| (i / side) * inner + i % side);
        let path: Vec<usize> = MazeProblem::path(prediction).iter().filter_map(inside).collect();
        maze::to_text(&self.maze, Some(&path))
    }

    /// A path position on a wall.
    fn marked(&self, p: &[u32]) -> Vec<bool> {
        (0..p.len()).map(|i| p[i] == 1 && !self.padded.is_open(i)).collect()
    }

    fn judge(&self, prediction: &[u32]) -> Result<(), String> {
        maze::check(&self.padded, &MazeProblem::path(prediction)).map_err(|e| e.to_string())
    }
}
