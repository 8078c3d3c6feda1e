//! The validity-preserving symmetries of a Sudoku board (digit relabeling, transpose, band/stack shuffles,
//! row/column shuffles inside them) and the symmetry-invariant key that decides a puzzle's split: every
//! generated base puzzle's key is hashed (salted by the seed), so a puzzle and all its images fall on the same
//! side. For 4x4 the key is the exact canonical form (all 128 geometric symmetries enumerated, digits relabeled
//! by first appearance). For 6x6 and 9x9 exact canonicalization is too expensive (3456 and ~3.4M geometric
//! symmetries), so the key is an invariant fingerprint (`fingerprint`): equal for equivalent puzzles (sound:
//! nothing equivalent can cross the split), while unrelated puzzles that share it merely land on the same side.

use super::{box_shape, Board};
use crate::rng::Rng;

/// A validity-preserving map of boards: output cell (r, c) takes the digit of source cell (rows[r], cols[c])
/// of the (optionally transposed) input, relabeled by `digits` (`digits[0] = 0` keeps blanks blank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symmetry {
    pub digits: Vec<u8>,
    pub rows: Vec<usize>,
    pub cols: Vec<usize>,
    pub transpose: bool,
}

/// Composes a permutation of `groups` groups of `size` lines from a group order and an order inside each group.
fn line_perm(group_order: &[usize], inner: &[Vec<usize>], size: usize) -> Vec<usize> {
    (0..group_order.len() * size).map(|r| group_order[r / size] * size + inner[r / size][r % size]).collect()
}

fn permutations(k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![vec![]];
    }
    let mut out = vec![];
    for p in permutations(k - 1) {
        for pos in 0..k {
            let mut q = p.clone();
            q.insert(pos, k - 1);
            out.push(q);
        }
    }
    out
}

/// All ways to shuffle `groups` groups of `size` lines and the lines inside each group.
fn all_line_perms(groups: usize, size: usize) -> Vec<Vec<usize>> {
    let mut inners: Vec<Vec<Vec<usize>>> = vec![vec![]];
    for _ in 0..groups {
        inners = inners
            .into_iter()
            .flat_map(|acc| permutations(size).into_iter().map(move |p| [acc.clone(), vec![p]].concat()))
            .collect();
    }
    permutations(groups).iter().flat_map(|g| inners.iter().map(move |inner| line_perm(g, inner, size))).collect()
}

impl Symmetry {
    pub fn identity(n: usize) -> Symmetry {
        Symmetry { digits: (0..=n as u8).collect(), rows: (0..n).collect(), cols: (0..n).collect(), transpose: false }
    }

    /// A uniformly random symmetry. Transpose only for square boxes (it turns 2x3 boxes into 3x2 ones).
    pub fn random(n: usize, rng: &mut Rng) -> Symmetry {
        let (br, bc) = box_shape(n).expect("board side 4, 6 or 9");
        let mut perm = |k: usize| {
            let mut p: Vec<usize> = (0..k).collect();
            rng.shuffle(&mut p);
            p
        };
        let mut digits: Vec<u8> = (1..=n as u8).collect();
        let (band, row_inner): (Vec<usize>, Vec<Vec<usize>>) = (perm(n / br), (0..n / br).map(|_| perm(br)).collect());
        let (stack, col_inner): (Vec<usize>, Vec<Vec<usize>>) = (perm(n / bc), (0..n / bc).map(|_| perm(bc)).collect());
        rng.shuffle(&mut digits);
        digits.insert(0, 0);
        let transpose = br == bc && rng.below(2) == 1;
        Symmetry { digits, rows: line_perm(&band, &row_inner, br), cols: line_perm(&stack, &col_inner, bc), transpose }
    }

    /// Every geometric symmetry (identity digits) of a 4x4 (128) or 6x6 (3456) board; 9x9 has ~3.4M, refused.
    pub fn all_geometric(n: usize) -> Vec<Symmetry> {
        let (br, bc) = box_shape(n).expect("board side 4, 6 or 9");
        assert!(n <= 6, "enumerating 9x9 symmetries is too expensive");
        let (rows, cols) = (all_line_perms(n / br, br), all_line_perms(n / bc, bc));
        let transposes: &[bool] = if br == bc { &[false, true] } else { &[false] };
        let mut out = vec![];
        for &transpose in transposes {
            for r in &rows {
                for c in &cols {
                    out.push(Symmetry { digits: (0..=n as u8).collect(), rows: r.clone(), cols: c.clone(), transpose });
                }
            }
        }
        out
    }

    pub fn apply(&self, board: &Board) -> Board {
        let n = board.n;
        let src = if self.transpose { board.transposed() } else { board.clone() };
        Board {
            n,
            cells: (0..n * n).map(|i| self.digits[src.get(self.rows[i / n], self.cols[i % n]) as usize]).collect(),
        }
    }
}

/// Renames digits in order of first appearance (reading order): equal for boards that differ by relabeling.
fn relabel(board: &Board) -> Vec<u8> {
    let mut map = [0u8; 10];
    let mut next = 1;
    board
        .cells
        .iter()
        .map(|&d| {
            if d != 0 && map[d as usize] == 0 {
                map[d as usize] = next;
                next += 1;
            }
            map[d as usize]
        })
        .collect()
}

/// The exact canonical form of a 4x4 or 6x6 board under all symmetries (smallest relabeled image).
pub fn canonical(board: &Board) -> Vec<u8> {
    Symmetry::all_geometric(board.n).iter().map(|g| relabel(&g.apply(board))).min().expect("the identity at least")
}

/// A symmetry-invariant fingerprint: the sorted list, over givens, of (givens in its row, column, box, band,
/// stack; how often its digit is given). Row/column/band/stack shuffles keep each count, relabeling keeps the
/// frequencies, and transposition is covered by taking the smaller of the board's and its transpose's list.
pub fn fingerprint(board: &Board) -> Vec<u8> {
    let one = |b: &Board| {
        let n = b.n;
        let (br, bc) = box_shape(n).expect("board side 4, 6 or 9");
        let (mut row, mut col, mut bx, mut band, mut stack, mut freq) =
            ([0u8; 9], [0u8; 9], [0u8; 9], [0u8; 3], [0u8; 3], [0u8; 10]);
        let box_of = |i: usize| (i / n / br) * (n / bc) + (i % n) / bc;
        let given = |i: &usize| b.cells[*i] != 0;
        for i in (0..n * n).filter(given) {
            row[i / n] += 1;
            col[i % n] += 1;
            bx[box_of(i)] += 1;
            band[i / n / br] += 1;
            stack[(i % n) / bc] += 1;
            freq[b.cells[i] as usize] += 1;
        }
        let mut tuples: Vec<[u8; 6]> = (0..n * n)
            .filter(given)
            .map(|i| {
                [
                    row[i / n],
                    col[i % n],
                    bx[box_of(i)],
                    band[i / n / br],
                    stack[(i % n) / bc],
                    freq[b.cells[i] as usize],
                ]
            })
            .collect();
        tuples.sort_unstable();
        tuples.concat()
    };
    let (br, bc) = box_shape(board.n).expect("board side 4, 6 or 9");
    if br == bc {
        one(board).min(one(&board.transposed()))
    } else {
        one(board)
    }
}

/// The key that decides a puzzle's split (see the module docs).
pub fn split_key(puzzle: &Board) -> Vec<u8> {
    if puzzle.n == 4 {
        canonical(puzzle)
    } else {
        fingerprint(puzzle)
    }
}
