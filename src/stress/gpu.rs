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

/// Terms per block of the kernel's inner loops (`dot_block` in the WGSL is
/// written out for 16); rows of the coefficients are zero-padded to it.
pub const CHOL_BLOCK: usize = 16;

/// Loop iterations one invocation may spend in one dispatch. Mesa's
/// llvmpipe (lavapipe) silently exits every loop of an invocation after
/// 65,535 back-edges in total; real drivers kill dispatches that run too
/// long. Windows of days are sized to stay under this (see
/// `shaders/stress.wgsl`).
pub const LOOP_BUDGET: u64 = 1 << 14;

/// Largest loop cost of one day (plus the first window's set-up) the GPU
/// path accepts: a day cannot be split across dispatches, and 3/4 of
/// llvmpipe's limit keeps a margin for loops the cost model does not see.
pub const MAX_DAY_LOOPS: u64 = 3 << 14;

/// Full source of the stress shader module.
pub fn stress_source() -> String {
    format!(
        "{}const CHOL_BLOCK: u32 = {CHOL_BLOCK}u;\n{PHILOX_WGSL}\n{STRESS_WGSL}",
        super::summary::band_wgsl_constants()
    )
}

/// Loop back-edges one invocation takes on one day of `cfg`, an upper
/// bound: the day, the normals' blocks, the assets, their inner blocks and
/// a liquidation over every asset.
pub fn day_loop_cost(cfg: &KernelConfig) -> u64 {
    let n = u64::from(cfg.n_assets);
    let b = CHOL_BLOCK as u64;
    let (normals, inner) = match (cfg.kind, cfg.factors) {
        (0, 0) => (cfg.blocks, (0..n).map(|i| i / b + 1).sum()),
        (0, k) => (cfg.blocks, n * u64::from(k).div_ceil(b)),
        _ => (0, 0),
    };
    1 + u64::from(normals) + n + inner + n
}

/// Days per dispatch for `cfg`, or why the GPU path cannot run it.
pub fn days_per_dispatch(cfg: &KernelConfig) -> Result<u32, String> {
    let day = day_loop_cost(cfg);
    let setup = u64::from(cfg.n_assets);
    if day + setup > MAX_DAY_LOOPS {
        return Err(format!(
            "one day of {} assets{} takes {} loop iterations per path, above the GPU path's {MAX_DAY_LOOPS} per dispatch; use --backend cpu or fewer assets{}",
            cfg.n_assets,
            if cfg.factors > 0 {
                format!(" with {} factors", cfg.factors)
            } else {
                String::new()
            },
            day + setup,
            if cfg.factors == 0 && cfg.kind == 0 {
                " (or [stress] factors = k)"
            } else {
                ""
            }
        ));
    }
    let per = (LOOP_BUDGET.saturating_sub(setup) / day).max(1);
    Ok(per.min(u64::from(cfg.horizon.max(1))) as u32)
}

/// The kernel's coefficients in the device layout, and the factor row stride:
/// Cholesky rows (or factor loading rows) zero-padded to whole
/// [`CHOL_BLOCK`]s; the residual scales follow the loadings unpadded.
pub fn device_coefficients(p: &Prepared) -> (Vec<f32>, u32) {
    let n = p.cfg.n_assets as usize;
    let b = CHOL_BLOCK;
    let mut out = Vec::new();
    if p.cfg.kind != 0 || p.chol.is_empty() {
        return (vec![0.0], 0);
    }
    let k = p.cfg.factors as usize;
    if k == 0 {
        let mut o = 0;
        for i in 0..n {
            out.extend_from_slice(&p.chol[o..=o + i]);
            out.resize(out.len() + (i / b + 1) * b - (i + 1), 0.0);
            o += i + 1;
        }
        return (out, 0);
    }
    let ks = k_stride(&p.cfg) as usize;
    for row in p.chol[..n * k].chunks_exact(k) {
        out.extend_from_slice(row);
        out.resize(out.len() + ks - k, 0.0);
    }
    out.extend_from_slice(&p.chol[n * k..n * k + n]);
    (out, ks as u32)
}

/// Padded row length of the factor loadings (0 without factors).
fn k_stride(cfg: &KernelConfig) -> u32 {
    cfg.factors.div_ceil(CHOL_BLOCK as u32) * CHOL_BLOCK as u32
}

/// Rows of the device's normals buffer: every row a padded term may read.
fn normal_rows(cfg: &KernelConfig, k_stride: u32) -> u64 {
    let b = CHOL_BLOCK as u64;
    let rows = (4 * u64::from(cfg.blocks))
        .max(u64::from(cfg.n_assets))
        .max(u64::from(k_stride));
    rows.div_ceil(b) * b
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
        Self::from_adapter(&adapter)
    }

    /// Opens a device on `adapter`, with the adapter's own limits.
    pub fn from_adapter(adapter: &wgpu::Adapter) -> anyhow::Result<Self> {
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

    /// Runs `pipeline` over `groups` workgroups once per entry of `binds`
    /// (`binds[d][i]` at binding `i` of group 0 for dispatch `d`), in order in
    /// one pass (each dispatch sees the previous one's writes), then copies
    /// each of `read` back to the host: storage -> staging -> map -> poll -> bytes.
    pub fn dispatch_and_read(
        &self,
        pipeline: &wgpu::ComputePipeline,
        binds: &[Vec<&wgpu::Buffer>],
        groups: u32,
        read: &[&wgpu::Buffer],
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = pipeline.get_bind_group_layout(0);
        let groups_of: Vec<wgpu::BindGroup> = binds
            .iter()
            .map(|bind| {
                let entries: Vec<_> = bind
                    .iter()
                    .enumerate()
                    .map(|(i, b)| wgpu::BindGroupEntry {
                        binding: i as u32,
                        resource: b.as_entire_binding(),
                    })
                    .collect();
                self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &layout,
                    entries: &entries,
                })
            })
            .collect();
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
            for bind in &groups_of {
                pass.set_bind_group(0, bind, &[]);
                pass.dispatch_workgroups(groups, 1, 1);
            }
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
    /// Fault injection for tests: fail every chunk of the run after this
    /// many (`CHLOE_GPU_FAIL_AFTER_CHUNKS`); the canary's chunks do not count.
    fail_after: Option<u64>,
    /// Whether the canary passed (chunks since then are the run's).
    trusted: bool,
    /// Fault injection for tests: return every chunk with one path's
    /// terminal value 1% off (`CHLOE_GPU_CORRUPT_PATHS=1`), the kind of error
    /// a driver's shader compiler bug produces; the canary must catch it.
    corrupt: bool,
    chunks: u64,
}

impl GpuBackend {
    /// Opens the default adapter and compiles the stress shader on it.
    pub fn new() -> anyhow::Result<Self> {
        Self::with_context(GpuContext::new()?)
    }

    /// Uses an existing context (tests inject one).
    pub fn with_context(ctx: GpuContext) -> anyhow::Result<Self> {
        Self::with_source(ctx, &stress_source())
    }

    /// Uses an existing context and a given shader source.
    pub fn with_source(ctx: GpuContext, source: &str) -> anyhow::Result<Self> {
        let pipeline = ctx.pipeline(source, "simulate")?;
        let fail_after = std::env::var("CHLOE_GPU_FAIL_AFTER_CHUNKS")
            .ok()
            .and_then(|v| v.parse().ok());
        Ok(Self {
            ctx,
            pipeline,
            fail_after,
            corrupt: std::env::var("CHLOE_GPU_CORRUPT_PATHS").as_deref() == Ok("1"),
            trusted: false,
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
    fn kind(&self) -> super::BackendKind {
        super::BackendKind::Gpu
    }

    fn max_chunk(&self, p: &Prepared) -> u64 {
        let lim = self.ctx.device.limits();
        let max_binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        // The largest per-path buffer bounds the chunk: day values, holdings or normals.
        let per_path = 4 * u64::from(p.cfg.horizon)
            .max(u64::from(p.cfg.n_assets))
            .max(normal_rows(&p.cfg, k_stride(&p.cfg)))
            .max(8);
        let by_dispatch =
            u64::from(lim.max_compute_workgroups_per_dimension) * u64::from(WORKGROUP);
        (max_binding / per_path).clamp(1, by_dispatch.min(1 << 18))
    }

    fn trusted(&mut self) {
        self.trusted = true;
    }

    fn check(&self, p: &Prepared, histogram: bool) -> Result<(), String> {
        days_per_dispatch(&p.cfg)?;
        let lim = self.ctx.device.limits();
        let max_binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        let (coef, ks) = device_coefficients(p);
        debug_assert_eq!(ks, k_stride(&p.cfg));
        let fixed = [
            ("the coefficients", 4 * coef.len() as u64),
            ("the bootstrap table", 4 * p.hist.len() as u64),
            (
                "the band histogram",
                if histogram {
                    4 * u64::from(p.cfg.horizon) * (BINS as u64 + 2)
                } else {
                    0
                },
            ),
            (
                "one path's daily values",
                4 * u64::from(p.cfg.horizon).max(normal_rows(&p.cfg, ks)),
            ),
        ];
        for (what, bytes) in fixed {
            if bytes > max_binding {
                return Err(format!(
                    "{what} need {bytes} bytes in one buffer, above this adapter's limit of {max_binding}; use --backend cpu{}",
                    if what == "the band histogram" {
                        " or a shorter horizon"
                    } else {
                        ""
                    }
                ));
            }
        }
        Ok(())
    }

    fn run_chunk(
        &mut self,
        p: &Prepared,
        paths: Range<u64>,
        histogram: bool,
    ) -> anyhow::Result<ChunkOut> {
        let n = u32::try_from(paths.end - paths.start).context("chunk too large")?;
        self.chunks += u64::from(self.trusted);
        if self.fail_after.is_some_and(|k| self.chunks > k) {
            anyhow::bail!("injected device failure (CHLOE_GPU_FAIL_AFTER_CHUNKS)");
        }
        let (coef, k_stride) = device_coefficients(p);
        let cfg = KernelConfig {
            k_stride,
            ..p.chunk_config(paths.start, n, histogram)
        };
        let per = days_per_dispatch(&cfg).map_err(|e| anyhow!(e))?;
        let ctx = &self.ctx;
        let np = u64::from(n);
        // One config per window of days, dispatched in order.
        let uniforms: Vec<wgpu::Buffer> = (0..cfg.horizon)
            .step_by(per as usize)
            .map(|t0| {
                let w = KernelConfig {
                    t0,
                    t1: (t0 + per).min(cfg.horizon),
                    ..cfg
                };
                ctx.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("config"),
                        contents: bytemuck::bytes_of(&w),
                        usage: wgpu::BufferUsages::UNIFORM,
                    })
            })
            .collect();
        let assets = ctx.storage("assets", bytemuck::cast_slice(&p.assets));
        let chol = ctx.storage("coefficients", bytemuck::cast_slice(&coef));
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
        let normals = ctx.output("normals", np * normal_rows(&cfg, k_stride) * 4);
        let binds: Vec<Vec<&wgpu::Buffer>> = uniforms
            .iter()
            .map(|u| {
                vec![
                    u, &assets, &chol, &hist, &out, &values, &holdings, &normals, &counts,
                ]
            })
            .collect();
        let read = if histogram { &counts } else { &values };
        let bytes =
            ctx.dispatch_and_read(&self.pipeline, &binds, n.div_ceil(WORKGROUP), &[&out, read])?;
        let mut paths_out: Vec<PathOut> =
            bytemuck::pod_collect_to_vec(&bytes[0][..n as usize * size_of::<PathOut>()]);
        if self.corrupt
            && let Some(p) = paths_out.get_mut(3)
        {
            p.terminal *= 1.01;
        }
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
        &[vec![&c, &k, &words, &normals]],
        groups,
        &[&words, &normals],
    )?;
    Ok((
        bytemuck::pod_collect_to_vec(&bytes[0]),
        bytemuck::pod_collect_to_vec(&bytes[1]),
    ))
}

/// Every adapter wgpu finds.
pub fn adapters() -> Vec<wgpu::Adapter> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()))
}

/// Lists adapters with the limits that bound chunk sizes, and the `auto` pick.
pub fn describe_adapters() -> String {
    let adapters = adapters();
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
