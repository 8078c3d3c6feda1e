//! The evidence side by side: one line per question, each stating the numbers it rests on and answering only
//! what they support. The gain on held-out splits (OOD, longer inputs) is read from the histories of the model
//! and of its feedforward twin.

use serde::{Deserialize, Serialize};

use super::cka::Pattern;
use super::phases::Phase;
use super::ProbeReport;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictLine {
    pub question: String,
    /// A short answer: `yes`, `no`, `not measured`, `not applicable`, a pattern name, an iteration.
    pub answer: String,
    /// The numbers behind it.
    pub evidence: String,
}

fn line(question: &str, answer: impl Into<String>, evidence: impl Into<String>) -> VerdictLine {
    VerdictLine { question: question.to_string(), answer: answer.into(), evidence: evidence.into() }
}

fn yes_no(yes: bool) -> &'static str {
    if yes {
        "yes"
    } else {
        "no"
    }
}

/// The questions about how the model computes: meaningless for a model that has learned nothing yet (an
/// untrained loop also reaches a fixed point, and its attention settles).
const MECHANISMS: [&str; 4] = [
    "fixed point reached?",
    "attention stabilized?",
    "stage mirroring (CKA with the feedforward twin)?",
    "path independent?",
];

pub const UNTRAINED: &str = "too untrained to judge";

pub fn verdict(r: &ProbeReport) -> Vec<VerdictLine> {
    let mut out = lines(r);
    let best = r.lens.iter().map(|s| s.token_accuracy).reduce(f64::max);
    let margin = r.thresholds.above_chance;
    if let Some(best) = best.filter(|&b| b < r.chance + margin) {
        let why = format!(
            "the best token accuracy of the logit lens, {best:.3}, is less than {margin} above chance ({:.3}, always giving the most common answer)",
            r.chance
        );
        for v in out.iter_mut().filter(|v| MECHANISMS.contains(&v.question.as_str()) && !v.answer.starts_with("not ")) {
            v.answer = UNTRAINED.to_string();
            v.evidence = format!("{why}; {}", v.evidence);
        }
    }
    out
}

fn lines(r: &ProbeReport) -> Vec<VerdictLine> {
    let t = &r.thresholds;
    let recurrent = r.step_unit == "iteration";
    let mut out = Vec::new();
    let last = r.iterations;

    // Fixed points.
    let q = "fixed point reached?";
    let answer = &r.convergence.series.get(r.convergence.answer_series);
    match (recurrent, answer.and_then(|s| s.changes.last())) {
        (false, c) => out.push(line(
            q,
            "not applicable",
            match c {
                Some(c) => format!("a feedforward model does not iterate (relative change from its second-last to its last layer: {:.3e})", c.relative_change),
                None => "a feedforward model does not iterate".to_string(),
            },
        )),
        (true, None) => out.push(line(q, "not measured", "needs at least 2 iterations (--iters)")),
        (true, Some(c)) => {
            let worst = r.convergence.series.iter().filter_map(|s| s.changes.last()).map(|c| c.relative_change).fold(0.0, f64::max);
            out.push(line(
                q,
                yes_no(worst < t.fixed_point),
                format!(
                    "relative change from iteration {} to {last}: answer state {:.3e} (cosine {:.6}), largest over the block's layers and calls {worst:.3e}; threshold {}",
                    last - 1,
                    c.relative_change,
                    c.cosine,
                    t.fixed_point
                ),
            ));
        }
    }

    // Attention.
    let q = "attention stabilized?";
    let finals: Vec<f64> = r.attention.series.iter().filter_map(|s| s.js.last()).flatten().copied().collect();
    if !recurrent {
        out.push(line(q, "not applicable", "a feedforward model does not iterate"));
    } else if finals.is_empty() {
        out.push(line(q, "not measured", "needs at least 2 iterations (--iters)"));
    } else {
        let worst = finals.iter().copied().fold(0.0, f64::max);
        let mean = finals.iter().sum::<f64>() / finals.len() as f64;
        out.push(line(
            q,
            yes_no(worst < t.attention_js),
            format!("JS divergence between iterations {} and {last}: largest over heads and layers {worst:.3e} nats, mean {mean:.3e}; threshold {}", last - 1, t.attention_js),
        ));
    }

    // Stage mirroring.
    let q = "stage mirroring (CKA with the feedforward twin)?";
    match &r.cka {
        None => out.push(line(
            q,
            "not measured",
            "needs a feedforward twin trained on the same task (`looplab probe --twin FILE`)",
        )),
        Some(c) => {
            let diag: Vec<String> =
                c.best.iter().zip(&c.values).map(|(&b, row)| format!("{b} ({:.2})", row[b])).collect();
            let what = match c.pattern {
                Pattern::Diagonal => "diagonal: the best-matching twin layer advances with the loop (new computation per step)",
                Pattern::Periodic => "periodic: every iteration repeats the same sequence of best-matching twin layers (the same stage re-applied)",
                Pattern::Constant => "constant: one twin layer matches every loop state best",
                Pattern::Mixed => "mixed: the best-matching twin layer neither advances steadily nor repeats per iteration",
            };
            let name =
                serde_json::to_value(c.pattern).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            let all = c.values.iter().flatten();
            let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            out.push(line(q, name, format!("{what}; best twin layer (CKA) per loop state in order: {}; every entry of the matrix lies in [{lo:.2}, {hi:.2}]", diag.join(", "))));
        }
    }

    // Logit lens.
    let q = "logit lens: first iteration at the best token accuracy?";
    if let Some(best) = r.lens.iter().map(|s| s.token_accuracy).reduce(f64::max) {
        let first = r.lens.iter().find(|s| s.token_accuracy >= best).map_or(0, |s| s.iteration);
        let accs: Vec<String> = r.lens.iter().map(|s| format!("{:.3}", s.token_accuracy)).collect();
        let accs = format!("token accuracy of the output head per iteration: {}", accs.join(", "));
        if best > 0.0 {
            out.push(line(q, format!("iteration {first} ({best:.3})"), accs));
        } else {
            out.push(line(q, "never right", format!("{accs}: no target is ever the top token")));
        }
    }
    for b in &r.bridges {
        let q = format!("bridge b{} the top token at the answer position?", b.bridge);
        let (peak_t, peak) =
            b.top_share.iter().enumerate().fold((0, 0.0), |(bt, bv), (t, &v)| if v > bv { (t, v) } else { (bt, bv) });
        let ranks: Vec<String> = b.mean_rank.iter().map(|x| format!("{x:.1}")).collect();
        let ranks = format!("mean rank per iteration {}", ranks.join(", "));
        if peak > 0.0 {
            out.push(line(
                &q,
                format!("most often at iteration {} ({:.1}%)", peak_t + 1, 100.0 * peak),
                format!(
                    "top for {:.1}% of {} examples at iteration {}; top at some iteration for {} of them, for the first time at iterations 1.. {:?} (counts); {ranks}",
                    100.0 * peak,
                    b.examples,
                    peak_t + 1,
                    b.examples - b.never_top,
                    b.first_top
                ),
            ));
        } else {
            out.push(line(
                &q,
                "never",
                format!(
                    "never the top token for any of {} examples at any of {} iterations; {ranks}",
                    b.examples,
                    b.top_share.len()
                ),
            ));
        }
    }

    // Path independence.
    let q = "path independent?";
    match &r.path {
        None => out.push(line(q, "not applicable", "a feedforward model starts from its input")),
        Some(p) => out.push(line(
            q,
            yes_no(p.mean_cosine >= t.path_cosine),
            format!(
                "cosine between final answer states after {} iterations from the true start and from start + N(0, {:.3}²): mean {:.4}, min {:.4}, mean relative distance {:.3e}; threshold {}",
                p.iterations, p.noise_std, p.mean_cosine, p.min_cosine, p.mean_relative_distance, t.path_cosine
            ),
        )),
    }

    // Phases.
    let q = "phases (first step at the threshold)?";
    match &r.phases {
        None => out.push(line(q, "not measured", "no history.json next to the checkpoint")),
        Some(p) => {
            let steps: Vec<String> = p
                .splits
                .iter()
                .map(|s| format!("{} {}", s.split, s.accuracy_step.map_or("never".to_string(), |x| x.to_string())))
                .collect();
            let finals: Vec<String> = p
                .splits
                .iter()
                .map(|s| format!("{} {:.3} (best {:.3})", s.split, s.final_accuracy, s.best_accuracy))
                .collect();
            out.push(line(
                q,
                steps.join(", "),
                format!(
                    "first recorded step with token accuracy >= {} in {} records up to step {}; last accuracies: {}",
                    p.threshold,
                    p.records,
                    p.last_step,
                    finals.join(", ")
                ),
            ));
        }
    }

    // Held-out gain over the twin.
    let q = "held-out gain over the feedforward twin?";
    let gain = t.gain;
    match (&r.phases, &r.twin_phases) {
        (Some(p), Some(tp)) => {
            let pairs: Vec<(&Phase, &Phase)> = p
                .splits
                .iter()
                .filter(|s| s.split != "train")
                .filter_map(|s| tp.splits.iter().find(|t| t.split == s.split).map(|t| (s, t)))
                .collect();
            let step = |x: Option<u64>| x.map_or("never".to_string(), |v| format!("step {v}"));
            let gains: Vec<String> = pairs
                .iter()
                .filter_map(|(s, twin)| {
                    let ahead = s.final_accuracy - twin.final_accuracy;
                    (ahead >= gain).then(|| format!("{} {ahead:+.3}", s.split))
                })
                .collect();
            let each: Vec<String> = pairs
                .iter()
                .map(|(s, twin)| {
                    format!(
                        "{}: {:.3} (best {:.3}, phase {}) vs twin {:.3} (best {:.3}, phase {})",
                        s.split,
                        s.final_accuracy,
                        s.best_accuracy,
                        step(s.accuracy_step),
                        twin.final_accuracy,
                        twin.best_accuracy,
                        step(twin.accuracy_step)
                    )
                })
                .collect();
            let answer = match (pairs.is_empty(), gains.is_empty()) {
                (true, _) => "not measured".to_string(),
                (false, true) => "no".to_string(),
                (false, false) => format!("yes: {}", gains.join(", ")),
            };
            let evidence = if pairs.is_empty() {
                "the histories share no held-out split".to_string()
            } else {
                format!(
                    "last token accuracy of each held-out split, this model vs the twin: {}; last records at step {} (this model) and {} (twin); a gain is at least {} above the twin",
                    each.join("; "),
                    p.last_step,
                    tp.last_step,
                    gain
                )
            };
            out.push(line(q, answer, evidence));
        }
        _ => out.push(line(
            q,
            "not measured",
            "needs a feedforward twin and both histories (`looplab probe --twin FILE` with history.json beside each)",
        )),
    }
    out
}
