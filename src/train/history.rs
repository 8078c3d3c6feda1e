//! A run's history on disk: history.json (the records as serde writes them) and history.csv (one row per
//! record, for spreadsheets and pandas). Both are read back, so `looplab plot` and `compare` take either, and
//! the CSV files of runs that kept no JSON (docs/results) can still be drawn.

use super::{Evaluation, Record, SplitScore};
use crate::error::LabError;

/// A run's history.json (what `Lab::history_json` writes), or an error naming `source` and where the text breaks
/// the format (serde's line and column).
pub fn read_history(text: &str, source: &str) -> Result<Vec<Record>, LabError> {
    serde_json::from_str(text).map_err(|e| LabError::Input(format!("{source}: the history is not valid ({e})")))
}

/// A history file as `looplab plot` and the page's overlays read it: CSV when `source` (the file's name) ends in
/// `.csv`, JSON otherwise; a history without records is refused, since there is nothing to draw.
pub fn read_history_file(text: &str, source: &str) -> Result<Vec<Record>, LabError> {
    let csv = source.rsplit_once('.').is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("csv"));
    let history = if csv { read_history_csv(text, source)? } else { read_history(text, source)? };
    if history.is_empty() {
        return Err(LabError::Input(format!("{source}: the history has no records yet")));
    }
    Ok(history)
}

/// The scalar columns of every row, in order, after `step`.
const SCALARS: [&str; 9] =
    ["loss", "train_acc", "test_acc", "train_exact", "test_exact", "test_loss", "grad_norm", "lr", "elapsed_s"];
const MEASURES: [&str; 3] = ["loss", "acc", "exact"];

fn scalars(r: &Record) -> [f64; 9] {
    [r.loss, r.train_acc, r.test_acc, r.train_exact, r.test_exact, r.test_loss, r.grad_norm, r.lr, r.elapsed_s]
}

fn measures(e: &Evaluation) -> [f64; 3] {
    [e.loss, e.accuracy, e.exact]
}

/// The history as history.csv: `step`, the scalar columns, `weight_norm`, then every split's `SPLIT_loss`,
/// `SPLIT_acc` and `SPLIT_exact` except those the scalar columns already are (splits named by the first record;
/// a value a record lacks is left empty).
pub fn history_csv(history: &[Record]) -> String {
    let mut header: Vec<String> = std::iter::once("step").chain(SCALARS).map(String::from).collect();
    header.push("weight_norm".into());
    // (column, split, measure index) of the split columns.
    let mut split_columns: Vec<(String, &str, usize)> = Vec::new();
    for split in history.first().map_or(&[][..], |r| &r.splits) {
        for (m, what) in MEASURES.iter().enumerate() {
            let name = format!("{}_{what}", split.split);
            if !header.contains(&name) {
                header.push(name.clone());
                split_columns.push((name, &split.split, m));
            }
        }
    }
    let mut s = header.join(",");
    for r in history {
        s += &format!("\n{}", r.step);
        for v in scalars(r) {
            s += &format!(",{v}");
        }
        s += &format!(",{}", r.weight_norm.map_or(String::new(), |v| v.to_string()));
        for (_, split, m) in &split_columns {
            let value = r.splits.iter().find(|x| x.split == *split).map(|x| measures(&x.evaluation)[*m]);
            s += &format!(",{}", value.map_or(String::new(), |v| v.to_string()));
        }
    }
    s + "\n"
}

/// A history.csv read back (what `history_csv` writes, and the shorter files of runs from before the weight norm
/// and the split columns). The splits come back when the file has split columns: `train`, then `test` (the scalar
/// test columns) unless the first other split's columns repeat them (the scalar columns hold the second split,
/// whatever its name), then the other splits in column order.
pub fn read_history_csv(text: &str, source: &str) -> Result<Vec<Record>, LabError> {
    let bad = |line: usize, what: String| LabError::Input(format!("{source}: line {line}: {what}"));
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| LabError::Input(format!("{source}: the file is empty")))?;
    let header: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| header.iter().position(|c| *c == name);
    let mut required = Vec::new();
    for name in std::iter::once("step").chain(SCALARS) {
        let column = find(name).ok_or_else(|| {
            bad(1, format!("no `{name}` column (a history.csv has step, {} and weight_norm)", SCALARS.join(", ")))
        })?;
        required.push(column);
    }
    let weight_norm = find("weight_norm");
    // Split names in column order: the prefixes of the `SPLIT_acc` columns that have all three measures.
    let mut names: Vec<&str> = header
        .iter()
        .filter_map(|c| c.strip_suffix("_acc"))
        .filter(|s| MEASURES.iter().all(|m| find(&format!("{s}_{m}")).is_some()))
        .collect();
    names.dedup();
    let columns = |s: &str| MEASURES.map(|m| find(&format!("{s}_{m}")).expect("found above"));
    let rows: Vec<(usize, Vec<&str>)> = lines.map(|(i, l)| (i + 1, l.split(',').map(str::trim).collect())).collect();
    for (line, row) in &rows {
        if row.len() != header.len() {
            return Err(bad(*line, format!("{} values for {} columns", row.len(), header.len())));
        }
    }
    // A file from before the split columns has only train's and test's scalars (and no `train_loss`): no splits.
    if names.len() <= 2 && find("train_loss").is_none() {
        names.clear();
    } else if names.len() > 2
        && rows.iter().all(|(_, row)| columns(names[2]).map(|c| row[c]) == columns("test").map(|c| row[c]))
    {
        names.retain(|n| *n != "test");
    }
    let number = |line: usize, row: &[&str], c: usize| -> Result<f64, LabError> {
        row[c].parse::<f64>().map_err(|_| bad(line, format!("`{}` is not a number: {:?}", header[c], row[c])))
    };
    let mut history = Vec::with_capacity(rows.len());
    for (line, row) in &rows {
        let step = row[required[0]]
            .parse::<u64>()
            .map_err(|_| bad(*line, format!("`step` is not a whole number: {:?}", row[required[0]])))?;
        let mut v = [0.0; 9];
        for (slot, &c) in v.iter_mut().zip(&required[1..]) {
            *slot = number(*line, row, c)?;
        }
        let weight_norm = match weight_norm.map(|c| (c, row[c])) {
            Some((c, value)) if !value.is_empty() => Some(number(*line, row, c)?),
            _ => None,
        };
        let mut splits = Vec::new();
        for &name in &names {
            let [l, a, e] = columns(name);
            if [l, a, e].iter().any(|&c| row[c].is_empty()) {
                continue; // a record written without this split
            }
            let evaluation = Evaluation {
                loss: number(*line, row, l)?,
                accuracy: number(*line, row, a)?,
                exact: number(*line, row, e)?,
            };
            splits.push(SplitScore { split: name.to_string(), evaluation });
        }
        let [loss, train_acc, test_acc, train_exact, test_exact, test_loss, grad_norm, lr, elapsed_s] = v;
        history.push(Record {
            step,
            loss,
            train_acc,
            test_acc,
            train_exact,
            test_exact,
            test_loss,
            grad_norm,
            lr,
            elapsed_s,
            weight_norm,
            splits,
        });
    }
    Ok(history)
}
