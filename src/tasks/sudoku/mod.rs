//! Sudoku on boards of side 4, 6 or 9 (boxes 2x2, 2 rows x 3 columns, 3x3). One token per cell (0 = blank,
//! 1..n = digit, vocab n + 1); the target at *every* cell is its solution digit. Exact puzzle accuracy is the
//! metric and cell accuracy is reported separately (`score`).
//!
//! Generation: a complete grid by randomized backtracking, then clues removed in random order while the
//! solution stays unique, down to `task.givens` (0 = as few as one pass reaches, i.e. a minimal puzzle).
//!
//! Split disjointness under symmetry: a puzzle and all its images under the validity-preserving symmetries
//! fall on the same side of the split, decided by a symmetry-invariant key (symmetry.rs). Augmented copies are
//! only made of training puzzles.

use std::fmt;

use super::{Dataset, Split, TaskConfig};
use crate::error::LabError;
use crate::rng::Rng;

mod symmetry;
pub use symmetry::{canonical, fingerprint, split_key, Symmetry};

/// Training examples made from each base training puzzle (random symmetry images of it).
pub const AUGMENTED_COPIES: usize = 4;

/// Box shape (rows, columns) of a board of side n.
pub fn box_shape(n: usize) -> Option<(usize, usize)> {
    match n {
        4 => Some((2, 2)),
        6 => Some((2, 3)),
        9 => Some((3, 3)),
        _ => None,
    }
}

/// Fewest givens a uniquely solvable puzzle can have (4x4: 4, 6x6: 8, 9x9: 17).
pub fn min_givens(n: usize) -> usize {
    match n {
        4 => 4,
        6 => 8,
        _ => 17,
    }
}

pub fn validate(task: &TaskConfig) -> Result<(), LabError> {
    let n = task.size;
    if box_shape(n).is_none() {
        return Err(LabError::invalid("task.size", n, "4, 6 or 9 (the side of the Sudoku board)"));
    }
    let (lo, hi) = (min_givens(n), n * n - 1);
    if task.givens != 0 && !(lo..=hi).contains(&task.givens) {
        return Err(LabError::invalid(
            "task.givens",
            task.givens,
            format!("0 (a minimal puzzle) or from {lo} to {hi} for a {n}x{n} board"),
        ));
    }
    if !(1..=1_000_000).contains(&task.examples) {
        return Err(LabError::invalid(
            "task.examples",
            task.examples,
            "a number of training puzzles from 1 to 1000000",
        ));
    }
    if !(1..=100_000).contains(&task.test_examples) {
        return Err(LabError::invalid(
            "task.test_examples",
            task.test_examples,
            "a number of test puzzles from 1 to 100000",
        ));
    }
    Ok(())
}

/// A board of side n, row-major, 0 = blank.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Board {
    pub n: usize,
    pub cells: Vec<u8>,
}

impl Board {
    pub fn empty(n: usize) -> Board {
        Board { n, cells: vec![0; n * n] }
    }
    pub fn get(&self, r: usize, c: usize) -> u8 {
        self.cells[r * self.n + c]
    }
    pub fn givens(&self) -> usize {
        self.cells.iter().filter(|&&d| d != 0).count()
    }
    pub fn transposed(&self) -> Board {
        let n = self.n;
        Board { n, cells: (0..n * n).map(|i| self.cells[(i % n) * n + i / n]).collect() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Row,
    Column,
    Box,
}

/// Why a board breaks the rules, or an answer does not solve its puzzle. Rows/columns/boxes are 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The digit appears twice in one row, column or box.
    Repeat { unit: Unit, index: usize, digit: u8 },
    /// A cell of the answer is blank or not a digit 1..n.
    NotDigit { row: usize, col: usize, value: u8 },
    /// The answer changed a given.
    ChangedGiven { row: usize, col: usize, given: u8, answer: u8 },
    /// The answer's size differs from the puzzle's.
    Size { expected: usize, got: usize },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Violation::Repeat { unit, index, digit } => {
                let unit = match unit {
                    Unit::Row => "row",
                    Unit::Column => "column",
                    Unit::Box => "box",
                };
                write!(f, "{unit} {index} has digit {digit} twice")
            }
            Violation::NotDigit { row, col, value } => {
                write!(f, "cell (row {row}, column {col}) holds {value}, not a digit")
            }
            Violation::ChangedGiven { row, col, given, answer } => {
                write!(f, "cell (row {row}, column {col}) changes the given {given} to {answer}")
            }
            Violation::Size { expected, got } => write!(f, "expected {expected} cells, got {got}"),
        }
    }
}

/// Cell indices of unit `k` (0-based) of each kind. Boxes are numbered row-major (box 1 top left).
fn unit_cells(n: usize, unit: Unit, k: usize) -> impl Iterator<Item = usize> {
    let (br, bc) = box_shape(n).expect("board side 4, 6 or 9");
    (0..n).map(move |i| match unit {
        Unit::Row => k * n + i,
        Unit::Column => i * n + k,
        Unit::Box => ((k / (n / bc)) * br + i / bc) * n + (k % (n / bc)) * bc + i % bc,
    })
}

/// The first repeated digit in any row, column or box (blanks ignored).
pub fn find_conflict(board: &Board) -> Option<Violation> {
    for unit in [Unit::Row, Unit::Column, Unit::Box] {
        for k in 0..board.n {
            let mut seen = 0u32;
            for i in unit_cells(board.n, unit, k) {
                let d = board.cells[i];
                if d != 0 {
                    if seen & (1 << d) != 0 {
                        return Some(Violation::Repeat { unit, index: k + 1, digit: d });
                    }
                    seen |= 1 << d;
                }
            }
        }
    }
    None
}

/// Checks that `answer` solves `puzzle` by the rules (every row, column and box a permutation of 1..n) and
/// keeps every given. Deliberately not a comparison with a stored solution.
pub fn check(puzzle: &Board, answer: &Board) -> Result<(), Violation> {
    let n = puzzle.n;
    if answer.n != n || answer.cells.len() != n * n {
        return Err(Violation::Size { expected: n * n, got: answer.cells.len() });
    }
    for (i, (&g, &a)) in puzzle.cells.iter().zip(&answer.cells).enumerate() {
        let (row, col) = (i / n + 1, i % n + 1);
        if a == 0 || a as usize > n {
            return Err(Violation::NotDigit { row, col, value: a });
        }
        if g != 0 && g != a {
            return Err(Violation::ChangedGiven { row, col, given: g, answer: a });
        }
    }
    // n cells with digits in 1..n and no repeat: a permutation.
    find_conflict(answer).map_or(Ok(()), Err)
}

/// Backtracking over bitmask candidates, most-constrained cell first. With `rng` the digit order is shuffled
/// (to generate random grids).
struct Solver {
    n: usize,
    cells: Vec<u8>,
    /// Used digits per row / column / box: bit d-1 for digit d.
    rows: Vec<u16>,
    cols: Vec<u16>,
    boxes: Vec<u16>,
    box_of: Vec<usize>,
    rng: Option<Rng>,
    count: usize,
    first: Option<Vec<u8>>,
}

impl Solver {
    /// None if the givens already conflict.
    fn new(board: &Board, rng: Option<Rng>) -> Option<Solver> {
        let n = board.n;
        let (br, bc) = box_shape(n)?;
        let box_of = (0..n * n).map(|i| (i / n / br) * (n / bc) + (i % n) / bc).collect();
        let mut s = Solver {
            n,
            cells: vec![0; n * n],
            rows: vec![0; n],
            cols: vec![0; n],
            boxes: vec![0; n],
            box_of,
            rng,
            count: 0,
            first: None,
        };
        for (i, &d) in board.cells.iter().enumerate() {
            if d != 0 {
                let bit = 1u16 << (d - 1);
                if (s.rows[i / n] | s.cols[i % n] | s.boxes[s.box_of[i]]) & bit != 0 {
                    return None;
                }
                s.set(i, d);
            }
        }
        Some(s)
    }

    fn set(&mut self, i: usize, d: u8) {
        let (bit, n) = (1u16 << (d - 1), self.n);
        self.cells[i] = d;
        self.rows[i / n] ^= bit;
        self.cols[i % n] ^= bit;
        self.boxes[self.box_of[i]] ^= bit;
    }

    fn unset(&mut self, i: usize) {
        let d = self.cells[i];
        self.set(i, d); // XOR clears the bits again
        self.cells[i] = 0;
    }

    fn candidates(&self, i: usize) -> u16 {
        let n = self.n;
        !(self.rows[i / n] | self.cols[i % n] | self.boxes[self.box_of[i]]) & ((1u16 << n) - 1)
    }

    fn search(&mut self, cap: usize) {
        let mut best: Option<(usize, u16)> = None;
        for i in 0..self.cells.len() {
            if self.cells[i] == 0 {
                let m = self.candidates(i);
                if best.is_none_or(|(_, b)| m.count_ones() < b.count_ones()) {
                    best = Some((i, m));
                    if m.count_ones() <= 1 {
                        break;
                    }
                }
            }
        }
        let Some((i, mask)) = best else {
            self.count += 1;
            if self.first.is_none() {
                self.first = Some(self.cells.clone());
            }
            return;
        };
        let mut digits: Vec<u8> = (1..=self.n as u8).filter(|d| mask & (1 << (d - 1)) != 0).collect();
        if let Some(rng) = &mut self.rng {
            rng.shuffle(&mut digits);
        }
        for d in digits {
            self.set(i, d);
            self.search(cap);
            self.unset(i);
            if self.count >= cap {
                return;
            }
        }
    }
}

/// Number of solutions, counted up to `cap`, and the first one found. 0 when the givens conflict.
pub fn count_solutions(board: &Board, cap: usize) -> (usize, Option<Board>) {
    let Some(mut s) = Solver::new(board, None) else { return (0, None) };
    s.search(cap);
    (s.count, s.first.map(|cells| Board { n: board.n, cells }))
}

/// The solution if there is exactly one.
pub fn solve_unique(board: &Board) -> Option<Board> {
    match count_solutions(board, 2) {
        (1, s) => s,
        _ => None,
    }
}

/// A random complete grid (randomized backtracking from the empty board).
pub fn random_grid(n: usize, rng: &mut Rng) -> Board {
    let mut s = Solver::new(&Board::empty(n), Some(rng.clone())).expect("board side 4, 6 or 9");
    s.search(1);
    *rng = s.rng.take().expect("kept");
    Board { n, cells: s.first.expect("the empty board has solutions") }
}

/// Removes clues of `solution` in random order while the solution stays unique, stopping at `givens` clues
/// (0: after one pass over all cells, which leaves a minimal puzzle). One pass can stop above the target.
pub fn make_puzzle(solution: &Board, givens: usize, rng: &mut Rng) -> Board {
    let mut puzzle = solution.clone();
    let mut order: Vec<usize> = (0..puzzle.cells.len()).collect();
    rng.shuffle(&mut order);
    let mut left = puzzle.cells.len();
    for i in order {
        if left <= givens {
            break;
        }
        let d = std::mem::replace(&mut puzzle.cells[i], 0);
        if count_solutions(&puzzle, 2).0 == 1 {
            left -= 1;
        } else {
            puzzle.cells[i] = d;
        }
    }
    puzzle
}

/// Parses the one-line format: digits 1..n, '.' or '0' for blanks, whitespace ignored. The puzzle must follow
/// the rules and have exactly one solution.
pub fn parse(text: &str, n: usize) -> Result<Board, LabError> {
    let err = |msg: String| LabError::Input(format!("sudoku: {msg}"));
    if box_shape(n).is_none() {
        return Err(err(format!("board side {n} is not supported; use 4, 6 or 9")));
    }
    let given = text.chars().filter(|c| !c.is_whitespace()).count();
    if given == 0 {
        return Err(err(format!(
            "the puzzle is empty: type one line of {} cells (digits 1-{n}, '.' or '0' for a blank)",
            n * n
        )));
    }
    if let Some(m) = [4, 6, 9].into_iter().find(|&m| m != n && m * m == given) {
        return Err(err(format!(
            "this is a {m}x{m} puzzle ({given} cells), but the model solves {n}x{n} boards ({} cells)",
            n * n
        )));
    }
    let mut cells = vec![];
    for (pos, ch) in text.chars().enumerate().filter(|(_, c)| !c.is_whitespace()) {
        cells.push(match ch {
            '.' | '0' => 0,
            '1'..='9' if (ch as usize - '0' as usize) <= n => ch as u8 - b'0',
            _ => {
                return Err(err(format!(
                    "bad character {ch:?} at position {}: expected a digit 1-{n}, '.' or '0'",
                    pos + 1
                )))
            }
        });
    }
    if cells.len() != n * n {
        return Err(err(format!("wrong length: expected {} cells for a {n}x{n} board, got {}", n * n, cells.len())));
    }
    let board = Board { n, cells };
    if let Some(v) = find_conflict(&board) {
        return Err(err(format!("the givens break a rule: {v}")));
    }
    match count_solutions(&board, 2).0 {
        0 => Err(err("the puzzle has no solution".into())),
        1 => Ok(board),
        _ => Err(err("the puzzle has several solutions".into())),
    }
}

/// The one-line format, '.' for blanks.
pub fn to_line(board: &Board) -> String {
    board.cells.iter().map(|&d| if d == 0 { '.' } else { (b'0' + d) as char }).collect()
}

/// A grid with box separators, e.g. for 4x4 "1 2 | 3 4" rows and "----+----" between bands.
pub fn pretty(board: &Board) -> String {
    let n = board.n;
    let (br, bc) = box_shape(n).expect("board side 4, 6 or 9");
    let segment = "-".repeat(2 * bc - 1);
    let rule = vec![segment; n / bc].join("-+-");
    let mut out = String::new();
    for r in 0..n {
        if r > 0 && r % br == 0 {
            out += &rule;
            out.push('\n');
        }
        let stacks: Vec<String> =
            (0..n / bc)
                .map(|s| {
                    (0..bc)
                        .map(|c| {
                            if board.get(r, s * bc + c) == 0 {
                                ".".into()
                            } else {
                                board.get(r, s * bc + c).to_string()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
        out += &stacks.join(" | ");
        out.push('\n');
    }
    out
}

/// Accuracy of predictions on a split: `exact` puzzles whose predicted grid passes `check` (the rules and the
/// givens), `cells` all cells equal to the target digit, `blank_cells` only the cells blank in the puzzle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    pub exact: f64,
    pub cells: f64,
    pub blank_cells: f64,
}

/// `tokens`, `targets` and `predictions` hold whole puzzles of n*n cells each.
pub fn score(n: usize, tokens: &[u32], targets: &[u32], predictions: &[u32]) -> Metrics {
    let l = n * n;
    let (mut exact, mut cells, mut blank, mut blanks) = (0usize, 0usize, 0usize, 0usize);
    let to_board = |s: &[u32]| Board { n, cells: s.iter().map(|&t| t.min(255) as u8).collect() };
    for ((t, y), p) in tokens.chunks(l).zip(targets.chunks(l)).zip(predictions.chunks(l)) {
        exact += check(&to_board(t), &to_board(p)).is_ok() as usize;
        for i in 0..l {
            cells += (p[i] == y[i]) as usize;
            if t[i] == 0 {
                blanks += 1;
                blank += (p[i] == y[i]) as usize;
            }
        }
    }
    let puzzles = tokens.len() / l;
    Metrics {
        exact: exact as f64 / puzzles.max(1) as f64,
        cells: cells as f64 / tokens.len().max(1) as f64,
        blank_cells: blank as f64 / blanks.max(1) as f64,
    }
}

/// Splits "train" (`task.examples` puzzles: base puzzles and random symmetry images of them) and "test"
/// (`task.test_examples` base puzzles), disjoint under symmetry, deterministic by seed.
pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    let n = task.size;
    let mut rng = Rng::fork(seed, "sudoku");
    let salt = rng.next_u64();
    let train_bases = task.examples.div_ceil(AUGMENTED_COPIES);
    // Share of key hashes routed to the test side, matched to the base puzzles each side needs.
    let test_share = task.test_examples as f64 / (task.test_examples + train_bases) as f64;
    let mut train = Split::grid("train", [n, n]);
    let mut test = Split::grid("test", [n, n]);
    let push = |split: &mut Split, puzzle: &Board, solution: &Board| {
        split.tokens.extend(puzzle.cells.iter().map(|&d| d as u32));
        split.targets.extend(solution.cells.iter().map(|&d| d as u32));
    };
    let (mut n_train, mut n_test, mut attempts) = (0, 0, 0usize);
    while n_train < task.examples || n_test < task.test_examples {
        attempts += 1;
        assert!(
            attempts <= 100 * (train_bases + task.test_examples) + 1000,
            "sudoku: could not fill both splits; use more task.givens or fewer examples"
        );
        let solution = random_grid(n, &mut rng);
        let puzzle = make_puzzle(&solution, task.givens, &mut rng);
        let hash = split_key(&puzzle)
            .iter()
            .fold(salt ^ 0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x1000_0000_01b3));
        if Rng::new(hash).uniform() < test_share {
            if n_test < task.test_examples {
                push(&mut test, &puzzle, &solution);
                n_test += 1;
            }
        } else {
            for copy in 0..AUGMENTED_COPIES.min(task.examples - n_train.min(task.examples)) {
                let g = if copy == 0 { Symmetry::identity(n) } else { Symmetry::random(n, &mut rng) };
                push(&mut train, &g.apply(&puzzle), &g.apply(&solution));
                n_train += 1;
            }
        }
    }
    Dataset { vocab: n + 1, splits: vec![train, test] }
}
