#![cfg(not(target_arch = "wasm32"))]
//! The command line: every command's --help, --version, --flag=value; bad input on the command line and in
//! configs gets its own message naming what is wrong and what is allowed, never a panic, and exit status 2 for
//! a usage error (what clap rejects, `LabError::Usage`) or 1 for a failure; the run folder (config.json, the
//! refusal to overwrite a run), config/--config, the --json outputs, plot and compare.

mod common;

use common::looplab;
use looplab::config::LabConfig;

/// Runs `looplab ARGS`, which must fail with exit status `status`, a message containing `expected`, and no panic.
fn expect_failure(args: &[&str], status: i32, expected: &str) {
    let (code, _, err) = looplab(args);
    assert!(
        code == status && err.contains(expected) && !err.contains("panicked"),
        "looplab {}: exit {code} (expected {status}), expected {expected:?}, got:\n{err}",
        args.join(" ")
    );
}

#[test]
fn invalid_arguments_and_configs_get_specific_messages() {
    let garbage_dir = std::env::temp_dir().join(format!("looplab-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&garbage_dir).unwrap();
    std::fs::write(garbage_dir.join("model.safetensors"), b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage").unwrap();
    let garbage = garbage_dir.to_str().unwrap();
    // A pasted 5,000-character value is echoed cut, with its length.
    let long = format!("task.p={}", "7".repeat(5000));
    let train = ["train", "--preset", "grokking", "--set"];
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec![], 2, "Usage: looplab <COMMAND>"),
        (vec!["frobnicate"], 2, "unrecognized subcommand 'frobnicate'"),
        (vec!["presets", "extra"], 2, "unexpected argument 'extra' found"),
        (vec!["train"], 2, "required arguments were not provided:\n  <--preset <NAME>|--config <FILE>|--resume <DIR>>"),
        (
            vec!["train", "--preset", "nope"],
            2,
            "invalid value 'nope' for '--preset <NAME>'\n  [possible values: grokking, ",
        ),
        (vec!["train", "--preset"], 2, "a value is required for '--preset <NAME>'"),
        (vec!["train", "--preset", "grokking", "--verbose"], 2, "unexpected argument '--verbose' found"),
        (
            vec!["train", "--preset", "grokking", "--resume", "x"],
            2,
            "'--preset <NAME>' cannot be used with '--resume <DIR>'",
        ),
        (vec!["train", "--preset", "grokking", "--steps", "0"], 2, "`--steps`: expected a whole number >= 1"),
        (
            vec!["train", "--preset", "grokking", "--backend", "tpu"],
            2,
            "invalid value 'tpu' for '--backend <BACKEND>'\n  [possible values: gpu, cpu]",
        ),
        ([&train[..], &["noequals"]].concat(), 2, "expected key=value"),
        (
            [&train[..], &["task.q=3"]].concat(),
            1,
            "unknown config key `task.q`; known keys: task.entities, task.examples, ",
        ),
        ([&train[..], &["depth=3"]].concat(), 1, "unknown config key `depth`; known keys: model, seed, task, train"),
        (
            [&train[..], &["task.p=abc"]].concat(),
            1,
            "invalid value \"abc\" for `task.p`: expected a whole number from 2 to 1000",
        ),
        ([&train[..], &["task.p=1"]].concat(), 1, "`task.p`: expected a whole number from 2 to 1000"),
        ([&train[..], &[long.as_str()]].concat(), 1, "7777… (5000 characters)\" for `task.p`: expected a whole number"),
        (
            [&train[..], &["task.train_fraction=1.5"]].concat(),
            1,
            "`task.train_fraction`: expected a fraction in (0, 1)",
        ),
        ([&train[..], &["model.heads=3"]].concat(), 1, "`model.heads`: expected a divisor of model.d_model (128)"),
        (
            [&train[..], &["model.arch=recurrent"]].concat(),
            1,
            "`model.arch`: expected one of `feedforward`, `looped`, `trm`, `hrm`",
        ),
        ([&train[..], &["model.loops=0"]].concat(), 1, "`model.loops`: expected a whole number from 1 to 256"),
        // A value that is no count at all breaks the same rule, in the same words.
        (
            [&train[..], &["model.loops=-1"]].concat(),
            1,
            "invalid value \"-1\" for `model.loops`: expected a whole number from 1 to 256",
        ),
        (
            [&train[..], &["train.segments=2.5"]].concat(),
            1,
            "\"2.5\" for `train.segments`: expected a whole number from 1 to 64",
        ),
        ([&train[..], &["model.injection=maybe"]].concat(), 1, "`model.injection`: expected true or false"),
        ([&train[..], &["train.lr=nan"]].concat(), 1, "`train.lr`: expected a finite number"),
        ([&train[..], &["train.ema=1"]].concat(), 1, "`train.ema`: expected 0 (off) or a decay in (0, 1)"),
        (
            [&train[..], &["task.op=/", "--set", "task.p=48"]].concat(),
            1,
            "`task.p`: expected a prime when task.op is /",
        ),
        ([&train[..], &["task.op=%"]].concat(), 1, "`task.op`: expected one of `+`, `-`, `*`, `/`"),
        (vec!["train", "--preset", "grokking-ff", "--set", "model.loops=4"], 1, "1 for model.arch=feedforward"),
        ([&train[..], &["model.arch=trm"]].concat(), 1, "`model.inner`: expected a whole number from 1 to 64"),
        ([&train[..], &["model.inner=2"]].concat(), 1, "`model.inner`: expected 0 unless model.arch is trm or hrm"),
        ([&train[..], &["model.attention=local"]].concat(), 1, "`model.radius`: expected a whole number from 1 to 8"),
        ([&train[..], &["model.attention=sparse"]].concat(), 1, "`model.attention`: expected `global` or `local`"),
        ([&train[..], &["model.radius=2"]].concat(), 1, "`model.radius`: expected 0 unless model.attention=local"),
        ([&train[..], &["model.positions=rotary"]].concat(), 1, "`model.positions`: expected `learned` or `none`"),
        (
            [&train[..], &["train.backprop=3"]].concat(),
            1,
            "`train.backprop`: expected 0 (all) or at most model.loops (2)",
        ),
        (
            [&train[..], &["train.depth=deep"]].concat(),
            1,
            "`train.depth`: expected one of `fixed`, `random`, `progressive`",
        ),
        (
            [&train[..], &["train.depth=progressive", "--set", "train.progressive_alpha=0"]].concat(),
            1,
            "`train.progressive_alpha`: expected a weight in (0, 1]",
        ),
        ([&train[..], &["train.segments=0"]].concat(), 1, "`train.segments`: expected a whole number from 1 to 64"),
        (
            [
                &train[..],
                &["train.depth=progressive", "--set", "train.progressive_alpha=0.5", "--set", "train.segments=2"],
            ]
            .concat(),
            1,
            "1 when train.progressive_alpha < 1",
        ),
        (
            [&train[..], &["model.injection=false", "--set", "train.segments=2"]].concat(),
            1,
            "a later segment would never see the input",
        ),
        (vec!["train", "--preset", "grokking-ff", "--set", "train.depth=random"], 2, "apply to recurrent models"),
        (vec!["train", "--preset", "sudoku-6x6-hrm", "--set", "train.backprop=2"], 1, "0 or 1 for hrm"),
        (
            vec!["train", "--preset", "maze", "--set", "model.mixer=mlp"],
            1,
            "`model.mixer`: expected attention only with model.attention=global",
        ),
        (
            [&train[..], &["model.mixer=mlp", "--set", "model.positions=none"]].concat(),
            1,
            "attention unless model.positions=learned",
        ),
        ([&train[..], &["model.mixer=conv"]].concat(), 1, "`model.mixer`: expected `attention` or `mlp`"),
        (vec!["train", "--resume", "/nonexistent/run"], 1, "/nonexistent/run/model.safetensors"),
        (vec!["train", "--resume", garbage], 1, "not a complete safetensors file"),
        (
            vec!["train", "--resume", garbage, "--set", "task.p=5"],
            2,
            "'--resume <DIR>' cannot be used with '--set <KEY=VALUE>'",
        ),
        (vec!["bench", "--steps", "x"], 2, "invalid value \"x\" for `--steps`: expected a whole number >= 1"),
        (vec!["bench", "--only", "maze,nope"], 2, "`--only`: expected comma-separated names among grokking, "),
    ];
    let mut failures = Vec::new();
    for (args, status, expected) in &cases {
        let (code, _, stderr) = looplab(args);
        if code != *status || !stderr.contains(expected) || stderr.contains("panicked") {
            failures.push(format!(
                "looplab {}: exit {code} (expected {status}), expected message containing {expected:?}, got:\n{stderr}",
                args.join(" ")
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&garbage_dir);
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    println!("{} bad inputs, each with its own message", cases.len());
}

#[test]
fn presets_lists_one_line_each() {
    let (code, text, _) = looplab(&["presets"]);
    assert_eq!(code, 0);
    assert_eq!(text.lines().count(), looplab::config::PRESETS.len());
    assert!(text.lines().any(|l| l.starts_with("grokking ")));
}

/// `looplab train` prints the planned memory per use before it allocates; `--dry-run` stops there, and a config
/// the machine cannot hold is refused with the numbers after the same line.
#[test]
fn train_prints_the_planned_memory_before_allocating() {
    let (code, _, err) = looplab(&["train", "--preset", "modular-small", "--backend", "cpu", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let memory = err.lines().next().unwrap();
    assert!(memory.starts_with("memory: needs ") && memory.contains(" MiB: parameters "), "{err}");
    for part in ["gradients", "optimizer", "activations", "scratch", "evaluation"] {
        assert!(memory.contains(&format!(", {part} ")), "{part}: {memory}");
    }
    assert!(err.contains("dry run: nothing allocated") && !err.contains("device:"), "{err}");
    let huge = ["--set", "task.p=1000", "--set", "task.train_fraction=0.9", "--set", "model.d_model=1024"];
    let (code, _, err) = looplab(&[&["train", "--preset", "grokking", "--backend", "cpu"][..], &huge].concat());
    assert_eq!(code, 1);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("memory: needs ") && lines[0].contains(" GiB"), "{err}");
    assert!(
        lines[1].starts_with("error: the model needs ")
            && lines[1].contains("activations")
            && lines[1].contains("% of this machine's "),
        "{err}"
    );
}

/// `looplab eval` sweeps test-time iteration counts over a checkpoint; at the training depth it reproduces the
/// test accuracy the run recorded. Bad sweep arguments get their own messages.
#[test]
fn eval_sweeps_iterations_and_matches_the_recorded_accuracy() {
    let dir = std::env::temp_dir().join(format!("looplab-eval-test-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let (code, _, err) = looplab(&[
        "train",
        "--preset",
        "modular-small",
        "--backend",
        "cpu",
        "--steps",
        "40",
        "--set",
        "train.eval_every=20",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{err}");
    let checkpoint = dir.join("model.safetensors");
    let ckpt = checkpoint.to_str().unwrap();
    let (code, json, err) = looplab(&["eval", "--checkpoint", ckpt, "--iters", "1,2,3", "--backend", "cpu", "--json"]);
    assert_eq!(code, 0, "{err}");
    let sweep: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = sweep["depths"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "3 depths x 2 splits: {json}");
    let history: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("history.json")).unwrap()).unwrap();
    let recorded = history.last().unwrap()["test_acc"].as_f64().unwrap();
    let at_two =
        rows.iter().find(|r| r["iterations"] == 2 && r["split"] == "test").unwrap()["accuracy"].as_f64().unwrap();
    assert!((recorded - at_two).abs() < 1e-9, "eval at the training depth {at_two} vs recorded {recorded}");
    for r in rows {
        let acc = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{r}");
    }

    let (code, _, err) = looplab(&[
        "train",
        "--preset",
        "grokking-ff",
        "--backend",
        "cpu",
        "--steps",
        "1",
        "--set",
        "task.p=11",
        "--out",
        &format!("{out}-ff"),
    ]);
    assert_eq!(code, 0, "{err}");
    let ff = format!("{out}-ff/model.safetensors");
    let bad: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["eval"], 2, "required arguments were not provided:\n  --checkpoint <FILE>"),
        (
            vec!["eval", "--checkpoint", ckpt, "--iters", "0"],
            2,
            "`--iters`: expected a comma-separated list of counts from 1 to 256",
        ),
        (vec!["eval", "--checkpoint", ckpt, "--iters", "2,x"], 2, "`--iters`: expected a comma-separated list"),
        (
            vec!["eval", "--checkpoint", ckpt, "--split", "nope", "--backend", "cpu"],
            1,
            "`--split`: expected train, test",
        ),
        (
            vec!["eval", "--checkpoint", &ff, "--iters", "2", "--backend", "cpu"],
            1,
            "`--iters`: expected 1 for a feedforward model",
        ),
    ];
    for (args, status, expected) in bad {
        expect_failure(&args, status, expected);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(format!("{out}-ff"));
}

/// `looplab probe` on a tiny looped checkpoint with a feedforward twin: the readable report and the JSON carry
/// every probe; bad arguments, a twin that is not feedforward or was trained on another task, and a
/// feedforward model asked for more iterations each get their own message.
#[test]
fn probe_reports_every_probe_and_refuses_bad_arguments() {
    let dir = std::env::temp_dir().join(format!("looplab-probe-test-{}", std::process::id()));
    let train = |name: &str, extra: &[&str]| -> String {
        let out = dir.join(name);
        let mut args = vec![
            "train",
            "--preset",
            "modular-small",
            "--backend",
            "cpu",
            "--steps",
            "20",
            "--out",
            out.to_str().unwrap(),
        ];
        for s in ["task.p=11", "model.d_model=32", "model.mlp_hidden=64", "train.eval_every=10"].iter().chain(extra) {
            args.extend(["--set", s]);
        }
        let (code, _, err) = looplab(&args);
        assert_eq!(code, 0, "{err}");
        out.join("model.safetensors").to_str().unwrap().to_string()
    };
    let looped = train("looped", &[]);
    let ff = train("ff", &["model.arch=feedforward", "model.loops=1", "model.layers=2"]);
    let other = train("other", &["task.p=13", "model.arch=feedforward", "model.loops=1"]);

    let (code, text, err) = looplab(&[
        "probe",
        "--checkpoint",
        &looped,
        "--twin",
        &ff,
        "--iters",
        "3",
        "--examples",
        "8",
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "fixed-point convergence",
        "per-token relative change",
        "attention per head",
        "logit lens",
        "stage mirroring: linear CKA",
        "path independence",
        "phases: first recorded step",
        "verdict",
        "fixed point reached?",
    ] {
        assert!(text.contains(expected), "the report lacks {expected:?}:\n{text}");
    }
    let (code, json, err) = looplab(&[
        "probe",
        "--checkpoint",
        &looped,
        "--twin",
        &ff,
        "--examples",
        "8",
        "--threshold",
        "0.5",
        "--split",
        "train",
        "--backend",
        "cpu",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (r["split"].as_str(), r["examples"].as_u64(), r["iterations"].as_u64()),
        (Some("train"), Some(8), Some(2)),
        "training depth by default"
    );
    assert_eq!(r["cka"]["values"].as_array().unwrap().len(), 2);
    assert_eq!(r["phases"]["threshold"].as_f64(), Some(0.5));
    assert_eq!(r["attention"]["maps"].as_array().unwrap().len(), 2);

    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage").unwrap();
    let garbage = garbage.to_str().unwrap();
    let with = |extra: &[&str]| -> Vec<String> {
        ["probe", "--checkpoint", &looped, "--backend", "cpu"]
            .iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let bad: Vec<(Vec<String>, i32, String)> = vec![
        (vec!["probe".into()], 2, "required arguments were not provided:\n  --checkpoint <FILE>".into()),
        (vec!["probe".into(), "--checkpoint".into(), "/nonexistent/model.safetensors".into()], 1, "/nonexistent/model.safetensors".into()),
        (vec!["probe".into(), "--checkpoint".into(), garbage.into()], 1, "not a complete safetensors file".into()),
        (with(&["--examples", "0"]), 2, "`--examples`: expected a number of examples from 1 to 4096".into()),
        (with(&["--examples", "many"]), 2, "invalid value \"many\" for `--examples`".into()),
        (with(&["--iters", "0"]), 2, "`--iters`: expected a count from 1 to 256".into()),
        (with(&["--threshold", "1.5"]), 2, "`--threshold`: expected an accuracy in (0, 1]".into()),
        (with(&["--split", "nope"]), 1, "`--split`: expected train, test".into()),
        (with(&["--backend", "tpu"]), 2, "invalid value 'tpu' for '--backend <BACKEND>'\n  [possible values: gpu, cpu]".into()),
        (with(&["--verbose"]), 2, "unexpected argument '--verbose' found".into()),
        (with(&["--twin"]), 2, "a value is required for '--twin <FILE>'".into()),
        (with(&["--twin", "/nonexistent/twin.safetensors"]), 1, "/nonexistent/twin.safetensors".into()),
        (with(&["--twin", &looped]), 2, "the twin (--twin) must be a feedforward checkpoint (model.arch=feedforward); this one has model.arch=looped".into()),
        (with(&["--twin", &other]), 2, "the twin (--twin) was trained on another task (task.p: model 11, twin 13)".into()),
        (vec!["probe".into(), "--checkpoint".into(), ff.clone(), "--iters".into(), "2".into(), "--backend".into(), "cpu".into()], 1, "`--iters`: expected 1 for a feedforward model".into()),
    ];
    for (args, status, expected) in &bad {
        expect_failure(&args.iter().map(String::as_str).collect::<Vec<_>>(), *status, expected);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `looplab solve` on tiny Sudoku and maze checkpoints: one board per iteration, the exit, the answer and the
/// validator's verdict (text and JSON); a maze larger than the training mazes runs on a model without learned
/// positions; `eval --exit-kl` reports the adaptive exit; bad puzzles and arguments each get their own message.
#[test]
fn solve_shows_every_iteration_and_refuses_bad_inputs() {
    let dir = std::env::temp_dir().join(format!("looplab-solve-test-{}", std::process::id()));
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let tiny = [
        "--backend",
        "cpu",
        "--steps",
        "2",
        "--set",
        "train.eval_every=1",
        "--set",
        "model.d_model=16",
        "--set",
        "model.mlp_hidden=32",
    ];
    let (sudoku, maze) = (path("sudoku"), path("maze"));
    let (code, _, err) = looplab(
        &[
            &[
                "train",
                "--preset",
                "sudoku-4x4",
                "--out",
                &sudoku,
                "--set",
                "task.examples=40",
                "--set",
                "task.test_examples=8",
            ][..],
            &tiny,
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let halting = path("halting");
    let (code, _, err) = looplab(
        &[
            &[
                "train",
                "--preset",
                "sudoku-4x4",
                "--out",
                &halting,
                "--set",
                "task.examples=40",
                "--set",
                "task.test_examples=8",
                "--set",
                "model.halting=true",
            ][..],
            &tiny,
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let halting_ckpt = format!("{halting}/model.safetensors");
    let small_maze = [
        "--set",
        "task.size=2",
        "--set",
        "task.test_size=2",
        "--set",
        "task.examples=20",
        "--set",
        "task.test_examples=4",
        "--set",
        "model.loops=3",
    ];
    let (code, _, err) = looplab(&[&["train", "--preset", "maze", "--out", &maze][..], &small_maze, &tiny].concat());
    assert_eq!(code, 0, "{err}");
    let sudoku_ckpt = format!("{sudoku}/model.safetensors");
    let maze_ckpt = format!("{maze}/model.safetensors");

    let puzzle = "1.3. .4.2 2.4. .3.1";
    let (code, text, err) = looplab(&["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--backend", "cpu"]);
    assert_eq!(code, 0, "{err}");
    for want in ["iteration 1:", "iteration 4:", "answer after all ", "answer:"] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("exit at iteration"), "no exit rule was asked for:\n{text}");
    assert!(text.contains("valid: the validator accepts it") || text.contains("not valid: "), "{text}");
    let (code, text, err) =
        looplab(&["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--backend", "cpu", "--exit-kl", "1e-3"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("exit at iteration ") && text.contains("(KL < 1e-3)"), "{text}");
    let (code, json, err) = looplab(&[
        "solve",
        "--checkpoint",
        &sudoku_ckpt,
        "--sudoku",
        puzzle,
        "--backend",
        "cpu",
        "--iters",
        "6",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&json).unwrap();
    let steps = s["iterations"].as_array().unwrap();
    assert_eq!(steps.len(), 6, "{json}");
    assert!(steps.iter().all(|step| step["board"].as_str().unwrap().lines().count() == 5), "4 rows and a rule: {json}");
    assert_eq!(
        (s["exit_iteration"].as_u64(), s["exit_rule"].as_str()),
        (Some(6), Some("none")),
        "the last iteration: {json}"
    );
    assert_eq!(s["valid"].as_bool().unwrap(), s["error"].is_null(), "{json}");
    assert!(steps.iter().all(|step| step["halt_logit"].is_null()), "no halting head: {json}");

    // A model with a halting head exits by it: HRM's initial bias (-5) says "continue" until training moves it.
    let (code, json, err) = looplab(&[
        "solve",
        "--checkpoint",
        &halting_ckpt,
        "--sudoku",
        puzzle,
        "--backend",
        "cpu",
        "--exit-halt",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(s["exit_rule"], "halting head", "{json}");
    let logits: Vec<f64> =
        s["iterations"].as_array().unwrap().iter().map(|step| step["halt_logit"].as_f64().unwrap()).collect();
    let first_positive = logits.iter().position(|&q| q > 0.0).map_or(logits.len(), |t| t + 1);
    assert_eq!(s["exit_iteration"].as_u64().unwrap() as usize, first_positive, "{json}");
    let (code, json, err) = looplab(&[
        "eval",
        "--checkpoint",
        &halting_ckpt,
        "--backend",
        "cpu",
        "--split",
        "test",
        "--exit-halt",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let e: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(e["exit"][0]["rule"], "halting head", "{json}");

    // A 3x3-cell maze (7x7 grid) through a model trained on 2x2-cell mazes: local attention, no positions.
    let maze_text = "#######\n#S....#\n#####.#\n#.....#\n#.#####\n#....G#\n#######\n";
    std::fs::write(dir.join("maze.txt"), maze_text).unwrap();
    let (code, text, err) = looplab(&[
        "solve",
        "--checkpoint",
        &maze_ckpt,
        "--maze",
        &path("maze.txt"),
        "--backend",
        "cpu",
        "--iters",
        "5",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("iteration 5:") && text.contains("#S") && text.contains("G#"), "{text}");
    let (code, json, err) = looplab(&[
        "eval",
        "--checkpoint",
        &maze_ckpt,
        "--backend",
        "cpu",
        "--split",
        "test",
        "--set",
        "task.test_size=3",
        "--iters",
        "2,4",
        "--exit-kl",
        "0.01",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let e: serde_json::Value = serde_json::from_str(&json).unwrap();
    let exit = &e["exit"][0];
    let histogram: u64 = exit["histogram"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(histogram, 4, "every test maze exits once: {json}");
    let mean = exit["mean_iterations"].as_f64().unwrap();
    assert!((1.0..=4.0).contains(&mean), "{json}");

    std::fs::write(dir.join("open.txt"), "#####\n#S..#\n#####\n#..G#\n#####\n").unwrap();
    let (maze_file, no_path_file) = (path("maze.txt"), path("open.txt"));
    let bad: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["solve", "--sudoku", puzzle], 2, "required arguments were not provided:\n  --checkpoint <FILE>"),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt],
            2,
            "required arguments were not provided:\n  <--sudoku <PUZZLE>|--maze <FILE>|--program <RULE TAPE STEPS>>",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", "1.3.", "--backend", "cpu"],
            1,
            "wrong length: expected 16 cells",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", "1.3x.4.22.4..3.1", "--backend", "cpu"],
            1,
            "bad character 'x'",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", "11.. .... .... ....", "--backend", "cpu"],
            1,
            "the givens break a rule",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", "1... .... .... ....", "--backend", "cpu"],
            1,
            "several solutions",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--maze", &maze_file, "--backend", "cpu"],
            1,
            "needs a checkpoint trained on that task",
        ),
        (
            vec!["solve", "--checkpoint", &maze_ckpt, "--maze", &no_path_file, "--backend", "cpu"],
            1,
            "no path from 'S' to 'G'",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--exit-kl", "-1"],
            2,
            "`--exit-kl`: expected a positive threshold",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--exit-kl", "0.1", "--exit-halt"],
            2,
            "'--exit-kl <EPS>' cannot be used with '--exit-halt'",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--exit-halt", "--backend", "cpu"],
            1,
            "has no halting head",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--iters", "0"],
            2,
            "`--iters`: expected a count from 1 to 256",
        ),
        (
            vec!["eval", "--checkpoint", &sudoku_ckpt, "--set", "model.loops=2", "--backend", "cpu"],
            1,
            "task.* keys only",
        ),
    ];
    for (args, status, expected) in bad {
        expect_failure(&args, status, expected);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every command has its own --help (exit 0) naming its flags; the commands listed are exactly those.
#[test]
fn every_command_has_help_naming_its_flags_and_there_is_a_version() {
    let commands: [(&str, &[&str]); 16] = [
        (
            "train",
            &[
                "--preset",
                "--config",
                "--resume",
                "--set",
                "--steps",
                "--backend",
                "--out",
                "--force",
                "--dry-run",
                "--submit-budget",
            ],
        ),
        ("eval", &["--checkpoint", "--iters", "--split", "--set", "--exit-kl", "--exit-halt", "--backend", "--json"]),
        (
            "solve",
            &["--checkpoint", "--sudoku", "--maze", "--program", "--iters", "--exit-kl", "--exit-halt", "--json"],
        ),
        ("probe", &["--checkpoint", "--twin", "--split", "--examples", "--iters", "--threshold", "--json"]),
        ("bandit", &["--checkpoint", "--tasks", "--horizon", "--backend", "--json"]),
        ("self-improve", &["--preset", "--set", "--rounds", "--models", "--agreement", "--filter", "--out"]),
        ("audit", &["--checkpoint", "--backend", "--json"]),
        ("data", &["--preset", "--set", "--out"]),
        ("export", &["--checkpoint", "--out", "--format", "--name", "--backend"]),
        ("config", &["--preset", "--set", "--json"]),
        ("plot", &["<RUN>...", "--out", "--threshold"]),
        ("compare", &["<RUN>...", "--threshold", "--json"]),
        ("presets", &["--json"]),
        ("devices", &["--json"]),
        ("bench", &["--json", "--backend", "--steps", "--filter", "--only", "--profile", "--save", "--submit-budget"]),
        ("completions", &["<SHELL>", "bash", "zsh", "fish"]),
    ];
    let (code, help, err) = looplab(&["--help"]);
    assert_eq!(code, 0, "{err}");
    let listed: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|&c| c != "help")
        .collect();
    assert_eq!(listed, commands.iter().map(|c| c.0).collect::<Vec<_>>(), "the commands and this test's list");
    for (command, flags) in commands {
        let (code, help, err) = looplab(&[command, "--help"]);
        assert_eq!(code, 0, "{command} --help: {err}");
        for flag in flags.iter().chain(&["--help"]) {
            assert!(help.contains(flag), "`{command} --help` does not name {flag}:\n{help}");
        }
        assert!(help.contains(&format!("Usage: looplab {command}")), "{help}");
    }
    let (code, version, _) = looplab(&["--version"]);
    assert_eq!((code, version.trim()), (0, format!("looplab {}", env!("CARGO_PKG_VERSION")).as_str()));
    let (code, version, _) = looplab(&["train", "--version"]);
    assert_eq!(code, 0);
    assert!(version.starts_with("looplab-train "), "{version}");
    let (code, script, err) = looplab(&["completions", "bash"]);
    assert!(code == 0 && script.contains("looplab") && script.contains("self-improve"), "{err}");
}

/// A temporary folder of its own per test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("looplab-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The run folder: `config` and `train --config` round-trip a config (with --flag=value), the folder gets a
/// config.json, a folder holding a run is refused unless --resume or --force, history.csv has every split's
/// columns and the weight norm, and the --json outputs parse.
#[test]
fn runs_record_their_config_and_are_not_overwritten() {
    let dir = scratch("runs");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (code, json, err) = looplab(&["config", "--preset=modular-small", "--set=task.p=11", "--json"]);
    assert_eq!(code, 0, "{err}");
    let config = LabConfig::from_json(&json).unwrap();
    assert_eq!(config, LabConfig::from_preset("modular-small", &["task.p=11".into()]).unwrap());
    // The key=value form is what --set takes: applied to the preset, every line gives the same config.
    let (code, lines, _) = looplab(&["config", "--preset", "modular-small", "--set", "task.p=11"]);
    assert_eq!(code, 0);
    let sets: Vec<String> = lines.lines().map(String::from).collect();
    assert_eq!(sets.len(), config.leaves().len());
    assert_eq!(LabConfig::from_preset("modular-small", &sets).unwrap(), config);
    std::fs::write(dir.join("small.json"), &json).unwrap();

    let run = path("run");
    let tiny = [
        "--backend=cpu",
        "--steps=4",
        "--set=train.eval_every=2",
        "--set=model.d_model=16",
        "--set=model.mlp_hidden=32",
    ];
    let (code, _, err) = looplab(&[&["train", "--config", &path("small.json"), "--out", &run][..], &tiny].concat());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("elapsed, ETA"), "progress shows the elapsed time and an ETA:\n{err}");
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/config.json")).unwrap()).unwrap();
    assert_eq!(recorded["looplab"], env!("CARGO_PKG_VERSION"));
    assert!(recorded["device"].as_str().unwrap().starts_with("cpu"), "{recorded}");
    let mut expected = config.clone();
    for s in ["train.eval_every=2", "model.d_model=16", "model.mlp_hidden=32", "train.steps=4"] {
        expected.set(s).unwrap();
    }
    let resolved = LabConfig::from_json(&recorded["config"].to_string()).unwrap();
    assert_eq!(resolved, expected, "config.json holds the resolved config");
    // A run's config.json starts another run of the same config.
    let again = path("again");
    let (code, _, err) = looplab(&["train", "--config", &path("run/config.json"), "--backend", "cpu", "--out", &again]);
    assert_eq!(code, 0, "{err}");
    let history = |run: &str| -> Vec<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(format!("{run}/history.json")).unwrap()).unwrap()
    };
    let losses = |run: &str| history(run).iter().map(|r| r["loss"].as_f64().unwrap()).collect::<Vec<_>>();
    assert_eq!(losses(&again), losses(&run), "the same config trains the same curve");

    // A folder that holds a run is refused, naming it and both ways on.
    let (code, _, err) = looplab(&[&["train", "--preset", "modular-small", "--out", &run][..], &tiny].concat());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{run} is not empty"))
            && err.contains(&format!("--resume {run}"))
            && err.contains("--force"),
        "{err}"
    );
    let (code, _, err) = looplab(&["train", "--resume", &run, "--backend", "cpu", "--steps", "6"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(history(&run).last().unwrap()["step"], 6, "resumed to step 6");
    let (code, _, err) =
        looplab(&[&["train", "--preset", "modular-small", "--out", &run, "--force"][..], &tiny].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(history(&run).last().unwrap()["step"], 4, "--force starts the run anew");
    let (code, _, err) = looplab(&["train", "--config", &path("missing.json")]);
    assert!(code == 1 && err.contains("missing.json"), "{err}");
    std::fs::write(dir.join("bad.json"), "{\"seed\": 1}").unwrap();
    let (code, _, err) = looplab(&["train", "--config", &path("bad.json"), "--out", &path("bad")]);
    assert!(code == 1 && err.contains("bad.json: invalid config JSON: missing field `task`"), "{err}");

    // history.csv: the old columns first, then the weight norm and every split's columns (composition: 3).
    let comp = path("composition");
    let (code, _, err) = looplab(&[&["train", "--preset", "composition", "--out", &comp][..], &tiny].concat());
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(format!("{comp}/history.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "step",
            "loss",
            "train_acc",
            "test_acc",
            "train_exact",
            "test_exact",
            "test_loss",
            "grad_norm",
            "lr",
            "elapsed_s",
            "weight_norm",
            "train_loss",
            "test_id_loss",
            "test_id_acc",
            "test_id_exact",
            "test_ood_loss",
            "test_ood_acc",
            "test_ood_exact"
        ]
    );
    let records = history(&comp);
    let rows: Vec<Vec<f64>> = csv.lines().skip(1).map(|l| l.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), records.len());
    let last = (rows.last().unwrap(), records.last().unwrap());
    assert_eq!(last.0[10], last.1["weight_norm"].as_f64().unwrap());
    assert!(last.0[10] > 0.0);
    assert_eq!(last.0[16], last.1["splits"][2]["accuracy"].as_f64().unwrap(), "test_ood_acc");
    // It reads back as the same records (the second split, test_id, is the one the scalar test columns repeat),
    // and `plot` and `compare` take it in place of the JSON.
    let json = std::fs::read_to_string(format!("{comp}/history.json")).unwrap();
    let read = looplab::train::read_history_csv(&csv, "history.csv").unwrap();
    assert_eq!(read, looplab::train::read_history(&json, "history.json").unwrap());
    std::fs::copy(format!("{comp}/history.csv"), path("composition.history.csv")).unwrap();
    let (code, out, err) = looplab(&["compare", &comp, &path("composition.history.csv")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("test_ood accuracy") && out.lines().next().unwrap().contains("composition.history.csv"),
        "{out}"
    );

    let (code, json, _) = looplab(&["presets", "--json"]);
    let presets: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!((code, presets.len()), (0, looplab::config::PRESETS.len()));
    assert!(presets.iter().all(|p| p["name"].is_string() && p["description"].is_string()));
    let (code, json, err) = looplab(&["devices", "--json"]);
    assert_eq!(code, 0, "{err}");
    let device: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(device["adapter"].is_string() && device["limits"]["max_buffer_size"].as_u64().unwrap() > 0, "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The texts of an SVG's `<text>` elements (the SVG must parse).
fn svg_texts(bytes: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(bytes).unwrap();
    let doc = roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("the SVG does not parse: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

/// `plot` draws one run or several into a valid SVG or PNG with a series per split (and run) in each panel;
/// `compare` lists the final metrics, phase steps and the config differences, as text and JSON.
#[test]
fn plot_and_compare_two_tiny_runs() {
    let dir = scratch("plot");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let tiny = ["--backend", "cpu", "--steps", "6", "--set", "train.eval_every=2", "--set", "model.d_model=16"];
    for (name, p) in [("a", "11"), ("b", "13")] {
        let task = format!("task.p={p}");
        let (code, _, err) = looplab(
            &[&["train", "--preset", "modular-small", "--out", &path(name), "--set", &task][..], &tiny].concat(),
        );
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = looplab(&["plot", &path("a"), "--out", &path("a.svg")]);
    assert_eq!(code, 0, "{err}");
    let texts = svg_texts(&std::fs::read(dir.join("a.svg")).unwrap());
    for want in ["loss (log scale)", "training loss", "train", "test", "weight norm", "step"] {
        assert!(texts.iter().any(|t| t == want), "no {want:?} among {texts:?}");
    }
    let (code, _, err) = looplab(&["plot", &path("a"), &path("b"), "--out", &path("ab.svg"), "--threshold", "0.5"]);
    assert_eq!(code, 0, "{err}");
    let texts = svg_texts(&std::fs::read(dir.join("ab.svg")).unwrap());
    for want in
        ["a: training loss", "a: test", "b: training loss", "b: train", "b: test", "a: weight norm", "b: weight norm"]
    {
        assert!(texts.iter().any(|t| t == want), "no {want:?} among {texts:?}");
    }
    assert!(texts.iter().any(|t| t.contains("accuracy >= 0.5")), "{texts:?}");
    let (code, _, err) = looplab(&["plot", &path("a"), &path("b"), "--out", &path("ab.png")]);
    assert_eq!(code, 0, "{err}");
    let png = std::fs::read(dir.join("ab.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let size =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!(size, (960, 1080));
    let mut reader = png::Decoder::new(std::io::Cursor::new(&png)).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    reader.next_frame(&mut pixels).unwrap();
    let blue = pixels.chunks(3).filter(|p| p == &[31, 119, 180]).count();
    let orange = pixels.chunks(3).filter(|p| p == &[255, 127, 14]).count();
    assert!(blue > 500 && orange > 500, "both runs' lines are drawn: {blue} blue and {orange} orange pixels");
    for (args, status, expected) in [
        (vec!["plot", "--out", "x.svg"], 2, "required arguments were not provided:\n  <RUN>..."),
        (
            vec!["plot", "a", "--out", "x.pdf"],
            2,
            "invalid value \"x.pdf\" for `--out`: expected a file name ending in .svg or .png",
        ),
        (vec!["plot", "/nonexistent/run", "--out", "x.svg"], 1, "/nonexistent/run"),
        (vec!["compare", "a", "--threshold", "2"], 2, "`--threshold`: expected an accuracy in (0, 1]"),
    ] {
        expect_failure(&args, status, expected);
    }

    let (code, text, err) = looplab(&["compare", &path("a"), &path("b")]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = text.lines().collect();
    let row = |name: &str| lines.iter().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in\n{text}"));
    assert!(lines[0].split_whitespace().eq(["a", "b"]), "{text}");
    assert!(row("step ").split_whitespace().eq(["step", "6", "6"]), "{text}");
    assert!(row("test phase step").contains("never") || row("test phase step").split_whitespace().count() == 5);
    assert!(
        text.contains("config differences:") && row("task.p").split_whitespace().eq(["task.p", "11", "13"]),
        "{text}"
    );
    let (code, json, err) = looplab(&["compare", &path("a"), &path("b"), "--json"]);
    assert_eq!(code, 0, "{err}");
    let c: serde_json::Value = serde_json::from_str(&json).unwrap();
    let history: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("b/history.json")).unwrap()).unwrap();
    let (b, last) = (&c["runs"][1], history.last().unwrap());
    assert_eq!((b["name"].as_str(), b["step"].as_u64()), (Some("b"), Some(6)));
    assert_eq!(b["splits"][1]["accuracy"], last["test_acc"]);
    assert_eq!(b["weight_norm"], last["weight_norm"]);
    assert_eq!(b["phases"].as_array().unwrap().len(), 2);
    let differences: Vec<&str> =
        c["differences"].as_array().unwrap().iter().map(|d| d["key"].as_str().unwrap()).collect();
    assert_eq!(differences, ["task.p"], "{json}");
    assert_eq!(c["differences"][0]["values"], serde_json::json!([11, 13]));
    let _ = std::fs::remove_dir_all(&dir);
}
