//! `[features]` section: which causal features the edge classifier sees.

use serde::Deserialize;

use crate::error::ConfigError;

/// `[features]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeatures {}

/// Validated feature settings.
#[derive(Debug, Clone)]
pub struct FeatureSpec {}

impl RawFeatures {
    /// Checks names and windows and fills defaults.
    pub fn validate(self) -> Result<FeatureSpec, ConfigError> {
        Ok(FeatureSpec {})
    }
}
