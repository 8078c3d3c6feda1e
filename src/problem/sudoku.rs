//! A Sudoku puzzle as a problem: one token per cell, predictions judged by the rules and the givens.

use super::Problem;
use crate::error::LabError;
use crate::tasks::sudoku::{self, Board};

pub struct Sudoku {
    puzzle: Board,
    boxes: (usize, usize),
}

impl Sudoku {
    pub fn parse(text: &str, n: usize) -> Result<Sudoku, LabError> {
        Sudoku::new(sudoku::parse(text, n)?)
    }

    pub fn from_tokens(tokens: &[u32], n: usize) -> Result<Sudoku, LabError> {
        Sudoku::new(Board { n, cells: tokens.iter().map(|&t| t as u8).collect() })
    }

    fn new(puzzle: Board) -> Result<Sudoku, LabError> {
        let boxes = sudoku::box_shape(puzzle.n).ok_or_else(|| LabError::invalid("task.size", puzzle.n, "4, 6 or 9"))?;
        Ok(Sudoku { puzzle, boxes })
    }

    fn board(&self, prediction: &[u32]) -> Board {
        Board { n: self.puzzle.n, cells: prediction.iter().map(|&d| d.min(255) as u8).collect() }
    }
}

impl Problem for Sudoku {
    fn kind(&self) -> &'static str {
        "sudoku"
    }

    fn tokens(&self) -> Vec<u32> {
        self.puzzle.cells.iter().map(|&d| d as u32).collect()
    }

    fn grid(&self) -> [usize; 2] {
        [self.puzzle.n, self.puzzle.n]
    }

    fn text(&self) -> String {
        sudoku::to_line(&self.puzzle)
    }

    fn render(&self, prediction: &[u32]) -> String {
        sudoku::pretty(&self.board(prediction))
    }

    /// A digit that is blank or out of range, changes a given, or repeats in its row, column or box.
    fn marked(&self, p: &[u32]) -> Vec<bool> {
        let (n, (br, bc)) = (self.puzzle.n, self.boxes);
        let same_unit = |i: usize, j: usize| {
            i / n == j / n || i % n == j % n || (i / n / br == j / n / br && i % n / bc == j % n / bc)
        };
        (0..n * n)
            .map(|i| {
                let given = self.puzzle.cells[i] as u32;
                p[i] == 0
                    || p[i] as usize > n
                    || (given != 0 && p[i] != given)
                    || (0..n * n).any(|j| j != i && p[j] == p[i] && same_unit(i, j))
            })
            .collect()
    }

    fn judge(&self, prediction: &[u32]) -> Result<(), String> {
        sudoku::check(&self.puzzle, &self.board(prediction)).map_err(|v| v.to_string())
    }
}
