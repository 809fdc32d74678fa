//! GPU backend: `shaders/stress.wgsl` on wgpu, one dispatch per chunk of
//! paths covering the whole horizon (no host round trip per day).
//!
//! [`GpuContext::new`] finds an adapter and opens a device; it returns an
//! error (never panics) when there is none, so the caller can fall back.
//! Device errors during a chunk (validation, out of memory, lost device, map
//! failure) come back as `Err` from `run_chunk`; the engine re-runs the chunk
//! on the CPU.

use std::{borrow::Cow, fmt::Write as _, ops::Range, sync::mpsc};

use anyhow::{Context, anyhow};
use wgpu::util::DeviceExt;

use super::{
    ChunkOut, StressBackend,
    model::{KernelConfig, PathOut, Prepared},
    summary::BINS,
};

/// Generator and math functions shared by every kernel.
pub const PHILOX_WGSL: &str = include_str!("../../shaders/philox.wgsl");
/// The stress kernel (without the generator).
pub const STRESS_WGSL: &str = include_str!("../../shaders/stress.wgsl");
/// Test kernel for the generator.
pub const RNG_TEST_WGSL: &str = include_str!("../../shaders/rng_test.wgsl");
const WORKGROUP: u32 = 64;

/// Full source of the stress shader module.
pub fn stress_source() -> String {
    format!(
        "{}{PHILOX_WGSL}\n{STRESS_WGSL}",
        super::summary::band_wgsl_constants()
    )
}

/// Full source of the generator test module.
pub fn rng_test_source() -> String {
    format!("{PHILOX_WGSL}\n{RNG_TEST_WGSL}")
}

/// A device and queue with what was learned about the adapter.
pub struct GpuContext {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Adapter description.
    pub info: wgpu::AdapterInfo,
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY.with_env();
    wgpu::Instance::new(desc)
}

impl GpuContext {
    /// Opens the adapter `auto` would pick (high performance first), with its own limits.
    pub fn new() -> anyhow::Result<Self> {
        let instance = instance();
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| anyhow!("no GPU adapter: {e}"))?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("chloe stress"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .with_context(|| format!("opening a device on {}", info.name))?;
        Ok(Self {
            device,
            queue,
            info,
        })
    }

    /// Compiles `source` and builds the compute pipeline for `entry`, turning
    /// validation errors into `Err`.
    pub fn pipeline(&self, source: &str, entry: &str) -> anyhow::Result<wgpu::ComputePipeline> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(entry),
                source: wgpu::ShaderSource::Wgsl(Cow::Owned(source.to_string())),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            anyhow::bail!("shader {entry} does not compile on this device: {e}");
        }
        Ok(pipeline)
    }

    fn storage(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE,
            })
    }

    fn output(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// Runs `pipeline` over `groups` workgroups with `bind[i]` at binding `i`
    /// of group 0, then copies each of `read` back to the host: storage ->
    /// staging -> map -> poll -> bytes.
    pub fn dispatch_and_read(
        &self,
        pipeline: &wgpu::ComputePipeline,
        bind: &[&wgpu::Buffer],
        groups: u32,
        read: &[&wgpu::Buffer],
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let entries: Vec<_> = bind
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let staging: Vec<wgpu::Buffer> = read
            .iter()
            .map(|b| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("staging"),
                    size: b.size(),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        }
        for (src, dst) in read.iter().zip(&staging) {
            enc.copy_buffer_to_buffer(src, 0, dst, 0, src.size());
        }
        self.queue.submit([enc.finish()]);
        let (tx, rx) = mpsc::channel();
        for (i, s) in staging.iter().enumerate() {
            let tx = tx.clone();
            s.slice(..).map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send((i, r));
            });
        }
        drop(tx);
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| anyhow!("waiting for the device: {e}"))?;
        if let Some(e) = pollster::block_on(val.pop()) {
            anyhow::bail!("device validation error: {e}");
        }
        if let Some(e) = pollster::block_on(oom.pop()) {
            anyhow::bail!("device out of memory: {e}");
        }
        for (i, r) in rx.iter() {
            r.map_err(|e| anyhow!("mapping readback buffer {i}: {e}"))?;
        }
        staging
            .iter()
            .map(|s| {
                let bytes = s
                    .get_mapped_range(..)
                    .map_err(|e| anyhow!("reading back: {e:?}"))?
                    .to_vec();
                s.unmap();
                Ok(bytes)
            })
            .collect()
    }
}

/// The wgpu backend: one context and pipeline per job.
pub struct GpuBackend {
    ctx: GpuContext,
    pipeline: wgpu::ComputePipeline,
    /// Fault injection for tests: fail every chunk after this many
    /// (`CHLOE_GPU_FAIL_AFTER_CHUNKS`).
    fail_after: Option<u64>,
    chunks: u64,
}

impl GpuBackend {
    /// Opens the default adapter and compiles the stress shader on it.
    pub fn new() -> anyhow::Result<Self> {
        Self::with_context(GpuContext::new()?)
    }

    /// Uses an existing context (tests inject one).
    pub fn with_context(ctx: GpuContext) -> anyhow::Result<Self> {
        let pipeline = ctx.pipeline(&stress_source(), "simulate")?;
        let fail_after = std::env::var("CHLOE_GPU_FAIL_AFTER_CHUNKS")
            .ok()
            .and_then(|v| v.parse().ok());
        Ok(Self {
            ctx,
            pipeline,
            fail_after,
            chunks: 0,
        })
    }

    /// Name and backend of the adapter.
    pub fn adapter_name(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.ctx.info.name, self.ctx.info.backend, self.ctx.info.device_type
        )
    }
}

impl StressBackend for GpuBackend {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn max_chunk(&self, p: &Prepared) -> u64 {
        let lim = self.ctx.device.limits();
        let max_binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        // The largest per-path buffer bounds the chunk: day values, holdings or normals.
        let per_path = 4 * u64::from(
            p.cfg
                .horizon
                .max(p.cfg.n_assets)
                .max(4 * p.cfg.blocks)
                .max(8),
        );
        let by_dispatch =
            u64::from(lim.max_compute_workgroups_per_dimension) * u64::from(WORKGROUP);
        (max_binding / per_path).clamp(1, by_dispatch.min(1 << 18))
    }

    fn run_chunk(
        &mut self,
        p: &Prepared,
        paths: Range<u64>,
        histogram: bool,
    ) -> anyhow::Result<ChunkOut> {
        let n = u32::try_from(paths.end - paths.start).context("chunk too large")?;
        self.chunks += 1;
        if self.fail_after.is_some_and(|k| self.chunks > k) {
            anyhow::bail!("injected device failure (CHLOE_GPU_FAIL_AFTER_CHUNKS)");
        }
        let cfg: KernelConfig = p.chunk_config(paths.start, n, histogram);
        let ctx = &self.ctx;
        let np = u64::from(n);
        let uniform = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("config"),
                contents: bytemuck::bytes_of(&cfg),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let assets = ctx.storage("assets", bytemuck::cast_slice(&p.assets));
        let chol = ctx.storage(
            "chol",
            bytemuck::cast_slice(if p.chol.is_empty() {
                &[0.0f32]
            } else {
                &p.chol
            }),
        );
        let hist = ctx.storage(
            "hist",
            bytemuck::cast_slice(if p.hist.is_empty() {
                &[0.0f32]
            } else {
                &p.hist
            }),
        );
        let out = ctx.output("paths", np * size_of::<PathOut>() as u64);
        let h = cfg.horizon as usize;
        // In histogram mode the kernel counts values into bins (one small
        // buffer per chunk) instead of writing [day, path] values.
        let (values_len, counts_len) = if histogram {
            (0, h * (BINS + 2))
        } else {
            (np * u64::from(cfg.horizon), 0)
        };
        let values = ctx.output("values", values_len * 4);
        let counts = ctx.output("band counts", counts_len as u64 * 4);
        let holdings = ctx.output("holdings", np * u64::from(cfg.n_assets) * 4);
        let normals = ctx.output("normals", np * u64::from(4 * cfg.blocks) * 4);
        let bufs = [
            &uniform, &assets, &chol, &hist, &out, &values, &holdings, &normals, &counts,
        ];
        let read = if histogram { &counts } else { &values };
        let bytes =
            ctx.dispatch_and_read(&self.pipeline, &bufs, n.div_ceil(WORKGROUP), &[&out, read])?;
        let paths_out: Vec<PathOut> =
            bytemuck::pod_collect_to_vec(&bytes[0][..n as usize * size_of::<PathOut>()]);
        if histogram {
            return Ok(ChunkOut {
                paths: paths_out,
                values: Vec::new(),
                band_counts: bytemuck::pod_collect_to_vec(&bytes[1][..counts_len * 4]),
            });
        }
        let day_major: Vec<f32> =
            bytemuck::pod_collect_to_vec(&bytes[1][..(np * u64::from(cfg.horizon) * 4) as usize]);
        // Transpose [day, path] to the engine's [path, day].
        let mut values = vec![0.0f32; n as usize * h];
        for (t, row) in day_major.chunks(n as usize).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                values[k * h + t] = v;
            }
        }
        Ok(ChunkOut {
            paths: paths_out,
            values,
            band_counts: Vec::new(),
        })
    }
}

/// Raw Philox words and (normal, normal, normal, exp) per counter.
pub type DeviceRng = (Vec<[u32; 4]>, Vec<[f32; 4]>);

/// Philox words, normals and an exp value per counter, computed on the device
/// (for the CPU = GPU generator tests).
pub fn rng_on_device(
    ctx: &GpuContext,
    counters: &[[u32; 4]],
    key: [u32; 2],
) -> anyhow::Result<DeviceRng> {
    let pipeline = ctx.pipeline(&rng_test_source(), "rng_test")?;
    let c = ctx.storage("counters", bytemuck::cast_slice(counters));
    let k = ctx.storage("key", bytemuck::cast_slice(&key));
    let words = ctx.output("words", counters.len() as u64 * 16);
    let normals = ctx.output("normals", counters.len() as u64 * 16);
    let groups = (counters.len() as u32).div_ceil(WORKGROUP);
    let bytes = ctx.dispatch_and_read(
        &pipeline,
        &[&c, &k, &words, &normals],
        groups,
        &[&words, &normals],
    )?;
    Ok((
        bytemuck::pod_collect_to_vec(&bytes[0]),
        bytemuck::pod_collect_to_vec(&bytes[1]),
    ))
}

/// Lists adapters with the limits that bound chunk sizes, and the `auto` pick.
pub fn describe_adapters() -> String {
    let instance = instance();
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let mut s = String::new();
    if adapters.is_empty() {
        s.push_str("no GPU adapters found; --backend auto will use the cpu\n");
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        let l = a.limits();
        let _ = writeln!(
            s,
            "[{i}] {} | backend {:?} | type {:?} | driver {} {}\n    max_buffer_size {} | max_storage_buffer_binding_size {} | max_storage_buffers_per_stage {} | max_compute_workgroups_per_dimension {} | max_compute_invocations_per_workgroup {}",
            info.name,
            info.backend,
            info.device_type,
            info.driver,
            info.driver_info,
            l.max_buffer_size,
            l.max_storage_buffer_binding_size,
            l.max_storage_buffers_per_shader_stage,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_invocations_per_workgroup,
        );
    }
    match GpuBackend::new() {
        Ok(g) => {
            let _ = writeln!(s, "auto would pick: {}", g.adapter_name());
        }
        Err(e) => {
            let _ = writeln!(s, "auto would pick: cpu ({e:#})");
        }
    }
    s
}
