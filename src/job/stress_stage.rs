//! The stress stage as the runner calls it: resolve the book (the job's
//! weights, this run's deployment book, or a previous run's), plan, pick the
//! backend, simulate, and stream the path rows to the report writer.

use std::{collections::BTreeMap, time::Instant};

use super::notes;
use crate::{
    config::stress::{PortfolioSource, StressSpec},
    data::Panel,
    progress::Progress,
    report::{self, ParquetOut, summary::StageTimes},
    stress::{self, BackendChoice, BackendKind, engine::Outcome},
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
    /// Backend choice.
    pub backend: BackendChoice,
}

/// Resolves the book, plans, picks the backend and simulates, streaming path
/// rows to `stress_paths.parquet`; skipped (with the reason) for an all-cash book.
pub fn stress_stage(
    spec: StressSpec,
    inp: StressInputs<'_>,
    parquet: &ParquetOut<'_>,
    progress: &Progress,
    times: &mut StageTimes,
    all_notes: &mut Vec<report::summary::Note>,
) -> anyhow::Result<StressStage> {
    let t = Instant::now();
    let spec = match spec.portfolio.clone() {
        PortfolioSource::Weights => spec,
        PortfolioSource::Deployment => {
            if !inp.deployment_fit {
                return Ok(skip(
                    "the panel is too short for a deployment fold, so there is no book to stress"
                        .into(),
                ));
            }
            let book = inp.deployment.cloned().unwrap_or_default();
            if book.is_empty() {
                return Ok(skip(
                    "the deployment book (the strategy's book after the last bar) is all cash: nothing to stress"
                        .into(),
                ));
            }
            spec.with_weights(book, "deployment_book.weights")?
        }
        PortfolioSource::Summary(p) => {
            let book = inp.file_book.cloned().unwrap_or_default();
            if book.is_empty() {
                return Ok(skip(format!(
                    "the deployment book in {} is all cash: nothing to stress",
                    p.display()
                )));
            }
            spec.with_weights(book, "stress.portfolio.from_walkforward")?
        }
    };
    let planned = stress::plan(&spec, inp.panel, inp.seed)?;
    all_notes.extend(notes::stress(
        planned.estimate.as_ref(),
        planned.correlation_repair,
    ));
    let stress::Selected {
        mut backend,
        why,
        adapter,
        canary,
        warning,
    } = stress::select_backend(inp.backend, &planned.plan)?;
    if let Some(w) = &warning {
        tracing::warn!("{w}");
    }
    let kind = backend.kind();
    tracing::info!("stress backend {}: {why}", kind.as_str());
    times.stress_plan_s = Some(t.elapsed().as_secs_f64());
    let t = Instant::now();
    let plan = &planned.plan;
    progress.stage(
        "stress paths (all scenarios)",
        spec.paths.saturating_mul(plan.names.len() as u64),
    );
    let mut sink = parquet.sink("stress_paths.parquet", report::stress::paths_schema(), kind)?;
    let outcome = stress::engine::run(
        plan,
        backend.as_mut(),
        0..spec.paths,
        |s, first, chunk| {
            sink.write(&report::stress::paths_batch(
                &plan.names[s],
                first,
                &chunk.paths,
            )?)?;
            progress.inc(chunk.paths.len() as u64);
            Ok(())
        },
        &|| {},
    )?;
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
        why,
        adapter,
        canary,
        warning,
    })))
}

fn skip(why: String) -> StressStage {
    tracing::warn!("stress skipped: {why}");
    StressStage::Skipped(why)
}
