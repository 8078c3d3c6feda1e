//! Multi-digit addition `a + b` of two L-digit numbers (Lee et al. 2025's self-improvement task).
//!
//! Layout: a 3-row grid, one column per digit position plus one for the final carry, padded to the dataset's
//! width `task.test_size + 1` (every split has that one geometry). Row 0 holds a's digits, row 2 b's digits and
//! row 1, between them, the answer slots to fill, so with local attention (radius 1) an answer cell sees both of
//! its operand digits and the columns beside them, and a looped model can move the carry one column per
//! iteration. In `reverse` order (`task.order`) column j holds the digits of weight 10^j (least significant
//! first) and padding follows on the right; `forward` mirrors every row, so numbers are right-aligned and read
//! most significant first, with padding on the left. Tokens: digits 0-9, `BLANK` (an answer slot), `PAD`
//! (outside the number). The L+1 answer slots are supervised with the sum's digits (the last one, the final
//! carry, is 0 or 1); every other cell has target `IGNORE`. Exact match = the whole sum right.
//!
//! What the order changes here: attention is bidirectional and nothing depends on absolute position, so the
//! forward layout is the mirror image of the reverse one: the same problem up to swapping left and right
//! offsets in local attention's bias. Only initialization differs; the order would matter for an
//! autoregressive (causal, left-to-right) decoder, which this task does not build.
//!
//! Numbers: an L-digit operand has a nonzero leading digit when L > 1 (0-9 when L = 1); both operands of a
//! problem have the same length. Splits: "train" (`task.examples` problems spread evenly over lengths
//! 1..=`task.size`), then one held-out split per length, `lenT` down to `len1` (`T = task.test_size`, so the
//! first test split, the one progress lines call "test", is the longest), `task.test_examples` problems each.
//! Held-out problems never occur in training. At lengths with few problems (100 pairs at L = 1, 8100 at L = 2)
//! a test split takes at most half of them and training at most the rest.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::prefix_sums::sample_distinct;
use super::{Dataset, DigitOrder, Split, TaskConfig, IGNORE};
use crate::error::LabError;
use crate::rng::Rng;

pub const BLANK: u32 = 10;
pub const PAD: u32 = 11;
pub const VOCAB: usize = 12;
pub const MAX_DIGITS: usize = 64;
pub const MAX_EXAMPLES: usize = 10_000_000;
pub const MAX_TEST_EXAMPLES: usize = 100_000;
/// Grid rows: operand a, answer slots, operand b.
pub const ROWS: usize = 3;
const ANSWER_ROW: usize = 1;

/// Two operands of one length, digits least significant first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Problem {
    pub a: Vec<u8>,
    pub b: Vec<u8>,
}

impl Problem {
    /// Digits per operand.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    /// The sum's `len() + 1` digits, least significant first (the last is the final carry, 0 or 1).
    pub fn sum(&self) -> Vec<u8> {
        let mut carry = 0;
        let mut out: Vec<u8> = self
            .a
            .iter()
            .zip(&self.b)
            .map(|(x, y)| {
                let s = x + y + carry;
                carry = s / 10;
                s % 10
            })
            .collect();
        out.push(carry);
        out
    }
}

/// Columns of every example: the longest test length plus the final carry.
pub fn width(task: &TaskConfig) -> usize {
    test_len(task) + 1
}

fn test_len(t: &TaskConfig) -> usize {
    if t.test_size == 0 {
        t.size
    } else {
        t.test_size
    }
}

/// The column of digit position `j` (weight 10^j) in a grid `width` wide.
fn column(j: usize, width: usize, order: DigitOrder) -> usize {
    match order {
        DigitOrder::Reverse => j,
        DigitOrder::Forward => width - 1 - j,
    }
}

/// Tokens and targets of one problem whose answer slots are labelled `answer` (the true sum, or a model's own
/// answer: `len() + 1` tokens, least significant first).
pub fn encode(p: &Problem, answer: &[u32], width: usize, order: DigitOrder) -> (Vec<u32>, Vec<u32>) {
    let l = p.len();
    assert!(l < width && answer.len() == l + 1, "{l} digits with {} answer slots in {width} columns", answer.len());
    let mut tokens = vec![PAD; ROWS * width];
    let mut targets = vec![IGNORE; ROWS * width];
    for (j, &digit) in answer.iter().enumerate() {
        let c = column(j, width, order);
        if j < l {
            tokens[c] = p.a[j] as u32;
            tokens[2 * width + c] = p.b[j] as u32;
        }
        tokens[ANSWER_ROW * width + c] = BLANK;
        targets[ANSWER_ROW * width + c] = digit;
    }
    (tokens, targets)
}

/// The true sum as answer tokens.
pub fn true_answer(p: &Problem) -> Vec<u32> {
    p.sum().into_iter().map(u32::from).collect()
}

/// A model's `len() + 1` answer slots (least significant first) from its predicted tokens for the whole grid.
pub fn answer_slots(predicted: &[u32], digits: usize, width: usize, order: DigitOrder) -> Vec<u32> {
    (0..=digits).map(|j| predicted[ANSWER_ROW * width + column(j, width, order)]).collect()
}

/// The length filter: the answer is a number of `digits` or `digits + 1` digits, i.e. every slot holds a digit
/// and the final-carry slot holds 0 or 1 (the sum of two L-digit numbers is below 2 x 10^L).
pub fn well_formed(slots: &[u32]) -> bool {
    slots.split_last().is_some_and(|(&carry, digits)| carry <= 1 && digits.iter().all(|&d| d <= 9))
}

/// Distinct problems with operands of `len` digits (both orders of a pair count as two problems).
fn space(len: usize) -> Option<u64> {
    let operands = if len == 1 { 10u64 } else { 9u64.checked_mul(10u64.checked_pow(len as u32 - 1)?)? };
    operands.checked_mul(operands)
}

fn digits_of(mut x: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            let d = (x % 10) as u8;
            x /= 10;
            d
        })
        .collect()
}

fn random_operand(len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut d: Vec<u8> = (0..len).map(|_| rng.below(10) as u8).collect();
    if len > 1 {
        d[len - 1] = 1 + rng.below(9) as u8;
    }
    d
}

/// `count` distinct problems of `len` digits not in `exclude` (fewer only when the space runs out).
pub fn problems(len: usize, count: usize, exclude: &HashSet<Problem>, rng: &mut Rng) -> Vec<Problem> {
    let operands = if len == 1 { 10 } else { 9 * 10u64.pow(len as u32 - 1) };
    let low = if len == 1 { 0 } else { 10u64.pow(len as u32 - 1) };
    let decode = |i: u64| Problem { a: digits_of(low + i / operands, len), b: digits_of(low + i % operands, len) };
    sample_distinct(space(len), count, exclude, rng, decode, |rng| Problem {
        a: random_operand(len, rng),
        b: random_operand(len, rng),
    })
}

/// Held-out problems per length `1..=task.test_size` (index `len - 1`), the same for every model of a seed.
pub fn test_problems(task: &TaskConfig, seed: u64) -> Vec<Vec<Problem>> {
    let mut rng = Rng::fork(seed, "addition-test");
    (1..=test_len(task))
        .map(|len| {
            let half = space(len).map_or(usize::MAX, |s| (s / 2) as usize);
            problems(len, task.test_examples.min(half), &HashSet::new(), &mut rng)
        })
        .collect()
}

/// The name of the held-out split of `len`-digit problems.
pub fn split_name(len: usize) -> &'static str {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| (0..=MAX_DIGITS).map(|l| format!("len{l}")).collect())[len].as_str()
}

pub fn validate(t: &TaskConfig) -> Result<(), LabError> {
    if !(1..=MAX_DIGITS).contains(&t.size) {
        return Err(LabError::invalid(
            "task.size",
            t.size,
            format!("the longest training operand, from 1 to {MAX_DIGITS} digits"),
        ));
    }
    if t.test_size != 0 && !(t.size..=MAX_DIGITS).contains(&t.test_size) {
        return Err(LabError::invalid(
            "task.test_size",
            t.test_size,
            format!(
                "0 (same as task.size) or the longest test operand, from task.size ({}) to {MAX_DIGITS} digits",
                t.size
            ),
        ));
    }
    if !(1..=MAX_EXAMPLES).contains(&t.examples) {
        return Err(LabError::invalid(
            "task.examples",
            t.examples,
            format!("a number of training problems from 1 to {MAX_EXAMPLES}"),
        ));
    }
    if !(1..=MAX_TEST_EXAMPLES).contains(&t.test_examples) {
        return Err(LabError::invalid(
            "task.test_examples",
            t.test_examples,
            format!("a number of test problems per length from 1 to {MAX_TEST_EXAMPLES}"),
        ));
    }
    Ok(())
}

/// An empty split of this task's geometry.
pub fn empty_split(name: &'static str, task: &TaskConfig) -> Split {
    Split::grid(name, [ROWS, width(task)])
}

pub fn build(task: &TaskConfig, seed: u64) -> Dataset {
    let (w, order) = (width(task), task.order);
    let test = test_problems(task, seed);
    let mut rng = Rng::fork(seed, "addition-train");
    let mut chosen = Vec::new();
    for len in 1..=task.size {
        // An even share per length, the remainder to the longest lengths.
        let count = task.examples / task.size + usize::from(task.size - len < task.examples % task.size);
        let exclude: HashSet<Problem> = test[len - 1].iter().cloned().collect();
        chosen.extend(problems(len, count, &exclude, &mut rng));
    }
    // Mixed lengths, so the training examples records score (the first ones) cover every length.
    rng.shuffle(&mut chosen);
    let mut train = empty_split("train", task);
    for p in &chosen {
        let (tokens, targets) = encode(p, &true_answer(p), w, order);
        train.push(&tokens, &targets);
    }
    let mut splits = vec![train];
    for len in (1..=test_len(task)).rev() {
        let mut s = empty_split(split_name(len), task);
        for p in &test[len - 1] {
            let (tokens, targets) = encode(p, &true_answer(p), w, order);
            s.push(&tokens, &targets);
        }
        splits.push(s);
    }
    Dataset { vocab: VOCAB, splits }
}
