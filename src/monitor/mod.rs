//! The risk monitor: limit checks over a run's results -> alerts with severity.
//!
//! [`run`] walks the continuous out-of-sample replay bar by bar (drawdown,
//! gross and single-name exposure, correlation concentration of the held
//! book over a rolling window, regime changes), the stress results per
//! scenario (drawdown-breach probability, 99% VaR) and the folds in order
//! (edge precision below the base rate k folds in a row), against the rules
//! of `[monitor]`. An alert is raised when a rule *enters* a level, not on
//! every bar it stays there ([`levels`]). Everything read at bar t is known
//! at t. The monitor reads result structs ([`Inputs`]); it never calls a
//! model or a backend. [`route`] hands alerts to the user's commands.

pub mod correlation;
mod inputs;
pub mod levels;
pub mod route;

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use self::levels::{Compare, Tracker};
pub use self::{
    inputs::{FoldEdge, Inputs, ReplayView, ScenarioRisk},
    levels::Severity,
};
use crate::config::monitor::MonitorSpec;

/// One alert: a rule that entered a level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// When (microseconds since the epoch, UTC); None for a stress alert of a run without data.
    pub timestamp: Option<i64>,
    /// WARNING or CRITICAL.
    pub severity: Severity,
    /// The rule's key in `[monitor]`.
    pub rule: &'static str,
    /// The measured value.
    pub value: f64,
    /// The level it crossed; None for a regime change.
    pub limit: Option<f64>,
    /// The symbol or scenario it concerns, when one.
    pub symbol: Option<String>,
    /// One sentence for people.
    pub message: String,
}

/// What the monitor tracked at each decision bar of the replay (monitor.parquet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Track {
    /// Decision bars' timestamps.
    pub timestamps: Vec<i64>,
    /// Equity at the bar's close before its trades (1.0 at the first bar).
    pub equity: Vec<f64>,
    /// Drawdown from the running peak (peak at least 1.0).
    pub drawdown: Vec<f64>,
    /// Sum of |weights| after the bar's trades.
    pub gross: Vec<f64>,
    /// Sum of weights.
    pub net: Vec<f64>,
    /// Largest |weight|.
    pub max_single_name: Vec<f64>,
    /// Asset index of the largest |weight| (None when flat).
    pub top_asset: Vec<Option<usize>>,
    /// Average pairwise correlation of the held book over the window.
    pub avg_correlation: Vec<Option<f64>>,
    /// Number of held assets.
    pub n_held: Vec<usize>,
}

/// Correlation matrix of the assets held at some bar of the replay, over the
/// whole out-of-sample span (correlation.parquet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeldCorrelation {
    /// Asset indices, ascending.
    pub assets: Vec<usize>,
    /// `[assets, assets]`, NaN where undefined.
    pub matrix: Array2<f64>,
}

/// What the monitor produced.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    /// Alerts in time order (stress alerts at the data's last bar; undated last).
    pub alerts: Vec<Alert>,
    /// The tracked series of the replay.
    pub track: Track,
    /// Correlation of the held assets.
    pub correlation: HeldCorrelation,
}

impl Monitor {
    /// Alert counts per severity (summary.json `monitor.alerts`).
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::from([("CRITICAL", 0), ("WARNING", 0)]);
        for a in &self.alerts {
            *m.entry(a.severity.name()).or_default() += 1;
        }
        m
    }
}

const HELD: f64 = 1e-9;

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Runs every rule of `spec` over `inputs`.
pub fn run(spec: &MonitorSpec, inputs: &Inputs<'_>) -> Monitor {
    let mut alerts = Vec::new();
    let mut track = Track::default();
    let mut correlation = HeldCorrelation::default();
    if let Some(r) = &inputs.replay {
        track = replay_rules(spec, inputs, r, &mut alerts);
        correlation = held_correlation(r, inputs.asset_returns.view());
    }
    edge_rules(spec, &inputs.folds, &mut alerts);
    stress_rules(spec, inputs, &mut alerts);
    // Stable: within a timestamp, rules keep their evaluation order.
    alerts.sort_by_key(|a| (a.timestamp.is_none(), a.timestamp));
    Monitor {
        alerts,
        track,
        correlation,
    }
}

fn replay_rules(
    spec: &MonitorSpec,
    inputs: &Inputs<'_>,
    r: &ReplayView<'_>,
    alerts: &mut Vec<Alert>,
) -> Track {
    let n = r.returns.len();
    let m = r.weights.ncols();
    let sym = |i: usize| inputs.symbols[i].clone();
    let mut tr = Track::default();
    let (mut dd_t, mut gross_t, mut corr_t) =
        (Tracker::default(), Tracker::default(), Tracker::default());
    let mut single: Vec<Tracker> = vec![Tracker::default(); m];
    let (mut equity, mut peak) = (1.0f64, 1.0f64);
    let mut prev_regime: Option<&str> = None;
    // Last decision bar at which the regime was in the warning / critical set.
    let mut last_in: [Option<usize>; 2] = [None, None];
    // Decision bars in a row without a correlation (flat or one-asset book).
    let mut corr_gap = 0usize;
    let mut push = |a: Alert| alerts.push(a);
    for k in 0..=n {
        let bar = r.start + k;
        let ts = inputs.timestamps[bar];
        if k > 0 {
            equity *= 1.0 + r.returns[k - 1];
        }
        peak = peak.max(equity);
        let dd = 1.0 - equity / peak;
        if let Some(s) = dd_t.step(dd, spec.drawdown, Compare::Above, spec.rearm) {
            let lim = level(spec.drawdown, s);
            push(Alert {
                timestamp: Some(ts),
                severity: s,
                rule: "drawdown",
                value: dd,
                limit: Some(lim),
                symbol: None,
                message: format!(
                    "drawdown of the continuous account {} is above {} (equity {:.4}, peak {:.4})",
                    pct(dd),
                    pct(lim),
                    equity,
                    peak
                ),
            });
        }
        // The last return bar has no decision (no book after it).
        if k == n {
            break;
        }
        let w = r.weights.row(k);
        let held: Vec<usize> = (0..m).filter(|&i| w[i].abs() > HELD).collect();
        // `+ 0.0`: an empty sum is -0.0.
        let gross: f64 = held.iter().map(|&i| w[i].abs()).sum::<f64>() + 0.0;
        let net: f64 = held.iter().map(|&i| w[i]).sum::<f64>() + 0.0;
        let top = held
            .iter()
            .copied()
            .max_by(|&a, &b| w[a].abs().total_cmp(&w[b].abs()).then(b.cmp(&a)));
        let avg_corr = correlation::average_pairwise(
            inputs.asset_returns.view(),
            bar,
            spec.correlation_window,
            &held,
        );
        tr.timestamps.push(ts);
        tr.equity.push(equity);
        tr.drawdown.push(dd);
        tr.gross.push(gross);
        tr.net.push(net);
        tr.max_single_name.push(top.map_or(0.0, |i| w[i].abs()));
        tr.top_asset.push(top);
        tr.avg_correlation.push(avg_corr);
        tr.n_held.push(held.len());

        if let Some(s) = gross_t.step(gross, spec.gross_exposure, Compare::Above, spec.rearm) {
            let lim = level(spec.gross_exposure, s);
            push(Alert {
                timestamp: Some(ts),
                severity: s,
                rule: "gross_exposure",
                value: gross,
                limit: Some(lim),
                symbol: None,
                message: format!(
                    "gross exposure {} of equity is above {} ({} positions, net {})",
                    pct(gross),
                    pct(lim),
                    held.len(),
                    pct(net)
                ),
            });
        }
        for (i, t) in single.iter_mut().enumerate() {
            let v = w[i].abs();
            if let Some(s) = t.step(v, spec.single_name, Compare::Above, spec.rearm) {
                let lim = level(spec.single_name, s);
                push(Alert {
                    timestamp: Some(ts),
                    severity: s,
                    rule: "single_name",
                    value: v,
                    limit: Some(lim),
                    symbol: Some(sym(i)),
                    message: format!(
                        "{} is {} of equity, above the single-name level {}",
                        inputs.symbols[i],
                        pct(v),
                        pct(lim)
                    ),
                });
            }
        }
        // A flat or one-asset book has no correlation: the rule's level is
        // kept through short gaps and resets after `rearm_bars` of them.
        let c = avg_corr.unwrap_or(f64::NEG_INFINITY);
        let c_step = if avg_corr.is_some() {
            corr_gap = 0;
            corr_t.step(c, spec.correlation, Compare::Above, spec.rearm)
        } else {
            corr_gap += 1;
            if corr_gap >= spec.rearm_bars.max(1) {
                corr_t = Tracker::default();
            }
            None
        };
        if let Some(s) = c_step {
            let lim = level(spec.correlation, s);
            let names: Vec<&str> = held.iter().map(|&i| inputs.symbols[i].as_str()).collect();
            push(Alert {
                timestamp: Some(ts),
                severity: s,
                rule: "correlation",
                value: c,
                limit: Some(lim),
                symbol: None,
                message: format!(
                    "average pairwise correlation {c:.3} of the {} held assets ({}) over {} bars is above {lim}",
                    held.len(),
                    names.join(", "),
                    spec.correlation_window
                ),
            });
        }
        if let Some((name, prob)) = r.regimes.get(k).copied().flatten() {
            let sets = [&spec.regime_warning, &spec.regime_critical];
            let sev = if sets[1].contains(name) {
                Some((1, Severity::Critical))
            } else if sets[0].contains(name) {
                Some((0, Severity::Warning))
            } else {
                None
            };
            // Entering the set, after `rearm_bars` outside it (a regime that
            // flickers in and out raises one alert).
            if let Some((set, s)) = sev {
                let entered = !prev_regime.is_some_and(|p| sets[set].contains(p));
                let quiet = last_in[set].is_none_or(|l| k - l > spec.rearm_bars);
                if entered && quiet {
                    push(Alert {
                        timestamp: Some(ts),
                        severity: s,
                        rule: "regime",
                        value: prob,
                        limit: None,
                        symbol: None,
                        message: format!(
                            "regime changed {} {name} (probability {prob:.2}); gross exposure {}",
                            prev_regime.map_or("to".to_string(), |p| format!("from {p} to")),
                            pct(gross)
                        ),
                    });
                }
                last_in[set] = Some(k);
            }
            prev_regime = Some(name);
        }
    }
    tr
}

fn level(l: crate::config::monitor::Levels, s: Severity) -> f64 {
    match s {
        Severity::Warning => l.warning,
        Severity::Critical => l.critical,
    }
}

fn edge_rules(spec: &MonitorSpec, folds: &[FoldEdge], alerts: &mut Vec<Alert>) {
    let mut t = Tracker::default();
    let mut run = 0usize;
    for f in folds {
        // A fold without edge calls (or labels) says nothing either way.
        let (Some(p), Some(b)) = (f.precision, f.base_rate) else {
            continue;
        };
        run = if p < b { run + 1 } else { 0 };
        if let Some(s) = t.step(run as f64, spec.edge_decay, Compare::AtLeast, 1.0) {
            alerts.push(Alert {
                timestamp: Some(f.test_end),
                severity: s,
                rule: "edge_decay",
                value: run as f64,
                limit: Some(level(spec.edge_decay, s)),
                symbol: None,
                message: format!(
                    "edge precision below the base rate for {run} folds with edge calls in a row \
                     (fold {}: precision {p:.3}, base rate {b:.3})",
                    f.index
                ),
            });
        }
    }
}

fn stress_rules(spec: &MonitorSpec, inputs: &Inputs<'_>, alerts: &mut Vec<Alert>) {
    for sc in &inputs.stress {
        for (rule, v, l, what) in [
            (
                "stress_breach_probability",
                sc.prob_drawdown_breach,
                spec.stress_breach_probability,
                "probability of breaching the drawdown limit",
            ),
            (
                "stress_var_99",
                sc.var_99,
                spec.stress_var_99,
                "99% VaR (loss of capital)",
            ),
        ] {
            if let Some(s) = Tracker::default().step(v, l, Compare::Above, 1.0) {
                let lim = level(l, s);
                alerts.push(Alert {
                    timestamp: inputs.stress_timestamp,
                    severity: s,
                    rule,
                    value: v,
                    limit: Some(lim),
                    symbol: Some(sc.scenario.clone()),
                    message: format!(
                        "stress scenario {}: {what} {} is above {}",
                        sc.scenario,
                        pct(v),
                        pct(lim)
                    ),
                });
            }
        }
    }
}

fn held_correlation(r: &ReplayView<'_>, returns: ArrayView2<'_, f64>) -> HeldCorrelation {
    let m = r.weights.ncols();
    let assets: Vec<usize> = (0..m)
        .filter(|&i| r.weights.column(i).iter().any(|w| w.abs() > HELD))
        .collect();
    let rows = r.start + 1..(r.start + r.returns.len() + 1).min(returns.nrows());
    let k = assets.len();
    let mut matrix = Array2::from_elem((k, k), f64::NAN);
    for x in 0..k {
        for y in x..k {
            let c = if x == y {
                Some(1.0)
            } else {
                correlation::pearson(returns, rows.clone(), assets[x], assets[y], 20)
            };
            let c = c.unwrap_or(f64::NAN);
            matrix[[x, y]] = c;
            matrix[[y, x]] = c;
        }
    }
    HeldCorrelation { assets, matrix }
}

#[cfg(test)]
mod tests;
