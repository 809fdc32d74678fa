//! `[strategy]` and `[portfolio]` sections: which strategy the walk-forward
//! replays (and which ones beside it), and the account it trades.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::resolve;
use crate::error::ConfigError;

/// `[strategy]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStrategy {
    /// `"risk_first"` (default), `"prediction_first"`, `"buy_and_hold"`,
    /// `"equal_weight"` or `"signals"`.
    pub kind: Option<String>,
    /// Strategies replayed beside `kind` on the same data and costs.
    pub compare: Option<Vec<String>>,
    /// Parquet file of `timestamp, symbol, weight | edge_probability` (kind `signals`).
    pub signals: Option<String>,
    /// Bars between rebalances of `equal_weight` (default 21).
    pub rebalance_days: Option<i64>,
}

/// A built-in strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StrategyKind {
    /// Edge probabilities sized by the risk engine.
    RiskFirst,
    /// The classifier's top signals, equal weights, no risk engine.
    PredictionFirst,
    /// Equal weights bought once.
    BuyAndHold,
    /// Equal weights rebalanced every `rebalance_days`.
    EqualWeight,
    /// Weights or edge probabilities from a user's file.
    Signals,
}

const KINDS: [(&str, StrategyKind); 5] = [
    ("risk_first", StrategyKind::RiskFirst),
    ("prediction_first", StrategyKind::PredictionFirst),
    ("buy_and_hold", StrategyKind::BuyAndHold),
    ("equal_weight", StrategyKind::EqualWeight),
    ("signals", StrategyKind::Signals),
];

impl StrategyKind {
    /// The name used in job files and reports.
    pub fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }

    fn parse(key: &str, s: &str) -> Result<Self, ConfigError> {
        KINDS
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<String> = KINDS.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                ConfigError::invalid(
                    key,
                    format!("must be one of {}, got \"{s}\"", names.join(", ")),
                )
            })
    }
}

/// Validated strategy settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategySpec {
    /// The strategy whose replay is the run's result.
    pub kind: StrategyKind,
    /// Strategies replayed beside it (without `kind`, no duplicates, in file order).
    pub compare: Vec<StrategyKind>,
    /// The signals file, when `kind` or `compare` names `signals`.
    pub signals: Option<PathBuf>,
    /// Bars between `equal_weight` rebalances.
    pub rebalance: usize,
}

impl Default for StrategySpec {
    fn default() -> Self {
        RawStrategy::default()
            .validate(Path::new("."))
            .expect("defaults are valid")
    }
}

impl RawStrategy {
    /// Checks names and resolves the signals path against `base`.
    pub fn validate(self, base: &Path) -> Result<StrategySpec, ConfigError> {
        let kind = match self.kind.as_deref() {
            None => StrategyKind::RiskFirst,
            Some(s) => StrategyKind::parse("strategy.kind", s)?,
        };
        let mut compare = Vec::new();
        for s in self.compare.iter().flatten() {
            let k = StrategyKind::parse("strategy.compare", s)?;
            if k != kind && !compare.contains(&k) {
                compare.push(k);
            }
        }
        let uses_signals =
            kind == StrategyKind::Signals || compare.contains(&StrategyKind::Signals);
        let signals = match (self.signals, uses_signals) {
            (Some(p), true) => Some(resolve(base, &p)),
            (None, true) => {
                return Err(ConfigError::invalid(
                    "strategy.signals",
                    "is required by the \"signals\" strategy (a Parquet file of timestamp, \
                     symbol, weight | edge_probability)",
                ));
            }
            (Some(_), false) => {
                return Err(ConfigError::invalid(
                    "strategy.signals",
                    "is only read by the \"signals\" strategy; set strategy.kind or \
                     strategy.compare to use it",
                ));
            }
            (None, false) => None,
        };
        let rebalance = match self.rebalance_days {
            None => 21,
            Some(n) if n >= 1 => n as usize,
            Some(n) => {
                return Err(ConfigError::invalid(
                    "strategy.rebalance_days",
                    format!("must be at least 1, got {n}"),
                ));
            }
        };
        Ok(StrategySpec {
            kind,
            compare,
            signals,
            rebalance,
        })
    }
}

/// `[portfolio]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPortfolio {
    /// Starting capital in the data's currency (default 1e8).
    pub capital: Option<f64>,
    /// Bars in the causal mean of volume behind ADV (default 20).
    pub adv_window: Option<i64>,
    /// ADV in currency for symbols without volume (default 1e7).
    pub default_adv: Option<f64>,
    /// Fraction of the last real close lost when a held symbol stops trading (default 0).
    pub delisting_haircut: Option<f64>,
    /// How the risk engine's exposure is distributed over the assets it
    /// selected: `"risk_parity"` (default), `"kelly"` or `"equal"`.
    pub mode: Option<String>,
    /// Covariance behind `risk_parity`: `"window"` (default, the last
    /// `covariance_days` bars) or `"regime"` (the last `covariance_days` bars
    /// in the current regime).
    pub covariance: Option<String>,
    /// Bars of in-sample returns behind the covariance (default 63).
    pub covariance_days: Option<i64>,
}

/// How the risk engine's total exposure is distributed over the selected assets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortfolioMode {
    /// Equal risk contributions under the in-sample covariance (Ledoit-Wolf).
    RiskParity,
    /// The risk engine's own Kelly sizes.
    Kelly,
    /// Equal weights.
    Equal,
}

/// Which bars the risk-parity covariance is estimated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CovarianceMode {
    /// The last `covariance_days` bars.
    Window,
    /// The last `covariance_days` bars in the current regime.
    Regime,
}

impl PortfolioMode {
    /// The name in job files and reports.
    pub fn name(self) -> &'static str {
        match self {
            PortfolioMode::RiskParity => "risk_parity",
            PortfolioMode::Kelly => "kelly",
            PortfolioMode::Equal => "equal",
        }
    }
}

impl CovarianceMode {
    /// The name in job files and reports.
    pub fn name(self) -> &'static str {
        match self {
            CovarianceMode::Window => "window",
            CovarianceMode::Regime => "regime",
        }
    }
}

/// Validated account settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PortfolioSpec {
    /// Starting capital.
    pub capital: f64,
    /// ADV window in bars.
    pub adv_window: usize,
    /// ADV in currency for symbols without volume.
    pub default_adv: f64,
    /// Delisting haircut, a fraction.
    pub delisting_haircut: f64,
    /// How the risk engine's exposure is distributed.
    pub mode: PortfolioMode,
    /// Which bars the risk-parity covariance uses.
    pub covariance: CovarianceMode,
    /// Bars behind the covariance.
    pub covariance_days: usize,
}

impl Default for PortfolioSpec {
    fn default() -> Self {
        RawPortfolio::default()
            .validate()
            .expect("defaults are valid")
    }
}

impl RawPortfolio {
    /// Checks ranges and fills defaults.
    pub fn validate(self) -> Result<PortfolioSpec, ConfigError> {
        let positive = |key: &str, v: Option<f64>, default: f64| {
            let x = v.unwrap_or(default);
            if x.is_finite() && x > 0.0 {
                Ok(x)
            } else {
                Err(ConfigError::invalid(
                    format!("portfolio.{key}"),
                    format!("must be a positive number, got {x}"),
                ))
            }
        };
        let haircut = self.delisting_haircut.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&haircut) {
            return Err(ConfigError::invalid(
                "portfolio.delisting_haircut",
                format!("must be between 0 and 1, got {haircut}"),
            ));
        }
        let adv_window = match self.adv_window {
            None => 20,
            Some(n) if n >= 1 => n as usize,
            Some(n) => {
                return Err(ConfigError::invalid(
                    "portfolio.adv_window",
                    format!("must be at least 1, got {n}"),
                ));
            }
        };
        let mode = match self.mode.as_deref() {
            None | Some("risk_parity") => PortfolioMode::RiskParity,
            Some("kelly") => PortfolioMode::Kelly,
            Some("equal") => PortfolioMode::Equal,
            Some(m) => {
                return Err(ConfigError::invalid(
                    "portfolio.mode",
                    format!("must be one of \"risk_parity\", \"kelly\", \"equal\", got \"{m}\""),
                ));
            }
        };
        let covariance = match self.covariance.as_deref() {
            None | Some("window") => CovarianceMode::Window,
            Some("regime") => CovarianceMode::Regime,
            Some(c) => {
                return Err(ConfigError::invalid(
                    "portfolio.covariance",
                    format!("must be \"window\" or \"regime\", got \"{c}\""),
                ));
            }
        };
        let covariance_days = match self.covariance_days {
            None => 63,
            Some(n) if n >= 2 => n as usize,
            Some(n) => {
                return Err(ConfigError::invalid(
                    "portfolio.covariance_days",
                    format!("must be at least 2, got {n}"),
                ));
            }
        };
        Ok(PortfolioSpec {
            capital: positive("capital", self.capital, 1e8)?,
            adv_window,
            default_adv: positive("default_adv", self.default_adv, 1e7)?,
            delisting_haircut: haircut,
            mode,
            covariance,
            covariance_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StrategySpec, ConfigError> {
        toml::from_str::<RawStrategy>(text)
            .unwrap()
            .validate(Path::new("/jobs"))
    }

    #[test]
    fn kinds_compare_and_signals() {
        let s = parse("").unwrap();
        assert_eq!(
            (s.kind, s.compare.len(), s.rebalance),
            (StrategyKind::RiskFirst, 0, 21)
        );
        let s = parse("compare = [\"buy_and_hold\", \"risk_first\", \"buy_and_hold\"]").unwrap();
        assert_eq!(s.compare, vec![StrategyKind::BuyAndHold]);
        let e = parse("kind = \"magic\"").unwrap_err().to_string();
        assert!(e.contains("strategy.kind") && e.contains("magic"), "{e}");
        let e = parse("kind = \"signals\"").unwrap_err().to_string();
        assert!(e.contains("strategy.signals"), "{e}");
        let s = parse("kind = \"signals\"\nsignals = \"w.parquet\"").unwrap();
        assert_eq!(s.signals, Some(PathBuf::from("/jobs/w.parquet")));
        let e = toml::from_str::<RawPortfolio>("capital = -1")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("portfolio.capital"), "{e}");
        let p = RawPortfolio::default().validate().unwrap();
        assert_eq!(
            (p.mode, p.covariance, p.covariance_days),
            (PortfolioMode::RiskParity, CovarianceMode::Window, 63)
        );
        for (text, key) in [
            ("mode = \"parity\"", "portfolio.mode"),
            ("covariance = \"ewma\"", "portfolio.covariance"),
            ("covariance_days = 1", "portfolio.covariance_days"),
        ] {
            let e = toml::from_str::<RawPortfolio>(text)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
