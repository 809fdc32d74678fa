//! `[monitor]` section: the risk monitor's rules, each with a warning and a
//! critical level, and where alerts are routed.
//!
//! Every key is optional; the defaults follow the seed plan (15% drawdown
//! limit, a brake from 10%, correlation threshold 0.7). An upper-limit rule
//! alerts when its value exceeds the level (`value > limit`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// A rule's two levels as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLevels {
    /// Warning level.
    pub warning: Option<f64>,
    /// Critical level.
    pub critical: Option<f64>,
}

/// `[monitor.correlation]`: correlation concentration of the held book.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCorrelation {
    /// Warning level of the average pairwise correlation.
    pub warning: Option<f64>,
    /// Critical level of the average pairwise correlation.
    pub critical: Option<f64>,
    /// Rolling window in bars.
    pub window: Option<u64>,
}

/// `[monitor.regime]`: regimes whose entry raises an alert.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegime {
    /// Regimes whose entry raises a WARNING.
    pub warning: Option<Vec<String>>,
    /// Regimes whose entry raises a CRITICAL alert.
    pub critical: Option<Vec<String>>,
}

/// `[monitor]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    /// Drawdown of the continuous account.
    pub drawdown: Option<RawLevels>,
    /// Gross exposure (sum of |weights|).
    pub gross_exposure: Option<RawLevels>,
    /// Largest single-name |weight|.
    pub single_name: Option<RawLevels>,
    /// Average pairwise correlation of the held book.
    pub correlation: Option<RawCorrelation>,
    /// Shorthand for `correlation.warning` (the seed plan's name).
    pub correlation_threshold: Option<f64>,
    /// Regime changes.
    pub regime: Option<RawRegime>,
    /// Stress drawdown-breach probability per scenario.
    pub stress_breach_probability: Option<RawLevels>,
    /// Stress 99% VaR per scenario (loss, fraction of capital).
    pub stress_var_99: Option<RawLevels>,
    /// Folds in a row with edge precision below the base rate.
    pub edge_decay: Option<RawLevels>,
    /// A value must fall below `rearm x level` to leave a level (hysteresis).
    pub rearm: Option<f64>,
    /// Bars a regime must stay out of an alerting set (or the book without a
    /// correlation) before a new entry alerts again.
    pub rearm_bars: Option<u64>,
    /// Command run once per WARNING alert, the alert as JSON on stdin.
    pub on_warning: Option<String>,
    /// Command run once per CRITICAL alert, the alert as JSON on stdin.
    pub on_critical: Option<String>,
    /// Seconds a routing command may run before it is killed.
    pub command_timeout_s: Option<f64>,
    /// Seconds all routing commands of a run may take together.
    pub routing_budget_s: Option<f64>,
}

/// A validated rule: warning level below (or equal to) the critical level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Levels {
    /// Warning level.
    pub warning: f64,
    /// Critical level.
    pub critical: f64,
}

/// The validated `[monitor]` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorSpec {
    /// Drawdown (fraction of the running peak).
    pub drawdown: Levels,
    /// Gross exposure (fraction of equity).
    pub gross_exposure: Levels,
    /// Largest single-name |weight| (fraction of equity).
    pub single_name: Levels,
    /// Average pairwise correlation of the held book.
    pub correlation: Levels,
    /// Rolling correlation window, bars.
    pub correlation_window: usize,
    /// Regimes whose entry raises a WARNING.
    pub regime_warning: BTreeSet<String>,
    /// Regimes whose entry raises a CRITICAL alert.
    pub regime_critical: BTreeSet<String>,
    /// Stress drawdown-breach probability per scenario.
    pub stress_breach_probability: Levels,
    /// Stress 99% VaR per scenario.
    pub stress_var_99: Levels,
    /// Folds in a row with edge precision below the base rate.
    pub edge_decay: Levels,
    /// Hysteresis factor in (0, 1].
    pub rearm: f64,
    /// Quiet bars before a regime entry or a correlated book alerts again.
    pub rearm_bars: usize,
    /// Command for WARNING alerts (not in summary.json: it may hold a token).
    #[serde(skip)]
    pub on_warning: Option<String>,
    /// Command for CRITICAL alerts (not in summary.json: it may hold a token).
    #[serde(skip)]
    pub on_critical: Option<String>,
    /// Per-command timeout, seconds.
    pub command_timeout_s: f64,
    /// Total routing time of a run, seconds.
    pub routing_budget_s: f64,
}

impl Default for MonitorSpec {
    fn default() -> Self {
        RawMonitor::default()
            .validate()
            .expect("the defaults are valid")
    }
}

/// Regime names the detectors produce.
const REGIMES: [&str; 4] = ["STABLE", "TRENDING", "VOLATILE", "CRISIS"];

fn levels(
    key: &str,
    raw: Option<RawLevels>,
    default: (f64, f64),
    range: (f64, f64, &str),
) -> Result<Levels, ConfigError> {
    let raw = raw.unwrap_or_default();
    let l = Levels {
        warning: raw.warning.unwrap_or(default.0),
        critical: raw.critical.unwrap_or(default.1),
    };
    for (name, v) in [("warning", l.warning), ("critical", l.critical)] {
        if !(v.is_finite() && v >= range.0 && v <= range.1) {
            return Err(ConfigError::invalid(
                format!("monitor.{key}.{name}"),
                format!("must be {}, got {v}", range.2),
            ));
        }
    }
    if l.warning > l.critical {
        return Err(ConfigError::invalid(
            format!("monitor.{key}"),
            format!(
                "warning ({}) must not be above critical ({})",
                l.warning, l.critical
            ),
        ));
    }
    Ok(l)
}

fn regimes(
    key: &str,
    raw: Option<Vec<String>>,
    default: &str,
) -> Result<BTreeSet<String>, ConfigError> {
    let list = raw.unwrap_or_else(|| vec![default.to_string()]);
    let mut out = BTreeSet::new();
    for r in list {
        let up = r.to_ascii_uppercase();
        if !REGIMES.contains(&up.as_str()) {
            return Err(ConfigError::invalid(
                format!("monitor.regime.{key}"),
                format!("has unknown regime {r:?} (known: {})", REGIMES.join(", ")),
            ));
        }
        out.insert(up);
    }
    Ok(out)
}

fn seconds(key: &str, v: Option<f64>, default: f64) -> Result<f64, ConfigError> {
    let v = v.unwrap_or(default);
    if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
        return Err(ConfigError::invalid(
            format!("monitor.{key}"),
            format!("must be seconds in (0, 3600], got {v}"),
        ));
    }
    Ok(v)
}

fn command(key: &str, v: Option<String>) -> Result<Option<String>, ConfigError> {
    match v {
        Some(c) if c.trim().is_empty() => Err(ConfigError::invalid(
            format!("monitor.{key}"),
            "must be a shell command, got an empty string",
        )),
        other => Ok(other),
    }
}

impl RawMonitor {
    /// Checks every level and fills the defaults.
    pub fn validate(self) -> Result<MonitorSpec, ConfigError> {
        const FRACTION: (f64, f64, &str) = (0.0, 1.0, "a fraction in [0, 1]");
        const EXPOSURE: (f64, f64, &str) = (0.0, 100.0, "a fraction of equity in [0, 100]");
        const CORR: (f64, f64, &str) = (-1.0, 1.0, "a correlation in [-1, 1]");
        const LOSS: (f64, f64, &str) = (-1.0, 100.0, "a loss fraction in [-1, 100]");
        const FOLDS: (f64, f64, &str) = (1.0, 1e6, "a whole number of folds >= 1");
        let corr = self.correlation.unwrap_or_default();
        if corr.warning.is_some() && self.correlation_threshold.is_some() {
            return Err(ConfigError::invalid(
                "monitor.correlation_threshold",
                "and monitor.correlation.warning are the same setting: give one",
            ));
        }
        let correlation = levels(
            "correlation",
            Some(RawLevels {
                warning: corr.warning.or(self.correlation_threshold),
                critical: corr.critical,
            }),
            (0.7, 0.85),
            CORR,
        )?;
        let window = corr.window.unwrap_or(63);
        if !(5..=100_000).contains(&window) {
            return Err(ConfigError::invalid(
                "monitor.correlation.window",
                format!("must be bars in [5, 100000], got {window}"),
            ));
        }
        let edge_decay = levels("edge_decay", self.edge_decay, (3.0, 5.0), FOLDS)?;
        if edge_decay.warning.fract() != 0.0 || edge_decay.critical.fract() != 0.0 {
            return Err(ConfigError::invalid(
                "monitor.edge_decay",
                format!(
                    "levels must be whole numbers of folds, got {} and {}",
                    edge_decay.warning, edge_decay.critical
                ),
            ));
        }
        let rearm = self.rearm.unwrap_or(0.9);
        if !(rearm.is_finite() && rearm > 0.0 && rearm <= 1.0) {
            return Err(ConfigError::invalid(
                "monitor.rearm",
                format!("must be a factor in (0, 1], got {rearm}"),
            ));
        }
        let rearm_bars = self.rearm_bars.unwrap_or(21);
        if rearm_bars > 100_000 {
            return Err(ConfigError::invalid(
                "monitor.rearm_bars",
                format!("must be bars in [0, 100000], got {rearm_bars}"),
            ));
        }
        let regime = self.regime.unwrap_or_default();
        Ok(MonitorSpec {
            rearm_bars: rearm_bars as usize,
            drawdown: levels("drawdown", self.drawdown, (0.10, 0.15), FRACTION)?,
            gross_exposure: levels("gross_exposure", self.gross_exposure, (0.9, 1.0), EXPOSURE)?,
            single_name: levels("single_name", self.single_name, (0.10, 0.20), EXPOSURE)?,
            correlation,
            correlation_window: window as usize,
            regime_warning: regimes("warning", regime.warning, "VOLATILE")?,
            regime_critical: regimes("critical", regime.critical, "CRISIS")?,
            stress_breach_probability: levels(
                "stress_breach_probability",
                self.stress_breach_probability,
                (0.01, 0.05),
                FRACTION,
            )?,
            stress_var_99: levels("stress_var_99", self.stress_var_99, (0.10, 0.15), LOSS)?,
            edge_decay,
            rearm,
            on_warning: command("on_warning", self.on_warning)?,
            on_critical: command("on_critical", self.on_critical)?,
            command_timeout_s: seconds("command_timeout_s", self.command_timeout_s, 5.0)?,
            routing_budget_s: seconds("routing_budget_s", self.routing_budget_s, 60.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MonitorSpec, String> {
        let raw: RawMonitor = toml::from_str(text).map_err(|e| e.to_string())?;
        raw.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_seed_plan() {
        let s = parse("").unwrap();
        assert_eq!((s.drawdown.warning, s.drawdown.critical), (0.10, 0.15));
        assert_eq!(s.correlation.warning, 0.7);
        assert_eq!(s.correlation_window, 63);
        assert!(s.regime_warning.contains("VOLATILE") && s.regime_critical.contains("CRISIS"));
        assert_eq!(s.on_warning, None);
        assert_eq!(s, MonitorSpec::default());
    }

    #[test]
    fn values_are_read_and_the_shorthand_sets_the_warning() {
        let s = parse(
            "correlation_threshold = 0.6\ndrawdown = { warning = 0.05, critical = 0.08 }\n\
             regime = { warning = [\"volatile\", \"TRENDING\"] }\non_critical = \"cat\"\n\
             [correlation]\nwindow = 20\n",
        )
        .unwrap();
        assert_eq!(s.correlation.warning, 0.6);
        assert_eq!(s.correlation_window, 20);
        assert_eq!(s.drawdown.critical, 0.08);
        assert_eq!(s.regime_warning.len(), 2);
        assert_eq!(s.on_critical.as_deref(), Some("cat"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = |t: &str| parse(t).unwrap_err();
        assert!(e("drawdown = { warning = 0.2, critical = 0.1 }").contains("monitor.drawdown"));
        assert!(e("drawdown = { warning = 1.5 }").contains("monitor.drawdown.warning"));
        assert!(e("correlation = { window = 2 }").contains("monitor.correlation.window"));
        assert!(e("regime = { critical = [\"PANIC\"] }").contains("monitor.regime.critical"));
        assert!(e("command_timeout_s = 0").contains("monitor.command_timeout_s"));
        assert!(e("edge_decay = { warning = 1.5 }").contains("monitor.edge_decay"));
        assert!(e("on_warning = \" \"").contains("monitor.on_warning"));
        assert!(e("rearm = 0").contains("monitor.rearm"));
        assert!(e("rearm_bars = 1000000").contains("monitor.rearm_bars"));
        assert!(
            e("correlation_threshold = 0.5\ncorrelation = { warning = 0.6 }")
                .contains("monitor.correlation_threshold")
        );
        assert!(e("drawdwn = { warning = 0.1 }").contains("drawdwn"));
    }
}
