//! Per-kernel profiles (`looplab bench --profile`): time per kernel kind, summed over the runs made while
//! profiling is on. Off by default, and then free: an unprofiled run records no timestamp and reads no clock.
//!
//! - gpu with `TIMESTAMP_QUERY_INSIDE_PASSES`: a timestamp before every dispatch and after the last, inside the
//!   run's one compute pass; dispatch i gets `t[i+1] - t[i]` ticks x `Queue::get_timestamp_period()` (its
//!   execution plus any barrier before the next). Each profiled run is waited on to read its timestamps.
//! - gpu without it: each dispatch submitted alone and waited on, wall-clock time per dispatch (submission and
//!   wait included, so small kernels look slower than they are).
//! - cpu: wall-clock time of each kernel's `cpu` call.

use std::collections::BTreeMap;

use super::gpu::Dispatch;
use crate::error::LabError;
use crate::program::{Kernel, Shader};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileSource {
    GpuTimestamps,
    GpuSubmitPerDispatch,
    CpuTimers,
}

impl ProfileSource {
    pub fn describe(self) -> &'static str {
        match self {
            ProfileSource::GpuTimestamps => "GPU timestamp queries between dispatches inside the step's compute pass",
            ProfileSource::GpuSubmitPerDispatch => {
                "no timestamp queries on this adapter: one submit per dispatch, wall clock per dispatch \
                 (includes submit and wait overhead)"
            }
            ProfileSource::CpuTimers => "wall clock around each kernel on the cpu backend",
        }
    }
}

/// Seconds and calls per kernel kind, over `runs` runs.
#[derive(Clone, Debug)]
pub struct Profile {
    pub source: ProfileSource,
    pub runs: u64,
    pub kinds: BTreeMap<String, (u64, f64)>,
}

impl Profile {
    pub fn new(source: ProfileSource) -> Profile {
        Profile { source, runs: 0, kinds: BTreeMap::new() }
    }

    pub fn add(&mut self, kind: String, seconds: f64) {
        let entry = self.kinds.entry(kind).or_default();
        entry.0 += 1;
        entry.1 += seconds;
    }
}

/// A kernel's kind on the cpu backend: its type and its first GPU entry point, e.g.
/// `matmul::Matmul matmul_vec4_nt` (the entry tells a forward product from a gradient's).
pub fn cpu_kind(kernel: &dyn Kernel) -> String {
    let entry = kernel.launches().first().map_or("", |l| l.entry);
    format!("{} {entry}", kernel.name())
}

/// A dispatch's kind on the gpu backend: its shader file and entry point, e.g. `matmul matmul_vec4_nt`.
fn gpu_kind(shader: Shader, entry: &str) -> String {
    let mut file = String::new();
    for (i, c) in format!("{shader:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            file.push('_');
        }
        file.push(c.to_ascii_lowercase());
    }
    format!("{file} {entry}")
}

/// Timestamps per query set (wgpu's most).
const SET_QUERIES: usize = wgpu::QUERY_SET_MAX_QUERIES as usize;

pub(super) struct GpuProfiler {
    pub(super) profile: Profile,
    sets: Vec<wgpu::QuerySet>,
    resolve: Option<wgpu::Buffer>,
    readback: Option<wgpu::Buffer>,
    error: Option<String>,
}

impl GpuProfiler {
    /// The features timestamps between dispatches need, where the adapter has them (native only: the web's
    /// WebGPU offers timestamps at pass boundaries at most).
    pub(super) fn features(adapter: &wgpu::Adapter) -> wgpu::Features {
        let wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        if cfg!(target_arch = "wasm32") {
            wgpu::Features::empty()
        } else {
            adapter.features() & wanted
        }
    }

    /// Timestamps where the device has them (`timestamps_if_offered`), else one submit per dispatch.
    pub(super) fn new(device: &wgpu::Device, timestamps_if_offered: bool) -> Result<GpuProfiler, LabError> {
        if cfg!(target_arch = "wasm32") {
            return Err(LabError::Device("profiling needs the native build (it waits on the device)".into()));
        }
        let timestamps =
            timestamps_if_offered && device.features().contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);
        let source = if timestamps { ProfileSource::GpuTimestamps } else { ProfileSource::GpuSubmitPerDispatch };
        Ok(GpuProfiler { profile: Profile::new(source), sets: Vec::new(), resolve: None, readback: None, error: None })
    }

    /// The profile so far, or the first error a profiled run met.
    pub(super) fn finish(self) -> Result<Profile, LabError> {
        match self.error {
            Some(e) => Err(LabError::Device(format!("profiling failed: {e}"))),
            None => Ok(self.profile),
        }
    }

    /// Runs the dispatches once, timed, and waits for them.
    pub(super) fn run(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipelines: &[wgpu::ComputePipeline],
        dispatches: &[&Dispatch],
    ) {
        let result = match self.profile.source {
            ProfileSource::GpuTimestamps => self.run_timestamped(device, queue, pipelines, dispatches),
            _ => self.run_one_by_one(device, queue, pipelines, dispatches),
        };
        self.profile.runs += 1;
        if let Err(e) = result {
            self.error.get_or_insert(e);
        }
    }

    fn run_timestamped(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipelines: &[wgpu::ComputePipeline],
        dispatches: &[&Dispatch],
    ) -> Result<(), String> {
        let stamps = dispatches.len() + 1;
        self.reserve(device, stamps);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("profiled") });
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            for (i, d) in dispatches.iter().enumerate() {
                pass.write_timestamp(&self.sets[i / SET_QUERIES], (i % SET_QUERIES) as u32);
                d.record(&mut pass, pipelines);
            }
            let last = stamps - 1;
            pass.write_timestamp(&self.sets[last / SET_QUERIES], (last % SET_QUERIES) as u32);
        }
        let (resolve, readback) = (self.resolve.as_ref().expect("reserved"), self.readback.as_ref().expect("reserved"));
        for (j, set) in self.sets.iter().enumerate() {
            let count = stamps.saturating_sub(j * SET_QUERIES).min(SET_QUERIES);
            if count > 0 {
                encoder.resolve_query_set(set, 0..count as u32, resolve, (j * SET_QUERIES * 8) as u64);
            }
        }
        encoder.copy_buffer_to_buffer(resolve, 0, readback, 0, stamps as u64 * 8);
        queue.submit([encoder.finish()]);
        let ticks: Vec<u64> = read_now(device, readback, stamps as u64 * 8)?;
        let seconds_per_tick = queue.get_timestamp_period() as f64 * 1e-9;
        for (d, pair) in dispatches.iter().zip(ticks.windows(2)) {
            self.profile.add(gpu_kind(d.kind.0, d.kind.1), pair[1].saturating_sub(pair[0]) as f64 * seconds_per_tick);
        }
        Ok(())
    }

    fn run_one_by_one(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipelines: &[wgpu::ComputePipeline],
        dispatches: &[&Dispatch],
    ) -> Result<(), String> {
        for d in dispatches {
            let start = web_time::Instant::now();
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass =
                    encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
                d.record(&mut pass, pipelines);
            }
            queue.submit([encoder.finish()]);
            device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| e.to_string())?;
            self.profile.add(gpu_kind(d.kind.0, d.kind.1), start.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Query sets and buffers for `stamps` timestamps (grown, never shrunk).
    fn reserve(&mut self, device: &wgpu::Device, stamps: usize) {
        while self.sets.len() * SET_QUERIES < stamps {
            self.sets.push(device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: SET_QUERIES as u32,
            }));
            self.resolve = None;
        }
        if self.resolve.is_none() {
            let size = (self.sets.len() * SET_QUERIES * 8) as u64;
            let buffer = |usage| {
                device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false })
            };
            self.resolve = Some(buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC));
            self.readback = Some(buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST));
        }
    }
}

/// Maps the first `bytes` of a readback buffer, waiting for the device (native only).
fn read_now(device: &wgpu::Device, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u64>, String> {
    let slice = buffer.slice(0..bytes);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| e.to_string())?;
    rx.try_recv().map_err(|_| "the timestamp readback never completed".to_string())?.map_err(|e| e.to_string())?;
    let ticks = bytemuck::cast_slice::<u8, u64>(&slice.get_mapped_range().map_err(|e| e.to_string())?).to_vec();
    buffer.unmap();
    Ok(ticks)
}
