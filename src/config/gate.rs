//! `[gate]` section: release thresholds, each optional.
//!
//! Command-line flags are applied to the raw section ([`RawGate::apply`]) before
//! [`RawGate::validate`], so a limit from the job file and one from a flag go
//! through the same checks. Every bad value is a [`ConfigError::Invalid`] naming
//! the key and its flag.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// One gate threshold: a limit on one measured statistic of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Threshold {
    /// Mean of the fold Sharpe ratios, at least.
    MinAvgSharpe,
    /// Annualized Sharpe ratio of the stitched out-of-sample returns, at least.
    MinStitchedSharpe,
    /// Max drawdown of the worst fold and of the stitched replay, at most.
    MaxDrawdown,
    /// Probabilistic Sharpe ratio of the stitched returns against 0, at least.
    MinPsr,
    /// Deflated Sharpe ratio of the stitched returns, at least.
    MinDsr,
    /// Precision of the out-of-sample edge calls (p >= min_edge), at least.
    MinEdgePrecision,
    /// Edge precision minus the base rate of true labels, at least.
    MinPrecisionLift,
    /// Share of folds with a positive Sharpe ratio, at least.
    MinConsistency,
    /// Probability of breaching the stress drawdown limit, worst scenario, at most.
    MaxStressBreachProbability,
    /// 99% value at risk of the stress test, worst scenario, at most.
    MaxStressVar99,
    /// 99% conditional value at risk of the stress test, worst scenario, at most.
    MaxStressCvar99,
    /// Number of CRITICAL monitor alerts, at most.
    MaxCriticalAlerts,
    /// Baseline stitched Sharpe minus the candidate's, at most.
    MaxSharpeDrop,
    /// Candidate stitched max drawdown minus the baseline's, at most.
    MaxDrawdownIncrease,
    /// Baseline edge precision minus the candidate's, at most.
    MaxPrecisionDrop,
    /// Share of paired bootstrap resamples where the candidate's Sharpe is higher, at least.
    MinProbBetter,
}

impl Threshold {
    /// Every threshold, in the order reports list them.
    pub const ALL: [Threshold; 16] = [
        Self::MinAvgSharpe,
        Self::MinStitchedSharpe,
        Self::MaxDrawdown,
        Self::MinPsr,
        Self::MinDsr,
        Self::MinEdgePrecision,
        Self::MinPrecisionLift,
        Self::MinConsistency,
        Self::MaxStressBreachProbability,
        Self::MaxStressVar99,
        Self::MaxStressCvar99,
        Self::MaxCriticalAlerts,
        Self::MaxSharpeDrop,
        Self::MaxDrawdownIncrease,
        Self::MaxPrecisionDrop,
        Self::MinProbBetter,
    ];

    /// The job-file key, e.g. `min_avg_sharpe`.
    pub fn key(self) -> &'static str {
        match self {
            Self::MinAvgSharpe => "min_avg_sharpe",
            Self::MinStitchedSharpe => "min_stitched_sharpe",
            Self::MaxDrawdown => "max_drawdown",
            Self::MinPsr => "min_psr",
            Self::MinDsr => "min_dsr",
            Self::MinEdgePrecision => "min_edge_precision",
            Self::MinPrecisionLift => "min_precision_lift",
            Self::MinConsistency => "min_consistency",
            Self::MaxStressBreachProbability => "max_stress_breach_probability",
            Self::MaxStressVar99 => "max_stress_var_99",
            Self::MaxStressCvar99 => "max_stress_cvar_99",
            Self::MaxCriticalAlerts => "max_critical_alerts",
            Self::MaxSharpeDrop => "max_sharpe_drop",
            Self::MaxDrawdownIncrease => "max_drawdown_increase",
            Self::MaxPrecisionDrop => "max_precision_drop",
            Self::MinProbBetter => "min_prob_better",
        }
    }

    /// The command-line flag, e.g. `--min-avg-sharpe`.
    pub fn flag(self) -> String {
        format!("--{}", self.key().replace('_', "-"))
    }

    /// True for an upper limit (`max_*`), false for a lower limit (`min_*`).
    pub fn is_max(self) -> bool {
        self.key().starts_with("max_")
    }

    /// True for the thresholds that compare against `--baseline`.
    pub fn needs_baseline(self) -> bool {
        matches!(
            self,
            Self::MaxSharpeDrop
                | Self::MaxDrawdownIncrease
                | Self::MaxPrecisionDrop
                | Self::MinProbBetter
        )
    }

    /// True for the thresholds measured on walk-forward reports (all but stress and alerts).
    pub fn needs_walkforward(self) -> bool {
        !matches!(
            self,
            Self::MaxStressBreachProbability
                | Self::MaxStressVar99
                | Self::MaxStressCvar99
                | Self::MaxCriticalAlerts
        )
    }

    /// Accepted limits, inclusive, and how to say it.
    fn range(self) -> (f64, f64, &'static str) {
        const ANY: (f64, f64, &str) = (f64::MIN, f64::MAX, "a finite number");
        const FRACTION: (f64, f64, &str) = (0.0, 1.0, "a fraction in [0, 1]");
        const CHANGE: (f64, f64, &str) = (-1.0, 1.0, "a fraction in [-1, 1]");
        match self {
            Self::MinAvgSharpe | Self::MinStitchedSharpe | Self::MaxSharpeDrop => ANY,
            Self::MaxStressVar99 | Self::MaxStressCvar99 => ANY,
            Self::MaxDrawdown
            | Self::MinPsr
            | Self::MinDsr
            | Self::MinEdgePrecision
            | Self::MinConsistency
            | Self::MaxStressBreachProbability
            | Self::MinProbBetter => FRACTION,
            Self::MinPrecisionLift | Self::MaxDrawdownIncrease | Self::MaxPrecisionDrop => CHANGE,
            Self::MaxCriticalAlerts => (0.0, u32::MAX as f64, "a whole number >= 0"),
        }
    }
}

/// `[gate]` as written (also the shape of `gate.spec` in summary.json).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    /// Lowest mean fold Sharpe ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_avg_sharpe: Option<f64>,
    /// Lowest stitched out-of-sample Sharpe ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_stitched_sharpe: Option<f64>,
    /// Highest max drawdown, worst fold and stitched replay (seed plan: 0.15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_drawdown: Option<f64>,
    /// Lowest probabilistic Sharpe ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_psr: Option<f64>,
    /// Lowest deflated Sharpe ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_dsr: Option<f64>,
    /// Lowest edge precision (seed plan: 0.60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_edge_precision: Option<f64>,
    /// Lowest edge precision minus base rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_precision_lift: Option<f64>,
    /// Lowest share of folds with a positive Sharpe ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_consistency: Option<f64>,
    /// Highest stress drawdown-breach probability, worst scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stress_breach_probability: Option<f64>,
    /// Highest stress 99% VaR, worst scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stress_var_99: Option<f64>,
    /// Highest stress 99% CVaR, worst scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stress_cvar_99: Option<f64>,
    /// Most CRITICAL monitor alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_critical_alerts: Option<f64>,
    /// Largest Sharpe drop against the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sharpe_drop: Option<f64>,
    /// Largest max-drawdown increase against the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_drawdown_increase: Option<f64>,
    /// Largest edge-precision drop against the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_precision_drop: Option<f64>,
    /// Lowest probability that the candidate's Sharpe beats the baseline's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_prob_better: Option<f64>,
}

/// Threshold values given on the command line, in the shape of `[gate]`;
/// each `Some` replaces the job file's.
pub type GateOverrides = RawGate;

impl RawGate {
    /// True when no threshold is given.
    pub fn is_empty(&self) -> bool {
        Threshold::ALL.iter().all(|&t| self.get(t).is_none())
    }

    /// The value written for `t`, if any.
    pub fn get(&self, t: Threshold) -> Option<f64> {
        match t {
            Threshold::MinAvgSharpe => self.min_avg_sharpe,
            Threshold::MinStitchedSharpe => self.min_stitched_sharpe,
            Threshold::MaxDrawdown => self.max_drawdown,
            Threshold::MinPsr => self.min_psr,
            Threshold::MinDsr => self.min_dsr,
            Threshold::MinEdgePrecision => self.min_edge_precision,
            Threshold::MinPrecisionLift => self.min_precision_lift,
            Threshold::MinConsistency => self.min_consistency,
            Threshold::MaxStressBreachProbability => self.max_stress_breach_probability,
            Threshold::MaxStressVar99 => self.max_stress_var_99,
            Threshold::MaxStressCvar99 => self.max_stress_cvar_99,
            Threshold::MaxCriticalAlerts => self.max_critical_alerts,
            Threshold::MaxSharpeDrop => self.max_sharpe_drop,
            Threshold::MaxDrawdownIncrease => self.max_drawdown_increase,
            Threshold::MaxPrecisionDrop => self.max_precision_drop,
            Threshold::MinProbBetter => self.min_prob_better,
        }
    }

    fn slot(&mut self, t: Threshold) -> &mut Option<f64> {
        match t {
            Threshold::MinAvgSharpe => &mut self.min_avg_sharpe,
            Threshold::MinStitchedSharpe => &mut self.min_stitched_sharpe,
            Threshold::MaxDrawdown => &mut self.max_drawdown,
            Threshold::MinPsr => &mut self.min_psr,
            Threshold::MinDsr => &mut self.min_dsr,
            Threshold::MinEdgePrecision => &mut self.min_edge_precision,
            Threshold::MinPrecisionLift => &mut self.min_precision_lift,
            Threshold::MinConsistency => &mut self.min_consistency,
            Threshold::MaxStressBreachProbability => &mut self.max_stress_breach_probability,
            Threshold::MaxStressVar99 => &mut self.max_stress_var_99,
            Threshold::MaxStressCvar99 => &mut self.max_stress_cvar_99,
            Threshold::MaxCriticalAlerts => &mut self.max_critical_alerts,
            Threshold::MaxSharpeDrop => &mut self.max_sharpe_drop,
            Threshold::MaxDrawdownIncrease => &mut self.max_drawdown_increase,
            Threshold::MaxPrecisionDrop => &mut self.max_precision_drop,
            Threshold::MinProbBetter => &mut self.min_prob_better,
        }
    }

    /// Replaces every threshold the command line gives.
    pub fn apply(&mut self, overrides: &GateOverrides) {
        for t in Threshold::ALL {
            if let Some(v) = overrides.get(t) {
                *self.slot(t) = Some(v);
            }
        }
    }

    /// Checks every limit against its accepted range.
    pub fn validate(self) -> Result<GateSpec, ConfigError> {
        let mut limits = BTreeMap::new();
        for t in Threshold::ALL {
            let Some(v) = self.get(t) else { continue };
            let (lo, hi, what) = t.range();
            let whole = t != Threshold::MaxCriticalAlerts || v.fract() == 0.0;
            if !(v.is_finite() && v >= lo && v <= hi && whole) {
                return Err(ConfigError::invalid(
                    format!("gate.{} ({})", t.key(), t.flag()),
                    format!("must be {what}, got {v}"),
                ));
            }
            limits.insert(t, v);
        }
        Ok(GateSpec { limits })
    }
}

/// Validated gate thresholds: the limits that are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateSpec {
    limits: BTreeMap<Threshold, f64>,
}

impl GateSpec {
    /// The limit for `t`, when set.
    pub fn limit(&self, t: Threshold) -> Option<f64> {
        self.limits.get(&t).copied()
    }

    /// The set limits in [`Threshold::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Threshold, f64)> + '_ {
        self.limits.iter().map(|(&t, &v)| (t, v))
    }

    /// True when no threshold is set (the gate then passes).
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The raw form with the same keys as the job file, e.g. for summary.json.
    pub fn to_raw(&self) -> RawGate {
        let mut raw = RawGate::default();
        for (t, v) in self.iter() {
            *raw.slot(t) = Some(v);
        }
        raw
    }
}

impl Serialize for GateSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_raw().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawGate, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn keys_and_flags_follow_the_enum() {
        let keys: std::collections::BTreeSet<_> = Threshold::ALL.iter().map(|t| t.key()).collect();
        assert_eq!(keys.len(), 16);
        assert_eq!(Threshold::MaxStressVar99.flag(), "--max-stress-var-99");
        assert!(Threshold::MaxDrawdown.is_max() && !Threshold::MinPsr.is_max());
        // Every key round-trips through the serde struct, so `get` and the field agree.
        for t in Threshold::ALL {
            let raw = parse(&format!("{} = 0.5", t.key())).unwrap();
            assert_eq!(raw.get(t), Some(0.5), "{}", t.key());
            let others = Threshold::ALL.iter().filter(|&&u| u != t);
            assert!(others.clone().all(|&u| raw.get(u).is_none()));
        }
    }

    #[test]
    fn overrides_replace_the_file_and_validate_once() {
        let mut raw = parse("min_avg_sharpe = 0.5\nmax_drawdown = 0.15").unwrap();
        raw.apply(&GateOverrides {
            min_avg_sharpe: Some(0.8),
            min_psr: Some(0.9),
            ..Default::default()
        });
        let spec = raw.validate().unwrap();
        assert_eq!(spec.limit(Threshold::MinAvgSharpe), Some(0.8));
        assert_eq!(spec.limit(Threshold::MaxDrawdown), Some(0.15));
        assert_eq!(spec.limit(Threshold::MinPsr), Some(0.9));
        assert_eq!(spec.limit(Threshold::MinDsr), None);
        assert_eq!(spec.iter().count(), 3);
        // summary.json form reads back to the same spec.
        let json = serde_json::to_string(&spec).unwrap();
        let back: RawGate = serde_json::from_str(&json).unwrap();
        assert_eq!(back.validate().unwrap(), spec);
    }

    #[test]
    fn bad_values_name_key_and_flag() {
        let err = |text: &str| parse(text).unwrap().validate().unwrap_err().to_string();
        let e = err("max_drawdown = 1.5");
        assert!(e.contains("gate.max_drawdown (--max-drawdown)"), "{e}");
        assert!(e.contains("[0, 1]") && e.contains("1.5"), "{e}");
        assert!(err("max_critical_alerts = 1.5").contains("whole number"));
        assert!(err("max_critical_alerts = -1").contains("whole number"));
        assert!(err("min_precision_lift = -2").contains("[-1, 1]"));
        assert!(err("min_avg_sharpe = nan").contains("finite"));
        let mut raw = RawGate::default();
        raw.apply(&GateOverrides {
            min_prob_better: Some(2.0),
            ..Default::default()
        });
        let e = raw.validate().unwrap_err().to_string();
        assert!(e.contains("--min-prob-better"), "{e}");
        // Negative VaR limits are allowed: they demand a gain even in the tail.
        assert!(
            parse("max_stress_var_99 = -0.01")
                .unwrap()
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_rejected() {
        let e = parse("min_sharpe = 1.0").unwrap_err().to_string();
        assert!(e.contains("min_sharpe"), "{e}");
        let e = parse("min_avg_sharpe = \"high\"").unwrap_err().to_string();
        assert!(e.contains("min_avg_sharpe"), "{e}");
        // Integers are numbers.
        assert_eq!(
            parse("max_critical_alerts = 0")
                .unwrap()
                .max_critical_alerts,
            Some(0.0)
        );
    }

    #[test]
    fn readme_example_sets_every_threshold() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\n[gate]")
            .expect("README has a [gate] example")
            + 8;
        let end = start + readme[start..].find("```").unwrap();
        let job: std::collections::BTreeMap<String, RawGate> =
            toml::from_str(&readme[start..end]).unwrap();
        let spec = job["gate"].clone().validate().unwrap();
        assert_eq!(spec.iter().count(), Threshold::ALL.len());
        assert_eq!(spec.limit(Threshold::MaxDrawdown), Some(0.15));
        assert_eq!(spec.limit(Threshold::MinEdgePrecision), Some(0.60));
    }

    #[test]
    fn empty_gate_is_empty() {
        assert!(parse("").unwrap().validate().unwrap().is_empty());
        assert!(GateOverrides::default().is_empty());
    }
}
