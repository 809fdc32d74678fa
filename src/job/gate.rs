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
//! A configured check whose value cannot be computed fails: a gate never passes
//! on missing evidence.

mod baseline;
mod read;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use self::{
    baseline::{BASELINE_LEVEL, BASELINE_RESAMPLES, BASELINE_SEED},
    read::{
        DATA_SHA256_KEY, FoldRow, PredictionCounts, RunReports, ScenarioRow, StressReport,
        check_folder, read_summary,
    },
};
pub use crate::report::gate::{
    BaselineComparison, Check, GateOutcome, Status, Verdict, write_gate_files,
};
use crate::{
    config::{
        JobSpec,
        gate::{GateOverrides, GateSpec, RawGate, Threshold},
    },
    error::{DataError, Exit},
    metrics,
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
    let stats = Stats::of(&run);
    let mut checks = Vec::new();
    for (t, limit) in spec.iter() {
        checks.extend(check(t, limit, &run, &stats, cmp.as_ref()));
    }
    Ok(GateOutcome::new(checks, cmp))
}

/// Edge precision of a run: hits over edge calls; None without calls.
fn precision(run: &RunReports) -> Option<f64> {
    let p = run.predictions;
    (p.calls > 0).then(|| p.hits as f64 / p.calls as f64)
}

/// Statistics of one run that the checks compare.
struct Stats {
    returns: Vec<f64>,
    with_sharpe: Vec<f64>,
}

impl Stats {
    fn of(run: &RunReports) -> Self {
        Self {
            returns: run.oos.iter().map(|&(_, r)| r).collect(),
            with_sharpe: run.folds.iter().filter_map(|f| f.sharpe).collect(),
        }
    }
}

/// A measured value, what it is, and why it may be missing.
struct Measure {
    value: Option<f64>,
    what: String,
    missing: String,
}

fn measure(value: Option<f64>, what: impl Into<String>, missing: impl Into<String>) -> Measure {
    Measure {
        value,
        what: what.into(),
        missing: missing.into(),
    }
}

fn judged(t: Threshold, name: &str, limit: f64, m: Measure) -> Check {
    let (status, why) = match m.value {
        None => (
            Status::Failed,
            format!("{} could not be computed: {}", m.what, m.missing),
        ),
        Some(v) => {
            let ok = if t.is_max() { v <= limit } else { v >= limit };
            let rel = match (t.is_max(), ok) {
                (true, true) => "within the limit <=",
                (true, false) => "above the limit",
                (false, true) => "within the limit >=",
                (false, false) => "below the limit",
            };
            let status = if ok { Status::Passed } else { Status::Failed };
            (
                status,
                format!("{} = {}, {rel} {}", m.what, fmt_value(v), fmt_value(limit)),
            )
        }
    };
    Check {
        name: name.into(),
        threshold: t.key().into(),
        value: m.value,
        limit,
        status,
        why,
    }
}

fn skipped(t: Threshold, limit: f64, why: impl Into<String>) -> Check {
    Check {
        name: t.key().into(),
        threshold: t.key().into(),
        value: None,
        limit,
        status: Status::Skipped,
        why: why.into(),
    }
}

fn check(
    t: Threshold,
    limit: f64,
    run: &RunReports,
    s: &Stats,
    cmp: Option<&BaselineComparison>,
) -> Vec<Check> {
    use Threshold as T;
    let key = t.key();
    let n = s.returns.len();
    let nf = run.folds.len();
    let one = |m: Measure| vec![judged(t, key, limit, m)];
    let bpy = run.bars_per_year;
    match t {
        T::MinAvgSharpe => one(measure(
            metrics::mean(&s.with_sharpe),
            format!(
                "mean Sharpe of {} folds with a Sharpe ratio (of {nf})",
                s.with_sharpe.len()
            ),
            "no fold has a Sharpe ratio",
        )),
        T::MinStitchedSharpe => one(measure(
            metrics::sharpe(&s.returns, bpy),
            format!("annualized Sharpe of {n} stitched out-of-sample bars"),
            "fewer than 2 out-of-sample bars",
        )),
        T::MaxDrawdown => {
            let worst = run
                .folds
                .iter()
                .filter_map(|f| f.max_drawdown.map(|d| (f.fold, d)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            vec![
                judged(
                    t,
                    "max_drawdown.worst_fold",
                    limit,
                    measure(
                        worst.map(|w| w.1),
                        match worst {
                            Some((k, _)) => {
                                format!("max drawdown of the worst fold (fold {k} of {nf})")
                            }
                            None => "max drawdown of the worst fold".into(),
                        },
                        "no fold has a max drawdown",
                    ),
                ),
                judged(
                    t,
                    "max_drawdown.stitched",
                    limit,
                    measure(
                        (n > 0).then(|| metrics::max_drawdown(&s.returns)),
                        format!("max drawdown of the stitched replay ({n} bars)"),
                        "no out-of-sample bars",
                    ),
                ),
            ]
        }
        T::MinPsr => one(measure(
            metrics::psr(&s.returns, 0.0),
            format!("probabilistic Sharpe ratio (against 0) of {n} stitched bars"),
            "needs at least 4 bars and a positive variance term",
        )),
        T::MinDsr => one(measure(
            metrics::dsr(
                &s.returns,
                run.n_trials,
                metrics::annual_to_per_bar(run.trials_sharpe_std, bpy),
            ),
            format!(
                "deflated Sharpe ratio of {n} stitched bars (n_trials {}, trials_sharpe_std {})",
                run.n_trials,
                fmt_value(run.trials_sharpe_std)
            ),
            "needs at least 4 bars, n_trials >= 1 and a positive variance term",
        )),
        T::MinEdgePrecision => {
            let p = run.predictions;
            one(measure(
                precision(run),
                format!(
                    "edge precision: {} true of {} labelled predictions with p >= {}",
                    p.hits,
                    p.calls,
                    fmt_value(run.min_edge)
                ),
                "no labelled prediction reached min_edge",
            ))
        }
        T::MinPrecisionLift => {
            let p = run.predictions;
            let base = (p.labelled > 0).then(|| p.positives as f64 / p.labelled as f64);
            let lift = precision(run).zip(base).map(|(x, b)| x - b);
            one(measure(
                lift,
                format!(
                    "edge precision {} minus base rate {} ({} true of {} labelled predictions)",
                    precision(run).map_or("null".into(), fmt_value),
                    base.map_or("null".into(), fmt_value),
                    p.positives,
                    p.labelled
                ),
                "no labelled prediction, or none reached min_edge",
            ))
        }
        T::MinConsistency => {
            let m = s.with_sharpe.len();
            let pos = s.with_sharpe.iter().filter(|&&x| x > 0.0).count();
            one(measure(
                (m > 0).then(|| pos as f64 / m as f64),
                format!("share of folds with Sharpe > 0: {pos} of {m} folds with a Sharpe ratio"),
                "no fold has a Sharpe ratio",
            ))
        }
        T::MaxStressBreachProbability | T::MaxStressVar99 | T::MaxStressCvar99 => {
            vec![stress_check(t, limit, &run.stress)]
        }
        T::MaxCriticalAlerts => match run.critical_alerts {
            None => vec![skipped(
                t,
                limit,
                "no monitor report (alerts.parquet) in this folder: not applicable",
            )],
            Some(k) => one(measure(
                Some(k as f64),
                "CRITICAL alerts in alerts.parquet",
                "",
            )),
        },
        T::MaxSharpeDrop | T::MaxDrawdownIncrease | T::MaxPrecisionDrop | T::MinProbBetter => {
            let Some(c) = cmp else {
                return vec![skipped(t, limit, "needs --baseline: not applicable")];
            };
            let on = format!("on {} common out-of-sample bars", c.common_bars);
            let m = match t {
                T::MaxSharpeDrop => measure(
                    c.baseline_sharpe
                        .zip(c.candidate_sharpe)
                        .map(|(b, a)| b - a),
                    format!("baseline minus candidate Sharpe {on}"),
                    "fewer than 2 common bars",
                ),
                T::MaxDrawdownIncrease => measure(
                    c.candidate_max_drawdown
                        .zip(c.baseline_max_drawdown)
                        .map(|(a, b)| a - b),
                    format!("candidate minus baseline max drawdown {on}"),
                    "no common bars",
                ),
                T::MaxPrecisionDrop => measure(
                    c.baseline_edge_precision
                        .zip(c.candidate_edge_precision)
                        .map(|(b, a)| b - a),
                    "baseline minus candidate edge precision",
                    "a run has no labelled prediction that reached min_edge",
                ),
                _ => measure(
                    c.prob_better,
                    format!(
                        "share of {} paired bootstrap resamples where the candidate's Sharpe is higher {on}",
                        c.resamples
                    ),
                    format!("needs at least {} common bars", metrics::MIN_BOOTSTRAP_BARS),
                ),
            };
            one(m)
        }
    }
}

fn stress_check(t: Threshold, limit: f64, stress: &StressReport) -> Check {
    let rows = match stress {
        StressReport::Skipped(why) => return skipped(t, limit, format!("{why}: not applicable")),
        StressReport::Scenarios(rows) => rows,
    };
    let (label, get): (&str, fn(&ScenarioRow) -> Option<f64>) = match t {
        Threshold::MaxStressBreachProbability => {
            ("drawdown-breach probability", |r| r.prob_drawdown_breach)
        }
        Threshold::MaxStressVar99 => ("99% VaR", |r| r.var_99),
        _ => ("99% CVaR", |r| r.cvar_99),
    };
    let nulls: Vec<&str> = rows
        .iter()
        .filter(|r| get(r).is_none())
        .map(|r| r.scenario.as_str())
        .collect();
    let worst = rows
        .iter()
        .filter_map(|r| get(r).map(|v| (r.scenario.as_str(), v)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let m = match worst {
        Some((name, v)) if nulls.is_empty() => measure(
            Some(v),
            format!("stress {label}, worst of {} scenarios ({name})", rows.len()),
            "",
        ),
        _ => measure(
            None,
            format!("stress {label}"),
            format!("null for scenario(s) {}", nulls.join(", ")),
        ),
    };
    judged(t, t.key(), limit, m)
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
/// summary.json, else none; command-line flags replace either before validation.
pub fn resolve_spec(req: &GateRequest) -> anyhow::Result<GateSpec> {
    if let Some(job) = &req.job {
        let spec = JobSpec::load_with(job, |raw| {
            raw.gate.get_or_insert_default().apply(&req.overrides);
        })?;
        return Ok(spec.gate.unwrap_or_default());
    }
    check_folder(&req.dir)?;
    let summary = read_summary(&req.dir)?;
    let mut raw = match summary.pointer("/gate/spec") {
        None | Some(serde_json::Value::Null) => RawGate::default(),
        Some(v) => {
            serde_json::from_value::<RawGate>(v.clone()).map_err(|e| DataError::Invalid {
                path: req.dir.join("summary.json").display().to_string(),
                problems: format!("gate.spec: {e}"),
            })?
        }
    };
    raw.apply(&req.overrides);
    Ok(raw.validate()?)
}

/// `chloe gate OUT_DIR`: re-evaluates the folder's reports and rewrites only
/// `gate.json` and `gate.xml`; exit 0 pass, 1 fail.
pub fn command(req: &GateRequest) -> anyhow::Result<Exit> {
    let spec = resolve_spec(req)?;
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
