#![cfg(not(target_arch = "wasm32"))]
//! The cellular-automaton task (programs in the prompt): the simulator against hand-worked runs, the rule
//! symmetries, the layout, determinism by seed, disjoint splits (held-out rules disjoint from training rules
//! under reflection and complement), the parser's messages, the steps lens and the CLI
//! (the learning run is in tests/learning/automaton.rs).

use std::collections::HashSet;

mod common;

use looplab::tasks::automaton::{self, class, complement, reflect, step, Program, EDGE, HI, LO};
use looplab::tasks::IGNORE;

fn config(sets: &[&str]) -> looplab::config::LabConfig {
    common::config("automaton", sets)
}

fn bits(s: &str) -> Vec<u8> {
    s.bytes().map(|b| b - b'0').collect()
}

#[test]
fn the_simulator_matches_hand_worked_runs() {
    // Rule 90: each cell becomes the XOR of its neighbours; from a single 1, the Sierpinski triangle.
    let rule90 = Program { rule: 90, tape: bits("0000100000"), steps: 3 }.run();
    assert_eq!(rule90, ["0000100000", "0001010000", "0010001000", "0101010100"].map(bits));
    // Rule 30: new = l XOR (c OR r).
    let rule30 = Program { rule: 30, tape: bits("00000100000"), steps: 3 }.run();
    assert_eq!(rule30, ["00000100000", "00001110000", "00011001000", "00110111100"].map(bits));
    // The null boundary: cells beyond the ends are 0 and never change. Rule 255 (all 1) fills everything,
    // rule 170 (new = r) shifts left and lets zeros in from the right edge.
    assert_eq!(step(255, &bits("0000")), bits("1111"));
    assert_eq!(step(170, &bits("1011")), bits("0110"));
    assert_eq!(step(240, &bits("1011")), bits("0101"));
    // Rule 1 (only 000 -> 1): the edges see a 0 beyond them.
    assert_eq!(step(1, &bits("0001")), bits("1100"));
}

#[test]
fn rule_symmetries_are_involutions_with_88_classes() {
    // Known pairs: 110 mirrors to 124 and complements to 137; 30 <-> 86 mirrored, 30 <-> 135 complemented.
    assert_eq!((reflect(110), complement(110), reflect(30), complement(30)), (124, 137, 86, 135));
    assert_eq!((reflect(90), complement(90)), (90, 165));
    for r in 0..=255u8 {
        assert_eq!((reflect(reflect(r)), complement(complement(r))), (r, r), "rule {r}");
        // Reflection is an exact symmetry of a run: the mirrored tape runs to the mirrored diagram.
        let tape = bits("1101001110");
        let mirrored: Vec<u8> = tape.iter().rev().copied().collect();
        let a = step(r, &tape);
        let b: Vec<u8> = step(reflect(r), &mirrored).into_iter().rev().collect();
        assert_eq!(a, b, "rule {r}");
    }
    let classes: HashSet<u8> = (0..=255u8).map(class).collect();
    assert_eq!(classes.len(), automaton::CLASSES);
}

#[test]
fn the_layout_carries_the_tape_the_rule_and_the_diagram() {
    let p = Program { rule: 110, tape: bits("0110"), steps: 2 };
    assert_eq!(p.grid(), [3, 6]);
    let (tokens, targets) = p.encode([3, 6]);
    let (hi, lo) = (HI + (110 >> 4), LO + (110 & 15));
    assert_eq!(
        tokens,
        [[EDGE, 0, 1, 1, 0, EDGE], [EDGE, hi, lo, hi, lo, EDGE], [EDGE, hi, lo, hi, lo, EDGE],].concat()
    );
    let run = p.run();
    let i = IGNORE;
    let row = |t: usize| run[t].iter().map(|&c| c as u32).collect::<Vec<u32>>();
    assert_eq!(targets, [vec![i; 6], [&[i][..], &row(1), &[i]].concat(), [&[i][..], &row(2), &[i]].concat()].concat());
    assert_eq!(Program::from_tokens(&tokens, [3, 6]).unwrap(), p);
    // Padded into a larger grid (learned positions): EDGE round it, no targets, and it reads back the same.
    let (padded, padded_targets) = p.encode([5, 9]);
    assert_eq!(padded.iter().filter(|&&t| t != EDGE).count(), 12);
    assert_eq!(padded_targets.iter().filter(|&&y| y != IGNORE).count(), 8);
    assert_eq!(Program::from_tokens(&padded, [5, 9]).unwrap(), p);
}

#[test]
fn splits_are_deterministic_and_held_out_rules_never_meet_training_rules() {
    let sets = ["task.examples=600", "task.test_examples=40"];
    let (a, b) = (config(&sets).dataset(), config(&sets).dataset());
    let names: Vec<&str> = a.splits.iter().map(|s| s.name).collect();
    assert_eq!(names, ["train", "unseen", "seen", "unseen-long", "unseen-wide"]);
    let grids: Vec<[usize; 2]> = a.splits.iter().map(|s| s.grid).collect();
    assert_eq!(grids, [[5, 10], [5, 10], [5, 10], [9, 10], [5, 18]]);
    for (x, y) in a.splits.iter().zip(&b.splits) {
        assert_eq!((&x.tokens, &x.targets), (&y.tokens, &y.targets), "split {}", x.name);
    }
    let other = config(&[&sets[..], &["seed=1"]].concat()).dataset();
    assert_ne!(other.splits[0].tokens, a.splits[0].tokens);
    let c = config(&sets);
    let held = automaton::held_out_rules(&c.task, c.seed);
    let held_other = automaton::held_out_rules(&c.task, 1);
    assert_ne!(held, held_other, "the seed draws the held-out rules");
    let programs = |s: usize| -> Vec<Program> {
        let split = &a.splits[s];
        (0..split.len()).map(|i| Program::from_tokens(split.example(i).0, split.grid).unwrap()).collect()
    };
    let train = programs(0);
    let train_rules: HashSet<u8> = train.iter().map(|p| p.rule).collect();
    let train_classes: HashSet<u8> = train_rules.iter().map(|&r| class(r)).collect();
    // Every rule of a held-out class is held out: no held-out rule is a mirror image or complement of a
    // training rule.
    for &r in &held {
        assert!(held.contains(&reflect(r)) && held.contains(&complement(r)), "rule {r}");
        assert!(!train_classes.contains(&class(r)), "held-out rule {r} has a training relative");
    }
    assert_eq!(automaton::training_rules(&c.task, c.seed).len() + held.len(), 256);
    let held_classes: HashSet<u8> = held.iter().map(|&r| class(r)).collect();
    assert_eq!(held_classes.len(), 22, "a quarter of the 88 classes");
    for nibble in [|r: u8| r >> 4, |r: u8| r & 15] {
        let seen: HashSet<u8> = train_rules.iter().map(|&r| nibble(r)).collect();
        assert_eq!(seen.len(), 16, "every half of a rule table occurs in training");
    }
    let distinct: HashSet<&Program> = train.iter().collect();
    assert_eq!(distinct.len(), train.len(), "no training program twice");
    for (s, name) in a.splits.iter().enumerate().skip(1).map(|(i, s)| (i, s.name)) {
        let list = programs(s);
        assert_eq!(list.len(), 40, "{name}");
        if name == "seen" {
            assert!(list.iter().all(|p| train_rules.contains(&p.rule) && !distinct.contains(&p)), "{name}");
        } else {
            assert!(list.iter().all(|p| held.contains(&p.rule)), "{name}");
        }
        // Targets are the true execution.
        for (i, p) in list.iter().enumerate() {
            assert_eq!(a.splits[s].example(i).1, &p.encode(a.splits[s].grid).1[..], "{name} {i}");
        }
    }
    // Learned positions: every split on the largest grid.
    let padded =
        config(&[&sets[..], &["model.attention=global", "model.radius=0", "model.positions=learned"]].concat())
            .dataset();
    assert!(padded.splits.iter().all(|s| s.grid == [9, 18]));
}

#[test]
fn bad_programs_and_settings_are_named() {
    assert_eq!(automaton::parse("110 0001000 8").unwrap(), Program { rule: 110, tape: bits("0001000"), steps: 8 });
    assert_eq!(automaton::parse("  30 ..#.. 2 ").unwrap(), Program { rule: 30, tape: bits("00100"), steps: 2 });
    let cases = [
        ("", "expected three words, RULE TAPE STEPS"),
        ("110 0001", "expected three words, RULE TAPE STEPS (e.g. \"110 0001000100 8\"), got 2"),
        ("256 0001 3", "the rule \"256\" is not a Wolfram code; expected a whole number from 0 to 255"),
        ("rule 0001 3", "the rule \"rule\" is not a Wolfram code"),
        ("110 00x1 3", "the tape has 'x' at cell 3; expected 0 or 1 (or . and #)"),
        ("110 1 3", "the tape has 1 cells; expected 2 to 128"),
        ("110 0101 0", "the steps \"0\" are not a count; expected a whole number from 1 to 128"),
        ("110 0101 many", "the steps \"many\" are not a count"),
    ];
    for (text, want) in cases {
        let e = automaton::parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let invalid = |sets: &[&str]| {
        let mut c = config(&[]);
        for s in sets {
            c.set(s).unwrap();
        }
        c.validate().unwrap_err().to_string()
    };
    for (sets, want) in [
        (&["task.size=1"][..], "`task.size`: expected a number of tape cells from 2 to 128"),
        (
            &["task.test_size=4"],
            "`task.test_size`: expected 0 (same as task.size) or the test tapes' cells, from task.size (8)",
        ),
        (&["task.steps=0"], "`task.steps`: expected a number of program steps from 1 to 128"),
        (&["task.test_steps=3"], "`task.test_steps`: expected 0 (same as task.steps) or the long runs' steps"),
        (&["task.ood_fraction=0"], "`task.ood_fraction`: expected a share of the 88 rule classes to hold out"),
        (&["task.ood_fraction=0.9"], "`task.ood_fraction`"),
        (&["task.size=2", "task.examples=1000"], "`task.examples`: expected a number of training programs from 1 to"),
        (&["task.test_examples=0"], "`task.test_examples`: expected a number of programs per test split"),
    ] {
        let e = invalid(sets);
        assert!(e.contains(want), "{sets:?}: {e}");
    }
}

/// `looplab solve --program`, `eval` and `probe` on a tiny automaton checkpoint: the predicted diagram beside the
/// true one after every iteration and the verdict (text and JSON), one iteration per step for a longer program,
/// the depth sweep, the probe's program-steps lens; bad programs each get their own message.
#[test]
fn the_cli_runs_programs_and_names_bad_ones() {
    let dir = std::env::temp_dir().join(format!("looplab-automaton-cli-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let run = common::looplab;
    let (code, _, err) = run(&[
        "train",
        "--preset",
        "automaton",
        "--backend",
        "cpu",
        "--steps",
        "2",
        "--out",
        out,
        "--set",
        "task.examples=40",
        "--set",
        "task.test_examples=4",
        "--set",
        "train.eval_every=2",
        "--set",
        "model.d_model=16",
        "--set",
        "model.mlp_hidden=32",
        "--set",
        "model.loops=6",
    ]);
    assert_eq!(code, 0, "{err}");
    let ckpt = format!("{out}/model.safetensors");
    let (code, text, err) = run(&["solve", "--checkpoint", &ckpt, "--program", "90 00001000 3", "--backend", "cpu"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "rule 90 is ",
        "iteration 1:",
        "iteration 6:",
        "step  model     truth     wrong",
        "   3  ",
        ".#.#.#.#",
        "answer after all 6 iterations",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(text.contains("valid: the validator accepts it") || text.contains("not valid: "), "{text}");
    // 9 steps > 6 loops: one iteration per step by default.
    let (code, json, err) =
        run(&["solve", "--checkpoint", &ckpt, "--program", "30 0001000 9", "--backend", "cpu", "--json"]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(s["iterations"].as_array().unwrap().len(), 9, "{json}");
    assert!(s["note"].as_str().unwrap().starts_with("rule 30 is "), "{json}");
    assert_eq!(s["valid"].as_bool().unwrap(), s["error"].is_null(), "{json}");

    let (code, json, err) = run(&["eval", "--checkpoint", &ckpt, "--backend", "cpu", "--iters", "6,10", "--json"]);
    assert_eq!(code, 0, "{err}");
    let e: serde_json::Value = serde_json::from_str(&json).unwrap();
    let splits: Vec<&str> = e["depths"].as_array().unwrap().iter().map(|r| r["split"].as_str().unwrap()).collect();
    assert_eq!(splits.len(), 10, "5 splits at 2 depths: {json}");
    assert!(splits.contains(&"unseen-long"), "{json}");

    let (code, json, err) =
        run(&["probe", "--checkpoint", &ckpt, "--backend", "cpu", "--split", "unseen-long", "--iters", "10", "--json"]);
    assert_eq!(code, 0, "{err}");
    let p: serde_json::Value = serde_json::from_str(&json).unwrap();
    let steps = &p["steps"];
    assert_eq!(steps["rows"].as_array().unwrap().len(), 8, "the 8 steps of the long runs: {json}");
    assert_eq!(steps["row_exact"].as_array().unwrap().len(), 10, "one row per iteration");
    assert_eq!(steps["diagonal"].as_array().unwrap().len(), 8);
    let (code, text, _) = run(&["probe", "--checkpoint", &ckpt, "--backend", "cpu", "--split", "unseen"]);
    assert_eq!(code, 0);
    assert!(text.contains("program steps per iteration"), "{text}");

    for (program, want) in [
        ("110 0001", "program: expected three words, RULE TAPE STEPS"),
        ("999 0001 3", "program: the rule \"999\" is not a Wolfram code; expected a whole number from 0 to 255"),
        ("110 0021 3", "program: the tape has '2' at cell 3; expected 0 or 1 (or . and #)"),
        ("110 0101 0", "program: the steps \"0\" are not a count"),
    ] {
        let (code, _, err) = run(&["solve", "--checkpoint", &ckpt, "--program", program, "--backend", "cpu"]);
        assert_eq!(code, 1, "{program}: {err}");
        assert!(err.contains(want) && !err.contains("panicked"), "{program}: {err}");
    }
    let (code, _, err) = run(&["solve", "--checkpoint", &ckpt, "--program", "110 0101 3", "--sudoku", "1.3."]);
    assert_eq!(code, 2, "a usage error");
    assert!(err.contains("'--program <RULE TAPE STEPS>' cannot be used with '--sudoku <PUZZLE>'"), "{err}");
    let (code, _, err) = run(&["solve", "--checkpoint", &ckpt, "--sudoku", "1.3. .4.2 2.4. .3.1", "--backend", "cpu"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--sudoku needs a checkpoint trained on that task; this one was trained on task.kind=Automaton"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The program-steps lens on constructed logits: two 3x3 examples (rows 1 and 2 supervised), iteration 1 reads
/// row 1 right in both and row 2 right in one; iteration 2 reads everything right except one cell of example 1's
/// row 1.
#[test]
fn the_steps_lens_scores_rows_per_iteration() {
    use looplab::probes::steps::step_lens;
    let vocab = 2;
    let i = IGNORE;
    let targets: Vec<u32> = [[i, i, i, 0, 1, i, 1, 1, i], [i, i, i, 1, 0, i, 0, 0, i]].concat();
    // Logits that put the top on `tokens`, position by position.
    let logits = |tokens: &[u32]| -> Vec<f32> {
        tokens.iter().flat_map(|&t| if t == 1 { [0.0, 1.0] } else { [1.0, 0.0] }).collect()
    };
    let right: Vec<u32> = targets.iter().map(|&y| if y == i { 0 } else { y }).collect();
    let mut first = right.clone();
    first[7] = 0; // example 0, row 2: wrong
    let mut second = right.clone();
    second[9 + 3] = 0; // example 1, row 1: wrong
    let lens = step_lens(&[logits(&first), logits(&second)], &targets, [3, 3], vocab);
    assert_eq!(lens.rows, [1, 2]);
    assert_eq!(lens.row_exact, [[1.0, 0.5], [0.5, 1.0]]);
    assert_eq!(lens.row_accuracy, [[1.0, 0.75], [0.75, 1.0]]);
    // Leading rows all right: iteration 1 has 2 + 1, iteration 2 has 2 + 0.
    assert_eq!(lens.frontier, [1.5, 1.0]);
    assert_eq!(lens.diagonal, [1.0, 1.0]);
    assert_eq!(lens.readable, [1, 2]);
}

/// The core's automaton problem (what `looplab solve --program` and the page's program view run): the layout,
/// the true execution, wrong cells marked, the verdict, a note on the rule, one iteration per step at least; a
/// drawn program is a held-out one; the lab's solve runs it.
#[test]
fn the_automaton_problem_judges_predictions_against_the_true_run() {
    use looplab::problem;
    let c = config(&["task.examples=200", "task.test_examples=8"]);
    let p = problem::parse(&c.task, c.seed, "30 0010000 3", 0).unwrap();
    let program = Program { rule: 30, tape: bits("0010000"), steps: 3 };
    assert_eq!((p.kind(), p.grid(), p.text()), ("automaton", [4, 9], "30 0010000 3".to_string()));
    assert_eq!(p.tokens(), program.encode([4, 9]).0);
    assert_eq!(p.min_depth(), 3);
    assert!(p.note().unwrap().starts_with("rule 30 is held out"), "{:?}", p.note());
    let truth = p.expected().unwrap();
    let run = program.run();
    assert_eq!(truth[3 * 9 + 1..3 * 9 + 8], run[3].iter().map(|&x| x as u32).collect::<Vec<_>>()[..]);
    assert!(p.judge(&truth).is_ok() && !p.marked(&truth).contains(&true));
    let mut wrong = truth.clone();
    wrong[2 * 9 + 4] ^= 1; // step 2, cell 4
    let marked: Vec<usize> = (0..wrong.len()).filter(|&i| p.marked(&wrong)[i]).collect();
    assert_eq!(marked, [2 * 9 + 4]);
    let e = p.judge(&wrong).unwrap_err();
    assert!(e.contains("the run goes wrong at step 2") || e.contains("first goes wrong at step 2"), "{e}");
    assert!(p.render(&wrong).contains("   2  "), "{}", p.render(&wrong));
    let e = problem::parse(&c.task, c.seed, "30 00x0 3", 0).err().unwrap().to_string();
    assert!(e.contains("the tape has 'x' at cell 3"), "{e}");
    // With learned positions a program is laid out on the largest training grid, and must fit it.
    let p = problem::parse(&c.task, c.seed, "110 0110 2", 9 * 18).unwrap();
    assert_eq!(p.grid(), [9, 18]);
    assert!(problem::parse(&c.task, c.seed, "110 0110 9", 9 * 18).is_err());
    let d = c.dataset();
    let unseen = d.splits.iter().find(|s| s.name == problem::draw_split(&c.task)).unwrap();
    let drawn = problem::draw(&c.task, c.seed, unseen, 2, 0).unwrap();
    assert_eq!(drawn.tokens(), unseen.example(2).0);
    assert!(drawn.note().unwrap().contains("is held out"));

    pollster::block_on(async {
        let mut lab = looplab::lab::Lab::new(
            config(&["task.examples=64", "task.test_examples=8", "model.loops=6"]),
            looplab::backend::BackendKind::Cpu,
        )
        .await
        .unwrap();
        let s = lab.solve(Some("30 001000 8"), 0.5).await.unwrap();
        assert_eq!((s.kind, s.iterations.len()), ("automaton", 8), "one iteration per step beyond the 6 loops");
        assert!(s.expected.is_some() && s.note.is_some());
        let s = lab.solve(None, 0.5).await.unwrap();
        assert!(s.note.unwrap().contains("is held out"));
        assert_eq!(s.iterations.len(), 6);
    });
}
