//! The checks: one measured value per threshold, judged against its limit
//! (what each one measures: see the parent module).

use super::{
    BaselineComparison, Check, RunReports, ScenarioRow, Status, StressReport, WalkforwardReports,
};
use crate::{
    config::gate::{GateSpec, Threshold},
    metrics,
    report::gate::fmt_value,
};

/// Every configured check of `spec` on `run`, in threshold order.
pub(super) fn run(
    spec: &GateSpec,
    run: &RunReports,
    cmp: Option<&BaselineComparison>,
) -> Vec<Check> {
    let wf = run.walkforward.as_ref().map(|wf| (wf, Stats::of(wf)));
    let mut checks = Vec::new();
    for (t, limit) in spec.iter() {
        if !t.needs_walkforward() {
            checks.push(run_check(t, limit, run));
        } else if let Some((wf, stats)) = &wf {
            checks.extend(walkforward_check(t, limit, wf, stats, cmp));
        } else {
            checks.push(skipped(
                t,
                limit,
                "not applicable: this run has no walk-forward reports",
            ));
        }
    }
    checks
}

/// Edge precision of a run: hits over edge calls; None without calls.
pub(super) fn precision(wf: &WalkforwardReports) -> Option<f64> {
    let p = wf.predictions;
    (p.calls > 0).then(|| p.hits as f64 / p.calls as f64)
}

/// Statistics of one run that the checks compare.
struct Stats {
    returns: Vec<f64>,
    with_sharpe: Vec<f64>,
}

impl Stats {
    fn of(wf: &WalkforwardReports) -> Self {
        Self {
            returns: wf.oos.iter().map(|&(_, r)| r).collect(),
            with_sharpe: wf.folds.iter().filter_map(|f| f.sharpe).collect(),
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

/// A threshold measured on the walk-forward reports (and the baseline comparison).
fn walkforward_check(
    t: Threshold,
    limit: f64,
    wf: &WalkforwardReports,
    s: &Stats,
    cmp: Option<&BaselineComparison>,
) -> Vec<Check> {
    use Threshold as T;
    let key = t.key();
    let n = s.returns.len();
    let nf = wf.folds.len();
    let one = |m: Measure| vec![judged(t, key, limit, m)];
    let bpy = wf.bars_per_year;
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
            let worst = wf
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
                wf.n_trials,
                metrics::annual_to_per_bar(wf.trials_sharpe_std, bpy),
            ),
            format!(
                "deflated Sharpe ratio of {n} stitched bars (n_trials {}, trials_sharpe_std {})",
                wf.n_trials,
                fmt_value(wf.trials_sharpe_std)
            ),
            "needs at least 4 bars, n_trials >= 1 and a positive variance term",
        )),
        T::MinEdgePrecision => {
            let p = wf.predictions;
            one(measure(
                precision(wf),
                format!(
                    "edge precision: {} true of {} labelled predictions with p >= {}",
                    p.hits,
                    p.calls,
                    fmt_value(wf.min_edge)
                ),
                "no labelled prediction reached min_edge",
            ))
        }
        T::MinPrecisionLift => {
            let p = wf.predictions;
            let base = (p.labelled > 0).then(|| p.positives as f64 / p.labelled as f64);
            let lift = precision(wf).zip(base).map(|(x, b)| x - b);
            one(measure(
                lift,
                format!(
                    "edge precision {} minus base rate {} ({} true of {} labelled predictions)",
                    precision(wf).map_or("null".into(), fmt_value),
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
        // Judged by `run_check`, without the walk-forward.
        T::MaxStressBreachProbability
        | T::MaxStressVar99
        | T::MaxStressCvar99
        | T::MaxCriticalAlerts => Vec::new(),
        T::MaxSharpeDrop | T::MaxDrawdownIncrease | T::MaxPrecisionDrop | T::MinProbBetter => {
            let Some(c) = cmp else {
                return vec![skipped(t, limit, "not applicable: needs --baseline")];
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

/// A stress or alert threshold: measured on the run's stress and monitor reports.
fn run_check(t: Threshold, limit: f64, run: &RunReports) -> Check {
    match run.critical_alerts {
        _ if t != Threshold::MaxCriticalAlerts => stress_check(t, limit, &run.stress),
        None => skipped(
            t,
            limit,
            "not applicable: no monitor report (alerts.parquet) in this folder",
        ),
        Some(k) => judged(
            t,
            t.key(),
            limit,
            measure(Some(k as f64), "CRITICAL alerts in alerts.parquet", ""),
        ),
    }
}

fn stress_check(t: Threshold, limit: f64, stress: &StressReport) -> Check {
    let rows = match stress {
        StressReport::Skipped(why) => {
            return skipped(t, limit, format!("not applicable: {why}"));
        }
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
