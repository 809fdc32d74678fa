//! Liquidity-stress Monte Carlo: market model, Philox generator, CPU and GPU backends.
//!
//! A stage: [`plan`] resolves a validated [`StressSpec`] (and the panel, when
//! the market is estimated or a scenario bootstraps) into an [`engine::Plan`];
//! `model` turns market, portfolio and scenario into kernel records; `cpu` and
//! `gpu` run the same kernel (`shaders/stress.wgsl`); `engine` runs chunks of
//! paths and reduces them with `summary`. The job runner ([`crate::job`])
//! calls it; the report layer ([`crate::report`]) writes what it returns.

#[cfg(target_arch = "x86_64")]
mod avx2;
pub mod canary;
pub mod correlation;
pub mod cpu;
pub mod engine;
pub mod estimate;
pub mod gpu;
pub mod model;
#[cfg(test)]
mod parity;
pub mod philox;
pub mod summary;
#[cfg(test)]
mod tests;

use std::ops::Range;

use anyhow::Context;

pub use self::estimate::Estimate;
use self::{
    engine::Plan,
    model::{PathOut, Prepared},
};
pub use crate::config::stress::MAX_HORIZON;
use crate::{
    config::stress::{MarketSource, ScenarioKind, StressSpec},
    data::Panel,
    error::{ConfigError, Exit, UsageError},
};

/// Compute backend the user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// GPU when an adapter is usable, else CPU.
    Auto,
    /// wgpu compute shaders; an error when no adapter is usable.
    Gpu,
    /// rayon on the CPU.
    Cpu,
}

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

/// Whether [`plan`] needs the job's panel: estimated market or a bootstrap scenario.
pub fn needs_panel(spec: &StressSpec) -> bool {
    matches!(spec.market, MarketSource::Estimate { .. })
        || spec
            .scenarios
            .iter()
            .any(|s| matches!(s.kind, ScenarioKind::Bootstrap { .. }))
}

/// A resolved stress run and how its market inputs were obtained.
pub struct Planned {
    /// Kernel inputs per scenario.
    pub plan: Plan,
    /// The market the paths are drawn from.
    pub market: crate::config::stress::MarketInputs,
    /// The estimate's fallbacks, when the market was estimated from data.
    pub estimate: Option<Estimate>,
    /// Shrinkage that repaired a given correlation matrix, if any.
    pub correlation_repair: Option<f64>,
}

/// Resolves market inputs and bootstrap tables; `panel` is the job's data
/// (required when [`needs_panel`]). Checks the limits that depend on the
/// resolved asset count, before any simulation.
pub fn plan(spec: &StressSpec, panel: Option<&Panel>, seed: u64) -> anyhow::Result<Planned> {
    let panel = match (needs_panel(spec), panel) {
        (false, _) => None,
        (true, Some(p)) => Some(p),
        (true, None) => {
            return Err(ConfigError::invalid(
                "data",
                "is required when stress.market.estimate_from_data = true or a scenario has kind = \"bootstrap\"",
            )
            .into());
        }
    };
    let (market, estimate, correlation_repair) = match &spec.market {
        MarketSource::Given(m) => {
            let (correlation, repair) =
                correlation::repair(m.correlation.clone(), spec.max_correlation_repair)?;
            let mut m = m.clone();
            m.correlation = correlation;
            (m, None, repair)
        }
        MarketSource::Estimate {
            days,
            symbols,
            default_spread,
            default_adv,
        } => {
            let symbols = symbols
                .clone()
                .unwrap_or_else(|| spec.weights.keys().cloned().collect());
            let p = panel.expect("needs_panel");
            let e = estimate::estimate_market(
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
            let repair = e.correlation_repair;
            (e.inputs.clone(), Some(e), repair)
        }
    };
    let hist = spec
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.kind {
            ScenarioKind::Parametric => Ok(Vec::new()),
            ScenarioKind::Bootstrap { start, end, .. } => estimate::bootstrap_table(
                panel.expect("needs_panel"),
                &market.symbols,
                *start,
                *end,
                &format!("stress.scenarios[{i}].start"),
            ),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let assets = market.symbols.len();
    if let Some(k) = spec.factors
        && k as usize > assets
    {
        return Err(ConfigError::invalid(
            "stress.factors",
            format!("must be at most the number of assets ({assets}), found {k}"),
        )
        .into());
    }
    // Counter words and band memory must fit: say so up front, not by an abort.
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
    Ok(Planned {
        plan: Plan::new(spec, &market, seed, hist),
        market,
        estimate,
        correlation_repair,
    })
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
