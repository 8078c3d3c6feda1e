//! Program steps per iteration (the automaton task, whose grid row t is the tape after t steps): after each
//! iteration, which rows of the space-time diagram the output head reads right. One program step per
//! iteration shows as a diagonal: row t right from iteration t on.

use serde::{Deserialize, Serialize};

use super::lens::argmax;
use crate::tasks::IGNORE;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLens {
    /// The grid rows that have supervised cells (for the automaton 1..=steps: row t is the tape after t steps).
    pub rows: Vec<usize>,
    /// `row_exact[r][k]`: share of examples whose row `rows[k]` is entirely right after iteration r+1.
    pub row_exact: Vec<Vec<f64>>,
    /// `row_accuracy[r][k]`: share of row `rows[k]`'s supervised cells right after iteration r+1.
    pub row_accuracy: Vec<Vec<f64>>,
    /// `frontier[r]`: mean over examples of how many leading rows are all right after iteration r+1 (the
    /// steps executed correctly from the start).
    pub frontier: Vec<f64>,
    /// `diagonal[r]`: share of examples whose grid row r+1 (the tape after r+1 steps) is right after iteration
    /// r+1, i.e. iteration r+1 has run step r+1; for the iterations that have such a row.
    pub diagonal: Vec<f64>,
    /// `readable[k]`: the first iteration (1-based) at which row `rows[k]` is entirely right in at least 90% as
    /// many examples as at its best iteration: its slope against the row is iterations per program step.
    pub readable: Vec<usize>,
}

/// `logits[t]` is `[batch, h*w, vocab]` after iteration t+1, `targets` `[batch, h*w]` on a `grid` of `[h, w]`.
pub fn step_lens(logits: &[Vec<f32>], targets: &[u32], grid: [usize; 2], vocab: usize) -> StepLens {
    let [h, w] = grid;
    let seq = h * w;
    let batch = targets.len() / seq;
    let rows: Vec<usize> = (0..h).filter(|&t| (0..batch).any(|b| has_target(targets, b * seq + t * w, w))).collect();
    let mut report = StepLens {
        rows: rows.clone(),
        row_exact: vec![],
        row_accuracy: vec![],
        frontier: vec![],
        diagonal: vec![],
        readable: vec![],
    };
    for all in logits {
        let mut exact = vec![0usize; rows.len()];
        let (mut right, mut cells) = (vec![0usize; rows.len()], vec![0usize; rows.len()]);
        let mut frontier = 0usize;
        for b in 0..batch {
            let mut leading = true;
            for (k, &t) in rows.iter().enumerate() {
                let mut all_right = true;
                for j in 0..w {
                    let i = b * seq + t * w + j;
                    if targets[i] == IGNORE {
                        continue;
                    }
                    let ok = argmax(&all[i * vocab..(i + 1) * vocab]) == targets[i] as usize;
                    all_right &= ok;
                    right[k] += ok as usize;
                    cells[k] += 1;
                }
                exact[k] += all_right as usize;
                leading &= all_right;
                frontier += leading as usize;
            }
        }
        let per = |a: usize, n: usize| if n == 0 { 0.0 } else { a as f64 / n as f64 };
        report.row_exact.push(exact.iter().map(|&e| per(e, batch)).collect());
        report.row_accuracy.push(right.iter().zip(&cells).map(|(&a, &n)| per(a, n)).collect());
        report.frontier.push(per(frontier, batch));
    }
    report.diagonal = (0..logits.len())
        .map_while(|r| rows.iter().position(|&t| t == r + 1).map(|k| report.row_exact[r][k]))
        .collect();
    report.readable = (0..rows.len())
        .map(|k| {
            let best = report.row_exact.iter().map(|row| row[k]).fold(0.0, f64::max);
            1 + report.row_exact.iter().position(|row| row[k] >= 0.9 * best).unwrap_or(0)
        })
        .collect();
    report
}

fn has_target(targets: &[u32], from: usize, len: usize) -> bool {
    targets[from..from + len].iter().any(|&y| y != IGNORE)
}
