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
pub mod correlation;
pub mod cpu;
pub mod engine;
pub mod estimate;
pub mod gpu;
pub mod model;
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
    error::{ConfigError, Exit},
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

/// Which kind of backend computed a result: part of the deterministic provenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// rayon on the CPU (portable or AVX2 build: bit-identical).
    Cpu,
    /// wgpu compute shaders.
    Gpu,
}

impl BackendKind {
    /// The kind of a [`StressBackend::name`].
    pub fn of(name: &str) -> Self {
        if name == "cpu" { Self::Cpu } else { Self::Gpu }
    }

    /// `"cpu"` or `"gpu"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        }
    }
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

/// A compute backend for the stress kernel.
pub trait StressBackend {
    /// Short name for logs and reports.
    fn name(&self) -> &'static str;
    /// Largest chunk of paths this backend runs at once for `p`.
    fn max_chunk(&self, p: &Prepared) -> u64;
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

/// Picks the backend for `choice`, with the reason for the log and summary.json.
pub fn select_backend(choice: BackendChoice) -> anyhow::Result<(Box<dyn StressBackend>, String)> {
    match choice {
        BackendChoice::Cpu => Ok((Box::new(cpu::CpuBackend), "--backend cpu".into())),
        BackendChoice::Gpu => {
            let g = gpu::GpuBackend::new().context("--backend gpu: no usable GPU adapter")?;
            let why = format!("--backend gpu: {}", g.adapter_name());
            Ok((Box::new(g), why))
        }
        BackendChoice::Auto => match gpu::GpuBackend::new() {
            Ok(g) => {
                let why = format!(
                    "auto: adapter {} is usable and the shaders compile",
                    g.adapter_name()
                );
                Ok((Box::new(g), why))
            }
            Err(e) => Ok((
                Box::new(cpu::CpuBackend),
                format!("auto: no usable GPU ({e:#}); using the cpu"),
            )),
        },
    }
}

/// `chloe devices`.
pub fn devices_command() -> anyhow::Result<Exit> {
    let report = gpu::describe_adapters();
    print!("{report}");
    Ok(Exit::Ok)
}
