//! Mazes (DeepThinking, HRM): an n x n cell maze drawn as a (2n+1) x (2n+1) grid where cell (r, c) sits at
//! grid (2r+1, 2c+1) and the positions between cells are walls or openings. One token per grid position
//! (0 wall, 1 open, 2 start, 3 goal); every position is supervised with 1 if it lies on the shortest
//! start-to-goal path, else 0.
//!
//! Ties: with `maze_loops > 0` several shortest paths can exist. The target is the one whose sequence of moves
//! is smallest in the order up < left < right < down (`shortest_path`), and `check` accepts any shortest path,
//! so a model is not punished for choosing a different path of the same length.

use std::collections::{HashSet, VecDeque};

use thiserror::Error;

use super::{Dataset, Split, TaskConfig};
use crate::error::LabError;
use crate::rng::Rng;

pub const VOCAB: usize = 4;
pub const MIN_SIZE: usize = 2;
pub const MAX_SIZE: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    Wall = 0,
    Open = 1,
    Start = 2,
    Goal = 3,
}

/// A grid of `side * side` positions, row-major. `parse` and the generators give proper mazes (odd side, walled
/// border); `from_tokens` accepts any grid with one start and one goal, e.g. a small maze padded with walls.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Maze {
    pub side: usize,
    pub cells: Vec<Cell>,
    pub start: usize,
    pub goal: usize,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("position {index} is outside the {side}x{side} grid")]
    OutOfBounds { index: usize, side: usize },
    #[error("the path touches a wall at row {row}, column {col}")]
    TouchesWall { row: usize, col: usize },
    #[error("the path does not contain the start")]
    MissingStart,
    #[error("the path does not reach the goal from the start")]
    DoesNotReachGoal,
    #[error("the path has cells not connected to it, e.g. row {row}, column {col}")]
    Disconnected { row: usize, col: usize },
    #[error("the path branches (or runs past the start or goal) at row {row}, column {col}")]
    Branch { row: usize, col: usize },
    #[error("the path takes {steps} steps but the shortest takes {shortest}")]
    TooLong { steps: usize, shortest: usize },
}

impl Maze {
    pub fn is_open(&self, i: usize) -> bool {
        self.cells[i] != Cell::Wall
    }

    /// Grid neighbours of `i` in the fixed order up, left, right, down (the tie-breaking order).
    fn neighbours(&self, i: usize) -> impl Iterator<Item = usize> {
        let (s, r, c) = (self.side, i / self.side, i % self.side);
        [(r > 0).then(|| i - s), (c > 0).then(|| i - 1), (c + 1 < s).then(|| i + 1), (r + 1 < s).then(|| i + s)]
            .into_iter()
            .flatten()
    }

    /// Steps from `from` to every position through open cells (`usize::MAX` where unreachable).
    pub fn distances(&self, from: usize) -> Vec<usize> {
        let mut dist = vec![usize::MAX; self.cells.len()];
        dist[from] = 0;
        let mut queue = VecDeque::from([from]);
        while let Some(i) = queue.pop_front() {
            for j in self.neighbours(i) {
                if self.is_open(j) && dist[j] == usize::MAX {
                    dist[j] = dist[i] + 1;
                    queue.push_back(j);
                }
            }
        }
        dist
    }

    /// The shortest start-to-goal path (start and goal included), ties broken as in the module docs: walk from
    /// the start, always to the first neighbour (up, left, right, down) one step closer to the goal.
    pub fn shortest_path(&self) -> Option<Vec<usize>> {
        let to_goal = self.distances(self.goal);
        if to_goal[self.start] == usize::MAX {
            return None;
        }
        let mut path = vec![self.start];
        let mut i = self.start;
        while i != self.goal {
            i = self.neighbours(i).find(|&j| self.is_open(j) && to_goal[j] == to_goal[i] - 1).expect("BFS distances");
            path.push(i);
        }
        Some(path)
    }

    /// One token per position: 0 wall, 1 open, 2 start, 3 goal.
    pub fn tokens(&self) -> Vec<u32> {
        self.cells.iter().map(|&c| c as u32).collect()
    }

    /// A square grid of tokens with exactly one start and one goal.
    pub fn from_tokens(tokens: &[u32]) -> Result<Maze, LabError> {
        let side = (tokens.len() as f64).sqrt().round() as usize;
        if side * side != tokens.len() || side == 0 {
            return Err(LabError::Input(format!("maze tokens: {} tokens do not form a square grid", tokens.len())));
        }
        let cells = tokens
            .iter()
            .map(|&t| match t {
                0 => Ok(Cell::Wall),
                1 => Ok(Cell::Open),
                2 => Ok(Cell::Start),
                3 => Ok(Cell::Goal),
                _ => Err(LabError::Input(format!(
                    "maze tokens: unknown token {t}; expected 0 wall, 1 open, 2 start, 3 goal"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (start, goal) = endpoints(&cells)?;
        Ok(Maze { side, cells, start, goal })
    }
}

fn endpoints(cells: &[Cell]) -> Result<(usize, usize), LabError> {
    let find = |kind: Cell, ch: char| {
        let at: Vec<usize> = (0..cells.len()).filter(|&i| cells[i] == kind).collect();
        match at[..] {
            [i] => Ok(i),
            _ => Err(LabError::Input(format!("maze: expected exactly one '{ch}', found {}", at.len()))),
        }
    };
    Ok((find(Cell::Start, 'S')?, find(Cell::Goal, 'G')?))
}

/// A perfect maze (one path between any two cells) by the randomized depth-first backtracker.
fn backtracker(n: usize, rng: &mut Rng) -> Vec<Cell> {
    let side = 2 * n + 1;
    let mut cells = vec![Cell::Wall; side * side];
    let at = |cell: usize| (2 * (cell / n) + 1) * side + 2 * (cell % n) + 1;
    let mut visited = vec![false; n * n];
    let first = rng.below(n * n);
    visited[first] = true;
    cells[at(first)] = Cell::Open;
    let mut stack = vec![first];
    while let Some(&cell) = stack.last() {
        let (r, c) = (cell / n, cell % n);
        let options: Vec<usize> = [
            (r > 0).then(|| cell - n),
            (c > 0).then(|| cell - 1),
            (c + 1 < n).then(|| cell + 1),
            (r + 1 < n).then(|| cell + n),
        ]
        .into_iter()
        .flatten()
        .filter(|&m| !visited[m])
        .collect();
        if options.is_empty() {
            stack.pop();
            continue;
        }
        let next = options[rng.below(options.len())];
        visited[next] = true;
        cells[at(next)] = Cell::Open;
        cells[(at(cell) + at(next)) / 2] = Cell::Open;
        stack.push(next);
    }
    cells
}

/// Interior walls that separate two cells (one odd and one even coordinate, off the border).
fn interior_walls(cells: &[Cell], side: usize) -> Vec<usize> {
    (0..cells.len())
        .filter(|&i| {
            let (r, c) = (i / side, i % side);
            cells[i] == Cell::Wall && r > 0 && c > 0 && r + 1 < side && c + 1 < side && (r + c) % 2 == 1
        })
        .collect()
}

/// A random maze of `n x n` cells: the backtracker, then a share `loops` of the remaining interior walls removed.
/// Start and goal are far apart (the farthest cell from a random cell, and the farthest cell from that one), or,
/// with probability `random_ends`, two distinct random cells. With `random_ends` 0 no extra number is drawn, so
/// such mazes are the same as before the option existed.
pub fn generate(n: usize, loops: f64, random_ends: f64, rng: &mut Rng) -> Maze {
    let side = 2 * n + 1;
    let mut cells = backtracker(n, rng);
    let mut walls = interior_walls(&cells, side);
    rng.shuffle(&mut walls);
    let remove = (loops * walls.len() as f64).round() as usize;
    for &w in &walls[..remove.min(walls.len())] {
        cells[w] = Cell::Open;
    }
    let mut maze = Maze { side, cells, start: 0, goal: 0 };
    let cell_at = |k: usize| (2 * (k / n) + 1) * side + 2 * (k % n) + 1;
    // Only cell positions are candidates, so start and goal never sit in an opening between cells.
    let farthest = |maze: &Maze, from: usize| {
        let dist = maze.distances(from);
        (0..n * n).map(cell_at).max_by_key(|&i| (dist[i], std::cmp::Reverse(i))).expect("n >= 1")
    };
    let a = farthest(&maze, cell_at(rng.below(n * n)));
    let b = farthest(&maze, a);
    let (start, goal) = if rng.below(2) == 0 { (a, b) } else { (b, a) };
    let (start, goal) = if random_ends > 0.0 && rng.uniform() < random_ends {
        let s = rng.below(n * n);
        let g = rng.below(n * n - 1);
        (cell_at(s), cell_at(if g >= s { g + 1 } else { g }))
    } else {
        (start, goal)
    };
    maze.cells[start] = Cell::Start;
    maze.cells[goal] = Cell::Goal;
    maze.start = start;
    maze.goal = goal;
    maze
}

/// Checks that `predicted` (grid positions, in any order) is a shortest start-to-goal path through open cells.
/// Any shortest path is accepted, not only the target's.
pub fn check(maze: &Maze, predicted: &[usize]) -> Result<(), PathError> {
    let side = maze.side;
    let rc = |i: usize| (i / side, i % side);
    if predicted.is_empty() {
        return Err(PathError::Empty);
    }
    let mut on = vec![false; maze.cells.len()];
    for &i in predicted {
        if i >= on.len() {
            return Err(PathError::OutOfBounds { index: i, side });
        }
        if !maze.is_open(i) {
            let (row, col) = rc(i);
            return Err(PathError::TouchesWall { row, col });
        }
        on[i] = true;
    }
    if !on[maze.start] {
        return Err(PathError::MissingStart);
    }
    // Flood fill within the predicted cells from the start.
    let mut seen = vec![false; on.len()];
    seen[maze.start] = true;
    let mut stack = vec![maze.start];
    while let Some(i) = stack.pop() {
        for j in maze.neighbours(i) {
            if on[j] && !seen[j] {
                seen[j] = true;
                stack.push(j);
            }
        }
    }
    if !on[maze.goal] || !seen[maze.goal] {
        return Err(PathError::DoesNotReachGoal);
    }
    if let Some(i) = (0..on.len()).find(|&i| on[i] && !seen[i]) {
        let (row, col) = rc(i);
        return Err(PathError::Disconnected { row, col });
    }
    // Connected, degree <= 2 everywhere and 1 at both ends: exactly a simple start-to-goal path.
    for i in (0..on.len()).filter(|&i| on[i]) {
        let degree = maze.neighbours(i).filter(|&j| on[j]).count();
        let end = i == maze.start || i == maze.goal;
        if degree > 2 || (end && degree > 1) {
            let (row, col) = rc(i);
            return Err(PathError::Branch { row, col });
        }
    }
    let steps = on.iter().filter(|&&b| b).count() - 1;
    let shortest = maze.distances(maze.start)[maze.goal];
    if steps > shortest {
        return Err(PathError::TooLong { steps, shortest });
    }
    Ok(())
}

/// One character per position: '#' wall, '.' open, 'S' start, 'G' goal, and '*' for positions of `path`.
pub fn to_text(maze: &Maze, path: Option<&[usize]>) -> String {
    let on: HashSet<usize> = path.unwrap_or(&[]).iter().copied().collect();
    let mut out = String::with_capacity(maze.side * (maze.side + 1));
    for (i, &cell) in maze.cells.iter().enumerate() {
        out.push(match cell {
            Cell::Wall => '#',
            Cell::Start => 'S',
            Cell::Goal => 'G',
            Cell::Open if on.contains(&i) => '*',
            Cell::Open => '.',
        });
        if i % maze.side == maze.side - 1 {
            out.push('\n');
        }
    }
    out
}

/// Parses the text of `to_text` ('*' reads as open). See `parse_with_path` for the marked path.
pub fn parse(text: &str) -> Result<Maze, LabError> {
    parse_with_path(text).map(|(maze, _)| maze)
}

/// Parses a maze and the positions marked '*' together with start and goal (a path to `check`; just the two
/// endpoints when nothing is marked).
pub fn parse_with_path(text: &str) -> Result<(Maze, Vec<usize>), LabError> {
    let err = |msg: String| LabError::Input(format!("maze: {msg}"));
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let lines = &lines[..lines.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1)];
    if lines.is_empty() {
        return Err(err("the text is empty".into()));
    }
    let mut cells = Vec::new();
    let mut path = Vec::new();
    let width = lines[0].chars().count();
    for (r, line) in lines.iter().enumerate() {
        for (c, ch) in line.chars().enumerate() {
            cells.push(match ch {
                '#' => Cell::Wall,
                '.' => Cell::Open,
                'S' => Cell::Start,
                'G' => Cell::Goal,
                '*' => {
                    path.push(r * width + c);
                    Cell::Open
                }
                _ => return Err(err(format!("unknown character {ch:?} at line {}, column {}; expected '#' wall, '.' open, 'S' start, 'G' goal or '*' path", r + 1, c + 1))),
            });
        }
        let len = line.chars().count();
        if len != width {
            return Err(err(format!(
                "line {} has {len} characters but line 1 has {width}; all lines must have equal length",
                r + 1
            )));
        }
    }
    let side = lines.len();
    if width != side || side.is_multiple_of(2) || side < 2 * MIN_SIZE + 1 {
        return Err(err(format!("the grid is {side} lines of {width} characters; expected a square (2n+1) x (2n+1) grid for n x n cells, n >= {MIN_SIZE} (5x5, 7x7, ...)")));
    }
    let (start, goal) = endpoints(&cells).map_err(|e| err(e.to_string().trim_start_matches("maze: ").to_string()))?;
    for (i, &cell) in cells.iter().enumerate() {
        let (r, c) = (i / side, i % side);
        let (border, cell_pos, corner) =
            (r == 0 || c == 0 || r == side - 1 || c == side - 1, r % 2 == 1 && c % 2 == 1, r % 2 == 0 && c % 2 == 0);
        let wrong = if border || corner {
            cell != Cell::Wall
        } else if cell_pos {
            cell == Cell::Wall
        } else {
            matches!(cell, Cell::Start | Cell::Goal)
        };
        if wrong {
            return Err(err(format!("line {}, column {}: expected the border and even-row-even-column positions to be '#', and odd-row-odd-column positions (the cells, where 'S' and 'G' go) to be open", r + 1, c + 1)));
        }
    }
    let maze = Maze { side, cells, start, goal };
    if maze.distances(start)[goal] == usize::MAX {
        return Err(err("there is no path from 'S' to 'G'".into()));
    }
    path.extend([start, goal]);
    path.sort_unstable();
    Ok((maze, path))
}

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    let cells = format!("a number of cells per side from {MIN_SIZE} to {MAX_SIZE}");
    if !(MIN_SIZE..=MAX_SIZE).contains(&t.size) {
        return Err(LabError::invalid("task.size", t.size, cells));
    }
    if t.test_size != 0 && !(MIN_SIZE..=MAX_SIZE).contains(&t.test_size) {
        return Err(LabError::invalid("task.test_size", t.test_size, format!("0 (same as task.size) or {cells}")));
    }
    if !(1..=10_000_000).contains(&t.examples) {
        return Err(LabError::invalid("task.examples", t.examples, "a number of training mazes from 1 to 10000000"));
    }
    if !(1..=10_000_000).contains(&t.test_examples) {
        return Err(LabError::invalid(
            "task.test_examples",
            t.test_examples,
            "a number of test mazes from 1 to 10000000",
        ));
    }
    if !(0.0..=1.0).contains(&t.maze_loops) {
        return Err(LabError::invalid(
            "task.maze_loops",
            t.maze_loops,
            "a share of interior walls to remove from 0 (perfect mazes) to 1",
        ));
    }
    if !(0.0..=1.0).contains(&t.maze_random_ends) {
        return Err(LabError::invalid(
            "task.maze_random_ends",
            t.maze_random_ends,
            "a share of mazes from 0 (start and goal at the ends of the longest path) to 1 (all at random cells)",
        ));
    }
    Ok(())
}

/// Train and test splits, each at its own grid size; with `pad` (for learned absolute positions, which need
/// one length) every maze is embedded in the top-left corner of the larger grid and the rest filled with
/// walls (target 0). Test mazes identical to a
/// training maze or an earlier test maze are redrawn a bounded number of times: where few distinct mazes exist (2x2 cells has at most 8,
/// and `maze_loops` near 1 opens nearly every wall) the test split ends up shorter than `test_examples`, even
/// empty, rather than overlapping the training split or looping forever.
pub fn build(task: &TaskConfig, seed: u64, pad: bool) -> Dataset {
    let test_size = if task.test_size == 0 { task.size } else { task.test_size };
    let train: Vec<Maze> = {
        let mut rng = Rng::fork(seed, "maze-train");
        (0..task.examples).map(|_| generate(task.size, task.maze_loops, task.maze_random_ends, &mut rng)).collect()
    };
    let mut seen: HashSet<Maze> = train.iter().cloned().collect();
    let mut rng = Rng::fork(seed, "maze-test");
    let mut test = Vec::with_capacity(task.test_examples);
    for _ in 0..task.test_examples.saturating_mul(64).saturating_add(64) {
        if test.len() == task.test_examples {
            break;
        }
        let maze = generate(test_size, task.maze_loops, task.maze_random_ends, &mut rng);
        if seen.insert(maze.clone()) {
            test.push(maze);
        }
    }
    let side = |cells: usize| 2 * if pad { task.size.max(test_size) } else { cells } + 1;
    Dataset {
        vocab: VOCAB,
        splits: vec![split("train", &train, side(task.size)), split("test", &test, side(test_size))],
    }
}

fn split(name: &'static str, mazes: &[Maze], side: usize) -> Split {
    let mut s = Split::grid(name, [side, side]);
    for maze in mazes {
        let (tokens, targets) = embed(maze, side);
        s.push(&tokens, &targets);
    }
    s
}

/// Tokens and per-position targets of `maze` in the top-left corner of a `side x side` grid of walls.
pub fn embed(maze: &Maze, side: usize) -> (Vec<u32>, Vec<u32>) {
    assert!(maze.side <= side, "a {0}x{0} maze does not fit a {side}x{side} grid", maze.side);
    let mut tokens = vec![Cell::Wall as u32; side * side];
    let mut targets = vec![0; side * side];
    for (i, t) in maze.tokens().into_iter().enumerate() {
        tokens[(i / maze.side) * side + i % maze.side] = t;
    }
    for i in maze.shortest_path().expect("generated mazes are connected") {
        targets[(i / maze.side) * side + i % maze.side] = 1;
    }
    (tokens, targets)
}
