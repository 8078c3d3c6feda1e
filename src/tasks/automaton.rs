//! Programs in the prompt: an elementary cellular automaton (ECA) whose rule table is part of the input. A
//! program is a rule (Wolfram code 0-255: bit `4l + 2c + r` is the new state of a cell whose left neighbour,
//! own state and right neighbour are `l, c, r`), a tape of `task.size` cells and a number of steps; the answer
//! is the tape after those steps. Boundary: fixed and null, i.e. the cells beyond both ends are 0 at every step
//! and never updated (periodic tapes would need attention that wraps round, which local attention does not).
//!
//! Layout: the space-time diagram, a grid of `steps + 1` rows by `size + 2` columns. Row 0 is the initial tape
//! (tokens 0 and 1); row t (1..=steps) is the tape after t steps, the slots to fill; columns 0 and `size + 1` are
//! `EDGE`, the fixed zero boundary, in every row. Each slot carries the program: the rule table's high nibble
//! (bits 4-7, the neighbourhoods with l = 1) as token `HI + n` at even tape positions and the low nibble (bits
//! 0-3, l = 0) as `LO + n` at odd ones, so with local attention of radius 1 every slot sees the three cells it
//! depends on (the row above) and the whole table (its own token and a neighbour's) in its 3x3 window. Why
//! nibbles: one token for the whole 8-bit table would make a held-out rule an unseen token whose embedding was
//! never trained; split in two, a held-out rule is a new combination of halves that training has seen.
//! Targets: every slot of rows 1..=steps with its cell's state; row 0 and the edges are not supervised. One
//! iteration of a 1-layer block with radius-1 attention moves information one row, so row t cannot be right
//! before iteration t: depth is program steps, and a longer run (more rows) needs more iterations.
//!
//! Held-out programs: the 256 rules fall into 88 classes under left-right reflection and 0/1 complement (with
//! the null boundary the complement is not an exact symmetry of a finite run, only of the rule table; the split
//! honours both, so no held-out rule is the mirror image or the complement of a training rule). A seed-drawn
//! share `task.ood_fraction` of the classes is held out, redrawn until every nibble value still occurs in
//! training in both halves. Splits: "train" (`task.examples` programs of training rules), "unseen" (held-out
//! rules), "seen" (rules of the training split, on tapes never paired with that rule in training), then with held-out rules
//! "unseen-long" (`task.test_steps` steps) and "unseen-wide" (`task.test_size` cells) where those differ from
//! the training ones; `task.test_examples` each.

use std::collections::HashSet;

use super::prefix_sums::sample_distinct;
use super::TaskConfig;
use super::{Dataset, Split};
use crate::error::LabError;
use crate::rng::Rng;
use crate::tasks::IGNORE;

pub const EDGE: u32 = 2;
/// `HI + n`: a slot at an even tape position, carrying the rule's bits 4-7 (`n = rule >> 4`).
pub const HI: u32 = 3;
/// `LO + n`: a slot at an odd tape position, carrying the rule's bits 0-3 (`n = rule & 15`).
pub const LO: u32 = 19;
pub const VOCAB: usize = 35;
pub const MIN_CELLS: usize = 2;
pub const MAX_CELLS: usize = 128;
pub const MAX_STEPS: usize = 128;
pub const MAX_EXAMPLES: usize = 10_000_000;
pub const MAX_TEST_EXAMPLES: usize = 100_000;
/// Classes of the 256 rules under reflection and complement.
pub const CLASSES: usize = 88;

/// One program run: rule, initial tape (cells 0 or 1), steps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    pub rule: u8,
    pub tape: Vec<u8>,
    pub steps: usize,
}

/// One step of `rule` on `tape` with the null boundary.
pub fn step(rule: u8, tape: &[u8]) -> Vec<u8> {
    let at = |j: isize| if j < 0 || j as usize >= tape.len() { 0 } else { tape[j as usize] };
    (0..tape.len() as isize).map(|j| (rule >> (4 * at(j - 1) + 2 * at(j) + at(j + 1))) & 1).collect()
}

/// The rule with left and right swapped: `R'[4l + 2c + r] = R[4r + 2c + l]`.
pub fn reflect(rule: u8) -> u8 {
    (0..8u8).map(|i| ((rule >> ((i & 2) | (i >> 2) | ((i & 1) << 2))) & 1) << i).sum()
}

/// The rule with 0 and 1 swapped in the inputs and the output: `R'[i] = 1 - R[7 - i]`.
pub fn complement(rule: u8) -> u8 {
    (0..8u8).map(|i| (1 - ((rule >> (7 - i)) & 1)) << i).sum()
}

/// The smallest rule among `rule`'s reflection and complement images: one name per class.
pub fn class(rule: u8) -> u8 {
    [rule, reflect(rule), complement(rule), reflect(complement(rule))].into_iter().min().expect("four images")
}

impl Program {
    /// Rows 0..=steps of the space-time diagram: the tape, then the tape after each step.
    pub fn run(&self) -> Vec<Vec<u8>> {
        let mut rows = vec![self.tape.clone()];
        for _ in 0..self.steps {
            let next = step(self.rule, rows.last().expect("row 0"));
            rows.push(next);
        }
        rows
    }

    /// `[steps + 1, cells + 2]`: the grid this program is laid out on.
    pub fn grid(&self) -> [usize; 2] {
        [self.steps + 1, self.tape.len() + 2]
    }

    /// The token a slot at tape position `j` carries.
    pub fn slot(&self, j: usize) -> u32 {
        if j.is_multiple_of(2) {
            HI + (self.rule >> 4) as u32
        } else {
            LO + (self.rule & 15) as u32
        }
    }

    /// Tokens and targets in the top-left corner of a `grid` at least as large as `self.grid()`, the rest `EDGE`
    /// (the zero boundary) with no targets.
    pub fn encode(&self, grid: [usize; 2]) -> (Vec<u32>, Vec<u32>) {
        let [h, w] = self.grid();
        assert!(h <= grid[0] && w <= grid[1], "a {h}x{w} program does not fit a {}x{} grid", grid[0], grid[1]);
        let mut tokens = vec![EDGE; grid[0] * grid[1]];
        let mut targets = vec![IGNORE; grid[0] * grid[1]];
        for (t, row) in self.run().iter().enumerate() {
            for (j, &cell) in row.iter().enumerate() {
                let i = t * grid[1] + j + 1;
                if t == 0 {
                    tokens[i] = cell as u32;
                } else {
                    tokens[i] = self.slot(j);
                    targets[i] = cell as u32;
                }
            }
        }
        (tokens, targets)
    }

    /// Reads the program back from its tokens (a grid of `grid`, the program in its top-left corner).
    pub fn from_tokens(tokens: &[u32], grid: [usize; 2]) -> Result<Program, LabError> {
        let bad = |what: &str| LabError::Input(format!("automaton tokens: {what}"));
        let [h, w] = grid;
        if h < 2 || w < MIN_CELLS + 2 || tokens.len() != h * w || tokens[0] != EDGE {
            return Err(bad(&format!("{} tokens are not a program laid out on a {h}x{w} grid", tokens.len())));
        }
        let cells = tokens[1..w].iter().take_while(|&&t| t <= 1).count();
        let tape: Vec<u8> = tokens[1..=cells].iter().map(|&t| t as u8).collect();
        let (hi, lo) = (tokens[w + 1], tokens.get(w + 2).copied().unwrap_or(EDGE));
        if !(HI..LO).contains(&hi) || !(LO..VOCAB as u32).contains(&lo) {
            return Err(bad("row 1 does not carry a rule table"));
        }
        let rule = (((hi - HI) << 4) | (lo - LO)) as u8;
        let steps = (1..h).take_while(|&t| tokens[t * w + 1] == hi).count();
        let program = Program { rule, tape, steps };
        if program.encode(grid).0 != tokens {
            return Err(bad("they are not the layout of one program"));
        }
        Ok(program)
    }

    /// The text format `parse` reads: `RULE TAPE STEPS`.
    pub fn to_text(&self) -> String {
        format!("{} {} {}", self.rule, tape_text(&self.tape), self.steps)
    }
}

/// A tape as `0`/`1` characters.
pub fn tape_text(tape: &[u8]) -> String {
    tape.iter().map(|&c| if c == 1 { '1' } else { '0' }).collect()
}

/// Parses `RULE TAPE STEPS`, e.g. `110 0001000100 8`: the rule's Wolfram code 0-255, the initial tape as `0`/`1`
/// (or `.`/`#`) with `MIN_CELLS..=MAX_CELLS` cells, and the number of steps `1..=MAX_STEPS`.
pub fn parse(text: &str) -> Result<Program, LabError> {
    let err = |msg: String| LabError::Input(format!("program: {msg}"));
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Err(err(
            "the program is empty; expected three words, RULE TAPE STEPS (e.g. \"110 0001000100 8\")".into()
        ));
    }
    let [rule, tape, steps] = words[..] else {
        return Err(err(format!(
            "expected three words, RULE TAPE STEPS (e.g. \"110 0001000100 8\"), got {}",
            words.len()
        )));
    };
    let rule = rule
        .parse::<u8>()
        .map_err(|_| err(format!("the rule {rule:?} is not a Wolfram code; expected a whole number from 0 to 255")))?;
    let tape = tape
        .chars()
        .enumerate()
        .map(|(i, ch)| match ch {
            '0' | '.' => Ok(0),
            '1' | '#' => Ok(1),
            _ => Err(err(format!("the tape has {ch:?} at cell {}; expected 0 or 1 (or . and #)", i + 1))),
        })
        .collect::<Result<Vec<u8>, _>>()?;
    if !(MIN_CELLS..=MAX_CELLS).contains(&tape.len()) {
        return Err(err(format!("the tape has {} cells; expected {MIN_CELLS} to {MAX_CELLS}", tape.len())));
    }
    let steps = steps.parse::<usize>().ok().filter(|s| (1..=MAX_STEPS).contains(s)).ok_or_else(|| {
        err(format!("the steps {steps:?} are not a count; expected a whole number from 1 to {MAX_STEPS}"))
    })?;
    Ok(Program { rule, tape, steps })
}

/// The held-out rules of a seed, sorted: every member of a seed-drawn share `task.ood_fraction` of the classes
/// (see the module docs). The same for every model of that seed and share, whatever the other task settings.
pub fn held_out_rules(task: &TaskConfig, seed: u64) -> Vec<u8> {
    let mut classes: Vec<u8> = (0..=255u8).filter(|&r| class(r) == r).collect();
    let count = held_out_classes(task.ood_fraction);
    let mut rng = Rng::fork(seed, "automaton-rules");
    let mut held: Vec<u8> = Vec::new();
    // Bounded: at the shares `validate` allows, a draw covers every nibble with high probability.
    for _ in 0..256 {
        rng.shuffle(&mut classes);
        let out: HashSet<u8> = classes[..count].iter().copied().collect();
        held = (0..=255u8).filter(|&r| out.contains(&class(r))).collect();
        let train: Vec<u8> = (0..=255u8).filter(|r| !out.contains(&class(*r))).collect();
        let covers = |nibble: fn(u8) -> u8| (0..16).all(|n| train.iter().any(|&r| nibble(r) == n));
        if covers(|r| r >> 4) && covers(|r| r & 15) {
            break;
        }
    }
    held
}

/// The rules trained on: every rule not held out.
pub fn training_rules(task: &TaskConfig, seed: u64) -> Vec<u8> {
    let held = held_out_rules(task, seed);
    (0..=255u8).filter(|r| held.binary_search(r).is_err()).collect()
}

fn held_out_classes(share: f64) -> usize {
    (share * CLASSES as f64).round() as usize
}

fn test_cells(t: &TaskConfig) -> usize {
    if t.test_size == 0 {
        t.size
    } else {
        t.test_size
    }
}

fn test_steps(t: &TaskConfig) -> usize {
    if t.test_steps == 0 {
        t.steps
    } else {
        t.test_steps
    }
}

/// Programs of `rules` on tapes of `cells` for `steps` steps: `(rule, tape)` pairs.
fn space(rules: usize, cells: usize) -> Option<u64> {
    (cells < 40).then(|| rules as u64 * (1u64 << cells))
}

pub fn validate(t: &TaskConfig, seed: u64) -> Result<(), LabError> {
    let cells = format!("a number of tape cells from {MIN_CELLS} to {MAX_CELLS}");
    if !(MIN_CELLS..=MAX_CELLS).contains(&t.size) {
        return Err(LabError::invalid("task.size", t.size, cells));
    }
    if t.test_size != 0 && !(t.size..=MAX_CELLS).contains(&t.test_size) {
        return Err(LabError::invalid(
            "task.test_size",
            t.test_size,
            format!("0 (same as task.size) or the test tapes' cells, from task.size ({}) to {MAX_CELLS}", t.size),
        ));
    }
    if !(1..=MAX_STEPS).contains(&t.steps) {
        return Err(LabError::invalid(
            "task.steps",
            t.steps,
            format!("a number of program steps from 1 to {MAX_STEPS}"),
        ));
    }
    if t.test_steps != 0 && !(t.steps..=MAX_STEPS).contains(&t.test_steps) {
        return Err(LabError::invalid(
            "task.test_steps",
            t.test_steps,
            format!("0 (same as task.steps) or the long runs' steps, from task.steps ({}) to {MAX_STEPS}", t.steps),
        ));
    }
    let held = held_out_classes(t.ood_fraction);
    if !(0.0..=0.5).contains(&t.ood_fraction) || held == 0 {
        return Err(LabError::invalid(
            "task.ood_fraction",
            t.ood_fraction,
            format!("a share of the {CLASSES} rule classes to hold out, from 0.006 (one class) to 0.5"),
        ));
    }
    let room = space(training_rules(t, seed).len(), t.size).unwrap_or(u64::MAX).min(MAX_EXAMPLES as u64);
    if !(1..room).contains(&(t.examples as u64)) {
        return Err(LabError::invalid(
            "task.examples",
            t.examples,
            format!(
                "a number of training programs from 1 to {} (distinct rule and {}-cell tape pairs, leaving some for the seen split)",
                room - 1,
                t.size
            ),
        ));
    }
    if !(1..=MAX_TEST_EXAMPLES).contains(&t.test_examples) {
        return Err(LabError::invalid(
            "task.test_examples",
            t.test_examples,
            format!("a number of programs per test split from 1 to {MAX_TEST_EXAMPLES}"),
        ));
    }
    Ok(())
}

/// `count` distinct programs of `rules` on `cells`-cell tapes run for `steps`, none whose (rule, tape) is in
/// `exclude` (fewer only when the space runs out).
fn programs(
    rules: &[u8],
    cells: usize,
    steps: usize,
    count: usize,
    exclude: &HashSet<Program>,
    rng: &mut Rng,
) -> Vec<Program> {
    let per_rule = 1u64 << cells.min(63);
    let decode = |i: u64| Program {
        rule: rules[(i / per_rule) as usize],
        tape: (0..cells).map(|j| (((i % per_rule) >> j) & 1) as u8).collect(),
        steps,
    };
    sample_distinct(space(rules.len(), cells), count, exclude, rng, decode, |rng| Program {
        rule: rules[rng.below(rules.len())],
        tape: (0..cells).map(|_| rng.below(2) as u8).collect(),
        steps,
    })
}

/// Every split at its own grid; with `pad` (learned absolute positions need one length) all are laid out on
/// the largest grid.
pub fn build(task: &TaskConfig, seed: u64, pad: bool) -> Dataset {
    let (held, train_rules) = (held_out_rules(task, seed), training_rules(task, seed));
    let (cells, steps, wide, long) = (task.size, task.steps, test_cells(task), test_steps(task));
    let n = task.test_examples;
    let none = HashSet::new();
    let train = programs(&train_rules, cells, steps, task.examples, &none, &mut Rng::fork(seed, "automaton-train"));
    let mut sets: Vec<(&'static str, Vec<Program>)> = vec![
        ("unseen", programs(&held, cells, steps, n, &none, &mut Rng::fork(seed, "automaton-unseen"))),
        ("seen", {
            // Only rules the training split really has (a small one may miss some).
            let mut used: Vec<u8> = train.iter().map(|p| p.rule).collect::<HashSet<u8>>().into_iter().collect();
            used.sort_unstable();
            let trained: HashSet<Program> = train.iter().cloned().collect();
            programs(&used, cells, steps, n, &trained, &mut Rng::fork(seed, "automaton-seen"))
        }),
    ];
    sets.insert(0, ("train", train));
    if long > steps {
        sets.push(("unseen-long", programs(&held, cells, long, n, &none, &mut Rng::fork(seed, "automaton-long"))));
    }
    if wide > cells {
        sets.push(("unseen-wide", programs(&held, wide, steps, n, &none, &mut Rng::fork(seed, "automaton-wide"))));
    }
    let largest = [long + 1, wide + 2];
    let splits = sets
        .into_iter()
        .map(|(name, list)| {
            let grid = if pad { largest } else { list.first().map_or([steps + 1, cells + 2], Program::grid) };
            let mut s = Split::grid(name, grid);
            for p in &list {
                let (tokens, targets) = p.encode(grid);
                s.push(&tokens, &targets);
            }
            s
        })
        .collect();
    Dataset { vocab: VOCAB, splits }
}

/// What a model's prediction of one program says, row by row (row t = the tape after t steps).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Reading {
    /// `rows[t-1][j]`: the predicted state of cell j after t steps (`None` where the top token is not 0 or 1).
    pub rows: Vec<Vec<Option<u8>>>,
    /// `wrong[t-1][j]`: the prediction differs from the true execution.
    pub wrong: Vec<Vec<bool>>,
    /// Rows 1..=right_rows are all right (the steps the model has executed correctly, from the start).
    pub right_rows: usize,
    /// The answer, the tape after the last step, is right.
    pub answer_right: bool,
}

/// Reads predicted tokens (a grid of `grid`, the program in its top-left corner) against the true execution.
pub fn read(program: &Program, predictions: &[u32], grid: [usize; 2]) -> Reading {
    let truth = program.run();
    let cells = program.tape.len();
    let rows: Vec<Vec<Option<u8>>> = (1..=program.steps)
        .map(|t| {
            (0..cells).map(|j| Some(predictions[t * grid[1] + j + 1]).filter(|&c| c <= 1).map(|c| c as u8)).collect()
        })
        .collect();
    let wrong: Vec<Vec<bool>> = rows
        .iter()
        .zip(&truth[1..])
        .map(|(row, true_row)| row.iter().zip(true_row).map(|(p, &y)| *p != Some(y)).collect())
        .collect();
    let right_rows = wrong.iter().take_while(|row| !row.contains(&true)).count();
    let answer_right = !wrong.last().is_some_and(|row| row.contains(&true));
    Reading { rows, wrong, right_rows, answer_right }
}

/// The verdict on a reading: the answer right, or what is wrong with it.
pub fn verdict(program: &Program, reading: &Reading) -> Result<(), String> {
    if reading.answer_right && reading.right_rows == program.steps {
        return Ok(());
    }
    let last = reading.wrong.last().map_or(0, |row| row.iter().filter(|&&w| w).count());
    let first_wrong = reading.right_rows + 1;
    if last == 0 {
        Err(format!("the tape after {} steps is right, but the run goes wrong at step {first_wrong}", program.steps))
    } else {
        Err(format!(
            "{last} of {} cells of the tape after {} steps are wrong; the run first goes wrong at step {first_wrong}",
            program.tape.len(),
            program.steps
        ))
    }
}

/// The grid a model takes `program` on: its own, or with learned positions (`positions` > 0 tokens) the grid
/// the model was trained on, the largest of its task's splits, when the program fits in it.
pub fn model_grid(program: &Program, task: &TaskConfig, positions: usize) -> Result<[usize; 2], LabError> {
    if positions == 0 {
        return Ok(program.grid());
    }
    let grid = [test_steps(task) + 1, test_cells(task) + 2];
    let [h, w] = program.grid();
    if h > grid[0] || w > grid[1] {
        return Err(LabError::Input(format!(
            "a run of {} steps on {} cells does not fit the {}x{} grid this model learned positions for (at most {} steps on {} cells); train with model.attention=local and model.positions=none to run longer programs",
            program.steps,
            program.tape.len(),
            grid[0],
            grid[1],
            grid[0] - 1,
            grid[1] - 2
        )));
    }
    Ok(grid)
}

pub fn is_held_out(rule: u8, task: &TaskConfig, seed: u64) -> bool {
    held_out_rules(task, seed).binary_search(&rule).is_ok()
}

/// Whether the rule was trained on or held out (with its relatives: held-out classes are whole).
pub fn rule_note(rule: u8, task: &TaskConfig, seed: u64) -> String {
    let held = is_held_out(rule, task, seed);
    let relatives = format!("mirror image {}, complement {}", reflect(rule), complement(rule));
    if held {
        format!("rule {rule} is held out: neither it nor its relatives ({relatives}) were trained on")
    } else {
        format!("rule {rule} is a training rule ({relatives})")
    }
}

/// The predicted space-time diagram beside the true one (`#` = 1, `.` = 0, `?` = not a cell state), row 0 the
/// initial tape, and a `^` under each wrong cell.
pub fn render(program: &Program, reading: &Reading) -> String {
    let truth = program.run();
    let cell = |c: Option<u8>| match c {
        Some(1) => '#',
        Some(0) => '.',
        _ => '?',
    };
    let w = program.tape.len();
    let mut out = format!("{:>4}  {:<w$}  {:<w$}  wrong\n", "step", "model", "truth");
    for (t, row) in truth.iter().enumerate() {
        let truth: String = row.iter().map(|&c| cell(Some(c))).collect();
        let (model, wrong) = if t == 0 {
            (truth.clone(), String::new())
        } else {
            let model = reading.rows[t - 1].iter().map(|&c| cell(c)).collect();
            let wrong: &[bool] = &reading.wrong[t - 1];
            (
                model,
                if wrong.contains(&true) {
                    wrong.iter().map(|&x| if x { '^' } else { '.' }).collect()
                } else {
                    String::new()
                },
            )
        };
        out.push_str(format!("{t:>4}  {model:<w$}  {truth:<w$}  {wrong}").trim_end());
        out.push('\n');
    }
    out
}
