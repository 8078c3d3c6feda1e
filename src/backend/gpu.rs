//! wgpu backend: buffers allocated once from a [`MemoryPlan`]; each program compiled once into pipelines and
//! bind groups; `run` records every dispatch into one compute pass and submits once. Nothing is read back
//! unless asked, and reads reuse one staging buffer.

use std::collections::HashMap;

use super::profile::{GpuProfiler, Profile};
use super::BackendStats;
use crate::error::LabError;
use crate::program::{Access, Kernel, Launch, MemoryPlan, ProgramId, Shader, Tensor, VIEW_ALIGN};

/// Uniform blocks sit at offsets aligned to WebGPU's largest minUniformBufferOffsetAlignment.
const UNIFORM_ALIGN: u64 = 256;

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
    /// Set while profiling (`start_profile`): runs are then timed per dispatch and waited on.
    profiler: Option<GpuProfiler>,
    pub stats: BackendStats,
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
                required_features: GpuProfiler::features(&adapter),
                ..Default::default()
            })
            .await
            .map_err(|e| LabError::Device(e.to_string()))?;
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
            profiler: None,
            stats: BackendStats::default(),
        })
    }

    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn describe(&self) -> String {
        format!("{} ({:?}, {:?})", self.info.name, self.info.backend, self.info.device_type)
    }

    pub fn allocate(&mut self, plan: &MemoryPlan) -> Result<(), LabError> {
        // Every buffer is bound as storage, so the smaller of the two limits applies.
        let (allowed, limit) = if self.limits.max_buffer_size < self.limits.max_storage_buffer_binding_size {
            (self.limits.max_buffer_size, "maxBufferSize")
        } else {
            (self.limits.max_storage_buffer_binding_size, "maxStorageBufferBindingSize")
        };
        if let Some(big) = plan.largest() {
            let bytes = big.len as u64 * 4;
            if bytes > allowed {
                return Err(LabError::TooLarge {
                    needed: format!("{} MiB for buffer `{}`", bytes >> 20, big.name),
                    allowed: format!("{} MiB", allowed >> 20),
                    limit: limit.into(),
                });
            }
        }
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
    pub async fn prepare(&mut self, program: Vec<Box<dyn Kernel>>) -> Result<ProgramId, LabError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let launches: Vec<Launch> = program.iter().flat_map(|k| k.launches()).collect();
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
            for (j, (t, _)) in l.bindings.iter().enumerate() {
                entries.push(wgpu::BindGroupEntry {
                    binding: j as u32 + 1,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &self.buffers[t.buf.0 as usize],
                        offset: t.offset as u64 * 4,
                        size: wgpu::BufferSize::new(t.len.max(1) as u64 * 4),
                    }),
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

    /// Records the programs in order into one compute pass: one submit.
    pub fn run(&mut self, ids: &[ProgramId]) {
        if let Some(profiler) = self.profiler.as_mut() {
            let dispatches: Vec<&Dispatch> = ids.iter().flat_map(|id| &self.programs[id.0].dispatches).collect();
            profiler.run(&self.device, &self.queue, &self.pipelines, &dispatches);
            self.stats.dispatches += dispatches.len() as u64;
            self.stats.submits += 1;
            return;
        }
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") });
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            for id in ids {
                let program = &self.programs[id.0];
                for d in &program.dispatches {
                    d.record(&mut pass, &self.pipelines);
                }
                self.stats.dispatches += program.dispatches.len() as u64;
            }
        }
        self.queue.submit([encoder.finish()]);
        self.stats.submits += 1;
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
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| LabError::Device(e.to_string()))?;
        rx.await
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
