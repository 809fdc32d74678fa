//! The release gate: thresholds checked against a finished output folder.
//!
//! [`evaluate`] reads only the folder's report files ([`RunReports`]), so `chloe run`
//! and a later `chloe gate OUT_DIR` give the same verdict by construction.
//!
//! What each threshold measures (all from the reports):
//! - `min_avg_sharpe`: mean of the non-null fold Sharpe ratios (`folds.parquet`).
//! - `min_stitched_sharpe`, `min_psr`, `min_dsr`: the stitched `oos_returns.parquet`
//!   returns, with `data.bars_per_year`, `walkforward.config.n_trials` and
//!   `walkforward.config.trials_sharpe_std` from summary.json; PSR is against Sharpe 0.
//! - `max_drawdown`: two checks, `max_drawdown.worst_fold` (largest fold max drawdown)
//!   and `max_drawdown.stitched` (the stitched replay from equity 1.0).
//! - `min_edge_precision`: share of true labels among labelled predictions with
//!   `edge_probability >= min_edge`; `min_precision_lift`: that precision minus the
//!   base rate (share of true labels among all labelled predictions).
//! - `min_consistency`: share of folds with a Sharpe ratio above 0, among the folds
//!   whose Sharpe ratio could be computed (the seed plan's consistency).
//! - `max_stress_*`: the worst scenario of `stress_summary.parquet`; skipped (never
//!   passed) when summary.json has a string `stress.skipped` or there is no stress report.
//! - `max_critical_alerts`: CRITICAL rows of `alerts.parquet`; skipped when absent.
//! - `max_sharpe_drop`, `max_drawdown_increase`, `max_precision_drop`,
//!   `min_prob_better`: against `--baseline` (see [`BaselineComparison`]); skipped
//!   without one.
//!
//! Every threshold but the stress and alert ones is skipped in a run without a
//! walk-forward (a stress-only job). A configured check whose value cannot be
//! computed fails: a gate never passes on missing evidence.

mod baseline;
mod checks;
mod read;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use self::{
    baseline::{BASELINE_LEVEL, BASELINE_RESAMPLES, BASELINE_SEED},
    read::{
        DATA_SHA256_KEY, FoldRow, PredictionCounts, RunReports, ScenarioRow, StressReport,
        WalkforwardReports, check_folder, read_summary,
    },
};
pub use crate::report::gate::{
    BaselineComparison, Check, GateOutcome, Status, Verdict, write_gate_files,
};
use crate::{
    config::{
        JobSpec,
        gate::{GateOverrides, GateSpec, RawGate},
    },
    error::{DataError, Exit},
    report::gate::fmt_value,
};

/// Evaluates `spec` on the output folder `dir`, comparing with `baseline` when given.
///
/// Errors (exit 2): `dir` or `baseline` is not a chloe output folder, or the two
/// runs' data hash or fold plan differ and `allow_different_data` is false.
pub fn evaluate(
    dir: &Path,
    spec: &GateSpec,
    baseline: Option<&Path>,
    allow_different_data: bool,
) -> anyhow::Result<GateOutcome> {
    let run = RunReports::read(dir)?;
    let cmp = baseline
        .map(|b| baseline::compare(&run, b, allow_different_data))
        .transpose()?;
    let checks = checks::run(spec, &run, cmp.as_ref());
    Ok(GateOutcome::new(checks, cmp))
}

/// What `chloe gate` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct GateRequest {
    /// The output folder to judge.
    pub dir: PathBuf,
    /// Job file whose `[gate]` gives the thresholds.
    pub job: Option<PathBuf>,
    /// A previous run's output folder to compare against.
    pub baseline: Option<PathBuf>,
    /// Compare with a baseline whose data or fold plan differs.
    pub allow_different_data: bool,
    /// Thresholds from the command line.
    pub overrides: GateOverrides,
}

/// The thresholds of a request: `--job`'s `[gate]`, else `gate.spec` of the folder's
/// summary.json, else none; command-line flags replace values of either in the raw
/// form before [`RawGate::validate`].
pub fn resolve_spec(req: &GateRequest) -> anyhow::Result<GateSpec> {
    let mut raw = match &req.job {
        Some(job) => JobSpec::load(job)?
            .gate
            .map(|g| g.to_raw())
            .unwrap_or_default(),
        None => {
            check_folder(&req.dir)?;
            let summary = read_summary(&req.dir)?;
            match summary.pointer("/gate/spec") {
                None | Some(serde_json::Value::Null) => RawGate::default(),
                Some(v) => serde_json::from_value::<RawGate>(v.clone()).map_err(|e| {
                    DataError::Invalid {
                        path: req.dir.join("summary.json").display().to_string(),
                        problems: format!("gate.spec: {e}"),
                    }
                })?,
            }
        }
    };
    raw.apply(&req.overrides);
    Ok(raw.validate()?)
}

/// `chloe gate OUT_DIR`: re-evaluates the folder's reports and rewrites only
/// `gate.json` and `gate.xml`; exit 0 pass, 1 fail.
pub fn command(req: &GateRequest) -> anyhow::Result<Exit> {
    let spec = resolve_spec(req)?;
    if spec.is_empty() {
        tracing::warn!(
            "no gate thresholds: give --job, threshold flags, or gate a folder written by `chloe run`"
        );
    }
    let outcome = evaluate(
        &req.dir,
        &spec,
        req.baseline.as_deref(),
        req.allow_different_data,
    )?;
    write_gate_files(&req.dir, &outcome)?;
    print(&outcome);
    Ok(outcome.exit())
}

/// One line per check and the verdict, on stdout.
pub fn print(outcome: &GateOutcome) {
    if let Some(b) = &outcome.baseline {
        let f = |v: Option<f64>| v.map_or("null".into(), fmt_value);
        println!(
            "baseline {}: Sharpe difference {} (95% CI {}), prob_better {}, {} common bars",
            b.dir,
            f(b.sharpe_difference),
            b.sharpe_difference_ci
                .map_or("null".into(), |[lo, hi]| format!(
                    "{} .. {}",
                    fmt_value(lo),
                    fmt_value(hi)
                )),
            f(b.prob_better),
            b.common_bars
        );
    }
    for c in &outcome.checks {
        let tag = match c.status {
            Status::Passed => "PASS",
            Status::Failed => "FAIL",
            Status::Skipped => "SKIP",
        };
        println!("{tag} {}: {}", c.name, c.why);
    }
    let k = outcome.counts;
    println!(
        "gate {}: {} passed, {} failed, {} skipped",
        match outcome.verdict {
            Verdict::Pass => "passed",
            Verdict::Fail => "FAILED",
        },
        k.passed,
        k.failed,
        k.skipped
    );
}
