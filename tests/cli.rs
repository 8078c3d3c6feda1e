#![cfg(not(target_arch = "wasm32"))]
//! Bad input on the command line and in configs: each case gets its own message naming what is wrong and
//! what is allowed, exit status 1, and never a panic.

use std::process::Command;

fn looplab(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_looplab")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn invalid_arguments_and_configs_get_specific_messages() {
    let garbage_dir = std::env::temp_dir().join(format!("looplab-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&garbage_dir).unwrap();
    std::fs::write(garbage_dir.join("model.safetensors"), b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage").unwrap();
    let garbage = garbage_dir.to_str().unwrap();
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
        ([&train[..], &["task.q=3"]].concat(), "unknown config key `task.q`; known keys: task.entities, task.examples, "),
        ([&train[..], &["depth=3"]].concat(), "unknown config key `depth`; known keys: model, seed, task, train"),
        ([&train[..], &["task.p=abc"]].concat(), "invalid value \"abc\" for `task.p`: expected a whole number >= 0"),
        ([&train[..], &["task.p=1"]].concat(), "`task.p`: expected a number from 2 to 1000"),
        ([&train[..], &["task.train_fraction=1.5"]].concat(), "`task.train_fraction`: expected a fraction in (0, 1)"),
        ([&train[..], &["model.heads=3"]].concat(), "`model.heads`: expected a divisor of model.d_model (128)"),
        ([&train[..], &["model.arch=recurrent"]].concat(), "`model.arch`: expected one of `feedforward`, `looped`, `trm`, `hrm`"),
        ([&train[..], &["model.loops=0"]].concat(), "`model.loops`: expected a number from 1 to 256"),
        ([&train[..], &["model.injection=maybe"]].concat(), "`model.injection`: expected true or false"),
        ([&train[..], &["train.lr=nan"]].concat(), "`train.lr`: expected a finite number"),
        ([&train[..], &["train.ema=1"]].concat(), "`train.ema`: expected 0 (off) or a decay in (0, 1)"),
        ([&train[..], &["task.op=/", "--set", "task.p=48"]].concat(), "`task.p`: expected a prime when task.op is /"),
        ([&train[..], &["task.op=%"]].concat(), "`task.op`: expected one of `+`, `-`, `*`, `/`"),
        (vec!["train", "--preset", "grokking-ff", "--set", "model.loops=4"], "1 for model.arch=feedforward"),
        (vec!["train", "--resume", "/nonexistent/run"], "/nonexistent/run/model.safetensors"),
        (vec!["train", "--resume", garbage], "not a complete safetensors file"),
        (vec!["train", "--resume", garbage, "--set", "task.p=5"], "--set cannot change a resumed run's config"),
        (vec!["bench", "--steps", "x"], "`--steps`: expected a whole number >= 1"),
    ];
    let mut failures = Vec::new();
    for (args, expected) in &cases {
        let (code, stderr) = looplab(args);
        if code != 1 || !stderr.contains(expected) || stderr.contains("panicked") {
            failures.push(format!("looplab {}: exit {code}, expected message containing {expected:?}, got:\n{stderr}", args.join(" ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    println!("{} bad inputs, each with its own message", cases.len());
}

#[test]
fn presets_lists_one_line_each() {
    let out = Command::new(env!("CARGO_BIN_EXE_looplab")).arg("presets").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(text.lines().count(), looplab::config::PRESETS.len());
    assert!(text.lines().any(|l| l.starts_with("grokking ")));
}

/// `looplab eval` sweeps test-time iteration counts over a checkpoint; at the training depth it reproduces the
/// test accuracy the run recorded. Bad sweep arguments get their own messages.
#[test]
fn eval_sweeps_iterations_and_matches_the_recorded_accuracy() {
    let dir = std::env::temp_dir().join(format!("looplab-eval-test-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_looplab")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, _, err) = run(&["train", "--preset", "modular-small", "--backend", "cpu", "--steps", "40", "--set", "train.eval_every=20", "--out", out]);
    assert_eq!(code, 0, "{err}");
    let checkpoint = dir.join("model.safetensors");
    let ckpt = checkpoint.to_str().unwrap();
    let (code, json, err) = run(&["eval", "--checkpoint", ckpt, "--iters", "1,2,3", "--backend", "cpu", "--json"]);
    assert_eq!(code, 0, "{err}");
    let sweep: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = sweep["depths"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "3 depths x 2 splits: {json}");
    let history: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(dir.join("history.json")).unwrap()).unwrap();
    let recorded = history.last().unwrap()["test_acc"].as_f64().unwrap();
    let at_two = rows.iter().find(|r| r["iterations"] == 2 && r["split"] == "test").unwrap()["accuracy"].as_f64().unwrap();
    assert!((recorded - at_two).abs() < 1e-9, "eval at the training depth {at_two} vs recorded {recorded}");
    for r in rows {
        let acc = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{r}");
    }

    let (code, _, err) = run(&["train", "--preset", "grokking-ff", "--backend", "cpu", "--steps", "1", "--set", "task.p=11", "--out", &format!("{out}-ff")]);
    assert_eq!(code, 0, "{err}");
    let ff = format!("{out}-ff/model.safetensors");
    let bad: Vec<(Vec<&str>, &str)> = vec![
        (vec!["eval"], "`eval` needs --checkpoint FILE"),
        (vec!["eval", "--checkpoint", ckpt, "--iters", "0"], "`--iters`: expected a comma-separated list of counts from 1 to 256"),
        (vec!["eval", "--checkpoint", ckpt, "--iters", "2,x"], "`--iters`: expected a comma-separated list"),
        (vec!["eval", "--checkpoint", ckpt, "--split", "nope", "--backend", "cpu"], "`--split`: expected train, test"),
        (vec!["eval", "--checkpoint", &ff, "--iters", "2", "--backend", "cpu"], "`--iters`: expected 1 for a feedforward model"),
    ];
    for (args, expected) in bad {
        let (code, _, err) = run(&args);
        assert!(code == 1 && err.contains(expected) && !err.contains("panicked"), "looplab {}: exit {code}, expected {expected:?}, got:\n{err}", args.join(" "));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(format!("{out}-ff"));
}
