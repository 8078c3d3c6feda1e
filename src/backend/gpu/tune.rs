//! Autotuning of kernels with variants (`program::Tunable`: the matmul family). For each adapter and bucket a
//! short measured trial of every variant the adapter can run picks the fastest whose result matches the first
//! (reference) variant's. Choices live in one process-wide table keyed by adapter, so every backend on the
//! adapter shares them; natively the table is a small JSON file under the user's cache dir
//! (`LOOPLAB_CACHE_DIR` overrides it), in the page JS may hand one in (`set_tuning_json`, e.g. kept in
//! IndexedDB) and read it back (`tuning_json`). Without a table the trial runs again. Software adapters
//! (lavapipe, SwiftShader) skip the trial and take the reference variant, the fastest there
//! (docs/results/speed/kernels.md).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::GpuBackend;
use crate::error::LabError;
use crate::program::{BufId, Tensor, Tunable};

/// Adapter key -> bucket -> variant name.
pub type Tuning = BTreeMap<String, BTreeMap<String, String>>;

static TABLE: Mutex<Option<Tuning>> = Mutex::new(None);

/// Runs per timed trial (after one run that also yields the result).
const REPS: usize = 3;

/// Where the native cache lives, if anywhere.
#[cfg(not(target_arch = "wasm32"))]
fn cache_file() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("LOOPLAB_CACHE_DIR").map(std::path::PathBuf::from).or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
            .map(|d| d.join("looplab"))
    })?;
    Some(dir.join("matmul-tuning.json"))
}

fn with_table<R>(f: impl FnOnce(&mut Tuning) -> R) -> R {
    let mut guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let table = guard.get_or_insert_with(|| {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(text) = cache_file().and_then(|p| std::fs::read_to_string(p).ok()) {
            // A damaged cache is only a cache: start over.
            return serde_json::from_str(&text).unwrap_or_default();
        }
        Tuning::new()
    });
    f(table)
}

/// The whole table as JSON (what the page stores).
pub fn tuning_json() -> String {
    with_table(|t| serde_json::to_string(t).expect("the table serializes"))
}

/// Replaces the table with one handed in (the page's stored copy); bad JSON is refused with a message.
pub fn set_tuning_json(json: &str) -> Result<(), LabError> {
    let table: Tuning = serde_json::from_str(json)
        .map_err(|e| LabError::invalid("matmul tuning", e.to_string(), "the JSON of tuning_json()"))?;
    with_table(|t| *t = table);
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
fn save() {
    let Some(path) = cache_file() else { return };
    let text = tuning_json();
    // Written aside and renamed, so concurrent processes never read half a file. Failing to cache is harmless.
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(&path))
        .and_then(|_| std::fs::write(&tmp, text))
        .and_then(|_| std::fs::rename(&tmp, &path));
}

/// Deterministic trial inputs in [-1, 1).
fn trial_values(n: usize, seed: u32) -> Vec<f32> {
    let hash = |i: u32| i.wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 8;
    (0..n as u32).map(|i| hash(i) as f32 / (1 << 24) as f32 * 2.0 - 1.0).collect()
}

/// Results of two variants agree (f32 sums in different orders).
fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-3 * x.abs().max(1.0))
}

impl GpuBackend {
    fn adapter_key(&self) -> String {
        format!("{} | {} {} | {:?}", self.info.name, self.info.driver, self.info.driver_info, self.info.backend)
    }

    /// The indices of `kernel`'s variants this adapter can run (subgroup ones need wgpu's SUBGROUP).
    pub fn offered_variants(&self, kernel: &dyn Tunable) -> Vec<usize> {
        let subgroups = self.device.features().contains(wgpu::Features::SUBGROUP);
        let variants = kernel.variants();
        (0..variants.len()).filter(|&v| subgroups || !variants[v].1).collect()
    }

    /// The variant for `kernel`: the reference on software adapters, else the table's, else a fresh trial's.
    pub(super) async fn choose_variant(&mut self, kernel: &dyn Tunable) -> Result<usize, LabError> {
        if self.is_software() {
            return Ok(0);
        }
        let (adapter, bucket, names) = (self.adapter_key(), kernel.bucket(), kernel.variants());
        let known = with_table(|t| t.get(&adapter).and_then(|b| b.get(&bucket)).cloned());
        if let Some(v) = known.and_then(|name| names.iter().position(|(n, _)| *n == name)) {
            return Ok(v);
        }
        let v = self.tune(kernel).await?;
        with_table(|t| t.entry(adapter).or_default().insert(bucket, names[v].0.clone()));
        #[cfg(not(target_arch = "wasm32"))]
        save();
        Ok(v)
    }

    /// Times every variant this adapter offers on `kernel`'s shape and returns the fastest whose result matches
    /// the reference variant's; runs on any adapter (the tests use it on lavapipe).
    pub async fn tune(&mut self, kernel: &dyn Tunable) -> Result<usize, LabError> {
        let mut best: Option<(f64, usize)> = None;
        let mut reference: Option<Vec<f32>> = None;
        for v in self.offered_variants(kernel) {
            // A variant that fails to compile or run here is skipped (the reference one comes first).
            let (seconds, result) = match self.trial(kernel, v).await {
                Ok(r) => r,
                Err(e) if reference.is_none() => return Err(e),
                Err(_) => continue,
            };
            match &reference {
                None => reference = Some(result),
                Some(r) if !close(r, &result) => continue, // a variant this adapter gets wrong is never chosen
                Some(_) => {}
            }
            if best.is_none_or(|(t, _)| seconds < t) {
                best = Some((seconds, v));
            }
        }
        Ok(best.expect("the reference variant ran").1)
    }

    /// Seconds per run of variant `v` on `kernel`'s shape, on buffers of its own, and its result.
    pub async fn trial(&mut self, kernel: &dyn Tunable, v: usize) -> Result<(f64, Vec<f32>), LabError> {
        let (lens, inputs) = kernel.trial_buffers();
        let (first, programs) = (self.buffers.len() as u32, self.programs.len());
        let mut views = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            self.buffers.push(self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("trial"),
                size: (len as u64 * 4).max(16),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
            views.push(Tensor { buf: BufId(first + i as u32), offset: 0, len });
            if i < inputs {
                self.write(views[i], &trial_values(len, i as u32));
            }
        }
        let (trial, out) = kernel.trial(&views, v);
        let result = async {
            let launches = || trial.iter().flat_map(|k| k.launches());
            let once = self.prepare_launches(launches().collect()).await?;
            let reps = self.prepare_launches((0..REPS).flat_map(|_| launches()).collect()).await?;
            self.run(&[once])?;
            let result = self.read(out).await?;
            let start = web_time::Instant::now();
            self.run(&[reps])?;
            self.read(out.slice(0, 1)).await?;
            Ok((start.elapsed().as_secs_f64() / REPS as f64, result))
        }
        .await;
        // The trial's programs and buffers go again.
        self.programs.truncate(programs);
        self.buffers.truncate(first as usize);
        result
    }
}
