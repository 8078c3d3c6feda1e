//! GPU work within a time budget: a run whose measured cost exceeds the budget is split into several submits, at
//! program boundaries (iterations) where it can and inside a program only when one program alone exceeds it, so no
//! submit runs long enough to trip an operating system's GPU watchdog (2 s on Windows) or make the browser drop the
//! device. Nothing is read back between the submits: the queue keeps their order, so the results are the same bits.
//! Costs are measured after the fact, from `on_submitted_work_done`, never by waiting.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use web_time::Instant;

/// Seconds over which old measurements fade (a first step's shader compilation should not count for long).
const MEMORY_S: f64 = 2.0;

#[derive(Default)]
struct Completed {
    /// Seconds of GPU work and dispatches of the completed submits, each faded by exp(-age / MEMORY_S).
    seconds: f64,
    dispatches: f64,
    last_done: Option<Instant>,
}

pub struct SubmitBudget {
    pub seconds: f64,
    completed: Arc<Mutex<Completed>>,
}

impl SubmitBudget {
    pub fn new(seconds: f64) -> SubmitBudget {
        SubmitBudget { seconds, completed: Arc::default() }
    }

    /// Seconds of GPU time per dispatch over the recently completed submits; None before any has completed.
    ///
    /// A submit's time runs from when it was made, or from when the one before it completed if that was later
    /// (the queue was busy until then), to its completion as observed. Completions are observed late (natively at
    /// the next poll, on the web when the worker next yields, so several at once), which only overestimates: more
    /// splitting, never less. Fading by time, not by count, keeps a burst of completions observed together whole.
    pub fn per_dispatch(&self) -> Option<f64> {
        let c = self.completed.lock().unwrap_or_else(|e| e.into_inner());
        (c.dispatches > 0.0).then(|| c.seconds / c.dispatches)
    }

    /// The submits of a run of programs with `sizes` dispatches each: one while the estimated cost fits the
    /// budget; before anything was measured, none longer than the longest program.
    pub fn split(&self, sizes: &[usize]) -> Vec<Range<usize>> {
        match self.per_dispatch() {
            None => submits(sizes, sizes.iter().copied().max().unwrap_or(1)),
            Some(cost) => submits(sizes, (self.seconds / cost.max(1e-12)).clamp(1.0, usize::MAX as f64) as usize),
        }
    }

    /// Times a submit of `dispatches` dispatches made just now.
    pub fn track(&self, queue: &wgpu::Queue, dispatches: usize) {
        let (made, completed) = (Instant::now(), self.completed.clone());
        queue.on_submitted_work_done(move || {
            let now = Instant::now();
            let mut c = completed.lock().unwrap_or_else(|e| e.into_inner());
            let start = c.last_done.map_or(made, |done| done.max(made));
            let fade =
                c.last_done.map_or(1.0, |done| (-now.saturating_duration_since(done).as_secs_f64() / MEMORY_S).exp());
            c.seconds = c.seconds * fade + now.saturating_duration_since(start).as_secs_f64();
            c.dispatches = c.dispatches * fade + dispatches as f64;
            c.last_done = Some(now);
        });
    }
}

/// Cuts consecutive programs of `sizes` dispatches into submits (ranges of the flattened dispatches) of at most
/// `limit` dispatches: whole programs where they fit, a program longer than `limit` cut inside. Always at least one
/// submit.
pub fn submits(sizes: &[usize], limit: usize) -> Vec<Range<usize>> {
    let limit = limit.max(1);
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut current = 0..0;
    for &size in sizes {
        if current.len() + size <= limit {
            current.end += size;
            continue;
        }
        if !current.is_empty() {
            out.push(current.clone());
        }
        current = current.end..current.end + size;
        while current.len() > limit {
            out.push(current.start..current.start + limit);
            current.start += limit;
        }
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}
