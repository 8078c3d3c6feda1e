#![cfg(not(target_arch = "wasm32"))]
//! What the page computes, reached natively: the problems the solving view parses, pads, marks and judges
//! (`looplab::problem`), the depth sweep's extra depths, and the page's views of a lab (`Lab::solve`, `depths`,
//! `probe`, `bandit`, `audit`), which measure a snapshot so training goes on exactly as if nothing had been
//! measured. The wasm face (src/web.rs) only converts their types.

mod common;

use common::config;
use looplab::backend::BackendKind;
use looplab::depths::sweep_depths;
use looplab::lab::Lab;
use looplab::problem;
use looplab::train::Record;

const PUZZLE: &str = "1.3. .4.2 2.4. .3.1";
const SOLVED: [u32; 16] = [1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1];
const MAZE: &str = "#####\n#S..#\n###.#\n#G..#\n#####\n";

#[test]
fn a_sudoku_problem_marks_broken_rules_and_judges_answers() {
    let task = config("sudoku-4x4", &[]).task;
    let p = problem::parse(&task, 0, PUZZLE, 0).unwrap();
    assert_eq!((p.kind(), p.grid()), ("sudoku", [4, 4]));
    assert_eq!(p.tokens(), [1, 0, 3, 0, 0, 4, 0, 2, 2, 0, 4, 0, 0, 3, 0, 1]);
    assert_eq!(problem::parse(&task, 0, &p.text(), 0).unwrap().tokens(), p.tokens(), "text round trip");
    assert!(p.judge(&SOLVED).is_ok());
    assert_eq!(p.marked(&SOLVED), [false; 16]);
    assert_eq!(p.render(&SOLVED).lines().count(), 5, "4 rows and a rule");
    // Cell 1's 1 repeats cell 0's (row) and cell 9's (column); cell 6's 2 repeats cell 7's (row) and 14's.
    let mut wrong = SOLVED;
    (wrong[1], wrong[6]) = (1, 2);
    let marked: Vec<usize> = (0..16).filter(|&i| p.marked(&wrong)[i]).collect();
    assert_eq!(marked, [0, 1, 6, 7, 9, 14], "every cell of each repeat");
    assert!(p.judge(&wrong).is_err());
    let mut changed_given = SOLVED;
    changed_given[0] = 2;
    assert!(p.marked(&changed_given)[0], "a changed given is marked");
    let blank = [0; 16];
    assert!(p.marked(&blank).iter().all(|&m| m), "blanks are marked");
    let e = problem::parse(&task, 0, "1.3. .4.2 2.4", 0).err().unwrap();
    assert!(e.to_string().contains("wrong length: expected 16 cells"), "{e}");
}

#[test]
fn a_maze_problem_is_padded_to_the_learned_grid_and_judged_there() {
    let task = config("maze", &[]).task;
    let plain = problem::parse(&task, 0, MAZE, 0).unwrap();
    assert_eq!((plain.kind(), plain.grid()), ("maze", [5, 5]));
    let p = problem::parse(&task, 0, MAZE, 49).unwrap();
    assert_eq!(p.grid(), [7, 7], "walled round to the 7x7 grid of 49 learned positions");
    assert_eq!(p.text(), MAZE, "the text is the maze as given");
    let tokens = p.tokens();
    assert!((0..49).filter(|i| i % 7 >= 5 || i / 7 >= 5).all(|i| tokens[i] == 0), "padding is wall");
    // The shortest path S (1,1) -> (1,3) -> (3,3) -> G (3,1), in the padded grid's positions.
    let mut path = [0u32; 49];
    for (r, c) in [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1)] {
        path[r * 7 + c] = 1;
    }
    assert!(p.judge(&path).is_ok());
    assert!(p.marked(&path).iter().all(|&m| !m));
    assert_eq!(p.render(&path).matches('*').count(), 5, "the open cells of the path drawn in the given maze");
    let mut astray = path;
    astray[5 * 7 + 5] = 1;
    assert!(p.marked(&astray)[5 * 7 + 5], "a path position on a padding wall is marked");
    assert!(p.judge(&astray).unwrap_err().contains("touches a wall"));
    let e = problem::parse(&task, 0, MAZE, 9).err().unwrap();
    assert!(e.to_string().contains("larger than the 3x3 grid this model learned positions for"), "{e}");
    let e = problem::parse(&task, 0, "#####\n#S..#\n###.#\n#G.x#\n#####", 0).err().unwrap();
    assert!(e.to_string().contains("unknown character 'x' at line 4"), "{e}");
    let e = problem::parse(&config("modular-small", &[]).task, 0, "1 + 2", 0).err().unwrap();
    assert!(
        e.to_string()
            .contains("solving is for Sudoku, maze and automaton tasks; this lab trains task.kind=\"modular\""),
        "{e}"
    );
}

#[test]
fn drawn_problems_are_the_split_examples() {
    let c = config("sudoku-4x4", &["task.examples=40", "task.test_examples=8"]);
    let d = c.dataset();
    let p = problem::draw(&c.task, c.seed, &d.splits[1], 3, 0).unwrap();
    assert_eq!(p.tokens(), d.splits[1].example(3).0);
    // A maze model trained on 2x2-cell mazes with learned positions, drawing a 3x3-cell test maze.
    let sets = ["task.size=2", "task.test_size=3", "task.examples=8", "task.test_examples=4"];
    let learned = ["model.attention=global", "model.radius=0", "model.positions=learned"];
    let c = config("maze", &[&sets[..], &learned].concat());
    let d = c.dataset();
    let p = problem::draw(&c.task, c.seed, &d.splits[1], 0, 49).unwrap();
    assert_eq!((p.grid(), p.tokens()), ([7, 7], d.splits[1].example(0).0.to_vec()));
    assert_eq!(p.text().lines().count(), 7);
}

#[test]
fn a_lab_plans_up_to_twice_its_training_depth_for_the_depth_view() {
    assert_eq!(sweep_depths(&config("sudoku-4x4", &[])), [8]);
    assert_eq!(sweep_depths(&config("sudoku-4x4", &["model.loops=200"])), [256]);
    assert!(sweep_depths(&config("sudoku-4x4", &["model.loops=256"])).is_empty());
    assert!(sweep_depths(&config("grokking-ff", &[])).is_empty(), "feedforward models run once");
}

fn losses(records: &[Record]) -> Vec<(u64, f64, f64)> {
    records.iter().map(|r| (r.step, r.loss, r.test_acc)).collect()
}

/// Every view on a tiny Sudoku lab after 2 steps; then 2 more steps, which must give exactly the records of a
/// lab never measured.
#[test]
fn page_views_of_a_lab_leave_its_training_alone() {
    pollster::block_on(async {
        let c = config(
            "sudoku-4x4",
            &[
                "task.examples=40",
                "task.test_examples=8",
                "model.d_model=16",
                "model.mlp_hidden=32",
                "train.eval_every=1",
            ],
        );
        let depths = sweep_depths(&c);
        let lab = || Lab::with_eval_depths(c.clone(), BackendKind::Cpu, &depths);
        let mut measured = lab().await.unwrap();
        let mut records = measured.train(2).await.unwrap();

        let solved = measured.solve(Some(PUZZLE), 0.0).await.unwrap();
        assert_eq!((solved.kind, solved.grid, solved.iterations.len()), ("sudoku", [4, 4], 4), "one per loop");
        assert!(solved.iterations.iter().all(|i| i.predictions.len() == 16
            && i.confidence.iter().all(|p| (0.0..=1.0).contains(p))
            && i.marked.len() == 16));
        assert_eq!(solved.iterations[0].changed, 16, "everything is new at the first iteration");
        assert!((1..=4).contains(&solved.exit_iteration));
        assert_eq!(solved.valid, solved.error.is_none());
        assert!(
            solved.verdict.starts_with("valid: ") || solved.verdict.starts_with("not valid: "),
            "{}",
            solved.verdict
        );
        let drawn = measured.solve(None, 0.99).await.unwrap();
        assert!(drawn.text.len() == 16 && drawn.text.chars().all(|ch| "1234.".contains(ch)), "{}", drawn.text);
        let e = measured.solve(Some("1.3. .4.2 2.4. .3.3"), 0.0).await.unwrap_err();
        assert!(e.to_string().contains("givens break a rule"), "{e}");
        let e = measured.solve(Some("  "), 0.0).await.unwrap_err();
        assert!(e.to_string().contains("the puzzle is empty"), "an empty box is named, not drawn: {e}");

        let sweep = measured.depths(4).await.unwrap();
        assert_eq!((sweep.step, sweep.training_depth, sweep.splits.len()), (2, 4, 2));
        assert!(sweep.splits.iter().all(|s| s.accuracy.len() == 8 && s.exact.len() == 8 && s.loss.len() == 8));
        let exit = sweep.exit.expect("a recurrent model's exit histogram");
        assert_eq!((exit.split.as_str(), exit.rule.as_str(), exit.score.examples), ("test", "KL < 1e-3", 4));
        assert_eq!((exit.score.histogram.len(), exit.score.histogram.iter().sum::<usize>()), (8, 4));
        let at_training_depth = records.last().unwrap().test_acc;
        assert!((sweep.splits[1].accuracy[3] - at_training_depth).abs() < 1e-9, "the sweep at depth 4 is the record");

        let probed = measured.probe(None, 4, 0).await.unwrap();
        assert_eq!((probed.step, probed.twin_step, probed.report.iterations), (2, None, 4));
        assert!(probed.report.cka.is_none());

        let e = measured.bandit(1).await.unwrap_err();
        assert!(e.to_string().contains("a number of unseen tasks from 2 to 10000"), "{e}");
        let e = measured.bandit(0).await.unwrap_err();
        assert!(e.to_string().contains("a bandit rollout needs a model trained on the bandit task"), "{e}");
        let e = measured.audit().await.unwrap_err();
        assert!(e.to_string().contains("the audit needs a multiplication model"), "{e}");

        records.extend(measured.train(2).await.unwrap());
        let mut plain = lab().await.unwrap();
        assert_eq!(losses(&records), losses(&plain.train(4).await.unwrap()), "records with and without views");
    });
}

/// The probe view with a feedforward twin lab: its step and a CKA matrix of loop states x twin layers.
#[test]
fn the_probe_view_compares_with_a_twin_lab() {
    pollster::block_on(async {
        let sets = ["task.p=11", "model.d_model=16", "model.mlp_hidden=32", "train.eval_every=1"];
        let mut lab = Lab::new(config("grokking", &sets), BackendKind::Cpu).await.unwrap();
        let mut twin = Lab::new(config("grokking-ff", &sets), BackendKind::Cpu).await.unwrap();
        lab.train(2).await.unwrap();
        twin.train(3).await.unwrap();
        let probed = lab.probe(Some(&mut twin), 8, 0).await.unwrap();
        assert_eq!((probed.step, probed.twin_step), (2, Some(3)));
        let cka = probed.report.cka.expect("a CKA matrix with a twin");
        assert_eq!((cka.values.len(), cka.values[0].len()), (2, 2), "loop states x twin layers");
        let e = twin.probe(Some(&mut lab), 8, 0).await.unwrap_err();
        assert!(e.to_string().contains("must be a feedforward checkpoint"), "{e}");
    });
}
