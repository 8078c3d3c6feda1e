#![cfg(not(target_arch = "wasm32"))]
//! ARCHITECTURE.md stays true: every path it names exists, and its picture of which way dependencies run is the
//! real `crate::` import graph of src/ (every module in it, every import pointing down, so no cycles).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Directories whose files ARCHITECTURE.md may name, also by a trailing part of their path (`transformer/layer.rs`).
const TREES: [&str; 7] = ["src", "shaders", "www", "tests", "docs", "experiments", "python"];
const EXTENSIONS: [&str; 10] = [".rs", ".wgsl", ".js", ".mjs", ".md", ".sh", ".html", ".css", ".toml", ".py"];

fn architecture() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Words of the text that look like a path: a known file extension, or a top-level directory with a slash.
fn named_paths(text: &str) -> BTreeSet<String> {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    text.split(|c: char| !is_path_char(c))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| {
            EXTENSIONS.iter().any(|e| w.ends_with(e) && w.len() > e.len())
                || TREES.iter().any(|t| w.starts_with(&format!("{t}/")))
        })
        .map(String::from)
        .collect()
}

#[test]
fn every_path_architecture_names_exists() {
    let root = Path::new(ROOT);
    let mut all = Vec::new();
    for t in TREES {
        files(&root.join(t), &mut all);
    }
    let all: Vec<String> =
        all.iter().map(|p| p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/")).collect();
    let names = named_paths(&architecture());
    assert!(names.contains("src/program.rs") && names.contains("transformer/layer.rs"), "{names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| {
            let n = n.trim_end_matches('/');
            !root.join(n).exists()
                && !all.iter().any(|f| f.ends_with(&format!("/{n}")) || f.starts_with(&format!("{n}/")))
        })
        .collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
}

/// `module -> modules it imports through crate::`, over every file of src/ (comment lines skipped).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(ROOT).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in all.iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
        let rel = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "bin" {
            continue;
        }
        let deps = graph.entry(module.clone()).or_default();
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let dep: String =
                    line[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if dep != module && !dep.is_empty() {
                    deps.insert(dep);
                }
            }
        }
    }
    graph
}

/// The picture's lines, top first: the modules named before the description on each.
fn picture() -> Vec<Vec<String>> {
    let text = architecture();
    let block = text.split("## Which way dependencies run").nth(1).expect("the section").split("```").nth(1).unwrap();
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split("  ").next().unwrap().split(',').map(|m| m.trim().to_string()).collect())
        .collect()
}

#[test]
fn imports_point_down_the_architecture_picture() {
    let graph = import_graph();
    let level: BTreeMap<String, usize> =
        picture().into_iter().enumerate().flat_map(|(i, line)| line.into_iter().map(move |m| (m, i))).collect();
    let unplaced: Vec<&String> = graph.keys().filter(|m| !level.contains_key(*m)).collect();
    assert!(unplaced.is_empty(), "modules missing from ARCHITECTURE.md's picture: {unplaced:?}");
    let stale: Vec<&String> = level.keys().filter(|m| !graph.contains_key(*m)).collect();
    assert!(stale.is_empty(), "the picture names modules src/ does not have: {stale:?}");
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(m, deps)| deps.iter().map(move |d| (m, d)))
        .filter(|(m, d)| level[*m] >= level[*d])
        .map(|(m, d)| format!("{m} -> {d}"))
        .collect();
    assert!(upward.is_empty(), "imports that do not point down the picture (a cycle, or a layer to move): {upward:?}");
}
