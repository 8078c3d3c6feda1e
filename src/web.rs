//! PROVISIONAL: replaced by the real Lab binding.
//!
//! The wasm-bindgen face of the lab, as the page (www/worker.js) calls it:
//!
//! ```js
//! import init, { WebLab, presets } from './pkg/looplab.js';
//! presets()                                   // [{name, description}]
//! const lab = await WebLab.create('grokking', ['task.p=23'], 'gpu');  // rejects naming a bad key/value or a missing adapter
//! lab.device(); lab.isFallback(); lab.config();
//! const records = await lab.train(100);        // [{step, loss, train_acc, test_acc, grad_norm, elapsed_s}], new since last call
//! lab.step(); lab.totalSteps();
//! ```
//!
//! This provisional version opens the real backend (so the device name and the no-adapter error are real) but
//! simulates training with a decaying loss and rising accuracies, so the page and its tests can be built first.

// PROVISIONAL: replaced by the real Lab binding

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend::{Backend, BackendKind};
use crate::error::LabError;

#[derive(Serialize)]
struct PresetInfo {
    name: &'static str,
    description: &'static str,
}

const PRESETS: [PresetInfo; 1] = [PresetInfo {
    name: "grokking",
    description: "Modular addition a+b mod p with a looped transformer; test accuracy jumps long after train accuracy (Power et al. 2022).",
}];

/// The presets the page can start from.
#[wasm_bindgen]
pub fn presets() -> Result<JsValue, JsError> {
    to_js(&PRESETS)
}

#[derive(Clone, Serialize)]
struct TaskConfig {
    name: String,
    p: u32,
    train_fraction: f64,
}

#[derive(Clone, Serialize)]
struct ModelConfig {
    d_model: u32,
    heads: u32,
    loops: u32,
}

#[derive(Clone, Serialize)]
struct TrainConfig {
    lr: f64,
    weight_decay: f64,
    batch_size: u32,
    steps: u64,
    eval_every: u64,
}

#[derive(Clone, Serialize)]
struct Config {
    preset: String,
    seed: u64,
    task: TaskConfig,
    model: ModelConfig,
    train: TrainConfig,
}

const KNOWN_KEYS: &str = "seed, task.p, task.train_fraction, model.d_model, model.heads, model.loops, train.lr, train.weight_decay, train.batch_size, train.steps, train.eval_every";

fn is_prime(n: u32) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

fn parse<T: std::str::FromStr>(key: &str, value: &str, allowed: &str) -> Result<T, LabError> {
    value.trim().parse().map_err(|_| LabError::invalid(key, value, allowed))
}

fn in_range<T: PartialOrd + Copy>(key: &str, v: T, lo: T, hi: T, value: &str, allowed: &str) -> Result<T, LabError> {
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(LabError::invalid(key, value, allowed))
    }
}

impl Config {
    fn preset(name: &str) -> Result<Config, LabError> {
        if name != "grokking" {
            return Err(LabError::UnknownPreset { name: name.into(), known: "grokking".into() });
        }
        Ok(Config {
            preset: name.into(),
            seed: 0,
            task: TaskConfig { name: "modular_addition".into(), p: 97, train_fraction: 0.3 },
            model: ModelConfig { d_model: 128, heads: 4, loops: 2 },
            train: TrainConfig { lr: 1e-3, weight_decay: 1.0, batch_size: 512, steps: 20_000, eval_every: 100 },
        })
    }

    fn set(&mut self, assignment: &str) -> Result<(), LabError> {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| LabError::Usage(format!("override {assignment:?} is not of the form key=value")))?;
        let key = key.trim();
        match key {
            "seed" => self.seed = parse(key, value, "a non-negative integer")?,
            "task.p" => {
                let allowed = "a prime between 3 and 257";
                let p: u32 = parse(key, value, allowed)?;
                if !(3..=257).contains(&p) || !is_prime(p) {
                    return Err(LabError::invalid(key, value, allowed));
                }
                self.task.p = p;
            }
            "task.train_fraction" => {
                let allowed = "a number in [0.05, 0.95]";
                self.task.train_fraction = in_range(key, parse(key, value, allowed)?, 0.05, 0.95, value, allowed)?;
            }
            "model.d_model" => {
                let allowed = "an integer in [16, 512]";
                self.model.d_model = in_range(key, parse(key, value, allowed)?, 16, 512, value, allowed)?;
            }
            "model.heads" => {
                let allowed = "an integer in [1, 16]";
                self.model.heads = in_range(key, parse(key, value, allowed)?, 1, 16, value, allowed)?;
            }
            "model.loops" => {
                let allowed = "an integer in [1, 16]";
                self.model.loops = in_range(key, parse(key, value, allowed)?, 1, 16, value, allowed)?;
            }
            "train.lr" => {
                let allowed = "a number in (0, 10]";
                self.train.lr = in_range(key, parse(key, value, allowed)?, 1e-9, 10.0, value, allowed)?;
            }
            "train.weight_decay" => {
                let allowed = "a number in [0, 10]";
                self.train.weight_decay = in_range(key, parse(key, value, allowed)?, 0.0, 10.0, value, allowed)?;
            }
            "train.batch_size" => {
                let allowed = "an integer in [1, 4096]";
                self.train.batch_size = in_range(key, parse(key, value, allowed)?, 1, 4096, value, allowed)?;
            }
            "train.steps" => {
                let allowed = "an integer in [1, 10000000]";
                self.train.steps = in_range(key, parse(key, value, allowed)?, 1, 10_000_000, value, allowed)?;
            }
            "train.eval_every" => {
                let allowed = "an integer in [1, 100000]";
                self.train.eval_every = in_range(key, parse(key, value, allowed)?, 1, 100_000, value, allowed)?;
            }
            _ => return Err(LabError::UnknownKey { key: key.into(), known: KNOWN_KEYS.into() }),
        }
        Ok(())
    }
}

#[derive(Clone, Serialize)]
struct Record {
    step: u64,
    loss: f64,
    train_acc: f64,
    test_acc: f64,
    grad_norm: f64,
    elapsed_s: f64,
}

struct Session {
    config: Config,
    backend: Backend,
    step: u64,
    elapsed_s: f64,
    noise: u64,
}

impl Session {
    fn noise(&mut self) -> f64 {
        self.noise ^= self.noise << 13;
        self.noise ^= self.noise >> 7;
        self.noise ^= self.noise << 17;
        (self.noise >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// A made-up grokking curve: train accuracy rises early, test accuracy late (sooner with more weight decay).
    fn simulate(&mut self, steps: u64) -> Result<Vec<Record>, LabError> {
        let start = web_time::Instant::now();
        let mut records = Vec::new();
        let eval_every = self.config.train.eval_every;
        let grok_at = 3000.0 / (0.2 + self.config.train.weight_decay) / (self.config.task.train_fraction / 0.3);
        for _ in 0..steps {
            self.step += 1;
            if self.config.train.lr > 1.0 && self.step >= 50 {
                return Err(LabError::Diverged { step: self.step, what: "loss is NaN".into() });
            }
            if self.step % eval_every != 0 && self.step != 1 {
                continue;
            }
            let s = self.step as f64;
            let train_acc = 1.0 - (-s / 400.0).exp();
            let test_acc = 1.0 / (1.0 + (-(s - grok_at) / (0.15 * grok_at)).exp()) * 0.99 + 0.01;
            let loss = (self.config.task.p as f64).ln() * (-s / 600.0).exp() + 0.02 + 0.02 * self.noise();
            let grad_norm = 1.0 / (1.0 + s / 1000.0) + 0.05 * self.noise();
            records.push(Record { step: self.step, loss, train_acc, test_acc, grad_norm, elapsed_s: 0.0 });
        }
        self.elapsed_s += start.elapsed().as_secs_f64();
        for r in &mut records {
            r.elapsed_s = self.elapsed_s;
        }
        Ok(records)
    }
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

fn js_err(e: LabError) -> JsError {
    JsError::new(&e.to_string())
}

/// Resolves after `ms` milliseconds (setTimeout of the window or worker global), so simulated training takes time.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        if let Ok(set_timeout) = js_sys::Reflect::get(&global, &"setTimeout".into()) {
            let set_timeout: js_sys::Function = set_timeout.unchecked_into();
            let _ = set_timeout.call2(&global, &resolve, &ms.into());
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[wasm_bindgen]
pub struct WebLab {
    session: Rc<RefCell<Session>>,
}

#[wasm_bindgen]
impl WebLab {
    /// Builds a lab from a preset and `key=value` overrides on the `gpu` or `cpu` backend.
    pub async fn create(preset: String, overrides: Vec<String>, backend: String) -> Result<WebLab, JsError> {
        console_error_panic_hook::set_once();
        let mut config = Config::preset(&preset).map_err(js_err)?;
        for o in &overrides {
            config.set(o).map_err(js_err)?;
        }
        let kind: BackendKind = backend.parse().map_err(js_err)?;
        let backend = Backend::open(kind).await.map_err(js_err)?;
        let noise = config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let session = Session { config, backend, step: 0, elapsed_s: 0.0, noise };
        Ok(WebLab { session: Rc::new(RefCell::new(session)) })
    }

    /// The adapter (or CPU) this lab runs on.
    pub fn device(&self) -> String {
        self.session.borrow().backend.describe()
    }

    /// True on a software or fallback adapter (SwiftShader, lavapipe, the cpu backend).
    #[wasm_bindgen(js_name = isFallback)]
    pub fn is_fallback(&self) -> bool {
        match &self.session.borrow().backend {
            Backend::Gpu(g) => g.is_software(),
            Backend::Cpu(_) => true,
        }
    }

    /// The resolved config as nested JSON.
    pub fn config(&self) -> Result<JsValue, JsError> {
        to_js(&self.session.borrow().config)
    }

    /// Trains `steps` more steps; resolves to the records produced since the last call.
    pub fn train(&self, steps: u32) -> js_sys::Promise {
        let session = self.session.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            sleep(5 + steps as i32 / 20).await;
            let records = session.borrow_mut().simulate(steps as u64).map_err(|e| JsValue::from(js_err(e)))?;
            to_js(&records).map_err(JsValue::from)
        })
    }

    pub fn step(&self) -> f64 {
        self.session.borrow().step as f64
    }

    #[wasm_bindgen(js_name = totalSteps)]
    pub fn total_steps(&self) -> f64 {
        self.session.borrow().config.train.steps as f64
    }
}
