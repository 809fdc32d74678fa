//! `[features]` section: which causal features the edge classifier sees.
//!
//! ```toml
//! [features]
//! include = ["ret_5", "vol_20", "rsi_14"]   # default: all of FEATURE_NAMES
//! vol_window = 20    # short window: vol_20, range_vol, mr_z, volume_z, amihud, vol_of_vol
//! long_window = 60   # long window: mom_z, beta_corr
//! rsi_window = 14    # Wilder RSI period
//! ```
//!
//! Feature names are stable identifiers: `vol_20` and `rsi_14` keep their names
//! when the windows are configured differently (the suffix is the default window).

use serde::Deserialize;

use crate::error::ConfigError;

/// Every per-asset feature, in the order they appear in a feature set.
pub const FEATURE_NAMES: [&str; 12] = [
    "ret_1",
    "ret_5",
    "ret_20",
    "vol_20",
    "vol_of_vol",
    "mom_z",
    "mr_z",
    "rsi_14",
    "range_vol",
    "volume_z",
    "amihud",
    "beta_corr",
];

const MAX_WINDOW: usize = 2520;

/// `[features]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeatures {
    /// Feature names to compute; all when absent.
    pub include: Option<Vec<String>>,
    /// Short rolling window in bars (default 20).
    pub vol_window: Option<usize>,
    /// Long rolling window in bars (default 60).
    pub long_window: Option<usize>,
    /// RSI period in bars (default 14).
    pub rsi_window: Option<usize>,
}

/// Validated feature settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSpec {
    /// Features to compute, in [`FEATURE_NAMES`] order, no duplicates, not empty.
    pub include: Vec<String>,
    /// Short rolling window in bars, at least 2.
    pub vol_window: usize,
    /// Long rolling window in bars, at least 2.
    pub long_window: usize,
    /// RSI period in bars, at least 2.
    pub rsi_window: usize,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        Self {
            include: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            vol_window: 20,
            long_window: 60,
            rsi_window: 14,
        }
    }
}

impl RawFeatures {
    /// Checks names and windows and fills defaults.
    pub fn validate(self) -> Result<FeatureSpec, ConfigError> {
        let d = FeatureSpec::default();
        let window = |key: &str, v: Option<usize>, default: usize| match v {
            None => Ok(default),
            Some(w) if (2..=MAX_WINDOW).contains(&w) => Ok(w),
            Some(w) => Err(ConfigError::invalid(
                format!("features.{key}"),
                format!("must be between 2 and {MAX_WINDOW} bars, got {w}"),
            )),
        };
        let vol_window = window("vol_window", self.vol_window, d.vol_window)?;
        let long_window = window("long_window", self.long_window, d.long_window)?;
        let rsi_window = window("rsi_window", self.rsi_window, d.rsi_window)?;
        let include = match self.include {
            None => d.include,
            Some(names) => {
                if names.is_empty() {
                    return Err(ConfigError::invalid(
                        "features.include",
                        format!(
                            "must name at least one feature; known: {}",
                            FEATURE_NAMES.join(", ")
                        ),
                    ));
                }
                for (k, name) in names.iter().enumerate() {
                    if !FEATURE_NAMES.contains(&name.as_str()) {
                        return Err(ConfigError::invalid(
                            "features.include",
                            format!(
                                "unknown feature \"{name}\"; known: {}",
                                FEATURE_NAMES.join(", ")
                            ),
                        ));
                    }
                    if names[..k].contains(name) {
                        return Err(ConfigError::invalid(
                            "features.include",
                            format!("lists feature \"{name}\" twice"),
                        ));
                    }
                }
                FEATURE_NAMES
                    .iter()
                    .filter(|f| names.iter().any(|n| n == *f))
                    .map(|s| s.to_string())
                    .collect()
            }
        };
        Ok(FeatureSpec {
            include,
            vol_window,
            long_window,
            rsi_window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<FeatureSpec, ConfigError> {
        toml::from_str::<RawFeatures>(s).unwrap().validate()
    }

    #[test]
    fn defaults_include_everything() {
        assert_eq!(parse("").unwrap(), FeatureSpec::default());
        assert_eq!(FeatureSpec::default().include.len(), FEATURE_NAMES.len());
    }

    #[test]
    fn include_is_put_in_canonical_order() {
        let s = parse("include = [\"rsi_14\", \"ret_1\"]\nvol_window = 10").unwrap();
        assert_eq!(s.include, ["ret_1", "rsi_14"]);
        assert_eq!(s.vol_window, 10);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse("include = [\"ret_1\", \"alpha\"]")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("features.include unknown feature \"alpha\"; known: ret_1"),
            "{e}"
        );
        let e = parse("include = [\"ret_1\", \"ret_1\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
        let e = parse("long_window = 1").unwrap_err().to_string();
        assert!(e.starts_with("features.long_window"), "{e}");
        assert!(toml::from_str::<RawFeatures>("windows = 3").is_err());
    }
}
