#![cfg(not(target_arch = "wasm32"))]
//! Property tests over every parser and loader a user's input reaches: Sudoku and maze text, `--set key=value`,
//! the page's URL hash (through `LabConfig::from_preset`, the validator behind the wasm `presetConfig`), history
//! JSON and CSV, and checkpoint bytes (truncated, flipped bits, an oversized header length, a wrong dtype, shape or
//! name). 10,000 cases each: nothing panics, and every error names what is wrong (the key, line, column,
//! position or tensor where there is one).

use std::sync::OnceLock;

use looplab::config::{settings, LabConfig, PRESETS};
use looplab::error::LabError;
use looplab::model::Params;
use looplab::program::MemoryPlan;
use looplab::rng::Rng;
use looplab::tasks::{maze, sudoku};
use looplab::train::{checkpoint, history_csv, read_history, read_history_csv, read_history_file, Trainer};
use proptest::prelude::*;
use proptest::test_runner::Config;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

const CASES: u32 = 10_000;

fn config() -> Config {
    Config { cases: CASES, failure_persistence: None, ..Config::default() }
}

/// Text made of `chars`, mostly, with now and then any character at all.
fn text_of(chars: &'static str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let picks: Vec<char> = chars.chars().collect();
    prop::collection::vec(prop_oneof![9 => prop::sample::select(picks), 1 => any::<char>()], len)
        .prop_map(|cs| cs.into_iter().collect())
}

/// `text` with a few characters replaced (by ones of `chars`) or removed.
fn mutated(text: &'static str, chars: &'static str) -> impl Strategy<Value = String> {
    let picks: Vec<char> = chars.chars().collect();
    prop::collection::vec((any::<prop::sample::Index>(), prop::option::of(prop::sample::select(picks))), 0..4).prop_map(
        move |edits| {
            let mut cs: Vec<char> = text.chars().collect();
            for (at, replacement) in edits {
                if cs.is_empty() {
                    break;
                }
                let i = at.index(cs.len());
                match replacement {
                    Some(c) => cs[i] = c,
                    None => {
                        cs.remove(i);
                    }
                }
            }
            cs.into_iter().collect()
        },
    )
}

const WIKI: &str = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79";
const PUZZLE4: &str = "1.3. .4.2 2.4. .3.1";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sudoku_text_is_parsed_or_refused_by_name(
        text in prop_oneof![text_of("0123456789.. \n", 0..90), mutated(WIKI, "0123456789.x"), mutated(PUZZLE4, "12345.0 ")],
        n in prop_oneof![4 => prop::sample::select(vec![4usize, 6, 9]), 1 => 0usize..12],
    ) {
        match sudoku::parse(&text, n) {
            Ok(board) => prop_assert_eq!(board.cells.len(), n * n),
            Err(e) => {
                prop_assert!(matches!(e, LabError::Input(_)));
                let msg = e.to_string();
                prop_assert!(msg.starts_with("sudoku: "), "{}", msg);
                let named = [
                    "board side", "is empty", "but the model solves", "bad character", "wrong length", "break a rule",
                    "no solution", "several solutions",
                ];
                prop_assert!(named.iter().any(|w| msg.contains(w)), "{}", msg);
                if msg.contains("bad character") {
                    prop_assert!(msg.contains(" at position "), "{}", msg);
                }
            }
        }
    }

    #[test]
    fn maze_text_is_parsed_or_refused_by_name(text in prop_oneof![
        text_of("#.SG*\n\n\r", 0..200),
        mutated(maze_text(), "#.SG*\n "),
    ]) {
        match maze::parse_with_path(&text) {
            Ok((m, path)) => prop_assert!(m.side % 2 == 1 && path.contains(&m.start) && path.contains(&m.goal)),
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("maze: "), "{}", msg);
                if msg.contains("unknown character") || msg.contains("expected the border") {
                    prop_assert!(msg.contains("line ") && msg.contains("column "), "{}", msg);
                } else if msg.contains("characters but line 1") {
                    prop_assert!(msg.starts_with("maze: line "), "{}", msg);
                }
            }
        }
    }

    #[test]
    fn set_values_are_applied_or_refused_naming_the_key(
        preset in prop::sample::select(PRESETS.iter().map(|p| p.name).collect::<Vec<_>>()),
        sets in prop::collection::vec(assignment(), 1..4),
    ) {
        match LabConfig::from_preset(preset, &sets) {
            Ok(c) => prop_assert!(c.validate().is_ok()),
            Err(e) => prop_assert!(names_the_problem(&e, &sets), "{:?} -> {}", sets, e),
        }
    }

    #[test]
    fn url_hashes_are_validated_naming_the_problem(hash in url_hash()) {
        // As www/form.js reads the hash: URLSearchParams, `preset` (default grokking), the page's own keys
        // (compare, backend) left out, every other pair passed as `key=value`.
        let pairs = search_params(&hash);
        let preset = pairs.iter().find(|(k, _)| k == "preset").map_or("grokking".to_string(), |(_, v)| v.clone());
        let sets: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| !["preset", "compare", "backend"].contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        match LabConfig::from_preset(&preset, &sets) {
            Ok(c) => prop_assert!(c.validate().is_ok()),
            Err(LabError::UnknownPreset { name, known }) => {
                prop_assert!(name == preset && known.contains("grokking"));
            }
            Err(e) => prop_assert!(names_the_problem(&e, &sets), "{:?} -> {}", sets, e),
        }
    }

    #[test]
    fn history_json_is_read_or_refused_with_a_place(text in prop_oneof![
        mutated_history(false),
        text_of("[]{}\":,0123456789.e-truefalsn step loss", 0..60),
    ]) {
        match read_history(&text, "history.json") {
            Ok(_) => {}
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("history.json: the history is not valid ("), "{}", msg);
                prop_assert!(msg.contains(" at line ") && msg.contains(" column "), "{}", msg);
            }
        }
    }

    #[test]
    fn history_csv_is_read_or_refused_with_a_line(text in prop_oneof![
        mutated_history(true),
        text_of("step,loss_acc\n0123456789.e-", 0..60),
    ]) {
        match read_history_csv(&text, "history.csv") {
            Ok(records) => prop_assert!(records.len() <= text.lines().count()),
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg == "history.csv: the file is empty" || msg.starts_with("history.csv: line "), "{}", msg);
            }
        }
    }

    #[test]
    fn damaged_checkpoints_are_refused_naming_the_damage(damage in damage()) {
        let (good, _) = checkpoints();
        let bytes = damage.apply(good);
        prop_assume!(bytes != good, "the flips cancel out");
        let result = checkpoint::read_config(&bytes, "model.safetensors")
            .and_then(|_| checkpoint::Weights::read(&bytes, "model.safetensors").and_then(|w| w.values(params())));
        let msg = result.expect_err("damage must be refused").to_string();
        prop_assert!(msg.starts_with("checkpoint model.safetensors: "), "{}", msg);
        match &damage {
            Damage::Truncate(_) | Damage::HeaderLength(_) => {
                prop_assert!(msg.contains("not a complete safetensors file"), "{}", msg)
            }
            Damage::Flip(bits) => {
                let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
                let damaged: Vec<String> = bits.iter().filter(|b| b.0 >= header_end).map(|b| tensor_at(good, b.0)).collect();
                if bits.iter().all(|b| b.0 >= header_end) {
                    // Only tensor data is damaged: the first damaged tensor (in file order) is named.
                    prop_assert!(damaged.iter().any(|t| msg.contains(&format!("tensor `{t}` is damaged"))), "{:?}: {}", damaged, msg);
                } else {
                    let named = ["not a complete safetensors file", "not a looplab checkpoint", "metadata", "is damaged", "tensor `"];
                    prop_assert!(named.iter().any(|w| msg.contains(w)), "{}", msg);
                }
            }
        }
    }

    #[test]
    fn old_checkpoints_with_a_wrong_tensor_are_refused_naming_it(change in 0usize..3, pick in any::<prop::sample::Index>()) {
        // The fixture predates checksums, so nothing but the shape, dtype and name checks stands in the way.
        let (_, old) = checkpoints();
        let st = SafeTensors::deserialize(old).unwrap();
        let mut tensors: Vec<(String, TensorView)> = st.tensors();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        // The tensors evaluation reads: the EMA weights of this run.
        let read: Vec<usize> = (0..tensors.len()).filter(|&i| tensors[i].0.starts_with("ema.")).collect();
        let i = read[pick.index(read.len())];
        let (name, view) = tensors[i].clone();
        let (data, shape) = (view.data(), view.shape().to_vec());
        let (renamed, changed) = match change {
            // The same bytes as another dtype, as one column, or under another name.
            0 => (name.clone(), TensorView::new(Dtype::I32, shape, data).unwrap()),
            1 => (name.clone(), TensorView::new(Dtype::F32, vec![data.len() / 4, 1], data).unwrap()),
            _ => (format!("{name}.renamed"), view.clone()),
        };
        prop_assume!(change != 1 || shape_differs(&view, &changed), "a [n, 1] tensor keeps its shape");
        tensors[i] = (renamed, changed);
        let (_, meta) = SafeTensors::read_metadata(old).unwrap();
        let bytes = safetensors::serialize(tensors, meta.metadata().clone()).unwrap();
        let e = checkpoint::Weights::read(&bytes, "old.safetensors").and_then(|w| w.values(params())).expect_err("refused");
        let msg = e.to_string();
        prop_assert!(msg.starts_with(&format!("checkpoint old.safetensors: tensor `{name}` is ")), "{}", msg);
        let what = ["is I32 ", "expected F32 [", "is missing"];
        prop_assert!(what.iter().any(|w| msg.contains(w)), "{}", msg);
    }
}

fn shape_differs(a: &TensorView, b: &TensorView) -> bool {
    a.shape() != b.shape()
}

/// One `--set` assignment: a known key or a near miss, and a value of any kind.
fn assignment() -> impl Strategy<Value = String> {
    let keys: Vec<String> = known_keys();
    let key = prop_oneof![
        6 => prop::sample::select(keys),
        1 => text_of("abcdefghijklmnopqrstuvwxyz._", 0..16),
        1 => Just(String::new()),
    ];
    let value = prop_oneof![
        text_of("0123456789.-e", 0..8),
        prop::sample::select(vec![
            "true",
            "false",
            "nan",
            "inf",
            "-1",
            "0",
            "1e30",
            "18446744073709551616",
            "looped",
            "local",
            "+"
        ])
        .prop_map(String::from),
        any::<u16>().prop_map(|n| n.to_string()),
        text_of("abcdefghijklmnopqrstuvwxyz =", 0..10),
    ];
    prop_oneof![
        9 => (key, value).prop_map(|(k, v)| format!("{k}={v}")),
        1 => text_of("abc.=", 0..10),
    ]
}

/// Every dotted key of a config (what `--set` accepts).
fn known_keys() -> Vec<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v.as_object() {
            Some(o) => {
                for (k, child) in o {
                    walk(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, child, out)
                }
            }
            None => out.push(prefix.to_string()),
        }
    }
    let mut keys = Vec::new();
    walk("", &serde_json::to_value(LabConfig::from_preset("grokking", &[]).unwrap()).unwrap(), &mut keys);
    keys
}

/// Whether a refused config's message names the problem: in backticks, the key of one of the assignments (as
/// read: trimmed) or a config key the validation refused; the keys of a rule across keys; or the `key=value` form.
fn names_the_problem(e: &LabError, sets: &[String]) -> bool {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    let known = KEYS.get_or_init(known_keys);
    let msg = e.to_string();
    match e {
        // A rule across keys (e.g. depth settings on a feedforward model) names them in plain text.
        LabError::Usage(_) => {
            (msg.contains("expected key=value") && sets.iter().any(|s| !s.contains('=')))
                || known.iter().any(|k| k.contains('.') && msg.contains(k.as_str()))
        }
        LabError::UnknownKey { key, .. } | LabError::Invalid { key, .. } => {
            let assigned = sets.iter().any(|s| s.split_once('=').map(|(k, _)| k.trim()) == Some(key.as_str()));
            msg.contains(&format!("`{key}`")) && (assigned || known.contains(key))
        }
        _ => false,
    }
}

/// A URL hash like the page writes (`preset=NAME&key=value&...`), with now and then percent escapes, `+`, empty
/// pairs and junk.
fn url_hash() -> impl Strategy<Value = String> {
    let preset = prop_oneof![
        8 => prop::sample::select(PRESETS.iter().map(|p| p.name.to_string()).collect::<Vec<_>>()),
        1 => text_of("abcdefgz-%2", 0..10),
    ];
    let pair = prop_oneof![
        6 => assignment(),
        1 => prop::sample::select(vec!["compare=params", "backend=cpu", "backend=tpu", "", "=", "&", "%zz=1", "task.p=%32%33", "model.arch=looped+"])
            .prop_map(String::from),
    ];
    (prop::option::of(preset), prop::collection::vec(pair, 0..5)).prop_map(|(preset, pairs)| {
        let mut parts: Vec<String> = preset.map(|p| format!("preset={p}")).into_iter().collect();
        parts.extend(pairs);
        format!("#{}", parts.join("&"))
    })
}

/// `new URLSearchParams(hash without '#')` as the page reads it: pairs split at '&' and the first '=', '+' read as
/// a space, %XX decoded (malformed escapes kept as they are, decoded bytes read as UTF-8 lossily).
fn search_params(hash: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                },
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    hash.trim_start_matches('#')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn maze_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| maze::to_text(&maze::generate(3, 0.2, 0.0, &mut Rng::new(5)), None))
}

/// The history.json of a short run, with a few bytes changed, inserted or cut.
/// history.csv reads back as the records history.json holds, bit for bit (splits included).
#[test]
fn history_csv_round_trips() {
    let (json, csv) = histories();
    let records = read_history(json, "history.json").unwrap();
    assert!(records.len() >= 2 && records[0].splits.len() >= 2 && records[0].weight_norm.is_some());
    assert_eq!(read_history_csv(csv, "history.csv").unwrap(), records);
}

/// `looplab plot` and the page's overlays read a history file by its name: CSV for `.csv` (any case), JSON
/// otherwise; an empty history is refused, naming the file.
#[test]
fn history_files_are_read_by_their_name() {
    let (json, csv) = histories();
    let records = read_history(json, "history.json").unwrap();
    assert_eq!(read_history_file(csv, "runs/a.history.CSV").unwrap(), records);
    assert_eq!(read_history_file(json, "a.json").unwrap(), records);
    let wrong = read_history_file(json, "a.csv").unwrap_err().to_string();
    assert!(wrong.starts_with("a.csv: line 1: no `step` column"), "{wrong}");
    assert_eq!(read_history_file("[]", "a.json").unwrap_err().to_string(), "a.json: the history has no records yet");
    let empty_csv = history_csv(&[]);
    assert_eq!(
        read_history_file(&empty_csv, "a.csv").unwrap_err().to_string(),
        "a.csv: the history has no records yet"
    );
}

/// A tiny run's history, as history.json and as history.csv.
fn histories() -> &'static (String, String) {
    static TEXTS: OnceLock<(String, String)> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let lab = pollster::block_on(async {
            let mut lab = looplab::lab::Lab::new(tiny(), looplab::backend::BackendKind::Cpu).await.unwrap();
            lab.train(4).await.unwrap();
            lab
        });
        (lab.history_json(), lab.history_csv())
    })
}

/// The tiny run's history (CSV when `csv`) with a few bytes replaced, inserted or cut off.
fn mutated_history(csv: bool) -> impl Strategy<Value = String> {
    let text = if csv { &histories().1 } else { &histories().0 };
    let edit = (any::<prop::sample::Index>(), prop::sample::select(b"[]{}\":,0-.e9 xn\n".to_vec()), 0u8..3);
    prop::collection::vec(edit, 0..4).prop_map(move |edits| {
        let mut b = text.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            let i = at.index(b.len().max(1)).min(b.len().saturating_sub(1));
            match kind {
                0 if !b.is_empty() => b[i] = byte,
                1 => b.insert(i, byte),
                _ => b.truncate(i),
            }
        }
        String::from_utf8_lossy(&b).into_owned()
    })
}

fn tiny() -> LabConfig {
    // The fixture's model (tests/fixtures/README.md).
    let o: Vec<String> = [
        "task.p=7",
        "model.d_model=8",
        "model.heads=2",
        "model.mlp_hidden=8",
        "model.layers=1",
        "model.loops=2",
        "train.eval_every=2",
        "train.ema=0.9",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    LabConfig::from_preset("modular-small", &o).unwrap()
}

/// A checkpoint of `tiny()` (with checksums) and the committed fixture of the format before them.
fn checkpoints() -> (&'static [u8], &'static [u8]) {
    static BYTES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    let (good, old) = BYTES.get_or_init(|| {
        let good = pollster::block_on(async {
            let backend = looplab::backend::Backend::open(looplab::backend::BackendKind::Cpu).await.unwrap();
            let mut t = Trainer::new(tiny(), backend).await.unwrap();
            t.train(2).await.unwrap();
            checkpoint::save(&mut t).await.unwrap()
        });
        let old =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/looplab-checkpoint-1.safetensors"));
        (good, old.unwrap())
    });
    (good, old)
}

/// The parameter layout both checkpoints were written for (the fixture's config is `tiny()`'s model).
fn params() -> &'static Params {
    static PARAMS: OnceLock<Params> = OnceLock::new();
    PARAMS.get_or_init(|| {
        let c = tiny();
        let d = c.dataset();
        let seq = d.splits.iter().map(|s| s.seq_len).max().unwrap();
        Params::plan(&mut MemoryPlan::default(), &c.model, d.vocab, seq, true)
    })
}

/// The name of the tensor whose data holds byte `at` of `bytes`.
fn tensor_at(bytes: &[u8], at: usize) -> String {
    let (n, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let offset = at - 8 - n;
    meta.tensors()
        .into_iter()
        .find(|(_, info)| (info.data_offsets.0..info.data_offsets.1).contains(&offset))
        .map(|(name, _)| name)
        .unwrap()
}

#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    /// (byte, bit) pairs to flip.
    Flip(Vec<(usize, u8)>),
    HeaderLength(u64),
}

impl Damage {
    fn apply(&self, good: &[u8]) -> Vec<u8> {
        let mut b = good.to_vec();
        match self {
            Damage::Truncate(len) => b.truncate(*len),
            Damage::Flip(bits) => bits.iter().for_each(|&(at, bit)| b[at] ^= 1 << bit),
            Damage::HeaderLength(n) => b[..8].copy_from_slice(&n.to_le_bytes()),
        }
        b
    }
}

fn damage() -> impl Strategy<Value = Damage> {
    let len = checkpoints().0.len();
    let header_end = 8 + u64::from_le_bytes(checkpoints().0[..8].try_into().unwrap()) as usize;
    let bit = |range: std::ops::Range<usize>| (range, 0u8..8);
    prop_oneof![
        (0..len).prop_map(Damage::Truncate),
        // Anywhere, or only in the tensor data (most of the file, but let both be common).
        prop::collection::vec(bit(0..len), 1..4).prop_map(Damage::Flip),
        prop::collection::vec(bit(header_end..len), 1..4).prop_map(Damage::Flip),
        any::<u64>()
            .prop_filter("a different length", move |&n| n != (header_end - 8) as u64)
            .prop_map(Damage::HeaderLength),
    ]
}

/// The page's form (`config::settings`) offers real config keys, each with a label and help, and every named
/// value it offers is one the key takes (a refusal, if any, is about another key the value needs changed).
#[test]
fn every_offered_setting_is_a_config_key_with_help_and_valid_choices() {
    let keys = known_keys();
    for preset in PRESETS {
        let config = (preset.config)();
        for s in settings(config.task.kind) {
            assert!(keys.iter().any(|k| k == s.key), "{}: `{}` is not a config key", preset.name, s.key);
            assert!(
                !s.label.is_empty() && s.help.ends_with('.'),
                "{}: `{}` has a label and a sentence of help",
                preset.name,
                s.key
            );
            for choice in s.choices {
                if let Err(LabError::Invalid { key, .. }) =
                    LabConfig::from_preset(preset.name, &[format!("{}={choice}", s.key)])
                {
                    assert_ne!(key, s.key, "{}: `{}={choice}` is offered but refused", preset.name, s.key);
                }
            }
        }
    }
}
