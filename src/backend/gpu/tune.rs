//! Matmul autotuning: for each adapter and shape bucket, a short measured trial of every variant (and of
//! split-K on and off where one is planned) picks the fastest whose result matches the register-blocked one.
//! Choices live in one process-wide table keyed by adapter, so every backend on the adapter shares them;
//! natively the table is a small JSON file under the user's cache dir (`LOOPLAB_CACHE_DIR` overrides it), in
//! the page JS may hand one in (`set_tuning_json`, e.g. kept in IndexedDB) and read it back (`tuning_json`).
//! Without a table the trial just runs again. Software adapters (lavapipe, SwiftShader) skip the trial and
//! take the register-blocked variant with split-K, measured the fastest there (docs/results/speed/kernels.md).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::GpuBackend;
use crate::backend::{BufId, Tensor};
use crate::error::LabError;
use crate::ops::matmul::{Matmul, MatmulChoice, MatmulPath};
use crate::ops::Kernel;

/// Adapter key -> shape bucket -> choice.
pub type Tuning = BTreeMap<String, BTreeMap<String, MatmulChoice>>;

static TABLE: Mutex<Option<Tuning>> = Mutex::new(None);

/// Runs per timed trial (after one warm-up run that also checks the result).
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

/// Products that behave alike share a choice: the layout, each dimension rounded up to a power of two,
/// whether the vec4 loads apply, whether a split-K is planned.
pub fn bucket(mm: &Matmul) -> String {
    let t = |x: bool| if x { 't' } else { 'n' };
    let log = |x: usize| x.max(1).next_power_of_two().trailing_zeros();
    let (_, entry) = mm.chosen(MatmulChoice { path: MatmulPath::Blocked, split: true }).entry();
    let vec4 = entry.contains("vec4");
    let split = mm.split.map_or(0, |(_, s)| s);
    format!("{}{}-m{}-n{}-k{}-v{}-s{split}", t(mm.trans_a), t(mm.trans_b), log(mm.m), log(mm.n), log(mm.k), vec4 as u8)
}

/// Deterministic trial inputs in [-1, 1).
fn trial_values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 8) as f32 / (1 << 24) as f32)
                * 2.0
                - 1.0
        })
        .collect()
}

impl GpuBackend {
    fn adapter_key(&self) -> String {
        format!("{} | {} {} | {:?}", self.info.name, self.info.driver, self.info.driver_info, self.info.backend)
    }

    /// The variants a trial may pick on this adapter.
    pub fn matmul_candidates(&self) -> Vec<MatmulPath> {
        let subgroups = self.device.features().contains(wgpu::Features::SUBGROUP);
        MatmulPath::FORCED.into_iter().filter(|&p| p != MatmulPath::Subgroup || subgroups).collect()
    }

    /// The variant for an `Auto` product: the table's, or the software default, or a fresh trial.
    pub(super) async fn choose_matmul(&mut self, mm: &Matmul) -> Result<MatmulChoice, LabError> {
        if self.is_software() {
            return Ok(MatmulChoice { path: MatmulPath::Blocked, split: true });
        }
        let (adapter, key) = (self.adapter_key(), bucket(mm));
        if let Some(c) = with_table(|t| t.get(&adapter).and_then(|b| b.get(&key)).copied()) {
            return Ok(c);
        }
        let choice = self.tune_matmul(mm).await?;
        with_table(|t| t.entry(adapter).or_default().insert(key, choice));
        #[cfg(not(target_arch = "wasm32"))]
        save();
        Ok(choice)
    }

    /// Times every candidate (split-K on and off where `mm` plans one) on `mm`'s shape and returns the fastest
    /// whose result matches the register-blocked variant's; runs on any adapter (the tests use it on lavapipe).
    pub async fn tune_matmul(&mut self, mm: &Matmul) -> Result<MatmulChoice, LabError> {
        let mut best: Option<(f64, MatmulChoice)> = None;
        let mut reference: Option<Vec<f32>> = None;
        let splits: &[bool] = if mm.split.is_some() { &[true, false] } else { &[true] };
        for path in self.matmul_candidates() {
            for &split in splits {
                let choice = MatmulChoice { path, split };
                // A variant that fails to compile or run here is skipped (the reference one comes first).
                let (seconds, result) = match self.trial(mm, choice).await {
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
                    best = Some((seconds, choice));
                }
            }
        }
        Ok(best.expect("the register-blocked variant always runs").1)
    }

    /// Seconds per run of `mm`'s shape with `choice`, on buffers of its own, and its result.
    pub async fn trial(&mut self, mm: &Matmul, choice: MatmulChoice) -> Result<(f64, Vec<f32>), LabError> {
        let (m, n, k) = (mm.m, mm.n, mm.k);
        let splits = mm.split.map_or(1, |(_, s)| s);
        let first = self.buffers.len() as u32;
        let lens = [m * k, k * n, m * n, splits * m * n];
        for (i, &len) in lens.iter().enumerate() {
            self.buffers.push(self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("matmul trial"),
                size: (len as u64 * 4).max(16),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
            if i < 2 {
                let t = Tensor { buf: BufId(first + i as u32), offset: 0, len };
                self.write(t, &trial_values(len, i as u32));
            }
        }
        let view = |i: u32, len: usize| Tensor { buf: BufId(first + i), offset: 0, len };
        let mut trial = Matmul::new(view(0, m * k), view(1, k * n), view(2, m * n), m, k, n);
        (trial.trans_a, trial.trans_b) = (mm.trans_a, mm.trans_b);
        trial.split = mm.split.map(|_| (view(3, splits * m * n), splits));
        let trial = trial.chosen(choice);
        let programs = self.programs.len();
        let result = async {
            let once = self.prepare_launches(trial.launches()).await?;
            let reps = self.prepare_launches((0..REPS).flat_map(|_| trial.launches()).collect()).await?;
            self.run(&[once]);
            let result = self.read(view(2, m * n)).await?;
            let start = web_time::Instant::now();
            self.run(&[reps]);
            self.read(view(2, 1)).await?;
            Ok((start.elapsed().as_secs_f64() / REPS as f64, result))
        }
        .await;
        // The trial's programs and buffers go again; the stats keep only what the model allocates.
        self.programs.truncate(programs);
        self.buffers.truncate(first as usize);
        result
    }
}

/// Results of two variants agree (f32 sums in different orders).
fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-3 * x.abs().max(1.0))
}
