#![cfg(not(target_arch = "wasm32"))]
//! The Sudoku task: generation, uniqueness, symmetries, split disjointness under symmetry, the text format and
//! its errors, the rule-based validator, and the config wiring.

use std::collections::HashSet;

use looplab::config::{preset, LabConfig, TaskKind};
use looplab::rng::Rng;
use looplab::tasks::sudoku::*;

fn board(line: &str, n: usize) -> Board {
    Board { n, cells: line.chars().map(|c| c.to_digit(10).unwrap_or(0) as u8).collect() }
}

fn task(size: usize, givens: usize, examples: usize, test_examples: usize) -> looplab::config::TaskConfig {
    let mut c = preset("sudoku-4x4").unwrap().task;
    (c.size, c.givens, c.examples, c.test_examples) = (size, givens, examples, test_examples);
    c
}

fn puzzles(split: &looplab::tasks::Split, n: usize) -> Vec<Board> {
    split.tokens.chunks(n * n).map(|c| Board { n, cells: c.iter().map(|&t| t as u8).collect() }).collect()
}

#[test]
fn generated_grids_are_valid_for_all_sizes() {
    let mut rng = Rng::fork(1, "test");
    for (n, count) in [(4, 30), (6, 10), (9, 5)] {
        let mut seen = HashSet::new();
        for _ in 0..count {
            let grid = random_grid(n, &mut rng);
            assert_eq!(grid.givens(), n * n);
            check(&Board::empty(n), &grid).unwrap_or_else(|v| panic!("{n}x{n} grid {}: {v}", to_line(&grid)));
            seen.insert(grid);
        }
        assert!(seen.len() > count / 2, "{n}x{n}: grids should vary with the rng");
    }
}

#[test]
fn puzzles_are_unique_and_keep_the_requested_givens() {
    let mut rng = Rng::fork(2, "test");
    for (n, givens, count) in [(4, 10, 30), (4, 6, 30), (6, 18, 5), (9, 32, 2)] {
        for _ in 0..count {
            let grid = random_grid(n, &mut rng);
            let puzzle = make_puzzle(&grid, givens, &mut rng);
            assert_eq!(puzzle.givens(), givens, "{n}x{n} {}", to_line(&puzzle));
            assert_eq!(solve_unique(&puzzle).as_ref(), Some(&grid));
            assert!(puzzle.cells.iter().zip(&grid.cells).all(|(&p, &g)| p == 0 || p == g));
        }
    }
    // givens = 0: one pass leaves a minimal puzzle, so removing any remaining given breaks uniqueness.
    for (n, count) in [(4, 20), (6, 2)] {
        for _ in 0..count {
            let grid = random_grid(n, &mut rng);
            let puzzle = make_puzzle(&grid, 0, &mut rng);
            assert_eq!(solve_unique(&puzzle).as_ref(), Some(&grid));
            assert!(puzzle.givens() >= min_givens(n));
            for i in (0..n * n).filter(|&i| puzzle.cells[i] != 0) {
                let mut fewer = puzzle.clone();
                fewer.cells[i] = 0;
                assert_eq!(count_solutions(&fewer, 2).0, 2, "{n}x{n} {} is not minimal at cell {i}", to_line(&puzzle));
            }
        }
    }
}

/// One symmetry of each kind alone, plus random compositions.
fn symmetries(n: usize, rng: &mut Rng) -> Vec<Symmetry> {
    let id = Symmetry::identity(n);
    let (br, bc) = box_shape(n).unwrap();
    let swap = |v: &Vec<usize>, a: usize, b: usize| {
        let mut v = v.clone();
        v.swap(a, b);
        v
    };
    let mut digits = id.digits.clone();
    digits[1..].rotate_left(1);
    let mut out = vec![
        Symmetry { digits, ..id.clone() },
        Symmetry { rows: swap(&id.rows, 0, 1), ..id.clone() }, // rows inside a band
        Symmetry { cols: swap(&id.cols, 0, bc - 1), ..id.clone() }, // columns inside a stack
        Symmetry { rows: (0..n).map(|r| (r + br) % n).collect(), ..id.clone() }, // bands
        Symmetry { cols: (0..n).map(|c| (c + bc) % n).collect(), ..id.clone() }, // stacks
    ];
    if br == bc {
        out.push(Symmetry { transpose: true, ..id.clone() });
    }
    out.extend((0..10).map(|_| Symmetry::random(n, rng)));
    out
}

#[test]
fn augmentations_preserve_validity_and_unique_solutions() {
    let mut rng = Rng::fork(3, "test");
    for (n, givens) in [(4, 0), (6, 0), (9, 30)] {
        let grid = random_grid(n, &mut rng);
        let puzzle = make_puzzle(&grid, givens, &mut rng);
        for g in symmetries(n, &mut rng) {
            let (gg, gp) = (g.apply(&grid), g.apply(&puzzle));
            check(&Board::empty(n), &gg).unwrap_or_else(|v| panic!("{n}x{n} {g:?}: {v}"));
            assert_eq!(solve_unique(&gp), Some(gg), "{n}x{n} {g:?}");
            assert_eq!(gp.givens(), puzzle.givens());
        }
    }
    assert!((0..50).all(|_| !Symmetry::random(6, &mut rng).transpose), "transposing 6x6 changes its box shape");
    // The check above can fail: swapping rows across bands breaks some grid.
    let bad = Symmetry { rows: vec![0, 2, 1, 3], ..Symmetry::identity(4) };
    assert!((0..20).any(|_| check(&Board::empty(4), &bad.apply(&random_grid(4, &mut rng))).is_err()));
}

#[test]
fn split_keys_are_symmetry_invariant() {
    let mut rng = Rng::fork(4, "test");
    for (n, givens) in [(4, 0), (6, 0), (9, 28)] {
        let puzzle = make_puzzle(&random_grid(n, &mut rng), givens, &mut rng);
        for g in symmetries(n, &mut rng) {
            assert_eq!(fingerprint(&g.apply(&puzzle)), fingerprint(&puzzle), "{n}x{n} {g:?}");
            assert_eq!(split_key(&g.apply(&puzzle)), split_key(&puzzle));
            if n <= 6 {
                assert_eq!(canonical(&g.apply(&puzzle)), canonical(&puzzle));
            }
        }
    }
    assert_eq!(Symmetry::all_geometric(4).len(), 128);
    assert_eq!(Symmetry::all_geometric(6).len(), 3456);
}

#[test]
fn splits_are_disjoint_under_symmetry_4x4_by_enumeration() {
    let data = LabConfig { task: task(4, 0, 400, 60), ..preset("sudoku-4x4").unwrap() }.dataset();
    let train: HashSet<Board> = puzzles(&data.splits[0], 4).into_iter().collect();
    let test = puzzles(&data.splits[1], 4);
    assert_eq!(test.len(), 60);
    // Every image of every test puzzle under all 128 x 24 symmetries; none may be a training puzzle.
    let mut digit_perms = HashSet::new();
    for a in 1..=4u8 {
        for b in 1..=4u8 {
            for c in 1..=4u8 {
                let d = 10i32 - (a + b + c) as i32;
                if a != b && a != c && b != c && (1..=4).contains(&d) {
                    digit_perms.insert(vec![0, a, b, c, d as u8]);
                }
            }
        }
    }
    assert_eq!(digit_perms.len(), 24);
    for t in &test {
        for g in Symmetry::all_geometric(4) {
            for d in &digit_perms {
                let image = Symmetry { digits: d.clone(), ..g.clone() }.apply(t);
                assert!(!train.contains(&image), "test puzzle {} is a symmetry image of a training puzzle", to_line(t));
            }
        }
    }
}

#[test]
fn splits_are_disjoint_by_fingerprint_for_6x6_and_9x9() {
    for (n, givens, train, test) in [(6, 0, 40, 10), (9, 36, 8, 3)] {
        let data = LabConfig { task: task(n, givens, train, test), ..preset("sudoku-4x4").unwrap() }.dataset();
        let keys: HashSet<Vec<u8>> = puzzles(&data.splits[0], n).iter().map(fingerprint).collect();
        assert!(puzzles(&data.splits[1], n).iter().all(|p| !keys.contains(&fingerprint(p))));
    }
}

#[test]
fn dataset_shape_targets_and_determinism() {
    let config = preset("sudoku-4x4").unwrap();
    config.validate().unwrap();
    let a = config.dataset();
    assert_eq!((a.vocab, a.seq_len()), (5, 16));
    assert_eq!(a.splits.iter().map(|s| (s.name, s.len())).collect::<Vec<_>>(), [("train", 2000), ("test", 200)]);
    for s in &a.splits {
        for (p, y) in puzzles(s, 4).iter().zip(s.targets.chunks(16)) {
            let solution = Board { n: 4, cells: y.iter().map(|&t| t as u8).collect() };
            assert!(y.iter().all(|&t| (1..=4).contains(&t)), "every cell is supervised with its digit");
            assert_eq!(p.givens(), 6);
            assert_eq!(solve_unique(p), Some(solution));
        }
    }
    let b = config.dataset();
    assert_eq!((&a.splits[0].tokens, &a.splits[1].targets), (&b.splits[0].tokens, &b.splits[1].targets));
    let c = LabConfig { seed: 1, ..config }.dataset();
    assert_ne!(a.splits[0].tokens, c.splits[0].tokens);
}

#[test]
fn text_format_round_trips_and_prints_boxes() {
    let mut rng = Rng::fork(5, "test");
    for n in [4, 6, 9] {
        let puzzle = make_puzzle(&random_grid(n, &mut rng), if n == 9 { 34 } else { 0 }, &mut rng);
        let line = to_line(&puzzle);
        assert_eq!(parse(&line, n).unwrap(), puzzle);
        let spaced: String = line.chars().map(|c| if c == '.' { "0 ".to_string() } else { format!("{c}\n") }).collect();
        assert_eq!(parse(&spaced, n).unwrap(), puzzle);
    }
    let b = board("1234341221434321", 4);
    assert_eq!(pretty(&b), "1 2 | 3 4\n3 4 | 1 2\n----+----\n2 1 | 4 3\n4 3 | 2 1\n");
    let six = pretty(&board("1.....".repeat(6).as_str(), 6));
    assert_eq!(six.lines().next(), Some("1 . . | . . ."));
    assert_eq!(six.lines().nth(2), Some("------+------"));
    assert_eq!(six.lines().count(), 8);
}

#[test]
fn parse_errors_name_the_problem() {
    let err = |text: &str, n: usize| parse(text, n).unwrap_err().to_string();
    assert!(err("123", 4).contains("wrong length: expected 16 cells for a 4x4 board, got 3"), "{}", err("123", 4));
    assert!(err("12x4 ............", 4).contains("bad character 'x' at position 3"));
    assert!(err("1254............", 4).contains("bad character '5' at position 3: expected a digit 1-4"));
    assert!(err("11..............", 4).contains("the givens break a rule: row 1 has digit 1 twice"));
    assert!(err("1...1...........", 4).contains("column 1 has digit 1 twice"));
    assert!(err("1....1..........", 4).contains("box 1 has digit 1 twice"));
    assert!(err("12....3.........", 4).contains("no solution"));
    assert!(err("................", 4).contains("several solutions"));
    assert!(err("1", 5).contains("use 4, 6 or 9"));
    assert!(err(" \n\t", 4).contains("the puzzle is empty: type one line of 16 cells"), "{}", err(" ", 4));
    let nine = "5".repeat(81);
    assert!(
        err(&nine, 4).contains("this is a 9x9 puzzle (81 cells), but the model solves 4x4 boards (16 cells)"),
        "{}",
        err(&nine, 4)
    );
}

#[test]
fn validator_checks_rules_and_givens_not_a_stored_solution() {
    let a = board("1234341221434321", 4);
    // Rows 3 and 4 swapped (same band): another valid grid that keeps the givens of rows 1-2.
    let b = board("1234341243212143", 4);
    let top = board("12343412........", 4);
    assert_ne!(a, b);
    assert_eq!(check(&top, &a), Ok(()));
    assert_eq!(check(&top, &b), Ok(()));
    let mut swapped = a.clone();
    swapped.cells.swap(0, 1);
    assert_eq!(check(&Board::empty(4), &swapped), Err(Violation::Repeat { unit: Unit::Column, index: 1, digit: 2 }));
    let given_in_row_3 = board("12343412.1......", 4);
    assert_eq!(check(&given_in_row_3, &b), Err(Violation::ChangedGiven { row: 3, col: 2, given: 1, answer: 3 }));
    let mut blank = a.clone();
    blank.cells[5] = 0;
    assert_eq!(check(&top, &blank), Err(Violation::NotDigit { row: 2, col: 2, value: 0 }));
    let mut five = a.clone();
    five.cells[15] = 5;
    assert!(matches!(check(&top, &five), Err(Violation::NotDigit { value: 5, .. })));
    assert!(matches!(check(&top, &Board::empty(6)), Err(Violation::Size { .. })));
    // Metrics: exact via the validator, cells by comparison with the targets.
    let tokens: Vec<u32> = top.cells.iter().chain(&top.cells).map(|&d| d as u32).collect();
    let targets: Vec<u32> = a.cells.iter().chain(&a.cells).map(|&d| d as u32).collect();
    let mut predictions = targets.clone();
    predictions[16 + 15] = 3;
    let m = score(4, &tokens, &targets, &predictions);
    assert_eq!((m.exact, m.cells, m.blank_cells), (0.5, 31.0 / 32.0, 15.0 / 16.0));
}

#[test]
fn literature_9x9_puzzles_solve() {
    // The example puzzle of Wikipedia's "Sudoku" article, with its published solution.
    let wiki = parse("53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79", 9).unwrap();
    let solution = "534678912672195348198342567859761423426853791713924856961537284287419635345286179";
    assert_eq!(to_line(&solve_unique(&wiki).unwrap()), solution);
    // Arto Inkala's "world's hardest Sudoku" (2012).
    let inkala = parse("8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4..", 9).unwrap();
    assert_eq!(inkala.givens(), 21);
    check(&inkala, &solve_unique(&inkala).unwrap()).unwrap();
}

#[test]
fn config_validation_messages() {
    let err = |sets: &[&str]| {
        LabConfig::from_preset("sudoku-4x4", &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_err()
            .to_string()
    };
    assert!(err(&["task.size=5"]).contains("`task.size`: expected 4, 6 or 9"));
    assert!(err(&["task.givens=3"]).contains("0 (a minimal puzzle) or from 4 to 15 for a 4x4 board"));
    assert!(err(&["task.size=9", "task.givens=16"]).contains("from 17 to 80"));
    assert!(err(&["task.test_examples=0"]).contains("task.test_examples"));
    assert!(err(&["task.kind=sudokus"]).contains("`sudoku`"));
    let c = LabConfig::from_preset("sudoku-4x4", &["task.size=9".into(), "task.givens=0".into()]).unwrap();
    assert_eq!(c.task.kind, TaskKind::Sudoku);
}
