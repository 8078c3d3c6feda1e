#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashSet;

use looplab::config::{LabConfig, TaskConfig};
use looplab::rng::Rng;
use looplab::tasks::maze::{self, check, parse, parse_with_path, to_text, Cell, Maze, PathError};

fn task(size: usize, test_size: usize, loops: f64) -> TaskConfig {
    let mut t = LabConfig::from_preset("maze", &[]).unwrap().task;
    t.size = size;
    t.test_size = test_size;
    t.maze_loops = loops;
    t.examples = 20;
    t.test_examples = 10;
    t
}

/// Open passages between neighbouring cells, and whether every cell is reachable from the start.
fn passages(m: &Maze) -> (usize, bool) {
    let n = (m.side - 1) / 2;
    let mut edges = 0;
    for r in 0..n {
        for c in 0..n {
            let at = (2 * r + 1) * m.side + 2 * c + 1;
            edges += (c + 1 < n && m.is_open(at + 1)) as usize + (r + 1 < n && m.is_open(at + m.side)) as usize;
        }
    }
    let dist = m.distances(m.start);
    let all = (0..n * n).all(|k| dist[(2 * (k / n) + 1) * m.side + 2 * (k % n) + 1] != usize::MAX);
    (edges, all)
}

#[test]
fn backtracker_mazes_are_perfect_and_loops_add_passages() {
    let mut rng = Rng::fork(1, "test");
    for n in [2, 3, 7, 15] {
        for _ in 0..5 {
            let (edges, connected) = passages(&maze::generate(n, 0.0, 0.0, &mut rng));
            assert!(connected, "{n}x{n}: some cell unreachable");
            assert_eq!(edges, n * n - 1, "{n}x{n}: a perfect maze is a spanning tree");
        }
        let (edges, connected) = passages(&maze::generate(n, 0.5, 0.0, &mut rng));
        assert!(connected);
        assert!(edges > n * n - 1, "{n}x{n}: loops should open extra passages, got {edges}");
    }
}

/// Open cells next to a cell: 1 for a dead end.
fn degree(m: &Maze, cell: usize) -> usize {
    [cell - 1, cell + 1, cell - m.side, cell + m.side].iter().filter(|&&w| m.is_open(w)).count()
}

/// At the ends of the longest path, start and goal of a perfect maze are dead ends; `maze_random_ends` also puts
/// them at junctions and in corridors, choosing them after the walls.
#[test]
fn random_ends_reach_junctions() {
    let draw = |random_ends: f64| -> Vec<Maze> {
        let mut rng = Rng::fork(3, "ends");
        (0..60).map(|_| maze::generate(7, 0.0, random_ends, &mut rng)).collect()
    };
    let far = draw(0.0);
    assert!(far.iter().all(|m| degree(m, m.start) == 1 && degree(m, m.goal) == 1), "far ends are dead ends");
    let random = draw(1.0);
    let inner = random.iter().filter(|m| degree(m, m.start) > 1).count();
    assert!(inner > 20, "{inner} of 60 random starts off a dead end");
    assert!(random.iter().all(|m| m.start != m.goal && m.shortest_path().is_some()));
    let walls = |m: &Maze| to_text(m, None).replace(['S', 'G'], ".");
    assert_eq!(walls(&far[0]), walls(&random[0]), "the same first maze, other ends");
}

#[test]
fn targets_are_shortest_paths_for_all_sizes() {
    for n in [2, 3, 7, 15] {
        for (loops, random_ends) in [(0.0, 0.0), (0.3, 0.0), (0.0, 1.0), (0.3, 0.5)] {
            let mut t = task(n, 0, loops);
            t.maze_random_ends = random_ends;
            if n == 2 {
                // 2x2 cells has at most 8 distinct mazes: leave some for a disjoint test split.
                (t.examples, t.test_examples) = (2, 1);
            }
            let d = LabConfig { task: t, ..LabConfig::from_preset("maze", &[]).unwrap() }.dataset();
            assert_eq!((d.vocab, d.seq_len()), (4, (2 * n + 1) * (2 * n + 1)));
            for s in &d.splits {
                assert!(!s.is_empty(), "{n}: empty {} split", s.name);
                for (tokens, targets) in s.tokens.chunks(d.seq_len()).zip(s.targets.chunks(d.seq_len())) {
                    let m = Maze::from_tokens(tokens).unwrap();
                    let path: Vec<usize> = (0..targets.len()).filter(|&i| targets[i] == 1).collect();
                    assert!(targets.iter().all(|&t| t <= 1));
                    assert!(path.contains(&m.start) && path.contains(&m.goal));
                    assert!(path.iter().all(|&i| m.is_open(i)));
                    assert_eq!(path.len() - 1, m.distances(m.start)[m.goal]);
                    check(&m, &path)
                        .unwrap_or_else(|e| panic!("{n}x{n} loops {loops}: {e}\n{}", to_text(&m, Some(&path))));
                    assert_ne!(m.start, m.goal);
                }
            }
        }
    }
}

const LOOPY: &str = "\
#######
#S....#
#.###.#
#.....#
#.###.#
#....G#
#######
";

fn at(r: usize, c: usize) -> usize {
    r * 7 + c
}

#[test]
fn validator_accepts_any_shortest_path_and_rejects_bad_ones() {
    let m = parse(LOOPY).unwrap();
    let target = m.shortest_path().unwrap();
    // Ties go to the first move in the order up, left, right, down: along the top, then down the right side.
    let top_right: Vec<usize> = (1..=5).map(|c| at(1, c)).chain((2..=5).map(|r| at(r, 5))).collect();
    assert_eq!(target, top_right);
    check(&m, &target).unwrap();
    let left_bottom: Vec<usize> = (1..=5).map(|r| at(r, 1)).chain((2..=5).map(|c| at(5, c))).collect();
    check(&m, &left_bottom).unwrap();
    let mut middle: Vec<usize> =
        (1..=3).map(|r| at(r, 1)).chain((2..=5).map(|c| at(3, c))).chain([at(4, 5), at(5, 5)]).collect();
    middle.reverse();
    check(&m, &middle).unwrap();

    let with = |extra: &[usize]| [&target[..], extra].concat();
    assert_eq!(check(&m, &[]), Err(PathError::Empty));
    assert_eq!(check(&m, &with(&[49])), Err(PathError::OutOfBounds { index: 49, side: 7 }));
    assert_eq!(check(&m, &with(&[at(2, 2)])), Err(PathError::TouchesWall { row: 2, col: 2 }));
    assert_eq!(check(&m, &target[1..]), Err(PathError::MissingStart));
    assert_eq!(check(&m, &target[..8]), Err(PathError::DoesNotReachGoal));
    assert_eq!(check(&m, &[m.start, m.goal]), Err(PathError::DoesNotReachGoal));
    assert_eq!(check(&m, &with(&[at(5, 1)])), Err(PathError::Disconnected { row: 5, col: 1 }));
    assert_eq!(check(&m, &with(&[at(3, 4)])), Err(PathError::Branch { row: 3, col: 5 }));
    assert_eq!(check(&m, &with(&[at(2, 1)])), Err(PathError::Branch { row: 1, col: 1 }));
    let snake: Vec<usize> = (1..=5)
        .map(|c| at(1, c))
        .chain([at(2, 5)])
        .chain((1..=5).rev().map(|c| at(3, c)))
        .chain([at(4, 1)])
        .chain((1..=5).map(|c| at(5, c)))
        .collect();
    assert_eq!(check(&m, &snake), Err(PathError::TooLong { steps: 16, shortest: 8 }));
    assert!(PathError::TooLong { steps: 16, shortest: 8 }.to_string().contains("16 steps"));
}

#[test]
fn text_round_trip() {
    let mut rng = Rng::fork(2, "test");
    for n in [2, 3, 7] {
        let m = maze::generate(n, 0.2, 0.5, &mut rng);
        let plain = to_text(&m, None);
        assert_eq!(plain.lines().count(), 2 * n + 1);
        assert_eq!(parse(&plain).unwrap(), m);
        let path = m.shortest_path().unwrap();
        let solved = to_text(&m, Some(&path));
        assert_eq!(solved.matches('*').count(), path.len() - 2);
        let (back, marked) = parse_with_path(&solved).unwrap();
        assert_eq!(back, m);
        let mut sorted = path.clone();
        sorted.sort_unstable();
        assert_eq!(marked, sorted);
        assert_eq!(Maze::from_tokens(&m.tokens()).unwrap(), m);
    }
    assert_eq!(parse(LOOPY).unwrap().cells[at(1, 1)], Cell::Start);
}

#[test]
fn parse_errors_say_what_is_wrong() {
    let err = |text: &str| parse(text).unwrap_err().to_string();
    let e = err("#####\n#S..#\n#.x.#\n#..G#\n#####\n");
    assert!(e.contains("'x'") && e.contains("line 3, column 3"), "{e}");
    let e = err("#####\n#S..#\n#.#.#\n#..G##\n#####\n");
    assert!(e.contains("line 4 has 6 characters") && e.contains("equal length"), "{e}");
    let e = err("#####\n#S.S#\n#.#.#\n#..G#\n#####\n");
    assert!(e.contains("exactly one 'S', found 2"), "{e}");
    let e = err("#####\n#S..#\n#.#.#\n#...#\n#####\n");
    assert!(e.contains("exactly one 'G', found 0"), "{e}");
    let e = err("#####\n#S.G#\n#####\n");
    assert!(e.contains("3 lines of 5 characters") && e.contains("(2n+1) x (2n+1)"), "{e}");
    let e = err("######\n#S...#\n#.#..#\n#...G#\n#....#\n######\n");
    assert!(e.contains("6 lines of 6 characters"), "{e}");
    let e = err("#####\n#S...\n#.#.#\n#..G#\n#####\n");
    assert!(e.contains("line 2, column 5") && e.contains("border"), "{e}");
    let e = err("#####\n#S#.#\n###.#\n#..G#\n#####\n");
    assert!(e.contains("no path from 'S' to 'G'"), "{e}");
    assert!(err("").contains("empty"));
    assert!(parse("#####\n#S..#\n#.#.#\n#..G#\n#####\n").is_ok());
}

#[test]
fn splits_are_deterministic_and_disjoint() {
    let config = |seed| LabConfig { seed, task: task(3, 0, 0.0), ..LabConfig::from_preset("maze", &[]).unwrap() };
    let (a, b, c) = (config(7).dataset(), config(7).dataset(), config(8).dataset());
    for (x, y) in a.splits.iter().zip(&b.splits) {
        assert_eq!((&x.tokens, &x.targets), (&y.tokens, &y.targets));
    }
    assert_ne!(a.train().tokens, c.train().tokens);
    let l = a.seq_len();
    let train: HashSet<&[u32]> = a.train().tokens.chunks(l).collect();
    assert_eq!(a.splits[1].len(), 10);
    assert!(a.splits[1].tokens.chunks(l).all(|t| !train.contains(t)), "a test maze is also a training maze");
    assert_eq!(a.splits[1].tokens.chunks(l).collect::<HashSet<_>>().len(), 10, "test mazes repeat");
    // 2x2 cells has only a handful of distinct mazes: the test split shrinks rather than overlapping.
    let mut tiny = config(7);
    tiny.task = task(2, 0, 0.0);
    let d = tiny.dataset();
    assert!(d.splits[1].len() < 10);
    let train: HashSet<&[u32]> = d.train().tokens.chunks(d.seq_len()).collect();
    assert!(d.splits[1].tokens.chunks(d.seq_len()).all(|t| !train.contains(t)));
}

#[test]
fn smaller_mazes_are_padded_with_walls() {
    // Learned absolute positions need one length: every split is padded to the largest.
    let learned = ["model.attention=global", "model.radius=0", "model.positions=learned"].map(String::from);
    let config = LabConfig { task: task(3, 5, 0.0), ..LabConfig::from_preset("maze", &learned).unwrap() };
    let d = config.dataset();
    assert_eq!(d.seq_len(), 11 * 11);
    let (tokens, targets) = (&d.train().tokens[..121], &d.train().targets[..121]);
    for i in 0..121 {
        if i / 11 >= 7 || i % 11 >= 7 {
            assert_eq!((tokens[i], targets[i]), (0, 0), "padding at {i}");
        }
    }
    let m = Maze::from_tokens(tokens).unwrap();
    check(&m, &(0..121).filter(|&i| targets[i] == 1).collect::<Vec<_>>()).unwrap();
    let test = Maze::from_tokens(&d.splits[1].tokens[..121]).unwrap();
    assert!(test.cells[9 * 11 + 9] != Cell::Wall, "test mazes fill the 11x11 grid");
}

#[test]
fn without_learned_positions_each_split_keeps_its_size() {
    let sets = ["task.size=3", "task.test_size=5", "model.attention=local", "model.radius=1", "model.positions=none"]
        .map(String::from);
    let d = LabConfig::from_preset("maze", &sets).unwrap().dataset();
    assert_eq!((d.splits[0].seq_len, d.splits[0].grid), (49, [7, 7]));
    assert_eq!((d.splits[1].seq_len, d.splits[1].grid), (121, [11, 11]));
    for s in &d.splits {
        for i in 0..s.len() {
            let (tokens, targets) = s.example(i);
            let m = Maze::from_tokens(tokens).unwrap();
            check(&m, &(0..tokens.len()).filter(|&j| targets[j] == 1).collect::<Vec<_>>()).unwrap();
        }
    }
}

#[test]
fn config_validation_names_the_key() {
    let c = LabConfig::from_preset("maze", &[]).unwrap();
    assert_eq!(c.dataset().seq_len(), 81);
    let bad = |set: &str, key: &str| {
        let e = LabConfig::from_preset("maze", &[set.to_string()]).unwrap_err().to_string();
        assert!(e.contains(key), "{set}: {e}");
    };
    bad("task.size=1", "task.size");
    bad("task.size=65", "task.size");
    bad("task.test_size=1", "task.test_size");
    bad("task.test_examples=0", "task.test_examples");
    bad("task.examples=0", "task.examples");
    bad("task.maze_loops=1.5", "task.maze_loops");
    bad("task.maze_random_ends=-0.1", "task.maze_random_ends");
    LabConfig::from_preset("maze", &["task.test_size=9".into(), "task.maze_loops=0.2".into()]).unwrap();
}

#[test]
fn maze_preset_takes_training_steps_on_cpu() {
    use looplab::backend::{Backend, BackendKind};
    use looplab::train::Trainer;
    let o: Vec<String> =
        ["task.examples=8", "task.test_examples=4", "train.batch_size=4", "model.loops=2", "train.eval_every=1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let c = LabConfig::from_preset("maze", &o).unwrap();
    pollster::block_on(async {
        let mut t = Trainer::new(c, Backend::open(BackendKind::Cpu).await.unwrap()).await.unwrap();
        let records = t.train(2).await.unwrap();
        assert!(records.iter().all(|r| r.loss.is_finite() && r.loss > 0.0), "{records:?}");
    });
}
