//! The stress stage as the runner calls it: resolve the book (the job's
//! weights, this run's deployment book, or a previous run's), plan, pick the
//! backend (or read which one the shards used), then fold the blocks of
//! paths ([`crate::cluster`] units) in path order into the summaries and
//! bands, streaming the path rows to the report writer.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use super::notes;
use crate::{
    cluster::{self, UnitSource},
    config::stress::{PortfolioSource, StressSpec},
    data::Panel,
    progress::Progress,
    report::{self, ParquetOut, summary::StageTimes},
    stress::{self, BackendKind, engine::Outcome, summary::Accumulator},
};

/// What a stress stage produced.
pub struct StressRun {
    /// The spec that ran (with the resolved weights).
    pub spec: StressSpec,
    /// Per-scenario summaries and bands.
    pub outcome: Outcome,
    /// Backend kind of the primary backend.
    pub kind: BackendKind,
    /// Why that backend.
    pub why: String,
    /// The GPU adapter considered, if any.
    pub adapter: Option<String>,
    /// The CPU-vs-GPU canary, when it ran.
    pub canary: Option<stress::canary::CanaryReport>,
    /// A warning about the backend (a GPU the canary refused).
    pub warning: Option<String>,
}

/// The stress stage's result: it ran, or why it did not.
pub enum StressStage {
    /// Ran.
    Ran(Box<StressRun>),
    /// Skipped, with the sentence saying why.
    Skipped(String),
}

/// What the stress stage reads besides its spec.
pub struct StressInputs<'a> {
    /// This run's deployment book (symbol -> non-zero weight).
    pub deployment: Option<&'a BTreeMap<String, f64>>,
    /// Whether the walk-forward fitted a deployment fold.
    pub deployment_fit: bool,
    /// A previous run's book, for `from_walkforward = "path"`.
    pub file_book: Option<&'a BTreeMap<String, f64>>,
    /// The job's panel, when loaded.
    pub panel: Option<&'a Panel>,
    /// Seed.
    pub seed: u64,
    /// Stress paths per unit (`[cluster] block_paths`).
    pub block_paths: u64,
}

/// The backend that ran (or runs) the stress units, and why.
#[derive(Debug, Clone)]
pub struct BackendInfo {
    /// Kind of the primary backend.
    pub kind: BackendKind,
    /// Why that backend.
    pub why: String,
    /// The GPU adapter considered, if any.
    pub adapter: Option<String>,
    /// The CPU-vs-GPU canary, when it ran.
    pub canary: Option<stress::canary::CanaryReport>,
    /// A warning about the backend (a GPU the canary refused).
    pub warning: Option<String>,
}

/// The spec with the book it stresses, or why there is nothing to stress.
pub fn resolve_book(
    spec: StressSpec,
    inp: &StressInputs<'_>,
) -> anyhow::Result<Result<StressSpec, String>> {
    Ok(Ok(match spec.portfolio.clone() {
        PortfolioSource::Weights => spec,
        PortfolioSource::Deployment => {
            if !inp.deployment_fit {
                return Ok(Err(
                    "the panel is too short for a deployment fold, so there is no book to stress"
                        .into(),
                ));
            }
            let book = inp.deployment.cloned().unwrap_or_default();
            if book.is_empty() {
                return Ok(Err(
                    "the deployment book (the strategy's book after the last bar) is all cash: nothing to stress"
                        .into(),
                ));
            }
            spec.with_weights(book, "deployment_book.weights")?
        }
        PortfolioSource::Summary(p) => {
            let book = inp.file_book.cloned().unwrap_or_default();
            if book.is_empty() {
                return Ok(Err(format!(
                    "the deployment book in {} is all cash: nothing to stress",
                    p.display()
                )));
            }
            spec.with_weights(book, "stress.portfolio.from_walkforward")?
        }
    }))
}

/// Resolves the book, plans, and folds every block of paths in path order
/// into the summaries and bands, streaming path rows to
/// `stress_paths.parquet`; skipped (with the reason) for an all-cash book.
pub fn stress_stage(
    spec: StressSpec,
    inp: StressInputs<'_>,
    units: &mut dyn UnitSource,
    parquet: &ParquetOut<'_>,
    progress: &Progress,
    times: &mut StageTimes,
    all_notes: &mut Vec<report::summary::Note>,
) -> anyhow::Result<StressStage> {
    let t = Instant::now();
    let spec = match resolve_book(spec, &inp)? {
        Ok(s) => s,
        Err(why) => return Ok(skip(why)),
    };
    let planned = stress::plan(&spec, inp.panel, inp.seed)?;
    all_notes.extend(notes::stress(
        planned.estimate.as_ref(),
        planned.correlation_repair,
    ));
    let plan = &planned.plan;
    let info = units.stress_backend(plan)?;
    let kind = info.kind;
    times.stress_plan_s = Some(t.elapsed().as_secs_f64());
    let t = Instant::now();
    progress.stage(
        "stress paths (all scenarios)",
        spec.paths.saturating_mul(plan.names.len() as u64),
    );
    let exact = plan.exact_bands(plan.paths);
    let mut outcome = Outcome {
        summaries: Vec::new(),
        bands: Vec::new(),
        exact_bands: exact,
        chunks: 0,
        fallback_chunks: 0,
        fallback_reason: None,
    };
    let mut sink = parquet.sink("stress_paths.parquet", report::stress::paths_schema(), kind)?;
    for (s, name) in plan.names.iter().enumerate() {
        let mut acc = Accumulator::new(plan.capital, plan.horizon, plan.paths, exact);
        let mut used = BTreeSet::new();
        for unit in cluster::plan::stress_blocks(s, plan.paths, inp.block_paths) {
            let block = units.stress_block(plan, &unit)?;
            sink.write(&report::stress::paths_batch(
                name,
                unit.paths.start,
                &block.paths,
            )?)?;
            acc.push(&block.paths, &block.values);
            acc.push_counts(&block.counts);
            used.extend(block.backends.iter().cloned());
            outcome.chunks += block.chunks;
            outcome.fallback_chunks += block.fallback_chunks;
            if outcome.fallback_reason.is_none() {
                outcome.fallback_reason = block.fallback_reason.clone();
            }
            progress.inc(block.paths.len() as u64);
        }
        let used: Vec<&str> = used.iter().map(String::as_str).collect();
        let (summary, bands) = acc.finish(name, &used.join("+"));
        outcome.summaries.push(summary);
        outcome.bands.extend(bands);
    }
    sink.finish()?;
    times.stress_s = Some(t.elapsed().as_secs_f64());
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
    Ok(StressStage::Ran(Box::new(StressRun {
        spec,
        outcome,
        kind,
        why: info.why,
        adapter: info.adapter,
        canary: info.canary,
        warning: info.warning,
    })))
}

fn skip(why: String) -> StressStage {
    tracing::warn!("stress skipped: {why}");
    StressStage::Skipped(why)
}
