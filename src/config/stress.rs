//! `[stress]` section: market, portfolio and scenarios for the Monte Carlo.
//!
//! Every bad value is a [`ConfigError::Invalid`] naming the dotted key, so the
//! CLI exits with code 2 before any simulation starts.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use super::time;
use crate::error::ConfigError;

/// Longest horizon a job or `--horizon` may ask for, in days.
pub const MAX_HORIZON: u32 = 100_000;

/// Most paths per scenario a job or `--paths` may ask for: beyond it the path
/// table alone would outgrow a disk (about 20 bytes a path) and the run would
/// take days on any machine.
pub const MAX_PATHS: u64 = 1_000_000_000;

/// `[stress]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStress {
    /// Starting portfolio value, same currency as ADV.
    pub capital: Option<f64>,
    /// Paths per scenario.
    pub paths: Option<u64>,
    /// Days per path.
    pub horizon: Option<u32>,
    /// Drawdown that counts as a breach.
    pub drawdown_limit: Option<f64>,
    /// |daily move| above which a concentrated book is forced to deleverage.
    pub shock_threshold: Option<f64>,
    /// Gross exposure / value above which a book counts as concentrated.
    pub concentration_limit: Option<f64>,
    /// Share of every position cut on a forced deleveraging.
    pub deleverage_fraction: Option<f64>,
    /// k in the square-root impact cost.
    pub impact_coefficient: Option<f64>,
    /// `"deleverage"` (default) or `"haircut"`.
    pub liquidation: Option<String>,
    /// Value haircut per liquidation day when `liquidation = "haircut"`.
    pub liquidation_cost: Option<f64>,
    /// `"portfolio"` (default) or `"market"`.
    pub shock_measure: Option<String>,
    /// Largest accepted sum of |weights|.
    pub max_gross_leverage: Option<f64>,
    /// Largest correlation shrinkage toward the identity used to repair a non-PSD matrix.
    pub max_correlation_repair: Option<f64>,
    /// Runs with at most this many paths per scenario get exact percentile bands.
    pub exact_band_paths: Option<u64>,
    /// Paths per chunk (default: chosen by the backend).
    pub chunk_paths: Option<u64>,
    /// Statistical factors for the correlated draws (default: the full Cholesky factor).
    pub factors: Option<u32>,
    /// `[stress.market]`.
    pub market: Option<RawMarket>,
    /// `[stress.portfolio]`.
    pub portfolio: Option<RawPortfolio>,
    /// `[[stress.scenarios]]`; the four presets when absent.
    pub scenarios: Option<Vec<RawScenario>>,
}

/// `[stress.market]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMarket {
    /// Estimate mu, sigma, correlation, ADV and spread from the job's `[data]`.
    pub estimate_from_data: Option<bool>,
    /// Trailing bars used for the estimate.
    pub estimation_days: Option<usize>,
    /// Spread used where the data has no high/low.
    pub default_spread: Option<f64>,
    /// ADV used where the data has no volume.
    pub default_adv: Option<f64>,
    /// Asset names.
    pub symbols: Option<Vec<String>>,
    /// Daily arithmetic drift per asset.
    pub mu: Option<Vec<f64>>,
    /// Daily volatility per asset.
    pub sigma: Option<Vec<f64>>,
    /// Average daily traded value per asset.
    pub adv: Option<Vec<f64>>,
    /// Full bid-ask spread per asset, as a fraction of price.
    pub spread: Option<Vec<f64>>,
    /// Correlation matrix, rows in symbol order.
    pub correlation: Option<Vec<Vec<f64>>>,
}

/// `[stress.portfolio]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPortfolio {
    /// Weight per symbol; the rest of capital is cash.
    pub weights: Option<BTreeMap<String, f64>>,
    /// `true`: this run's deployment book (the walk-forward's book after the
    /// last bar); a path: a previous run's summary.json and its
    /// `deployment_book.weights` (relative to the job file's folder). Excludes `weights`.
    pub from_walkforward: Option<RawFromWalkforward>,
}

/// `from_walkforward = true` or `from_walkforward = "path/summary.json"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawFromWalkforward {
    /// `true`: this run's deployment book.
    ThisRun(bool),
    /// A previous run's summary.json.
    Summary(String),
}

/// Where the stressed book comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PortfolioSource {
    /// `weights` in the job file.
    Weights,
    /// This run's walk-forward deployment book, handed over in memory.
    Deployment,
    /// `deployment_book.weights` of a previous run's summary.json.
    Summary(PathBuf),
}

impl RawPortfolio {
    fn resolve(self, base: &Path) -> Result<(PortfolioSource, BTreeMap<String, f64>), ConfigError> {
        match (self.weights, self.from_walkforward) {
            (Some(w), None) => Ok((PortfolioSource::Weights, w)),
            (None, Some(RawFromWalkforward::ThisRun(true))) => {
                Ok((PortfolioSource::Deployment, BTreeMap::new()))
            }
            (None, Some(RawFromWalkforward::ThisRun(false))) => Err(ConfigError::invalid(
                "stress.portfolio.from_walkforward",
                "is false: give weights instead, or set it to true or to a summary.json path",
            )),
            (None, Some(RawFromWalkforward::Summary(p))) => Ok((
                PortfolioSource::Summary(super::resolve(base, &p)),
                BTreeMap::new(),
            )),
            _ => Err(ConfigError::invalid(
                "stress.portfolio",
                "needs exactly one of weights or from_walkforward",
            )),
        }
    }
}

/// One `[[stress.scenarios]]` entry as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Scenario name.
    pub name: String,
    /// `"parametric"` (default) or `"bootstrap"`.
    pub kind: Option<String>,
    /// Start from a preset's values (base, liquidity_crunch, correlation_spike, flash_crash).
    pub preset: Option<String>,
    /// Volatility multiplier m.
    pub vol_multiplier: Option<f64>,
    /// rho in C_s = (1 - rho) C + rho * ones.
    pub correlation_shift: Option<f64>,
    /// Daily probability of a systemic jump.
    pub jump_probability: Option<f64>,
    /// Mean jump log return.
    pub jump_mean: Option<f64>,
    /// Jump log-return standard deviation.
    pub jump_std: Option<f64>,
    /// ADV multiplier.
    pub liquidity_multiplier: Option<f64>,
    /// Spread multiplier.
    pub spread_multiplier: Option<f64>,
    /// Bootstrap window start (YYYY-MM-DD).
    pub start: Option<String>,
    /// Bootstrap window end (YYYY-MM-DD), inclusive.
    pub end: Option<String>,
    /// Bootstrap block length in days.
    pub block_days: Option<u32>,
}

/// Validated stress settings.
#[derive(Debug, Clone)]
pub struct StressSpec {
    /// Starting portfolio value.
    pub capital: f64,
    /// Paths per scenario.
    pub paths: u64,
    /// Days per path.
    pub horizon: u32,
    /// Drawdown breach level.
    pub drawdown_limit: f64,
    /// Shock threshold on the daily move.
    pub shock_threshold: f64,
    /// Gross exposure limit for the forced-deleveraging rule.
    pub concentration_limit: f64,
    /// Cut per forced deleveraging.
    pub deleverage_fraction: f64,
    /// Square-root impact coefficient k.
    pub impact_coefficient: f64,
    /// Liquidation rule.
    pub liquidation: Liquidation,
    /// Which daily move triggers the rule.
    pub shock_measure: ShockMeasure,
    /// Exact percentile bands up to this many paths, histogram above.
    pub exact_band_paths: u64,
    /// Paths per chunk, when fixed by the job.
    pub chunk_paths: Option<u64>,
    /// Factor count of the correlation model; `None` = full Cholesky.
    pub factors: Option<u32>,
    /// Where the market inputs come from.
    pub market: MarketSource,
    /// Largest correlation shrinkage accepted as a repair.
    pub max_correlation_repair: f64,
    /// Largest accepted gross weight.
    pub max_gross_leverage: f64,
    /// Where the book comes from.
    pub portfolio: PortfolioSource,
    /// Portfolio weights by symbol; empty until the runner resolves a book
    /// that is not in the job file (see [`StressSpec::with_weights`]).
    pub weights: BTreeMap<String, f64>,
    /// Scenarios in file order.
    pub scenarios: Vec<ScenarioSpec>,
}

/// Liquidation rule applied on a shock day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Liquidation {
    /// Cut every position by the deleverage fraction, paying spread and impact.
    Deleverage,
    /// Multiply the value by `1 - cost` and keep positions (the seed plan's rule).
    Haircut(f64),
}

/// The daily move compared with the shock threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShockMeasure {
    /// The portfolio's own daily return.
    Portfolio,
    /// Equal-weighted market return.
    Market,
}

/// Market inputs: given in the file or estimated from the panel.
#[derive(Debug, Clone)]
pub enum MarketSource {
    /// Given in `[stress.market]`.
    Given(MarketInputs),
    /// Estimated from the trailing `days` bars of the job's data.
    Estimate {
        /// Trailing bars.
        days: usize,
        /// Symbols; the portfolio's symbols when absent.
        symbols: Option<Vec<String>>,
        /// Spread for close-only symbols.
        default_spread: f64,
        /// ADV for symbols without volume.
        default_adv: f64,
    },
}

/// Per-asset market inputs (daily units).
#[derive(Debug, Clone, PartialEq)]
pub struct MarketInputs {
    /// Asset names.
    pub symbols: Vec<String>,
    /// Arithmetic daily drift.
    pub mu: Vec<f64>,
    /// Daily volatility.
    pub sigma: Vec<f64>,
    /// Average daily traded value.
    pub adv: Vec<f64>,
    /// Full spread fraction.
    pub spread: Vec<f64>,
    /// Correlation matrix (row-major, n x n).
    pub correlation: Vec<Vec<f64>>,
}

/// Scenario kind.
#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioKind {
    /// Correlated lognormal returns with systemic jumps.
    Parametric,
    /// Blocks of historical daily log returns from a window.
    Bootstrap {
        /// Window start, microseconds UTC.
        start: Option<i64>,
        /// Window end, microseconds UTC, inclusive.
        end: Option<i64>,
        /// Block length in days.
        block_days: u32,
    },
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSpec {
    /// Scenario name.
    pub name: String,
    /// Kind.
    pub kind: ScenarioKind,
    /// Volatility multiplier.
    pub vol_multiplier: f64,
    /// Correlation shift toward one.
    pub correlation_shift: f64,
    /// Daily jump probability.
    pub jump_probability: f64,
    /// Mean jump log return.
    pub jump_mean: f64,
    /// Jump standard deviation.
    pub jump_std: f64,
    /// ADV multiplier.
    pub liquidity_multiplier: f64,
    /// Spread multiplier.
    pub spread_multiplier: f64,
}

/// The shipped presets: (name, m, rho, p, jump mean, jump std, liquidity, spread).
pub const PRESETS: [(&str, [f64; 7]); 4] = [
    ("base", [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]),
    ("liquidity_crunch", [1.5, 0.3, 0.02, -0.03, 0.04, 0.3, 2.0]),
    ("correlation_spike", [1.3, 0.6, 0.01, -0.02, 0.03, 0.7, 1.5]),
    ("flash_crash", [2.0, 0.5, 0.05, -0.08, 0.05, 0.2, 4.0]),
];

fn preset(name: &str) -> Option<ScenarioSpec> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, v)| ScenarioSpec {
            name: n.to_string(),
            kind: ScenarioKind::Parametric,
            vol_multiplier: v[0],
            correlation_shift: v[1],
            jump_probability: v[2],
            jump_mean: v[3],
            jump_std: v[4],
            liquidity_multiplier: v[5],
            spread_multiplier: v[6],
        })
}

fn check(key: &str, v: f64, ok: bool, range: &str) -> Result<f64, ConfigError> {
    if v.is_finite() && ok {
        Ok(v)
    } else {
        Err(ConfigError::invalid(
            key,
            format!("must be {range}, found {v}"),
        ))
    }
}

impl RawStress {
    /// Checks ranges, resolves paths against `base` and fills defaults.
    pub fn validate(self, base: &Path) -> Result<StressSpec, ConfigError> {
        let capital = self.capital.unwrap_or(1e8);
        check("stress.capital", capital, capital > 0.0, "> 0")?;
        let paths = self.paths.unwrap_or(10_000);
        if !(1..=MAX_PATHS).contains(&paths) {
            return Err(ConfigError::invalid(
                "stress.paths",
                format!("must be in 1..={MAX_PATHS} per scenario, found {paths}"),
            ));
        }
        let horizon = self.horizon.unwrap_or(252);
        if !(1..=MAX_HORIZON).contains(&horizon) {
            return Err(ConfigError::invalid(
                "stress.horizon",
                format!("must be in 1..={MAX_HORIZON}, found {horizon}"),
            ));
        }
        let unit = |k: &str, v: Option<f64>, d: f64| -> Result<f64, ConfigError> {
            let v = v.unwrap_or(d);
            check(
                &format!("stress.{k}"),
                v,
                (0.0..=1.0).contains(&v),
                "in [0, 1]",
            )
        };
        let drawdown_limit = unit("drawdown_limit", self.drawdown_limit, 0.15)?;
        let shock_threshold = unit("shock_threshold", self.shock_threshold, 0.05)?;
        let deleverage_fraction = unit("deleverage_fraction", self.deleverage_fraction, 0.5)?;
        let concentration_limit = self.concentration_limit.unwrap_or(0.8);
        check(
            "stress.concentration_limit",
            concentration_limit,
            concentration_limit >= 0.0,
            ">= 0",
        )?;
        let impact_coefficient = self.impact_coefficient.unwrap_or(0.1);
        check(
            "stress.impact_coefficient",
            impact_coefficient,
            impact_coefficient >= 0.0,
            ">= 0",
        )?;
        let liquidation = match self.liquidation.as_deref().unwrap_or("deleverage") {
            "deleverage" => Liquidation::Deleverage,
            "haircut" => {
                Liquidation::Haircut(unit("liquidation_cost", self.liquidation_cost, 0.02)?)
            }
            other => {
                return Err(ConfigError::invalid(
                    "stress.liquidation",
                    format!("must be \"deleverage\" or \"haircut\", found {other:?}"),
                ));
            }
        };
        let shock_measure = match self.shock_measure.as_deref().unwrap_or("portfolio") {
            "portfolio" => ShockMeasure::Portfolio,
            "market" => ShockMeasure::Market,
            other => {
                return Err(ConfigError::invalid(
                    "stress.shock_measure",
                    format!("must be \"portfolio\" or \"market\", found {other:?}"),
                ));
            }
        };
        let max_gross_leverage = self.max_gross_leverage.unwrap_or(3.0);
        check(
            "stress.max_gross_leverage",
            max_gross_leverage,
            max_gross_leverage > 0.0,
            "> 0",
        )?;
        let max_correlation_repair =
            unit("max_correlation_repair", self.max_correlation_repair, 0.05)?;
        if self.factors == Some(0) {
            return Err(ConfigError::invalid(
                "stress.factors",
                "must be at least 1 (omit it for the full correlation), found 0",
            ));
        }
        if self.chunk_paths == Some(0) {
            return Err(ConfigError::invalid(
                "stress.chunk_paths",
                "must be at least 1, found 0",
            ));
        }
        let (portfolio, weights) = self
            .portfolio
            .ok_or_else(|| {
                ConfigError::invalid(
                    "stress.portfolio",
                    "is required (weights per symbol, or from_walkforward)",
                )
            })?
            .resolve(base)?;
        let raw_market = self.market.ok_or_else(|| {
            ConfigError::invalid(
                "stress.market",
                "is required (inputs, or estimate_from_data = true)",
            )
        })?;
        let market = raw_market.validate()?;
        let scenarios = match self.scenarios {
            None => PRESETS.iter().filter_map(|(n, _)| preset(n)).collect(),
            Some(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, s)| s.validate(i))
                .collect::<Result<Vec<_>, _>>()?,
        };
        if scenarios.is_empty() {
            return Err(ConfigError::invalid(
                "stress.scenarios",
                "must list at least one scenario",
            ));
        }
        for (i, s) in scenarios.iter().enumerate() {
            if scenarios[..i].iter().any(|o| o.name == s.name) {
                return Err(ConfigError::invalid(
                    format!("stress.scenarios[{i}].name"),
                    format!("duplicates scenario {:?}", s.name),
                ));
            }
        }
        StressSpec {
            capital,
            paths,
            horizon,
            drawdown_limit,
            shock_threshold,
            concentration_limit,
            deleverage_fraction,
            impact_coefficient,
            liquidation,
            shock_measure,
            exact_band_paths: self.exact_band_paths.unwrap_or(100_000),
            chunk_paths: self.chunk_paths,
            factors: self.factors,
            market,
            max_correlation_repair,
            max_gross_leverage,
            portfolio,
            weights: BTreeMap::new(),
            scenarios,
        }
        .with_weights(weights, "stress.portfolio.weights")
    }
}

impl StressSpec {
    /// This spec stressing `weights`, checked as the job file's weights are;
    /// `key` names where they came from in errors.
    pub fn with_weights(
        mut self,
        weights: BTreeMap<String, f64>,
        key: &str,
    ) -> Result<Self, ConfigError> {
        if self.portfolio == PortfolioSource::Weights && weights.is_empty() {
            return Err(ConfigError::invalid(key, "must name at least one symbol"));
        }
        let mut gross = 0.0;
        for (s, &w) in &weights {
            check(&format!("{key}.{s}"), w, true, "finite")?;
            gross += w.abs();
        }
        if gross > self.max_gross_leverage {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "gross weight sum |w| = {gross} exceeds stress.max_gross_leverage = {}",
                    self.max_gross_leverage
                ),
            ));
        }
        let symbols = match &self.market {
            MarketSource::Given(m) => Some(&m.symbols),
            MarketSource::Estimate { symbols, .. } => symbols.as_ref(),
        };
        if let Some(symbols) = symbols {
            for s in weights.keys() {
                if !symbols.contains(s) {
                    return Err(ConfigError::invalid(
                        format!("{key}.{s}"),
                        format!(
                            "names a symbol not in stress.market.symbols ({})",
                            symbols.join(", ")
                        ),
                    ));
                }
            }
        }
        self.weights = weights;
        Ok(self)
    }
}

impl RawMarket {
    fn validate(self) -> Result<MarketSource, ConfigError> {
        if let Some(s) = &self.symbols {
            for (i, a) in s.iter().enumerate() {
                if a.trim().is_empty() || s[..i].contains(a) {
                    return Err(ConfigError::invalid(
                        "stress.market.symbols",
                        format!("must be non-empty and unique, found {a:?} at position {i}"),
                    ));
                }
            }
        }
        let default_spread = self.default_spread.unwrap_or(0.001);
        check(
            "stress.market.default_spread",
            default_spread,
            (0.0..1.0).contains(&default_spread),
            "in [0, 1)",
        )?;
        let default_adv = self.default_adv.unwrap_or(1e8);
        check(
            "stress.market.default_adv",
            default_adv,
            default_adv > 0.0,
            "> 0",
        )?;
        if self.estimate_from_data.unwrap_or(false) {
            for (k, present) in [
                ("mu", self.mu.is_some()),
                ("sigma", self.sigma.is_some()),
                ("adv", self.adv.is_some()),
                ("spread", self.spread.is_some()),
                ("correlation", self.correlation.is_some()),
            ] {
                if present {
                    return Err(ConfigError::invalid(
                        format!("stress.market.{k}"),
                        "cannot be given together with estimate_from_data = true",
                    ));
                }
            }
            let days = self.estimation_days.unwrap_or(504);
            if days < 20 {
                return Err(ConfigError::invalid(
                    "stress.market.estimation_days",
                    format!("must be at least 20, found {days}"),
                ));
            }
            return Ok(MarketSource::Estimate {
                days,
                symbols: self.symbols,
                default_spread,
                default_adv,
            });
        }
        let symbols = self.symbols.ok_or_else(|| {
            ConfigError::invalid(
                "stress.market.symbols",
                "is required unless estimate_from_data = true",
            )
        })?;
        let n = symbols.len();
        if n == 0 {
            return Err(ConfigError::invalid(
                "stress.market.symbols",
                "must list at least one symbol",
            ));
        }
        let list = |k: &str, v: Option<Vec<f64>>, ok: fn(f64) -> bool, range: &str| {
            let key = format!("stress.market.{k}");
            let v = v.ok_or_else(|| {
                ConfigError::invalid(&key, "is required unless estimate_from_data = true")
            })?;
            if v.len() != n {
                return Err(ConfigError::invalid(
                    &key,
                    format!("has {} values but stress.market.symbols has {n}", v.len()),
                ));
            }
            for (i, &x) in v.iter().enumerate() {
                check(&format!("{key}[{i}] ({})", symbols[i]), x, ok(x), range)?;
            }
            Ok(v)
        };
        let mu = list("mu", self.mu, |x| x.abs() < 1.0, "a daily drift in (-1, 1)")?;
        let sigma = list(
            "sigma",
            self.sigma,
            |x| (0.0..1.0).contains(&x),
            "a daily vol in [0, 1)",
        )?;
        let adv = list("adv", self.adv, |x| x > 0.0, "> 0")?;
        let spread = list(
            "spread",
            self.spread,
            |x| (0.0..1.0).contains(&x),
            "in [0, 1)",
        )?;
        let correlation = match self.correlation {
            None if n == 1 => vec![vec![1.0]],
            None => {
                return Err(ConfigError::invalid(
                    "stress.market.correlation",
                    "is required for more than one symbol",
                ));
            }
            Some(c) => check_correlation(c, n)?,
        };
        Ok(MarketSource::Given(MarketInputs {
            symbols,
            mu,
            sigma,
            adv,
            spread,
            correlation,
        }))
    }
}

/// Checks shape, symmetry, unit diagonal and range of a correlation matrix.
/// Positive semi-definiteness (and its repair) is the stress stage's check.
pub fn check_correlation(c: Vec<Vec<f64>>, n: usize) -> Result<Vec<Vec<f64>>, ConfigError> {
    let key = "stress.market.correlation";
    if c.len() != n || c.iter().any(|r| r.len() != n) {
        return Err(ConfigError::invalid(
            key,
            format!("must be {n} x {n} (one row per symbol)"),
        ));
    }
    for (i, row) in c.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if !v.is_finite() || v.abs() > 1.0 + 1e-12 {
                return Err(ConfigError::invalid(
                    key,
                    format!("[{i}][{j}] must be in [-1, 1], found {v}"),
                ));
            }
            if (v - c[j][i]).abs() > 1e-9 {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "must be symmetric: [{i}][{j}] = {v}, [{j}][{i}] = {}",
                        c[j][i]
                    ),
                ));
            }
        }
        if (c[i][i] - 1.0).abs() > 1e-9 {
            return Err(ConfigError::invalid(
                key,
                format!("[{i}][{i}] must be 1, found {}", c[i][i]),
            ));
        }
    }
    Ok(c)
}

impl RawScenario {
    fn validate(self, i: usize) -> Result<ScenarioSpec, ConfigError> {
        let k = |f: &str| format!("stress.scenarios[{i}].{f}");
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid(k("name"), "must not be empty"));
        }
        let base = match &self.preset {
            None => preset("base").expect("base preset"),
            Some(p) => preset(p).ok_or_else(|| {
                ConfigError::invalid(
                    k("preset"),
                    format!("must be one of base, liquidity_crunch, correlation_spike, flash_crash; found {p:?}"),
                )
            })?,
        };
        let kind = match self.kind.as_deref().unwrap_or("parametric") {
            "parametric" => {
                for (f, v) in [
                    ("start", self.start.is_some()),
                    ("end", self.end.is_some()),
                    ("block_days", self.block_days.is_some()),
                ] {
                    if v {
                        return Err(ConfigError::invalid(
                            k(f),
                            "only applies to kind = \"bootstrap\"",
                        ));
                    }
                }
                ScenarioKind::Parametric
            }
            "bootstrap" => {
                let start = self
                    .start
                    .as_deref()
                    .map(|s| {
                        time::parse_date(s, false).map_err(|m| ConfigError::invalid(k("start"), m))
                    })
                    .transpose()?;
                let end = self
                    .end
                    .as_deref()
                    .map(|s| {
                        time::parse_date(s, true).map_err(|m| ConfigError::invalid(k("end"), m))
                    })
                    .transpose()?;
                if let (Some(a), Some(b)) = (start, end)
                    && b < a
                {
                    return Err(ConfigError::invalid(k("end"), "must not be before start"));
                }
                let block_days = self.block_days.unwrap_or(10);
                if block_days == 0 {
                    return Err(ConfigError::invalid(
                        k("block_days"),
                        "must be at least 1, found 0",
                    ));
                }
                ScenarioKind::Bootstrap {
                    start,
                    end,
                    block_days,
                }
            }
            other => {
                return Err(ConfigError::invalid(
                    k("kind"),
                    format!("must be \"parametric\" or \"bootstrap\", found {other:?}"),
                ));
            }
        };
        let vol_multiplier = self.vol_multiplier.unwrap_or(base.vol_multiplier);
        check(
            &k("vol_multiplier"),
            vol_multiplier,
            (0.0..=20.0).contains(&vol_multiplier),
            "in [0, 20]",
        )?;
        let correlation_shift = self.correlation_shift.unwrap_or(base.correlation_shift);
        check(
            &k("correlation_shift"),
            correlation_shift,
            (0.0..=1.0).contains(&correlation_shift),
            "in [0, 1]",
        )?;
        let jump_probability = self.jump_probability.unwrap_or(base.jump_probability);
        check(
            &k("jump_probability"),
            jump_probability,
            (0.0..=1.0).contains(&jump_probability),
            "in [0, 1]",
        )?;
        let jump_mean = self.jump_mean.unwrap_or(base.jump_mean);
        check(
            &k("jump_mean"),
            jump_mean,
            jump_mean.abs() <= 5.0,
            "a log return in [-5, 5]",
        )?;
        let jump_std = self.jump_std.unwrap_or(base.jump_std);
        check(
            &k("jump_std"),
            jump_std,
            (0.0..=5.0).contains(&jump_std),
            "in [0, 5]",
        )?;
        let liquidity_multiplier = self
            .liquidity_multiplier
            .unwrap_or(base.liquidity_multiplier);
        check(
            &k("liquidity_multiplier"),
            liquidity_multiplier,
            liquidity_multiplier > 0.0,
            "> 0",
        )?;
        let spread_multiplier = self.spread_multiplier.unwrap_or(base.spread_multiplier);
        check(
            &k("spread_multiplier"),
            spread_multiplier,
            spread_multiplier >= 0.0,
            ">= 0",
        )?;
        Ok(ScenarioSpec {
            name: self.name,
            kind,
            vol_multiplier,
            correlation_shift,
            jump_probability,
            jump_mean,
            jump_std,
            liquidity_multiplier,
            spread_multiplier,
        })
    }
}
