//! wgpu backend: buffers allocated once from a [`MemoryPlan`]; each program compiled once into pipelines and
//! bind groups; `run` records every dispatch into one compute pass and submits once. Nothing is read back
//! unless asked, and reads reuse one staging buffer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

mod tune;
pub use tune::{set_tuning_json, tuning_json, Tuning};

use super::budget::SubmitBudget;
use super::profile::{GpuProfiler, Profile};
use super::BackendStats;
use crate::error::LabError;
use crate::program::{Access, Kernel, Launch, MemoryPlan, ProgramId, Shader, Tensor, VIEW_ALIGN};

/// Uniform blocks sit at offsets aligned to WebGPU's largest minUniformBufferOffsetAlignment.
const UNIFORM_ALIGN: u64 = 256;
/// Spare ranges (`Access::Spare`): one per binding slot a launch may have, each at a 256-byte view offset.
const SPARE_SLOTS: u64 = 16;
const SPARE_BYTES: u64 = 256;

/// The page's submit budget: well under the 2 s a Windows GPU watchdog allows, and short enough that the
/// browser stays responsive on a laptop GPU. Native runs have none unless asked (`--submit-budget`).
#[cfg(target_arch = "wasm32")]
const DEFAULT_SUBMIT_BUDGET_MS: Option<f64> = Some(250.0);
#[cfg(not(target_arch = "wasm32"))]
const DEFAULT_SUBMIT_BUDGET_MS: Option<f64> = None;

pub(super) struct Dispatch {
    pipeline: usize,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// Shader and entry point, what a profile groups by.
    pub(super) kind: (Shader, &'static str),
}

impl Dispatch {
    pub(super) fn record(&self, pass: &mut wgpu::ComputePass, pipelines: &[wgpu::ComputePipeline]) {
        pass.set_pipeline(&pipelines[self.pipeline]);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.workgroups[0], self.workgroups[1], self.workgroups[2]);
    }
}

struct Compiled {
    dispatches: Vec<Dispatch>,
    _uniforms: wgpu::Buffer,
}

type LayoutKey = Vec<bool>; // per tensor binding: read-only?

pub struct GpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    buffers: Vec<wgpu::Buffer>,
    modules: HashMap<Shader, wgpu::ShaderModule>,
    layouts: HashMap<LayoutKey, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    pipeline_index: HashMap<(Shader, &'static str, LayoutKey), usize>,
    pipelines: Vec<wgpu::ComputePipeline>,
    programs: Vec<Compiled>,
    staging: Option<wgpu::Buffer>,
    /// `Access::Spare` bindings: slot j of a launch binds range j, so spares alias neither each other nor a tensor.
    spare: wgpu::Buffer,
    /// Set while profiling (`start_profile`): runs are then timed per dispatch and waited on.
    profiler: Option<GpuProfiler>,
    /// Why the device became unusable, set by wgpu's device-lost callback or uncaptured-error handler; every run
    /// and read after it fails with it.
    failure: Arc<Mutex<Option<String>>>,
    /// Splits long runs into several submits (`set_submit_budget`).
    budget: Option<SubmitBudget>,
    pub stats: BackendStats,
}

impl Drop for GpuBackend {
    /// On the web, dropping wgpu objects frees nothing until the garbage collector runs, and it does not see GPU
    /// memory: a page that opens backends for the depth sweep or the solving view would pile up buffers. Destroying
    /// the device frees every buffer made from it at once (natively wgpu frees them on drop anyway).
    fn drop(&mut self) {
        self.device.destroy();
    }
}

impl GpuBackend {
    pub async fn new() -> Result<GpuBackend, LabError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| LabError::NoAdapter(e.to_string()))?;
        let granted = adapter.limits();
        // Kernels are written for the default WebGPU limits; only buffer sizes are raised to what the adapter has.
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: granted.max_storage_buffer_binding_size,
            max_buffer_size: granted.max_buffer_size,
            ..wgpu::Limits::default()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("looplab"),
                required_limits: limits.clone(),
                // Subgroups where offered, for the subgroup matmul variant; never required.
                required_features: GpuProfiler::features(&adapter) | (adapter.features() & wgpu::Features::SUBGROUP),
                ..Default::default()
            })
            .await
            .map_err(|e| LabError::Device(e.to_string()))?;
        // A lost device (driver reset, watchdog, `destroy`) or an error outside any error scope (out of memory, a
        // submit to a lost device) leaves the run unusable: remember the first, instead of wgpu's default of
        // panicking (natively) or logging (on the web).
        let failure = Arc::new(Mutex::new(None::<String>));
        let record = |failure: &Arc<Mutex<Option<String>>>, what: String| {
            failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(what);
        };
        let lost = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            let detail = if message.is_empty() { String::new() } else { format!(": {message}") };
            record(&lost, format!("the device was lost ({reason:?}){detail}"));
        });
        let uncaptured = failure.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| record(&uncaptured, e.to_string())));
        let spare = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("spare bindings"),
            size: SPARE_SLOTS * SPARE_BYTES,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Ok(GpuBackend {
            device,
            queue,
            info: adapter.get_info(),
            limits,
            buffers: Vec::new(),
            modules: HashMap::new(),
            layouts: HashMap::new(),
            pipeline_index: HashMap::new(),
            pipelines: Vec::new(),
            programs: Vec::new(),
            staging: None,
            spare,
            profiler: None,
            failure,
            budget: DEFAULT_SUBMIT_BUDGET_MS.map(|ms| SubmitBudget::new(ms / 1e3)),
            stats: BackendStats::default(),
        })
    }

    /// See `Backend::set_submit_budget`; 0 or None turns it off.
    pub fn set_submit_budget(&mut self, ms: Option<f64>) {
        self.budget = ms.filter(|&ms| ms > 0.0).map(|ms| SubmitBudget::new(ms / 1e3));
    }

    /// The device, for what the backend does not wrap (a test destroys it to lose it for real).
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// `LabError::Device` once the device is lost or failed outside an error scope.
    fn usable(&self) -> Result<(), LabError> {
        match self.failure.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(what) => Err(LabError::Device(what.clone())),
            None => Ok(()),
        }
    }

    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn describe(&self) -> String {
        format!("{} ({:?}, {:?})", self.info.name, self.info.backend, self.info.device_type)
    }

    /// Refuses a plan whose largest buffer exceeds what one buffer may hold here.
    pub fn check(&self, plan: &MemoryPlan) -> Result<(), LabError> {
        // Every buffer is bound as storage, so the smaller of the two limits applies.
        let (allowed, limit) = if self.limits.max_buffer_size < self.limits.max_storage_buffer_binding_size {
            (self.limits.max_buffer_size, "maxBufferSize")
        } else {
            (self.limits.max_storage_buffer_binding_size, "maxStorageBufferBindingSize")
        };
        match plan.largest() {
            Some(big) if big.len as u64 * 4 > allowed => Err(LabError::TooLarge {
                needed: format!(
                    "{} for buffer `{}` (of {} in all: {})",
                    crate::program::bytes(big.len as u64 * 4),
                    big.name,
                    crate::program::bytes(plan.total_bytes()),
                    plan.breakdown().parts()
                ),
                allowed: crate::program::bytes(allowed),
                limit: format!("{limit}, the most one buffer may hold on this device"),
            }),
            _ => Ok(()),
        }
    }

    /// Allocates every buffer of a plan that `check` accepted.
    pub fn allocate(&mut self, plan: &MemoryPlan) -> Result<(), LabError> {
        self.buffers = plan
            .buffers
            .iter()
            .map(|spec| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&spec.name),
                    size: (spec.len as u64 * 4).max(16),
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        self.stats.bytes_allocated += plan.total_bytes();
        Ok(())
    }

    fn layout(&mut self, key: &LayoutKey) -> &(wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        let device = &self.device;
        self.layouts.entry(key.clone()).or_insert_with(|| {
            let mut entries = vec![wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }];
            for (i, &read_only) in key.iter().enumerate() {
                entries.push(wgpu::BindGroupLayoutEntry {
                    binding: i as u32 + 1,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                });
            }
            let bgl =
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries: &entries });
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: &[Some(&bgl)],
                immediate_size: 0,
            });
            (bgl, pl)
        })
    }

    fn pipeline(&mut self, launch: &Launch, key: &LayoutKey) -> usize {
        let id = (launch.shader, launch.entry, key.clone());
        if let Some(&i) = self.pipeline_index.get(&id) {
            return i;
        }
        let device = self.device.clone();
        let module = self.modules.entry(launch.shader).or_insert_with(|| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&format!("{:?}", launch.shader)),
                source: wgpu::ShaderSource::Wgsl(launch.shader.source().into()),
            })
        });
        let module = module.clone();
        let layout = self.layout(key).1.clone();
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(launch.entry),
            layout: Some(&layout),
            module: &module,
            entry_point: Some(launch.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        self.pipelines.push(pipeline);
        self.pipeline_index.insert(id, self.pipelines.len() - 1);
        self.pipelines.len() - 1
    }

    /// Compiles a program: pipelines (cached across programs), one uniform buffer for all its launches,
    /// and a bind group per dispatch. Validation errors come back as a message instead of a panic.
    /// Kernels with variants (matmuls left to `Auto`) get this adapter's for their bucket (`tune`).
    pub async fn prepare(&mut self, program: Vec<Box<dyn Kernel>>) -> Result<ProgramId, LabError> {
        let mut launches = Vec::new();
        for kernel in &program {
            match kernel.tunable() {
                Some(t) => {
                    let v = self.choose_variant(t).await?;
                    launches.extend(t.launches_as(v));
                }
                None => launches.extend(kernel.launches()),
            }
        }
        self.prepare_launches(launches).await
    }

    async fn prepare_launches(&mut self, launches: Vec<Launch>) -> Result<ProgramId, LabError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut uniform_bytes = vec![0u8; launches.len().max(1) * UNIFORM_ALIGN as usize];
        for (i, l) in launches.iter().enumerate() {
            assert!(l.params.len() * 4 <= UNIFORM_ALIGN as usize, "{}: too many params", l.entry);
            let at = i * UNIFORM_ALIGN as usize;
            uniform_bytes[at..at + l.params.len() * 4].copy_from_slice(bytemuck::cast_slice(&l.params));
        }
        let uniforms = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("program uniforms"),
            size: uniform_bytes.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&uniforms, 0, &uniform_bytes);
        self.stats.bytes_allocated += uniform_bytes.len() as u64;

        // Every device allows views at multiples of 256 bytes; finer offsets work on some (lavapipe) and fail on
        // others (an NVIDIA driver), so refuse them everywhere.
        if let Some((l, t)) = launches
            .iter()
            .flat_map(|l| l.bindings.iter().map(move |(t, _)| (l, t)))
            .find(|(_, t)| t.offset % VIEW_ALIGN != 0)
        {
            return Err(LabError::Device(format!(
                "{}: a view at element offset {} is not a multiple of {} (256 bytes)",
                l.entry, t.offset, VIEW_ALIGN
            )));
        }
        let mut dispatches = Vec::with_capacity(launches.len());
        for (i, l) in launches.iter().enumerate() {
            let key: LayoutKey = l.bindings.iter().map(|(_, a)| *a == Access::Read).collect();
            let pipeline = self.pipeline(l, &key);
            let bind_layout = self.layout(&key).0.clone();
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &uniforms,
                    offset: i as u64 * UNIFORM_ALIGN,
                    size: wgpu::BufferSize::new(((l.params.len() as u64 * 4).max(16)).next_multiple_of(16)),
                }),
            }];
            for (j, (t, access)) in l.bindings.iter().enumerate() {
                let binding = if *access == Access::Spare {
                    assert!((j as u64) < SPARE_SLOTS, "{}: binding {} past the spare slots", l.entry, j + 1);
                    wgpu::BufferBinding {
                        buffer: &self.spare,
                        offset: j as u64 * SPARE_BYTES,
                        size: wgpu::BufferSize::new(SPARE_BYTES),
                    }
                } else {
                    wgpu::BufferBinding {
                        buffer: &self.buffers[t.buf.0 as usize],
                        offset: t.offset as u64 * 4,
                        size: wgpu::BufferSize::new(t.len.max(1) as u64 * 4),
                    }
                };
                entries.push(wgpu::BindGroupEntry {
                    binding: j as u32 + 1,
                    resource: wgpu::BindingResource::Buffer(binding),
                });
            }
            let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(l.entry),
                layout: &bind_layout,
                entries: &entries,
            });
            dispatches.push(Dispatch { pipeline, bind_group, workgroups: l.workgroups, kind: (l.shader, l.entry) });
        }
        if let Some(err) = scope.pop().await {
            return Err(LabError::Device(format!("preparing a program failed: {err}")));
        }
        self.programs.push(Compiled { dispatches, _uniforms: uniforms });
        Ok(ProgramId(self.programs.len() - 1))
    }

    /// Records the programs in order into one compute pass and submits once; under a submit budget a run whose
    /// measured cost exceeds it becomes several submits (backend/budget.rs). Fails once the device is lost.
    pub fn run(&mut self, ids: &[ProgramId]) -> Result<(), LabError> {
        // Natively wgpu reports a loss (and finished work) only when polled; this poll does not wait.
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.usable()?;
        let dispatches: Vec<&Dispatch> = ids.iter().flat_map(|id| &self.programs[id.0].dispatches).collect();
        self.stats.dispatches += dispatches.len() as u64;
        if let Some(profiler) = self.profiler.as_mut() {
            profiler.run(&self.device, &self.queue, &self.pipelines, &dispatches);
            self.stats.submits += 1;
            return Ok(());
        }
        let submits = match &self.budget {
            Some(b) => b.split(&ids.iter().map(|id| self.programs[id.0].dispatches.len()).collect::<Vec<_>>()),
            None => std::iter::once(0..dispatches.len()).collect(),
        };
        for range in submits {
            let mut encoder =
                self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") });
            {
                let mut pass =
                    encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
                for d in &dispatches[range.clone()] {
                    d.record(&mut pass, &self.pipelines);
                }
            }
            self.queue.submit([encoder.finish()]);
            if let Some(b) = &self.budget {
                b.track(&self.queue, range.len());
            }
            self.stats.submits += 1;
        }
        Ok(())
    }

    /// Profiles every run from now on until `take_profile` (see backend/profile.rs).
    pub fn start_profile(&mut self) -> Result<(), LabError> {
        self.profiler = Some(GpuProfiler::new(&self.device, true)?);
        Ok(())
    }

    /// Profiles by one submit per dispatch even where timestamps exist (what adapters without them get;
    /// the tests cover that path this way).
    pub fn start_profile_by_submits(&mut self) -> Result<(), LabError> {
        self.profiler = Some(GpuProfiler::new(&self.device, false)?);
        Ok(())
    }

    /// The profile since `start_profile`, which ends profiling.
    pub fn take_profile(&mut self) -> Option<Result<Profile, LabError>> {
        self.profiler.take().map(GpuProfiler::finish)
    }

    pub fn write(&mut self, t: Tensor, data: &[f32]) {
        self.queue.write_buffer(&self.buffers[t.buf.0 as usize], t.offset as u64 * 4, bytemuck::cast_slice(data));
    }

    pub async fn read(&mut self, t: Tensor) -> Result<Vec<f32>, LabError> {
        self.usable()?;
        let bytes = (t.len as u64 * 4).max(4);
        if self.staging.as_ref().is_none_or(|s| s.size() < bytes) {
            self.staging = Some(self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: bytes.next_power_of_two(),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
            self.stats.bytes_allocated += bytes.next_power_of_two();
        }
        let staging = self.staging.as_ref().expect("staging buffer");
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read") });
        encoder.copy_buffer_to_buffer(
            &self.buffers[t.buf.0 as usize],
            t.offset as u64 * 4,
            staging,
            0,
            t.len as u64 * 4,
        );
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(0..t.len as u64 * 4);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        #[cfg(target_arch = "wasm32")]
        let polled: Result<(), String> = Ok(());
        let mapped = rx.await;
        // A lost device fails the map (or the poll): name the loss, the cause, rather than the symptom.
        self.usable()?;
        polled.map_err(|e| LabError::Device(e.to_string()))?;
        mapped
            .map_err(|_| LabError::Device("the device was lost while reading back".into()))?
            .map_err(|e| LabError::Device(e.to_string()))?;
        let data = {
            let view = slice.get_mapped_range().map_err(|e| LabError::Device(e.to_string()))?;
            bytemuck::cast_slice::<u8, f32>(&view).to_vec()
        };
        staging.unmap();
        Ok(data)
    }
}
