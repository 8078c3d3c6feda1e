#![cfg(not(target_arch = "wasm32"))]
//! Bad input on the command line and in configs: each case gets its own message naming what is wrong and
//! what is allowed, exit status 1, and never a panic.

mod common;

use common::looplab;

#[test]
fn invalid_arguments_and_configs_get_specific_messages() {
    let garbage_dir = std::env::temp_dir().join(format!("looplab-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&garbage_dir).unwrap();
    std::fs::write(garbage_dir.join("model.safetensors"), b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage").unwrap();
    let garbage = garbage_dir.to_str().unwrap();
    // A pasted 5,000-character value is echoed cut, with its length.
    let long = format!("task.p={}", "7".repeat(5000));
    let train = ["train", "--preset", "grokking", "--set"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "no command given"),
        (vec!["frobnicate"], "unknown command `frobnicate`"),
        (vec!["presets", "extra"], "`presets` takes no arguments"),
        (vec!["train"], "needs --preset NAME or --resume DIR"),
        (vec!["train", "--preset", "nope"], "unknown preset `nope`; presets: grokking"),
        (vec!["train", "--preset"], "`--preset` needs a value"),
        (vec!["train", "--preset", "grokking", "--verbose"], "unknown option `--verbose`"),
        (vec!["train", "--preset", "grokking", "--resume", "x"], "either --preset or --resume"),
        (vec!["train", "--preset", "grokking", "--steps", "0"], "`--steps`: expected a whole number >= 1"),
        (vec!["train", "--preset", "grokking", "--backend", "tpu"], "`backend`: expected gpu or cpu"),
        ([&train[..], &["noequals"]].concat(), "expected key=value"),
        (
            [&train[..], &["task.q=3"]].concat(),
            "unknown config key `task.q`; known keys: task.entities, task.examples, ",
        ),
        ([&train[..], &["depth=3"]].concat(), "unknown config key `depth`; known keys: model, seed, task, train"),
        (
            [&train[..], &["task.p=abc"]].concat(),
            "invalid value \"abc\" for `task.p`: expected a whole number from 2 to 1000",
        ),
        ([&train[..], &["task.p=1"]].concat(), "`task.p`: expected a whole number from 2 to 1000"),
        ([&train[..], &[long.as_str()]].concat(), "7777… (5000 characters)\" for `task.p`: expected a whole number"),
        ([&train[..], &["task.train_fraction=1.5"]].concat(), "`task.train_fraction`: expected a fraction in (0, 1)"),
        ([&train[..], &["model.heads=3"]].concat(), "`model.heads`: expected a divisor of model.d_model (128)"),
        (
            [&train[..], &["model.arch=recurrent"]].concat(),
            "`model.arch`: expected one of `feedforward`, `looped`, `trm`, `hrm`",
        ),
        ([&train[..], &["model.loops=0"]].concat(), "`model.loops`: expected a whole number from 1 to 256"),
        // A value that is no count at all breaks the same rule, in the same words.
        (
            [&train[..], &["model.loops=-1"]].concat(),
            "invalid value \"-1\" for `model.loops`: expected a whole number from 1 to 256",
        ),
        (
            [&train[..], &["train.segments=2.5"]].concat(),
            "\"2.5\" for `train.segments`: expected a whole number from 1 to 64",
        ),
        ([&train[..], &["model.injection=maybe"]].concat(), "`model.injection`: expected true or false"),
        ([&train[..], &["train.lr=nan"]].concat(), "`train.lr`: expected a finite number"),
        ([&train[..], &["train.ema=1"]].concat(), "`train.ema`: expected 0 (off) or a decay in (0, 1)"),
        ([&train[..], &["task.op=/", "--set", "task.p=48"]].concat(), "`task.p`: expected a prime when task.op is /"),
        ([&train[..], &["task.op=%"]].concat(), "`task.op`: expected one of `+`, `-`, `*`, `/`"),
        (vec!["train", "--preset", "grokking-ff", "--set", "model.loops=4"], "1 for model.arch=feedforward"),
        ([&train[..], &["model.arch=trm"]].concat(), "`model.inner`: expected a whole number from 1 to 64"),
        ([&train[..], &["model.inner=2"]].concat(), "`model.inner`: expected 0 unless model.arch is trm or hrm"),
        ([&train[..], &["model.attention=local"]].concat(), "`model.radius`: expected a whole number from 1 to 8"),
        ([&train[..], &["model.attention=sparse"]].concat(), "`model.attention`: expected `global` or `local`"),
        ([&train[..], &["model.radius=2"]].concat(), "`model.radius`: expected 0 unless model.attention=local"),
        ([&train[..], &["model.positions=rotary"]].concat(), "`model.positions`: expected `learned` or `none`"),
        ([&train[..], &["train.backprop=3"]].concat(), "`train.backprop`: expected 0 (all) or at most model.loops (2)"),
        (
            [&train[..], &["train.depth=deep"]].concat(),
            "`train.depth`: expected one of `fixed`, `random`, `progressive`",
        ),
        (
            [&train[..], &["train.depth=progressive", "--set", "train.progressive_alpha=0"]].concat(),
            "`train.progressive_alpha`: expected a weight in (0, 1]",
        ),
        ([&train[..], &["train.segments=0"]].concat(), "`train.segments`: expected a whole number from 1 to 64"),
        (
            [
                &train[..],
                &["train.depth=progressive", "--set", "train.progressive_alpha=0.5", "--set", "train.segments=2"],
            ]
            .concat(),
            "1 when train.progressive_alpha < 1",
        ),
        (
            [&train[..], &["model.injection=false", "--set", "train.segments=2"]].concat(),
            "a later segment would never see the input",
        ),
        (vec!["train", "--preset", "grokking-ff", "--set", "train.depth=random"], "apply to recurrent models"),
        (vec!["train", "--preset", "sudoku-6x6-hrm", "--set", "train.backprop=2"], "0 or 1 for hrm"),
        (
            vec!["train", "--preset", "maze", "--set", "model.mixer=mlp"],
            "`model.mixer`: expected attention only with model.attention=global",
        ),
        (
            [&train[..], &["model.mixer=mlp", "--set", "model.positions=none"]].concat(),
            "attention unless model.positions=learned",
        ),
        ([&train[..], &["model.mixer=conv"]].concat(), "`model.mixer`: expected `attention` or `mlp`"),
        (vec!["train", "--resume", "/nonexistent/run"], "/nonexistent/run/model.safetensors"),
        (vec!["train", "--resume", garbage], "not a complete safetensors file"),
        (vec!["train", "--resume", garbage, "--set", "task.p=5"], "--set cannot change a resumed run's config"),
        (vec!["bench", "--steps", "x"], "`--steps`: expected a whole number >= 1"),
        (vec!["bench", "--only", "maze,nope"], "`--only`: expected comma-separated names among grokking, "),
    ];
    let mut failures = Vec::new();
    for (args, expected) in &cases {
        let (code, _, stderr) = looplab(args);
        if code != 1 || !stderr.contains(expected) || stderr.contains("panicked") {
            failures.push(format!(
                "looplab {}: exit {code}, expected message containing {expected:?}, got:\n{stderr}",
                args.join(" ")
            ));
        }
    }
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
    let bad: Vec<(Vec<&str>, &str)> = vec![
        (vec!["eval"], "`eval` needs --checkpoint FILE"),
        (
            vec!["eval", "--checkpoint", ckpt, "--iters", "0"],
            "`--iters`: expected a comma-separated list of counts from 1 to 256",
        ),
        (vec!["eval", "--checkpoint", ckpt, "--iters", "2,x"], "`--iters`: expected a comma-separated list"),
        (vec!["eval", "--checkpoint", ckpt, "--split", "nope", "--backend", "cpu"], "`--split`: expected train, test"),
        (
            vec!["eval", "--checkpoint", &ff, "--iters", "2", "--backend", "cpu"],
            "`--iters`: expected 1 for a feedforward model",
        ),
    ];
    for (args, expected) in bad {
        let (code, _, err) = looplab(&args);
        assert!(
            code == 1 && err.contains(expected) && !err.contains("panicked"),
            "looplab {}: exit {code}, expected {expected:?}, got:\n{err}",
            args.join(" ")
        );
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
    let bad: Vec<(Vec<String>, String)> = vec![
        (vec!["probe".into()], "`probe` needs --checkpoint FILE".into()),
        (vec!["probe".into(), "--checkpoint".into(), "/nonexistent/model.safetensors".into()], "/nonexistent/model.safetensors".into()),
        (vec!["probe".into(), "--checkpoint".into(), garbage.into()], "not a complete safetensors file".into()),
        (with(&["--examples", "0"]), "`--examples`: expected a number of examples from 1 to 4096".into()),
        (with(&["--examples", "many"]), "invalid value \"many\" for `--examples`".into()),
        (with(&["--iters", "0"]), "`--iters`: expected a count from 1 to 256".into()),
        (with(&["--threshold", "1.5"]), "`--threshold`: expected an accuracy in (0, 1]".into()),
        (with(&["--split", "nope"]), "`--split`: expected train, test".into()),
        (with(&["--backend", "tpu"]), "`backend`: expected gpu or cpu".into()),
        (with(&["--verbose"]), "unknown option `--verbose` for `probe`".into()),
        (with(&["--twin"]), "`--twin` needs a value".into()),
        (with(&["--twin", "/nonexistent/twin.safetensors"]), "/nonexistent/twin.safetensors".into()),
        (with(&["--twin", &looped]), "the twin (--twin) must be a feedforward checkpoint (model.arch=feedforward); this one has model.arch=looped".into()),
        (with(&["--twin", &other]), "the twin (--twin) was trained on another task (task.p: model 11, twin 13)".into()),
        (vec!["probe".into(), "--checkpoint".into(), ff.clone(), "--iters".into(), "2".into(), "--backend".into(), "cpu".into()], "`--iters`: expected 1 for a feedforward model".into()),
    ];
    for (args, expected) in &bad {
        let (code, _, err) = looplab(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            code == 1 && err.contains(expected.as_str()) && !err.contains("panicked"),
            "looplab {}: exit {code}, expected {expected:?}, got:\n{err}",
            args.join(" ")
        );
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
    for want in ["iteration 1:", "iteration 4:", "exit at iteration", "answer:"] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(text.contains("valid: the validator accepts it") || text.contains("not valid: "), "{text}");
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
    let exit = s["exit_iteration"].as_u64().unwrap();
    assert!((1..=6).contains(&exit), "{json}");
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
    let bad: Vec<(Vec<&str>, &str)> = vec![
        (vec!["solve", "--sudoku", puzzle], "`solve` needs --checkpoint FILE"),
        (vec!["solve", "--checkpoint", &sudoku_ckpt], "exactly one of --sudoku PUZZLE, --maze FILE or --program"),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", "1.3.", "--backend", "cpu"],
            "wrong length: expected 16 cells",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", "1.3x.4.22.4..3.1", "--backend", "cpu"],
            "bad character 'x'",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", "11.. .... .... ....", "--backend", "cpu"],
            "the givens break a rule",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", "1... .... .... ....", "--backend", "cpu"],
            "several solutions",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--maze", &maze_file, "--backend", "cpu"],
            "needs a checkpoint trained on that task",
        ),
        (
            vec!["solve", "--checkpoint", &maze_ckpt, "--maze", &no_path_file, "--backend", "cpu"],
            "no path from 'S' to 'G'",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--exit-kl", "-1"],
            "`--exit-kl`: expected a positive threshold",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--exit-kl", "0.1", "--exit-halt"],
            "give one exit rule",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--exit-halt", "--backend", "cpu"],
            "has no halting head",
        ),
        (
            vec!["solve", "--checkpoint", &sudoku_ckpt, "--sudoku", puzzle, "--iters", "0"],
            "`--iters`: expected a count from 1 to 256",
        ),
        (vec!["eval", "--checkpoint", &sudoku_ckpt, "--set", "model.loops=2", "--backend", "cpu"], "task.* keys only"),
    ];
    for (args, expected) in bad {
        let (code, _, err) = looplab(&args);
        assert!(
            code == 1 && err.contains(expected) && !err.contains("panicked"),
            "looplab {}: exit {code}, expected {expected:?}, got:\n{err}",
            args.join(" ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
