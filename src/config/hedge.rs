//! `[hedge]`: dynamic hedging of the replayed book with short positions in
//! index instruments (the seed plan's priority 7).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use super::{
    ColumnMap, resolve,
    walkforward::{REGIME_NAMES, regime_multipliers},
};
use crate::error::ConfigError;

/// `[hedge]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHedge {
    /// Fraction of the book's beta hedged (default 0.3).
    pub hedge_ratio: Option<f64>,
    /// Rolling correlation of the book to an instrument above which it is hedged (default 0.7).
    pub correlation_threshold: Option<f64>,
    /// Bars in the rolling beta and correlation window (default 63).
    pub window: Option<i64>,
    /// Multiplier of the hedge per regime (default 1 for every regime).
    pub regime_multipliers: Option<BTreeMap<String, f64>>,
    /// The instruments hedged with.
    pub instruments: Option<Vec<RawInstrument>>,
}

/// `[[hedge.instruments]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstrument {
    /// Dataset holding the instrument's prices.
    pub path: String,
    /// The instrument's symbol in that dataset.
    pub symbol: String,
    /// Column names, when they differ from `data.columns`.
    pub columns: Option<ColumnMap>,
}

/// A validated hedge instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentSpec {
    /// Dataset path, resolved.
    pub path: PathBuf,
    /// Symbol in that dataset.
    pub symbol: String,
    /// Column names (None: `data.columns`).
    pub columns: Option<ColumnMap>,
}

/// Validated `[hedge]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeSpec {
    /// Fraction of the beta hedged.
    pub hedge_ratio: f64,
    /// Correlation above which an instrument is hedged.
    pub correlation_threshold: f64,
    /// Rolling window, bars.
    pub window: usize,
    /// Multiplier per regime, in [`REGIME_NAMES`] order.
    pub regime_multipliers: [f64; 4],
    /// Instruments, in file order.
    pub instruments: Vec<InstrumentSpec>,
}

impl HedgeSpec {
    /// The hedge multiplier of the regime named `regime_name` (1 for an unknown name).
    pub fn multiplier(&self, regime_name: &str) -> f64 {
        REGIME_NAMES
            .iter()
            .position(|&n| n == regime_name)
            .map_or(1.0, |k| self.regime_multipliers[k])
    }
}

impl RawHedge {
    /// Checks ranges and resolves the instruments' paths against `base`.
    pub fn validate(self, base: &Path) -> Result<HedgeSpec, ConfigError> {
        let hedge_ratio = self.hedge_ratio.unwrap_or(0.3);
        if !(hedge_ratio.is_finite() && (0.0..=2.0).contains(&hedge_ratio)) {
            return Err(ConfigError::invalid(
                "hedge.hedge_ratio",
                format!("must be between 0 and 2, got {hedge_ratio}"),
            ));
        }
        let correlation_threshold = self.correlation_threshold.unwrap_or(0.7);
        if !(correlation_threshold.is_finite() && (-1.0..=1.0).contains(&correlation_threshold)) {
            return Err(ConfigError::invalid(
                "hedge.correlation_threshold",
                format!("must be between -1 and 1, got {correlation_threshold}"),
            ));
        }
        let window = match self.window {
            None => 63,
            Some(n) if n >= 3 => n as usize,
            Some(n) => {
                return Err(ConfigError::invalid(
                    "hedge.window",
                    format!("must be at least 3 bars, got {n}"),
                ));
            }
        };
        let regime_multipliers =
            regime_multipliers("hedge", self.regime_multipliers.as_ref(), [1.0; 4])?;
        let raw = self.instruments.unwrap_or_default();
        if raw.is_empty() {
            return Err(ConfigError::invalid(
                "hedge.instruments",
                "needs at least one [[hedge.instruments]] with path and symbol",
            ));
        }
        let mut instruments: Vec<InstrumentSpec> = Vec::with_capacity(raw.len());
        for (k, r) in raw.into_iter().enumerate() {
            if r.symbol.is_empty() {
                return Err(ConfigError::invalid(
                    format!("hedge.instruments[{k}].symbol"),
                    "must not be empty",
                ));
            }
            if instruments.iter().any(|i| i.symbol == r.symbol) {
                return Err(ConfigError::invalid(
                    format!("hedge.instruments[{k}].symbol"),
                    format!("\"{}\" is listed twice", r.symbol),
                ));
            }
            instruments.push(InstrumentSpec {
                path: resolve(base, &r.path),
                symbol: r.symbol,
                columns: r.columns,
            });
        }
        Ok(HedgeSpec {
            hedge_ratio,
            correlation_threshold,
            window,
            regime_multipliers,
            instruments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HedgeSpec, ConfigError> {
        toml::from_str::<RawHedge>(text)
            .unwrap()
            .validate(Path::new("/jobs"))
    }

    const ONE: &str = "[[instruments]]\npath = \"b.parquet\"\nsymbol = \"SP500\"\n";

    #[test]
    fn defaults_and_paths() {
        let h = parse(ONE).unwrap();
        assert_eq!(
            (h.hedge_ratio, h.correlation_threshold, h.window),
            (0.3, 0.7, 63)
        );
        assert_eq!(h.regime_multipliers, [1.0; 4]);
        assert_eq!(h.instruments[0].path, PathBuf::from("/jobs/b.parquet"));
        let h = parse(&format!("regime_multipliers = {{ CRISIS = 2.0 }}\n{ONE}")).unwrap();
        assert_eq!((h.multiplier("CRISIS"), h.multiplier("STABLE")), (2.0, 1.0));
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            (format!("hedge_ratio = -0.1\n{ONE}"), "hedge.hedge_ratio"),
            (
                format!("correlation_threshold = 1.5\n{ONE}"),
                "hedge.correlation_threshold",
            ),
            (format!("window = 2\n{ONE}"), "hedge.window"),
            (
                format!("regime_multipliers = {{ CALM = 1.0 }}\n{ONE}"),
                "hedge.regime_multipliers.CALM",
            ),
            (String::new(), "hedge.instruments"),
            (format!("{ONE}{ONE}"), "hedge.instruments[1].symbol"),
        ] {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
