//! `[walkforward]` and `[sizing]` sections.
//!
//! Windows are counted in bars of the panel's calendar. Every bad value is a
//! [`ConfigError::Invalid`] naming the dotted key, so a bad job exits with code 2
//! before any data is read.

use serde::Deserialize;

use crate::error::ConfigError;

/// `[walkforward]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWalkforward {
    /// Training window length in bars (default 252).
    pub in_sample_days: Option<i64>,
    /// Test window length in bars (default 63).
    pub out_of_sample_days: Option<i64>,
    /// Bars between the starts of consecutive folds (default `out_of_sample_days`).
    pub step_days: Option<i64>,
    /// `"rolling"` (default) or `"anchored"`.
    pub mode: Option<String>,
    /// Label horizon in bars (default 5).
    pub lookahead_days: Option<i64>,
    /// Training samples dropped at the end of the training window (default `lookahead_days`).
    pub purge_days: Option<i64>,
    /// Bars skipped between the training window and the test window (default 0).
    pub embargo_days: Option<i64>,
    /// Percentile (0-100) of in-sample forward returns above which a sample has an edge.
    pub edge_percentile: Option<f64>,
    /// `"asset"` (threshold per asset, default) or `"pooled"`.
    pub label_scope: Option<String>,
    /// Edge model: `"logistic"` (default) or `"trees"`.
    pub model: Option<String>,
    /// L2 penalty of the logistic regression (sklearn's `1/C`; default 1.0).
    pub l2: Option<f64>,
    /// Trees in the bagged ensemble (default 25).
    pub n_trees: Option<i64>,
    /// Depth of each tree (default 4).
    pub max_depth: Option<i64>,
    /// Regime detector: `"gmm"` (default) or `"threshold"`.
    pub regime_method: Option<String>,
    /// Number of regimes: 3 (STABLE, VOLATILE, TRENDING) or 4 (adds CRISIS); default 3.
    pub regime_states: Option<i64>,
    /// Buckets of the in-sample calibration table of expected returns (default 10).
    pub calibration_buckets: Option<i64>,
    /// How model scores become probabilities: `"platt"` (default), `"isotonic"` or `"none"`.
    pub probability_calibration: Option<String>,
    /// Share of the in-sample bars, at its end, held out to fit that calibration (default 0.2).
    pub calibration_tail: Option<f64>,
    /// Configurations tried before this one, for the deflated Sharpe ratio (default 1).
    pub n_trials: Option<i64>,
    /// Standard deviation of the annualized Sharpe ratios of those trials (default 0).
    pub trials_sharpe_std: Option<f64>,
    /// Stationary-bootstrap resamples for the Sharpe confidence interval (default 1000).
    pub bootstrap_resamples: Option<i64>,
}

/// How an edge model's scores become probabilities (fitted on a purged
/// in-sample tail the model did not see).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbabilityCalibration {
    /// Logistic regression on the score's log-odds (Platt 1999).
    Platt,
    /// Monotone step function by pool-adjacent-violators (Zadrozny & Elkan 2002).
    Isotonic,
    /// The model's scores as they are.
    None,
}

/// How the training window moves from fold to fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMode {
    /// Fixed-length training window that moves by `step` each fold.
    Rolling,
    /// Training always starts at the first usable bar and grows by `step`.
    Anchored,
}

/// Which samples set the edge threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelScope {
    /// One threshold per asset, from that asset's in-sample forward returns.
    Asset,
    /// One threshold from all assets' in-sample forward returns.
    Pooled,
}

/// Edge classifier family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelKind {
    /// L2-regularized logistic regression on standardized features.
    Logistic {
        /// L2 penalty (sklearn's `1/C`).
        l2: f64,
    },
    /// Bagged decision trees; probability is the share of trees voting "edge".
    Trees {
        /// Number of trees.
        n_trees: usize,
        /// Maximum depth of each tree.
        max_depth: usize,
    },
}

/// Regime detection method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegimeMethod {
    /// Gaussian mixture on market features, clusters named by volatility and trend.
    Gmm,
    /// In-sample quantile thresholds on market volatility and trend.
    Threshold,
}

/// Validated walk-forward settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkforwardSpec {
    /// Training window length in bars.
    pub in_sample: usize,
    /// Test window length in bars.
    pub out_of_sample: usize,
    /// Bars between fold starts.
    pub step: usize,
    /// Rolling or anchored training windows.
    pub mode: WindowMode,
    /// Label horizon in bars.
    pub lookahead: usize,
    /// Training samples dropped at the end of the training window.
    pub purge: usize,
    /// Bars skipped between training and test windows.
    pub embargo: usize,
    /// Edge percentile as a fraction in (0, 1).
    pub edge_quantile: f64,
    /// Threshold per asset or pooled.
    pub label_scope: LabelScope,
    /// Edge model.
    pub model: ModelKind,
    /// Regime method.
    pub regime_method: RegimeMethod,
    /// Number of regimes (3 or 4).
    pub regime_states: usize,
    /// Calibration buckets.
    pub calibration_buckets: usize,
    /// Probability calibration of the edge model.
    pub probability_calibration: ProbabilityCalibration,
    /// Share of in-sample bars held out (after a purge) to fit the calibration.
    pub calibration_tail: f64,
    /// Trials behind the deflated Sharpe ratio.
    pub n_trials: usize,
    /// Annualized standard deviation of the trials' Sharpe ratios.
    pub trials_sharpe_std: f64,
    /// Bootstrap resamples.
    pub bootstrap_resamples: usize,
}

impl Default for WalkforwardSpec {
    fn default() -> Self {
        RawWalkforward::default()
            .validate()
            .expect("defaults are valid")
    }
}

fn count(key: &str, v: Option<i64>, default: usize, min: i64) -> Result<usize, ConfigError> {
    match v {
        None => Ok(default),
        Some(x) if x >= min => Ok(x as usize),
        Some(x) => Err(ConfigError::invalid(
            format!("walkforward.{key}"),
            format!("must be at least {min}, got {x}"),
        )),
    }
}

fn choice<T: Copy>(
    key: &str,
    v: Option<String>,
    default: T,
    options: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Some(s) = v else { return Ok(default) };
    options
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            ConfigError::invalid(
                format!("walkforward.{key}"),
                format!("must be one of {}, got \"{s}\"", names.join(", ")),
            )
        })
}

impl RawWalkforward {
    /// Checks ranges and fills defaults.
    pub fn validate(self) -> Result<WalkforwardSpec, ConfigError> {
        let in_sample = count("in_sample_days", self.in_sample_days, 252, 20)?;
        let out_of_sample = count("out_of_sample_days", self.out_of_sample_days, 63, 2)?;
        let step = count("step_days", self.step_days, out_of_sample, 1)?;
        if step < out_of_sample {
            return Err(ConfigError::invalid(
                "walkforward.step_days",
                format!(
                    "must be at least out_of_sample_days ({out_of_sample}) so test windows do not \
                     overlap, got {step}"
                ),
            ));
        }
        let mode = choice(
            "mode",
            self.mode,
            WindowMode::Rolling,
            &[
                ("rolling", WindowMode::Rolling),
                ("anchored", WindowMode::Anchored),
            ],
        )?;
        let lookahead = count("lookahead_days", self.lookahead_days, 5, 1)?;
        let purge = count("purge_days", self.purge_days, lookahead, 0)?;
        let embargo = count("embargo_days", self.embargo_days, 0, 0)?;
        if lookahead + 10 > in_sample {
            return Err(ConfigError::invalid(
                "walkforward.lookahead_days",
                format!(
                    "({lookahead}) leaves fewer than 10 training bars of in_sample_days ({in_sample})"
                ),
            ));
        }
        if purge + 10 > in_sample {
            return Err(ConfigError::invalid(
                "walkforward.purge_days",
                format!(
                    "({purge}) leaves fewer than 10 training bars of in_sample_days ({in_sample})"
                ),
            ));
        }
        let pct = self.edge_percentile.unwrap_or(60.0);
        if !(pct > 0.0 && pct < 100.0) {
            return Err(ConfigError::invalid(
                "walkforward.edge_percentile",
                format!("must be strictly between 0 and 100, got {pct}"),
            ));
        }
        let label_scope = choice(
            "label_scope",
            self.label_scope,
            LabelScope::Asset,
            &[("asset", LabelScope::Asset), ("pooled", LabelScope::Pooled)],
        )?;
        let l2 = self.l2.unwrap_or(1.0);
        if !(l2.is_finite() && l2 > 0.0) {
            return Err(ConfigError::invalid(
                "walkforward.l2",
                format!("must be a positive number, got {l2}"),
            ));
        }
        let n_trees = count("n_trees", self.n_trees, 25, 1)?;
        let max_depth = count("max_depth", self.max_depth, 4, 1)?;
        let model = match self.model.as_deref() {
            None | Some("logistic") => ModelKind::Logistic { l2 },
            Some("trees") => ModelKind::Trees { n_trees, max_depth },
            Some(other) => {
                return Err(ConfigError::invalid(
                    "walkforward.model",
                    format!("must be one of \"logistic\", \"trees\", got \"{other}\""),
                ));
            }
        };
        let regime_method = choice(
            "regime_method",
            self.regime_method,
            RegimeMethod::Gmm,
            &[
                ("gmm", RegimeMethod::Gmm),
                ("threshold", RegimeMethod::Threshold),
            ],
        )?;
        let regime_states = count("regime_states", self.regime_states, 3, 3)?;
        if regime_states > 4 {
            return Err(ConfigError::invalid(
                "walkforward.regime_states",
                format!("must be 3 or 4, got {regime_states}"),
            ));
        }
        let calibration_buckets = count("calibration_buckets", self.calibration_buckets, 10, 1)?;
        let probability_calibration = choice(
            "probability_calibration",
            self.probability_calibration,
            ProbabilityCalibration::Platt,
            &[
                ("platt", ProbabilityCalibration::Platt),
                ("isotonic", ProbabilityCalibration::Isotonic),
                ("none", ProbabilityCalibration::None),
            ],
        )?;
        let calibration_tail = self.calibration_tail.unwrap_or(0.2);
        if !(calibration_tail > 0.0 && calibration_tail <= 0.5) {
            return Err(ConfigError::invalid(
                "walkforward.calibration_tail",
                format!("must be in (0, 0.5], got {calibration_tail}"),
            ));
        }
        let n_trials = count("n_trials", self.n_trials, 1, 1)?;
        let trials_sharpe_std = self.trials_sharpe_std.unwrap_or(0.0);
        if !(trials_sharpe_std.is_finite() && trials_sharpe_std >= 0.0) {
            return Err(ConfigError::invalid(
                "walkforward.trials_sharpe_std",
                format!("must be a non-negative number, got {trials_sharpe_std}"),
            ));
        }
        let bootstrap_resamples = count("bootstrap_resamples", self.bootstrap_resamples, 1000, 0)?;
        Ok(WalkforwardSpec {
            in_sample,
            out_of_sample,
            step,
            mode,
            lookahead,
            purge,
            embargo,
            edge_quantile: pct / 100.0,
            label_scope,
            model,
            regime_method,
            regime_states,
            calibration_buckets,
            probability_calibration,
            calibration_tail,
            n_trials,
            trials_sharpe_std,
            bootstrap_resamples,
        })
    }
}

/// `[sizing]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSizing {
    /// Edge probability below which no position is taken (default 0.55).
    pub min_edge: Option<f64>,
    /// Largest weight of one asset, fraction of equity (default 0.10).
    pub max_position: Option<f64>,
    /// Flat cost per unit of one-way turnover, basis points (default 5).
    pub cost_bps: Option<f64>,
    /// Largest sum of weights; larger books are scaled down pro rata (default 1.0).
    pub max_gross: Option<f64>,
    /// Largest net exposure (long minus short), fraction of equity (default 1.0).
    pub max_net: Option<f64>,
    /// Share of the full Kelly fraction taken (default 0.25, quarter Kelly).
    pub kelly_fraction: Option<f64>,
    /// Largest number of positions held (default 20).
    pub max_positions: Option<i64>,
    /// Annualized portfolio volatility target from the in-sample covariance; 0 is off (default 0.15).
    pub vol_target: Option<f64>,
    /// Running drawdown at which the brake starts scaling exposure down (default 0.10).
    pub brake_start: Option<f64>,
    /// Running drawdown at which exposure reaches 0 (default 0.15).
    pub max_drawdown: Option<f64>,
    /// Recovery of the unbraked book from its trough that re-opens a tripped brake (default 0.05).
    pub reentry: Option<f64>,
    /// Fewest in-sample wins and losses behind the estimated Kelly odds (default 30).
    pub min_odds_samples: Option<i64>,
    /// Exposure multiplier per regime name (defaults VOLATILE 0.5, STABLE 1.2, TRENDING 1.0, CRISIS 0.0).
    pub regime_multipliers: Option<std::collections::BTreeMap<String, f64>>,
}

/// Validated sizing settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SizingSpec {
    /// Edge probability below which no position is taken.
    pub min_edge: f64,
    /// Largest weight of one asset.
    pub max_position: f64,
    /// Cost per unit of turnover, basis points.
    pub cost_bps: f64,
    /// Largest sum of weights.
    pub max_gross: f64,
    /// Largest net exposure.
    pub max_net: f64,
    /// Share of the full Kelly fraction.
    pub kelly_fraction: f64,
    /// Largest number of positions held.
    pub max_positions: usize,
    /// Annualized volatility target; 0 is off.
    pub vol_target: f64,
    /// Drawdown where the brake starts.
    pub brake_start: f64,
    /// Drawdown where exposure reaches 0.
    pub max_drawdown: f64,
    /// Recovery that re-opens a tripped brake.
    pub reentry: f64,
    /// Fewest in-sample wins and losses behind the Kelly odds.
    pub min_odds_samples: usize,
    /// Multipliers for STABLE, VOLATILE, TRENDING, CRISIS.
    pub regime_multipliers: [f64; 4],
}

impl SizingSpec {
    /// The multiplier of `regime` (the order of [`crate::regime::Regime`]'s names).
    pub fn multiplier(&self, regime_name: &str) -> f64 {
        REGIME_NAMES
            .iter()
            .position(|&n| n == regime_name)
            .map_or(1.0, |k| self.regime_multipliers[k])
    }
}

/// Regime names in the order of [`SizingSpec::regime_multipliers`].
pub const REGIME_NAMES: [&str; 4] = ["STABLE", "VOLATILE", "TRENDING", "CRISIS"];

impl Default for SizingSpec {
    fn default() -> Self {
        RawSizing::default().validate().expect("defaults are valid")
    }
}

/// `SECTION.regime_multipliers` (regime name -> multiplier in [0, 10]) over
/// `defaults`, in [`REGIME_NAMES`] order.
pub(super) fn regime_multipliers(
    section: &str,
    raw: Option<&std::collections::BTreeMap<String, f64>>,
    defaults: [f64; 4],
) -> Result<[f64; 4], ConfigError> {
    let mut out = defaults;
    for (name, &m) in raw.into_iter().flatten() {
        let key = format!("{section}.regime_multipliers.{name}");
        let Some(k) = REGIME_NAMES.iter().position(|n| n == name) else {
            return Err(ConfigError::invalid(
                key,
                format!("is not a regime; use one of {}", REGIME_NAMES.join(", ")),
            ));
        };
        if !(m.is_finite() && (0.0..=10.0).contains(&m)) {
            return Err(ConfigError::invalid(
                key,
                format!("must be between 0 and 10, got {m}"),
            ));
        }
        out[k] = m;
    }
    Ok(out)
}

fn fraction(key: &str, v: Option<f64>, default: f64, lo: f64, hi: f64) -> Result<f64, ConfigError> {
    let x = v.unwrap_or(default);
    if x.is_finite() && x >= lo && x <= hi {
        Ok(x)
    } else {
        Err(ConfigError::invalid(
            format!("sizing.{key}"),
            format!("must be between {lo} and {hi}, got {x}"),
        ))
    }
}

impl RawSizing {
    /// Checks ranges and fills defaults.
    pub fn validate(self) -> Result<SizingSpec, ConfigError> {
        let max_drawdown = fraction("max_drawdown", self.max_drawdown, 0.15, 0.0, 1.0)?;
        if max_drawdown <= 0.0 {
            return Err(ConfigError::invalid(
                "sizing.max_drawdown",
                "must be above 0 (it is the drawdown where exposure reaches 0)",
            ));
        }
        let brake_start = fraction("brake_start", self.brake_start, 0.10, 0.0, 1.0)?;
        if brake_start >= max_drawdown {
            return Err(ConfigError::invalid(
                "sizing.brake_start",
                format!("must be below sizing.max_drawdown ({max_drawdown}), got {brake_start}"),
            ));
        }
        let regime_multipliers = regime_multipliers(
            "sizing",
            self.regime_multipliers.as_ref(),
            [1.2, 0.5, 1.0, 0.0],
        )?;
        Ok(SizingSpec {
            min_edge: fraction("min_edge", self.min_edge, 0.55, 0.0, 1.0)?,
            max_position: fraction("max_position", self.max_position, 0.10, 0.0, 1.0)?,
            cost_bps: fraction("cost_bps", self.cost_bps, 5.0, 0.0, 10_000.0)?,
            max_gross: fraction("max_gross", self.max_gross, 1.0, 0.0, 10.0)?,
            max_net: fraction("max_net", self.max_net, 1.0, 0.0, 10.0)?,
            kelly_fraction: fraction("kelly_fraction", self.kelly_fraction, 0.25, 0.0, 1.0)?,
            max_positions: match self.max_positions {
                None => 20,
                Some(n) if n >= 1 => n as usize,
                Some(n) => {
                    return Err(ConfigError::invalid(
                        "sizing.max_positions",
                        format!("must be at least 1, got {n}"),
                    ));
                }
            },
            vol_target: fraction("vol_target", self.vol_target, 0.15, 0.0, 10.0)?,
            brake_start,
            max_drawdown,
            reentry: fraction("reentry", self.reentry, 0.05, 0.0, 10.0)?,
            min_odds_samples: match self.min_odds_samples {
                None => 30,
                Some(n) if n >= 1 => n as usize,
                Some(n) => {
                    return Err(ConfigError::invalid(
                        "sizing.min_odds_samples",
                        format!("must be at least 1, got {n}"),
                    ));
                }
            },
            regime_multipliers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WalkforwardSpec, ConfigError> {
        toml::from_str::<RawWalkforward>(text).unwrap().validate()
    }

    #[test]
    fn defaults_follow_the_issue() {
        let s = WalkforwardSpec::default();
        assert_eq!((s.in_sample, s.out_of_sample, s.step), (252, 63, 63));
        assert_eq!((s.lookahead, s.purge, s.embargo), (5, 5, 0));
        assert_eq!(s.mode, WindowMode::Rolling);
        assert_eq!(s.label_scope, LabelScope::Asset);
        assert_eq!(s.model, ModelKind::Logistic { l2: 1.0 });
        assert!((s.edge_quantile - 0.6).abs() < 1e-12);
        let z = SizingSpec::default();
        assert_eq!((z.min_edge, z.max_position, z.cost_bps), (0.55, 0.10, 5.0));
    }

    #[test]
    fn dependent_defaults_follow_their_source() {
        let s = parse("out_of_sample_days = 21\nlookahead_days = 10").unwrap();
        assert_eq!((s.step, s.purge), (21, 10));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse("mode = \"sideways\"").unwrap_err().to_string();
        assert!(
            e.contains("walkforward.mode") && e.contains("sideways"),
            "{e}"
        );
        let e = parse("out_of_sample_days = 63\nstep_days = 10")
            .unwrap_err()
            .to_string();
        assert!(e.contains("walkforward.step_days"), "{e}");
        let e = parse("edge_percentile = 100").unwrap_err().to_string();
        assert!(e.contains("edge_percentile"), "{e}");
        assert!(toml::from_str::<RawWalkforward>("in_sample = 3").is_err());
        let e = toml::from_str::<RawSizing>("min_edge = 1.5")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("sizing.min_edge"), "{e}");
    }
}
