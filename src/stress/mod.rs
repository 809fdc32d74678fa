//! Liquidity-stress Monte Carlo: market model, Philox generator, CPU and GPU backends.
//!
//! `model` turns the job's market, portfolio and scenario into kernel records;
//! `cpu` and `gpu` run the same kernel (`shaders/stress.wgsl`); `engine` runs
//! chunks of paths and reduces them with `summary`; `report` writes the files.

#[cfg(target_arch = "x86_64")]
mod avx2;
pub mod canary;
pub mod cpu;
pub mod engine;
pub mod estimate;
pub mod gpu;
pub mod model;
#[cfg(test)]
mod parity;
pub mod philox;
pub mod report;
pub mod summary;
#[cfg(test)]
mod tests;

use std::{ops::Range, time::Instant};

/// Longest horizon a job or `--horizon` may ask for, in days.
pub const MAX_HORIZON: u32 = 100_000;

use anyhow::Context;

use self::{
    engine::{Outcome, Plan},
    model::{PathOut, Prepared},
};
use crate::{
    atomic::{ParquetSink, StagedDir, write_atomic, write_parquet_atomic},
    cli::{BackendChoice, StressArgs},
    config::{
        JobSpec,
        stress::{MarketSource, ScenarioKind, StressSpec},
    },
    error::{ConfigError, Exit, UsageError},
    progress::Progress,
};

/// Results of one chunk of paths.
#[derive(Debug, Clone, Default)]
pub struct ChunkOut {
    /// One result per path, in path order.
    pub paths: Vec<PathOut>,
    /// Portfolio value after each day, path-major `[paths, horizon]`; empty
    /// when the backend counted them into `band_counts` instead.
    pub values: Vec<f32>,
    /// Band histogram counts `[horizon, BINS + 2]` (see `summary::band_bin`),
    /// when the chunk ran in histogram mode on a device; else empty.
    pub band_counts: Vec<u32>,
}

/// Which kind of device ran a stress kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The CPU kernel (rayon, AVX2 when available).
    Cpu,
    /// The WGSL kernel on a wgpu adapter.
    Gpu,
}

impl BackendKind {
    /// The name in logs and reports: `cpu` or `gpu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        }
    }
}

/// A compute backend for the stress kernel.
pub trait StressBackend {
    /// Which kind of device this is.
    fn kind(&self) -> BackendKind;
    /// Largest chunk of paths this backend runs at once for `p`.
    fn max_chunk(&self, p: &Prepared) -> u64;
    /// Called once the backend passed the canary: the chunks from here on
    /// are the run's (test hooks count them).
    fn trusted(&mut self) {}
    /// Why this backend cannot run scenario `p` at all (a size or limit),
    /// checked before a run starts; `Ok` when it can.
    fn check(&self, _p: &Prepared, _histogram: bool) -> Result<(), String> {
        Ok(())
    }
    /// Simulates `paths` of the scenario `p`. With `histogram`, the bands
    /// are histograms: the backend may return `band_counts` instead of values.
    fn run_chunk(
        &mut self,
        p: &Prepared,
        paths: Range<u64>,
        histogram: bool,
    ) -> anyhow::Result<ChunkOut>;
}

/// Resolves market inputs and bootstrap tables, loading the panel when needed.
pub fn plan(job: &JobSpec, spec: &StressSpec) -> anyhow::Result<Plan> {
    let needs_panel = matches!(spec.market, MarketSource::Estimate { .. })
        || spec
            .scenarios
            .iter()
            .any(|s| matches!(s.kind, ScenarioKind::Bootstrap { .. }));
    let panel = if needs_panel {
        let data = job.data.as_ref().ok_or_else(|| {
            ConfigError::invalid(
                "data",
                "is required when stress.market.estimate_from_data = true or a scenario has kind = \"bootstrap\"",
            )
        })?;
        Some(
            crate::data::load_panel(data)
                .context("loading data for the stress test")?
                .panel,
        )
    } else {
        None
    };
    let market = match &spec.market {
        MarketSource::Given(m) => m.clone(),
        MarketSource::Estimate {
            days,
            symbols,
            default_spread,
            default_adv,
        } => {
            let symbols = symbols
                .clone()
                .unwrap_or_else(|| spec.weights.keys().cloned().collect());
            let p = panel.as_ref().expect("panel loaded");
            let m = estimate::estimate_market(
                p,
                &symbols,
                *days,
                *default_spread,
                *default_adv,
                spec.max_correlation_repair,
            )?;
            tracing::info!(
                "estimated market inputs for {} symbols from the last {days} bars",
                symbols.len()
            );
            m
        }
    };
    let hist = spec
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.kind {
            ScenarioKind::Parametric => Ok(Vec::new()),
            ScenarioKind::Bootstrap { start, end, .. } => estimate::bootstrap_table(
                panel.as_ref().expect("panel loaded"),
                &market.symbols,
                *start,
                *end,
                &format!("stress.scenarios[{i}].start"),
            ),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(k) = spec.factors
        && k as usize > market.symbols.len()
    {
        return Err(ConfigError::invalid(
            "stress.factors",
            format!(
                "must be at most the number of assets ({}), found {k}",
                market.symbols.len()
            ),
        )
        .into());
    }
    Ok(Plan::new(spec, &market, job.seed, hist))
}

/// The backend a run uses, and what the log and summary.json say about it.
pub struct Selected {
    /// The backend.
    pub backend: Box<dyn StressBackend>,
    /// Why it was chosen.
    pub why: String,
    /// The adapter, when a GPU was considered.
    pub adapter: Option<String>,
    /// The CPU-vs-GPU canary, when it ran.
    pub canary: Option<canary::CanaryReport>,
    /// A warning the run must carry (a GPU refused by the canary).
    pub warning: Option<String>,
}

impl Selected {
    fn cpu(why: String) -> Self {
        Self {
            backend: Box::new(cpu::CpuBackend),
            why,
            adapter: None,
            canary: None,
            warning: None,
        }
    }
}

/// Picks the backend for `choice` and `plan`: a GPU must be able to run every
/// scenario (sizes within its limits) and pass the CPU-vs-GPU canary on a
/// slice of the job before a run trusts it. `auto` falls back to the CPU
/// (with a warning when the canary failed); `gpu` is an error: exit 2 for a
/// job the device cannot run, exit 3 for a device that computes wrong numbers.
pub fn select_backend(choice: BackendChoice, plan: &Plan) -> anyhow::Result<Selected> {
    match choice {
        BackendChoice::Cpu => Ok(Selected::cpu("--backend cpu".into())),
        BackendChoice::Gpu => {
            let g = gpu::GpuBackend::new().context("--backend gpu: no usable GPU adapter")?;
            trust(g.adapter_name(), g, plan, true)
        }
        BackendChoice::Auto => match gpu::GpuBackend::new() {
            Ok(g) => trust(g.adapter_name(), g, plan, false),
            Err(e) => Ok(Selected::cpu(format!(
                "auto: no usable GPU ({e:#}); using the cpu"
            ))),
        },
    }
}

/// Checks `device` (named `adapter`) against `plan` and runs the canary;
/// `required`: `--backend gpu` (errors) rather than `auto` (fallbacks).
pub fn trust(
    adapter: String,
    mut device: impl StressBackend + 'static,
    plan: &Plan,
    required: bool,
) -> anyhow::Result<Selected> {
    let histogram = !plan.exact_bands(plan.paths);
    for (name, p) in plan.names.iter().zip(&plan.prepared) {
        if let Err(why) = device.check(p, histogram) {
            if required {
                return Err(UsageError(format!(
                    "--backend gpu: scenario {name} cannot run on {adapter}: {why}"
                ))
                .into());
            }
            return Ok(Selected {
                adapter: Some(adapter.clone()),
                ..Selected::cpu(format!(
                    "auto: {adapter} cannot run scenario {name} ({why}); using the cpu"
                ))
            });
        }
    }
    let report = match canary::run(plan, &mut device) {
        Ok(r) => r,
        Err(e) if required => {
            return Err(e.context(format!(
                "--backend gpu: the canary failed to run on {adapter}"
            )));
        }
        Err(e) => {
            return Ok(Selected {
                adapter: Some(adapter.clone()),
                warning: Some(format!(
                    "GPU {adapter} failed while running the canary: {e:#}"
                )),
                ..Selected::cpu(format!(
                    "auto: {adapter} failed the canary run ({e:#}); using the cpu"
                ))
            });
        }
    };
    tracing::info!("{adapter}: {}", report.line());
    if report.passed {
        device.trusted();
        let why = format!(
            "{}: adapter {adapter} passed the CPU-vs-GPU canary",
            if required { "--backend gpu" } else { "auto" }
        );
        return Ok(Selected {
            backend: Box::new(device),
            why,
            adapter: Some(adapter),
            canary: Some(report),
            warning: None,
        });
    }
    let msg = format!(
        "GPU {adapter} disagrees with the CPU on the canary slice of this job: {}",
        report.line()
    );
    if required {
        anyhow::bail!(
            "--backend gpu: {msg}; its results cannot be trusted (run with --backend cpu)"
        );
    }
    Ok(Selected {
        adapter: Some(adapter),
        canary: Some(report),
        warning: Some(msg.clone()),
        ..Selected::cpu(format!("auto: {msg}; using the cpu"))
    })
}

/// `chloe stress JOB`.
pub fn command(args: &StressArgs) -> anyhow::Result<Exit> {
    let t0 = Instant::now();
    let job = JobSpec::load(&args.job)?;
    let mut spec = job.stress.clone().ok_or_else(|| {
        ConfigError::invalid(
            "stress",
            format!("section is missing from {}", args.job.display()),
        )
    })?;
    if let Some(p) = args.paths {
        if p == 0 {
            return Err(UsageError("--paths must be at least 1".into()).into());
        }
        spec.paths = p;
    }
    if let Some(h) = args.horizon {
        if !(1..=MAX_HORIZON).contains(&h) {
            return Err(
                UsageError(format!("--horizon must be in 1..={MAX_HORIZON}, got {h}")).into(),
            );
        }
        spec.horizon = h;
    }
    let out_dir = args.out.clone().unwrap_or_else(|| job.output.clone());
    let plan = plan(&job, &spec)?;
    // Counter words and band memory must fit: say so up front, not by an abort.
    let assets = plan.prepared.first().map_or(0, |p| p.assets.len());
    if u64::from(spec.horizon) * (assets as u64 + 1) >= 1 << 32 {
        return Err(ConfigError::invalid(
            "stress.horizon",
            format!(
                "x (assets + 1) must be below 2^32 draws per path, got {} x {}",
                spec.horizon,
                assets + 1
            ),
        )
        .into());
    }
    let hist_bytes = u64::from(spec.horizon) * (summary::BINS as u64 + 2) * 8;
    if hist_bytes > 1 << 32 {
        return Err(ConfigError::invalid(
            "stress.horizon",
            format!(
                "{} days need {:.1} GiB of band histograms; use at most 65000",
                spec.horizon,
                hist_bytes as f64 / (1u64 << 30) as f64
            ),
        )
        .into());
    }
    let t_plan = t0.elapsed().as_secs_f64();
    let Selected {
        mut backend,
        why,
        adapter,
        canary,
        warning,
    } = select_backend(args.backend, &plan)?;
    if let Some(w) = &warning {
        tracing::warn!("{w}");
    }
    tracing::info!("stress backend {}: {why}", backend.kind().as_str());
    let staged = StagedDir::new(&out_dir)?;
    let mut sink =
        ParquetSink::create(&staged.path("stress_paths.parquet"), report::paths_schema())?;
    let progress = Progress::new(
        "stress chunks",
        engine::count_chunks(&plan, backend.as_ref(), spec.paths),
    );
    let t1 = Instant::now();
    let outcome = engine::run(
        &plan,
        backend.as_mut(),
        0..spec.paths,
        |s, first, chunk| sink.write(&report::paths_batch(&plan.names[s], first, &chunk.paths)?),
        &|| progress.inc(1),
    )?;
    progress.finish();
    let t_sim = t1.elapsed().as_secs_f64();
    sink.finish()?;
    let (schema, batch) = report::summary_batch(&outcome.summaries)?;
    write_parquet_atomic(&staged.path("stress_summary.parquet"), schema, &[batch])?;
    let (schema, batch) = report::bands_batch(&outcome.bands)?;
    write_parquet_atomic(&staged.path("stress_bands.parquet"), schema, &[batch])?;
    let json = summary_json(
        &job,
        &spec,
        backend.kind().as_str(),
        &BackendNotes {
            why: &why,
            adapter: adapter.as_deref(),
            canary: canary.as_ref(),
            warning: warning.as_deref(),
        },
        &outcome,
        t_plan,
        t_sim,
        t0.elapsed().as_secs_f64(),
    );
    write_atomic(
        &staged.path("summary.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    staged.commit()?;
    for s in &outcome.summaries {
        tracing::info!(
            "{}: mean {:.0}, VaR95 {:.4}, CVaR99 {:.4}, P(breach) {:.3}",
            s.scenario,
            s.mean_terminal,
            s.var_95,
            s.cvar_99,
            s.prob_drawdown_breach
        );
    }
    tracing::info!("stress report written to {}", out_dir.display());
    Ok(Exit::Ok)
}

/// What summary.json says about the backend choice.
struct BackendNotes<'a> {
    why: &'a str,
    adapter: Option<&'a str>,
    canary: Option<&'a canary::CanaryReport>,
    warning: Option<&'a str>,
}

#[expect(clippy::too_many_arguments, reason = "one flat JSON document")]
fn summary_json(
    job: &JobSpec,
    spec: &StressSpec,
    backend: &str,
    notes: &BackendNotes<'_>,
    o: &Outcome,
    t_plan: f64,
    t_sim: f64,
    t_total: f64,
) -> serde_json::Value {
    let ran = if o.fallback_chunks > 0 {
        format!("{backend}+cpu")
    } else {
        backend.to_string()
    };
    serde_json::json!({
        "job": job.name,
        "versions": { "chloe": env!("CARGO_PKG_VERSION") },
        "seed": job.seed,
        "backend": {
            "requested": backend,
            "used": ran,
            "why": notes.why,
            "adapter": notes.adapter,
            "canary": notes.canary,
            "warning": notes.warning,
            "fallback_chunks": o.fallback_chunks,
            "fallback_reason": o.fallback_reason,
        },
        "wall_times": { "setup_s": t_plan, "simulation_s": t_sim, "total_s": t_total },
        "stress": {
            "paths": spec.paths,
            "horizon": spec.horizon,
            "capital": spec.capital,
            "chunks": o.chunks,
            "correlation_model": match spec.factors {
                Some(k) => format!("{k}-factor model (top eigenvectors; parametric scenarios)"),
                None => "full Cholesky".to_string(),
            },
            "bands": if o.exact_bands {
                "exact".to_string()
            } else {
                format!("histogram, relative error <= {:.2e}", summary::histogram_relative_error())
            },
            "scenarios": o.summaries,
            "worst_cvar_99": o.summaries.iter().map(|s| s.cvar_99).fold(f64::NAN, f64::max),
            "max_prob_drawdown_breach": o.summaries.iter().map(|s| s.prob_drawdown_breach).fold(f64::NAN, f64::max),
        },
    })
}

/// `chloe devices [--check]`: lists adapters; with `check`, runs the
/// CPU-vs-GPU canary on every adapter and exits 1 when any fails it.
pub fn devices_command(check: bool) -> anyhow::Result<Exit> {
    let report = gpu::describe_adapters();
    print!("{report}");
    if !check {
        return Ok(Exit::Ok);
    }
    let plan = canary::reference_plan();
    println!(
        "canary: {} paths x {} scenarios x {} days of a {}-asset book, CPU vs each adapter",
        canary::CANARY_PATHS,
        plan.names.len(),
        plan.horizon,
        plan.prepared[0].assets.len()
    );
    let mut failed = false;
    for (i, a) in gpu::adapters().iter().enumerate() {
        let name = a.get_info().name;
        let result = gpu::GpuContext::from_adapter(a)
            .and_then(gpu::GpuBackend::with_context)
            .and_then(|mut g| canary::run(&plan, &mut g));
        match result {
            Ok(r) => {
                failed |= !r.passed;
                println!(
                    "[{i}] {name}: {} in {:.2} s",
                    if r.passed { "PASS" } else { "FAIL" },
                    r.seconds
                );
                for (s, d) in &r.scenarios {
                    println!("    {s}: {d}");
                }
            }
            Err(e) => {
                failed = true;
                println!("[{i}] {name}: FAIL (cannot run the kernel: {e:#})");
            }
        }
    }
    Ok(if failed { Exit::GateFailed } else { Exit::Ok })
}
