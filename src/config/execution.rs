//! `[execution]` section: the execution simulator's impact model, order
//! slicing, spread, no-trade band and venues (`[[execution.venues]]`).
//!
//! Without venues the account trades on one venue named `close` whose fee is
//! `[sizing] cost_bps`, with no liquidity limit and no minimum size, so a job
//! written before the simulator keeps its fee (impact, slicing and spread
//! still apply).

use serde::Deserialize;

use crate::error::ConfigError;

/// `[execution]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExecution {
    /// `"sigma_sqrt"` (default) or `"seed"`.
    pub impact_form: Option<String>,
    /// k in `k x sigma_daily x sqrt(participation)` (default 1.0).
    pub impact_coefficient: Option<f64>,
    /// Bars in the causal standard deviation of daily returns behind sigma_daily (default 20).
    pub sigma_window: Option<i64>,
    /// sigma_daily when fewer than 2 returns are in the window (default 0.02).
    pub default_sigma: Option<f64>,
    /// Estimated impact (fraction of price) above which an order is sliced (default 0.01).
    pub slice_threshold: Option<f64>,
    /// Largest child order of a sliced order per bar, fraction of ADV (default 0.1).
    pub max_participation: Option<f64>,
    /// Bars in the causal Corwin-Schultz spread estimate (default 20).
    pub spread_window: Option<i64>,
    /// Full bid-ask spread, fraction of price, without a high-low estimate (default 0.001).
    pub default_spread: Option<f64>,
    /// Skip increases whose expected round-trip cost exceeds their expected edge gain (default true).
    pub no_trade_band: Option<bool>,
    /// Venues; none means one `close` venue charging `sizing.cost_bps`.
    pub venues: Option<Vec<RawVenue>>,
}

/// One `[[execution.venues]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVenue {
    /// Venue name (unique, non-empty).
    pub name: String,
    /// Fee, basis points of the filled notional.
    pub fee_bps: f64,
    /// Share of the market's volume the venue offers (0 < share <= 1; shares sum to <= 1).
    pub liquidity_share: f64,
    /// Smallest fill the venue takes, in the data's currency (default 0).
    pub min_size: Option<f64>,
}

/// Which impact law prices a child order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpactForm {
    /// `k x sigma_daily x sqrt(participation)` (the square-root law).
    SigmaSqrt,
    /// `0.1 x sqrt(participation)`, as the seed plan writes it.
    Seed,
}

impl ImpactForm {
    /// The name in job files and summary.json.
    pub fn name(self) -> &'static str {
        match self {
            ImpactForm::SigmaSqrt => "sigma_sqrt",
            ImpactForm::Seed => "seed",
        }
    }
}

/// A validated venue.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueSpec {
    /// Venue name.
    pub name: String,
    /// Fee, basis points of the filled notional.
    pub fee_bps: f64,
    /// Share of the market's volume available at the venue per bar (None:
    /// unlimited, the default `close` venue).
    pub liquidity_share: Option<f64>,
    /// Smallest fill, in the data's currency.
    pub min_size: f64,
}

/// Validated execution settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionSpec {
    /// Impact law.
    pub impact_form: ImpactForm,
    /// k of the square-root law.
    pub impact_coefficient: f64,
    /// Bars behind sigma_daily.
    pub sigma_window: usize,
    /// sigma_daily without enough returns.
    pub default_sigma: f64,
    /// Estimated impact above which an order is sliced.
    pub slice_threshold: f64,
    /// Child-order cap of a sliced order, fraction of ADV per bar.
    pub max_participation: f64,
    /// Bars behind the high-low spread estimate.
    pub spread_window: usize,
    /// Full spread without a high-low estimate.
    pub default_spread: f64,
    /// Whether the no-trade band is on.
    pub no_trade_band: bool,
    /// Venues, in file order (never empty).
    pub venues: Vec<VenueSpec>,
    /// Whether `venues` is the default `close` venue (no `[[execution.venues]]`).
    pub default_venue: bool,
}

impl ExecutionSpec {
    /// The defaults, with the `close` venue charging `cost_bps`.
    pub fn with_cost_bps(cost_bps: f64) -> Self {
        RawExecution::default()
            .validate(cost_bps)
            .expect("defaults are valid")
    }

    /// A flat fee of `cost_bps` and nothing else: no impact, no spread, no
    /// band (the account as it was before the simulator).
    pub fn flat(cost_bps: f64) -> Self {
        Self {
            impact_coefficient: 0.0,
            default_spread: 0.0,
            no_trade_band: false,
            ..Self::with_cost_bps(cost_bps)
        }
    }
}

fn number(key: &str, x: f64, ok: bool, range: &str) -> Result<f64, ConfigError> {
    if x.is_finite() && ok {
        Ok(x)
    } else {
        Err(ConfigError::invalid(
            format!("execution.{key}"),
            format!("must be {range}, got {x}"),
        ))
    }
}

fn window(key: &str, v: Option<i64>, default: usize) -> Result<usize, ConfigError> {
    match v {
        None => Ok(default),
        Some(n) if n >= 2 => Ok(n as usize),
        Some(n) => Err(ConfigError::invalid(
            format!("execution.{key}"),
            format!("must be at least 2 bars, got {n}"),
        )),
    }
}

impl RawExecution {
    /// Checks ranges and fills defaults; `cost_bps` is the default venue's fee.
    pub fn validate(self, cost_bps: f64) -> Result<ExecutionSpec, ConfigError> {
        let impact_form = match self.impact_form.as_deref() {
            None | Some("sigma_sqrt") => ImpactForm::SigmaSqrt,
            Some("seed") => ImpactForm::Seed,
            Some(s) => {
                return Err(ConfigError::invalid(
                    "execution.impact_form",
                    format!("must be \"sigma_sqrt\" or \"seed\", got \"{s}\""),
                ));
            }
        };
        let k = self.impact_coefficient.unwrap_or(1.0);
        let impact_coefficient = number(
            "impact_coefficient",
            k,
            (0.0..=100.0).contains(&k),
            "between 0 and 100",
        )?;
        let s = self.default_sigma.unwrap_or(0.02);
        let default_sigma = number(
            "default_sigma",
            s,
            (0.0..=1.0).contains(&s),
            "between 0 and 1",
        )?;
        let th = self.slice_threshold.unwrap_or(0.01);
        let slice_threshold = number(
            "slice_threshold",
            th,
            th > 0.0 && th <= 1.0,
            "above 0 and at most 1",
        )?;
        let mp = self.max_participation.unwrap_or(0.1);
        let max_participation = number(
            "max_participation",
            mp,
            mp > 0.0 && mp <= 1.0,
            "above 0 and at most 1",
        )?;
        let sp = self.default_spread.unwrap_or(0.001);
        let default_spread = number(
            "default_spread",
            sp,
            (0.0..0.5).contains(&sp),
            "at least 0 and below 0.5",
        )?;
        let (venues, default_venue) = match self.venues {
            None => (
                vec![VenueSpec {
                    name: "close".into(),
                    fee_bps: cost_bps,
                    liquidity_share: None,
                    min_size: 0.0,
                }],
                true,
            ),
            Some(raw) => (validate_venues(raw)?, false),
        };
        Ok(ExecutionSpec {
            impact_form,
            impact_coefficient,
            sigma_window: window("sigma_window", self.sigma_window, 20)?,
            default_sigma,
            slice_threshold,
            max_participation,
            spread_window: window("spread_window", self.spread_window, 20)?,
            default_spread,
            no_trade_band: self.no_trade_band.unwrap_or(true),
            venues,
            default_venue,
        })
    }
}

fn validate_venues(raw: Vec<RawVenue>) -> Result<Vec<VenueSpec>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(
            "execution.venues",
            "is empty; give at least one [[execution.venues]] or leave the key out for the \
             default \"close\" venue",
        ));
    }
    let mut out: Vec<VenueSpec> = Vec::with_capacity(raw.len());
    for (k, v) in raw.into_iter().enumerate() {
        let key = |f: &str| format!("execution.venues[{k}].{f}");
        if v.name.trim().is_empty() {
            return Err(ConfigError::invalid(key("name"), "must not be empty"));
        }
        if out.iter().any(|o| o.name == v.name) {
            return Err(ConfigError::invalid(
                key("name"),
                format!("\"{}\" is given twice", v.name),
            ));
        }
        if !(v.fee_bps.is_finite() && (0.0..=10_000.0).contains(&v.fee_bps)) {
            return Err(ConfigError::invalid(
                key("fee_bps"),
                format!("must be between 0 and 10000, got {}", v.fee_bps),
            ));
        }
        if !(v.liquidity_share.is_finite() && v.liquidity_share > 0.0 && v.liquidity_share <= 1.0) {
            return Err(ConfigError::invalid(
                key("liquidity_share"),
                format!("must be above 0 and at most 1, got {}", v.liquidity_share),
            ));
        }
        let min_size = v.min_size.unwrap_or(0.0);
        if !(min_size.is_finite() && min_size >= 0.0) {
            return Err(ConfigError::invalid(
                key("min_size"),
                format!("must be a non-negative amount of currency, got {min_size}"),
            ));
        }
        out.push(VenueSpec {
            name: v.name,
            fee_bps: v.fee_bps,
            liquidity_share: Some(v.liquidity_share),
            min_size,
        });
    }
    let total: f64 = out.iter().filter_map(|v| v.liquidity_share).sum();
    if total > 1.0 + 1e-9 {
        return Err(ConfigError::invalid(
            "execution.venues",
            format!(
                "liquidity shares sum to {total}; they split the market's volume and must sum to at most 1"
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ExecutionSpec, ConfigError> {
        toml::from_str::<RawExecution>(text).unwrap().validate(7.0)
    }

    #[test]
    fn defaults_and_the_default_venue_charge_cost_bps() {
        let s = parse("").unwrap();
        assert_eq!(s.impact_form, ImpactForm::SigmaSqrt);
        assert_eq!(
            (s.impact_coefficient, s.slice_threshold, s.max_participation),
            (1.0, 0.01, 0.1)
        );
        assert_eq!((s.sigma_window, s.spread_window), (20, 20));
        assert!(s.no_trade_band && s.default_venue);
        assert_eq!(
            s.venues,
            vec![VenueSpec {
                name: "close".into(),
                fee_bps: 7.0,
                liquidity_share: None,
                min_size: 0.0
            }]
        );
        let s = parse(
            "impact_form = \"seed\"\n[[venues]]\nname = \"a\"\nfee_bps = 1\nliquidity_share = 0.4\n\
             [[venues]]\nname = \"b\"\nfee_bps = 0.5\nliquidity_share = 0.6\nmin_size = 1e4\n",
        )
        .unwrap();
        assert_eq!(s.impact_form, ImpactForm::Seed);
        assert!(!s.default_venue);
        assert_eq!(s.venues[1].min_size, 1e4);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("impact_form = \"linear\"", "execution.impact_form"),
            ("impact_coefficient = -1", "execution.impact_coefficient"),
            ("slice_threshold = 0", "execution.slice_threshold"),
            ("max_participation = 1.5", "execution.max_participation"),
            ("default_spread = 0.7", "execution.default_spread"),
            ("sigma_window = 1", "execution.sigma_window"),
            ("venues = []", "execution.venues"),
            (
                "[[venues]]\nname = \"a\"\nfee_bps = -2\nliquidity_share = 0.5",
                "execution.venues[0].fee_bps",
            ),
            (
                "[[venues]]\nname = \"a\"\nfee_bps = 1\nliquidity_share = 0.5\n\
                 [[venues]]\nname = \"a\"\nfee_bps = 1\nliquidity_share = 0.5",
                "execution.venues[1].name",
            ),
            (
                "[[venues]]\nname = \"a\"\nfee_bps = 1\nliquidity_share = 0",
                "execution.venues[0].liquidity_share",
            ),
            (
                "[[venues]]\nname = \"a\"\nfee_bps = 1\nliquidity_share = 0.7\n\
                 [[venues]]\nname = \"b\"\nfee_bps = 1\nliquidity_share = 0.7",
                "execution.venues",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(key), "{text}: {e}");
        }
    }
}
