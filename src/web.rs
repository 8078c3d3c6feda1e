//! The page's face of [`Lab`] (wasm32 only): the Web Worker creates a `WebLab` from a preset and
//! `key=value` overrides, then calls `train` in a loop and posts the records to the page.

// Each call borrows the lab for its whole run, awaits included, on purpose: a second call while one runs gets
// `busy` from `try_borrow_mut` instead of interleaving with it (JS runs one call at a time per worker).
#![allow(clippy::await_holding_refcell_ref)]

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend::BackendKind;
use crate::config::{LabConfig, TaskKind, PRESETS};
use crate::depths::sweep_depths;
use crate::error::LabError;
use crate::lab::Lab;
use crate::program::MemoryBreakdown;
use crate::train::{checkpoint, Record, TrainingPlan};

/// A JS Error with the message and, as its `name`, the error's kind (`LabError::kind`): the page matches on
/// the name, never on the text. A setting's error also names its `key` (the form marks that field).
fn js_error(e: LabError) -> JsValue {
    let error = named_error(&e.to_string(), e.kind());
    if let LabError::Invalid { key, .. } | LabError::UnknownKey { key, .. } = &e {
        let _ = js_sys::Reflect::set(&error, &"key".into(), &key.as_str().into());
    }
    error
}

fn named_error(message: &str, name: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name(name);
    error.into()
}

fn busy<T>(_: T) -> JsValue {
    named_error("the lab is busy with another call", "Busy")
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_sys::Error::new(&e.to_string()).into())
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

#[derive(Serialize)]
struct PresetInfo {
    name: &'static str,
    description: &'static str,
}

/// `[{name, description}]` for every preset.
#[wasm_bindgen]
pub fn presets() -> Result<JsValue, JsValue> {
    to_js(&PRESETS.iter().map(|p| PresetInfo { name: p.name, description: p.description }).collect::<Vec<_>>())
}

/// `[{key, label, help, choices}]`: the settings the page's form offers for a run of task `kind` (`task.kind`'s
/// value), from `config::settings`.
#[wasm_bindgen]
pub fn settings(kind: JsValue) -> Result<JsValue, JsValue> {
    let kind: TaskKind =
        serde_wasm_bindgen::from_value(kind).map_err(|e| js_sys::Error::new(&format!("not a task kind ({e})")))?;
    to_js(&crate::config::settings(kind))
}

#[derive(Serialize)]
struct ClosestPreset {
    preset: &'static str,
    overrides: Vec<String>,
}

/// `{preset, overrides}`: the preset a whole config (a loaded checkpoint's) differs from in the fewest keys, and
/// those keys as `key=value` (`LabConfig::closest_preset`): the page's form shows a config this way.
#[wasm_bindgen(js_name = closestPreset)]
pub fn closest_preset(config: JsValue) -> Result<JsValue, JsValue> {
    let config: LabConfig =
        serde_wasm_bindgen::from_value(config).map_err(|e| js_sys::Error::new(&format!("not a config ({e})")))?;
    let (preset, overrides) = config.closest_preset();
    to_js(&ClosestPreset { preset, overrides })
}

/// The matmul variants this page's GPU adapter chose, as JSON (`backend::gpu::tuning_json`), for the page to
/// keep (e.g. in IndexedDB) and hand back with `setMatmulTuning` next time, skipping the startup trial.
#[wasm_bindgen(js_name = matmulTuning)]
pub fn matmul_tuning() -> String {
    crate::backend::gpu::tuning_json()
}

/// Hands in a table `matmulTuning` returned earlier; a damaged one is refused with a message.
#[wasm_bindgen(js_name = setMatmulTuning)]
pub fn set_matmul_tuning(json: String) -> Result<(), JsValue> {
    crate::backend::gpu::set_tuning_json(&json).map_err(js_error)
}

/// The validated config of `preset` with `key=value` overrides, or an error naming the first bad setting:
/// the page fills its form from it and checks settings as they are typed, without building a lab.
#[wasm_bindgen(js_name = presetConfig)]
pub fn preset_config(preset: String, overrides: Vec<String>) -> Result<JsValue, JsValue> {
    to_js(&LabConfig::from_preset(&preset, &overrides).map_err(js_error)?)
}

#[derive(Serialize)]
struct MemoryLine<'a> {
    #[serde(flatten)]
    breakdown: &'a MemoryBreakdown,
    /// "needs 41.2 MiB: parameters 2.0 MiB, ..."
    text: String,
}

fn memory_line(m: &MemoryBreakdown) -> Result<JsValue, JsValue> {
    to_js(&MemoryLine { breakdown: m, text: m.to_string() })
}

/// The memory a page lab of these settings will allocate, per use, planned without allocating anything:
/// `{total_bytes, parts: [[use, bytes]], text}`; rejects with the first bad setting. (The worker calls it: the
/// plan builds the task's data, which takes seconds for large Sudoku sets.)
#[wasm_bindgen(js_name = planMemory)]
pub fn plan_memory(preset: String, overrides: Vec<String>) -> Result<JsValue, JsValue> {
    let config = LabConfig::from_preset(&preset, &overrides).map_err(js_error)?;
    let extra = sweep_depths(&config);
    memory_line(&TrainingPlan::new(config, &extra).map_err(js_error)?.memory())
}

/// `probes::phases` of a history (an array of records): per split, the first step its accuracy reaches
/// `threshold`. The page shades the memorization / ID / OOD phases from it.
#[wasm_bindgen]
pub fn phases(history: JsValue, threshold: f64) -> Result<JsValue, JsValue> {
    let history: Vec<Record> = serde_wasm_bindgen::from_value(history)
        .map_err(|e| js_sys::Error::new(&format!("the history is not valid ({e})")))?;
    to_js(&crate::probes::phases::phases(&history, threshold))
}

/// The records of a history file the page overlays or a trained model ships (`train::read_history_file`: JSON,
/// or CSV when `name` ends in `.csv`), read exactly as `looplab plot` reads it, and checked against the manifest's
/// `sha256` when one is given; a bad file is refused with the core's message naming it.
#[wasm_bindgen(js_name = readHistory)]
pub fn read_history(text: String, name: String, sha256: Option<String>) -> Result<JsValue, JsValue> {
    if let Some(what) = sha256.and_then(|want| crate::export::sha256_mismatch(text.as_bytes(), &want)) {
        return Err(js_error(LabError::Input(format!("{name}: {what}"))));
    }
    to_js(&crate::train::read_history_file(&text, &name).map_err(js_error)?)
}

/// A training session. Calls must not overlap (the worker awaits each one); an overlapping call is refused.
#[wasm_bindgen]
pub struct WebLab {
    lab: Rc<RefCell<Lab>>,
}

#[wasm_bindgen]
impl WebLab {
    /// Builds a session from a preset, `key=value` overrides and a backend ("gpu" or "cpu").
    pub async fn create(preset: String, overrides: Vec<String>, backend: String) -> Result<WebLab, JsValue> {
        let config = LabConfig::from_preset(&preset, &overrides).map_err(js_error)?;
        let kind: BackendKind = backend.parse().map_err(js_error)?;
        let extra = sweep_depths(&config);
        let lab = Lab::with_eval_depths(config, kind, &extra).await.map_err(js_error)?;
        Ok(WebLab { lab: Rc::new(RefCell::new(lab)) })
    }

    /// Continues a run from checkpoint bytes (saved by the page or by `looplab train`; `source` names the file in
    /// errors) with its history so far (an array of records, or null).
    pub async fn resume(bytes: Vec<u8>, source: String, backend: String, history: JsValue) -> Result<WebLab, JsValue> {
        let kind: BackendKind = backend.parse().map_err(js_error)?;
        let history: Vec<Record> = if history.is_null() || history.is_undefined() {
            Vec::new()
        } else {
            serde_wasm_bindgen::from_value(history).map_err(|e| {
                js_error(LabError::Checkpoint {
                    path: source.clone(),
                    what: format!("the saved history is not valid ({e})"),
                })
            })?
        };
        let config = checkpoint::read_config(&bytes, &source).map_err(js_error)?;
        let lab = Lab::resume(&bytes, &source, kind, history, &sweep_depths(&config)).await.map_err(js_error)?;
        Ok(WebLab { lab: Rc::new(RefCell::new(lab)) })
    }

    /// A trained model (a weights-only file of www/models, checked against the manifest's `sha256`) at its step,
    /// with a fresh optimizer state (`Lab::from_weights`).
    #[wasm_bindgen(js_name = fromWeights)]
    pub async fn from_weights(
        bytes: Vec<u8>,
        source: String,
        sha256: String,
        backend: String,
    ) -> Result<WebLab, JsValue> {
        let kind: BackendKind = backend.parse().map_err(js_error)?;
        // Before anything is read: a damaged file is named as not the manifest's, not by its first bad tensor.
        Lab::check_sha256(&bytes, &source, &sha256).map_err(js_error)?;
        let config = checkpoint::read_config(&bytes, &source).map_err(js_error)?;
        let lab = Lab::from_weights(&bytes, &source, None, kind, &sweep_depths(&config)).await.map_err(js_error)?;
        Ok(WebLab { lab: Rc::new(RefCell::new(lab)) })
    }

    /// A new lab of a preset and overrides from step 0 to train beside this one, a loaded trained model
    /// (`Lab::fresh`: refused unless only `train.*` settings differ from the trained model's).
    pub async fn fresh(&self, preset: String, overrides: Vec<String>) -> Result<WebLab, JsValue> {
        let config = LabConfig::from_preset(&preset, &overrides).map_err(js_error)?;
        let lab = self.lab.try_borrow().map_err(busy)?;
        let extra = sweep_depths(&config);
        let fresh = lab.fresh(config, &extra).await.map_err(js_error)?;
        Ok(WebLab { lab: Rc::new(RefCell::new(fresh)) })
    }

    /// Sets `train.steps`: a trained model trains on to this total (the schedule follows it).
    #[wasm_bindgen(js_name = setTotalSteps)]
    pub fn set_total_steps(&self, steps: f64) -> Result<(), JsValue> {
        let mut lab = self.lab.try_borrow_mut().map_err(busy)?;
        lab.set_total_steps(steps.max(1.0) as u64);
        Ok(())
    }

    /// Resolves to the run as safetensors bytes (a Uint8Array), the same file `looplab train` writes.
    pub fn checkpoint(&self) -> js_sys::Promise {
        let lab = self.lab.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut lab = lab.try_borrow_mut().map_err(busy)?;
            let bytes = lab.checkpoint().await.map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// The run's records so far.
    pub fn history(&self) -> Result<JsValue, JsValue> {
        to_js(&self.lab.borrow().history())
    }

    /// The history as the CLI's history.csv.
    #[wasm_bindgen(js_name = historyCsv)]
    pub fn history_csv(&self) -> String {
        self.lab.borrow().history_csv()
    }

    /// The history as the CLI's history.json.
    #[wasm_bindgen(js_name = historyJson)]
    pub fn history_json(&self) -> String {
        self.lab.borrow().history_json()
    }

    pub fn device(&self) -> String {
        self.lab.borrow().device()
    }

    /// Keeps every GPU submit under `ms` milliseconds of measured work (250 by default in the page; 0 turns the
    /// budget off: one submit per step whatever its length).
    #[wasm_bindgen(js_name = setSubmitBudget)]
    pub fn set_submit_budget(&self, ms: f64) {
        self.lab.borrow_mut().set_submit_budget(Some(ms).filter(|ms| ms.is_finite() && *ms > 0.0));
    }

    /// The lab's allocated memory per use, as `planMemory` gives it (refused, not a panic, while a call runs).
    pub fn memory(&self) -> Result<JsValue, JsValue> {
        memory_line(self.lab.try_borrow().map_err(busy)?.memory())
    }

    /// True for a software adapter (SwiftShader, lavapipe) or the cpu backend: correct but slow.
    #[wasm_bindgen(js_name = isFallback)]
    pub fn is_fallback(&self) -> bool {
        self.lab.borrow().is_fallback()
    }

    pub fn config(&self) -> Result<JsValue, JsValue> {
        to_js(self.lab.borrow().config())
    }

    /// Runs up to `steps` steps; resolves to the history records made meanwhile.
    pub fn train(&self, steps: f64) -> js_sys::Promise {
        let lab = self.lab.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut lab = lab.try_borrow_mut().map_err(busy)?;
            let records = lab.train(steps.max(0.0) as u64).await.map_err(js_error)?;
            to_js(&records)
        })
    }

    /// Runs the current model on one Sudoku, maze or automaton program: `text` in the task's text format, or
    /// null to draw one from the test split (the automaton's held-out rules). Resolves to `{kind, grid, tokens,
    /// text, note, expected, iterations: [{predictions, confidence, marked, valid}], exit_iteration, valid,
    /// verdict}`; a bad (or empty) input rejects with the parser's message.
    pub fn solve(&self, text: Option<String>) -> js_sys::Promise {
        let lab = self.lab.clone();
        let pick = js_sys::Math::random();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut lab = lab.try_borrow_mut().map_err(busy)?;
            to_js(&lab.solve(text.as_deref(), pick).await.map_err(js_error)?)
        })
    }

    /// Accuracy of every split after each test-time iteration, 1 to twice the training depth (the trainer's
    /// evaluation programs), and, with `exit_examples` > 0, the histogram of iterations the first
    /// `exit_examples` examples of the test split use under the adaptive KL exit (`looplab eval --exit-kl`).
    pub fn depths(&self, exit_examples: f64) -> js_sys::Promise {
        let lab = self.lab.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut lab = lab.try_borrow_mut().map_err(busy)?;
            let examples = if exit_examples.is_finite() && exit_examples >= 1.0 { exit_examples as usize } else { 0 };
            to_js(&lab.depths(examples).await.map_err(js_error)?)
        })
    }

    pub fn step(&self) -> f64 {
        self.lab.borrow().step() as f64
    }

    #[wasm_bindgen(js_name = totalSteps)]
    pub fn total_steps(&self) -> f64 {
        self.lab.borrow().config().train.steps as f64
    }

    /// Runs every probe of `looplab probe` on the current model and the first test split: `examples` (0: 16)
    /// examples at `iterations` (0: the training depth), with the run's history for the phases. Resolves to
    /// `{step, twin_step, report}` with the `ProbeReport` as `looplab probe --json` prints it; a model the
    /// probes refuse (an MLP mixer) rejects with the reason.
    pub fn probe(&self, examples: f64, iterations: f64) -> js_sys::Promise {
        self.probe_against(examples, iterations, None)
    }

    /// Rolls the current bandit model out on `tasks` (0: 100; at most 10000) unseen tasks with its weights fixed, next to the
    /// teacher, random and greedy policies (`looplab bandit`). Resolves to `{step, report}` with the report as
    /// `looplab bandit --json` prints it; a model of another task rejects with the reason.
    pub fn bandit(&self, tasks: f64) -> js_sys::Promise {
        let lab = self.lab.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut lab = lab.try_borrow_mut().map_err(busy)?;
            let tasks = if tasks.is_finite() && tasks >= 1.0 { tasks as usize } else { 0 };
            to_js(&lab.bandit(tasks).await.map_err(js_error)?)
        })
    }

    /// The computation-graph audit of the current multiplication model on its test split (`looplab audit`).
    /// Resolves to `{step, audit}` with the audit as `looplab audit --json` prints it.
    pub fn audit(&self) -> js_sys::Promise {
        let lab = self.lab.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut lab = lab.try_borrow_mut().map_err(busy)?;
            to_js(&lab.audit().await.map_err(js_error)?)
        })
    }

    /// `probe` with a feedforward `twin` lab trained on the same task: its current weights give the CKA matrix.
    #[wasm_bindgen(js_name = probeWithTwin)]
    pub fn probe_with_twin(&self, examples: f64, iterations: f64, twin: &WebLab) -> js_sys::Promise {
        self.probe_against(examples, iterations, Some(twin.lab.clone()))
    }
}

impl WebLab {
    fn probe_against(&self, examples: f64, iterations: f64, twin: Option<Rc<RefCell<Lab>>>) -> js_sys::Promise {
        let lab = self.lab.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            if twin.as_ref().is_some_and(|t| Rc::ptr_eq(t, &lab)) {
                return Err(js_error(LabError::Usage("the twin must be another lab (a feedforward model)".into())));
            }
            let mut lab = lab.try_borrow_mut().map_err(busy)?;
            let mut twin = match &twin {
                Some(t) => Some(t.try_borrow_mut().map_err(busy)?),
                None => None,
            };
            // 0 (or anything not a positive number) asks for the default.
            let count = |x: f64| if x.is_finite() && x >= 1.0 { x as usize } else { 0 };
            let probed = lab.probe(twin.as_deref_mut(), count(examples), count(iterations)).await.map_err(js_error)?;
            to_js(&probed)
        })
    }
}
