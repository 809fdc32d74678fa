//! `[cluster]`: how a job is cut into units for shards (see [`crate::cluster`]).
//!
//! Every value here is a property of the job, so the units (and every result)
//! are the same whatever the shard count a scheduler runs it with.

use serde::Deserialize;

use crate::error::ConfigError;

/// Stress paths per unit when the job file does not say.
pub const DEFAULT_BLOCK_PATHS: u64 = 1 << 16;

/// `[cluster]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// Shard count for Kubernetes Indexed Jobs (`JOB_COMPLETION_INDEX` gives the index).
    pub shards: Option<u32>,
    /// Stress paths per unit (per scenario).
    pub block_paths: Option<u64>,
}

/// Validated `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Shard count for `JOB_COMPLETION_INDEX`, when given.
    pub shards: Option<u32>,
    /// Stress paths per unit (per scenario).
    pub block_paths: u64,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            shards: None,
            block_paths: DEFAULT_BLOCK_PATHS,
        }
    }
}

impl RawCluster {
    /// Checks the values.
    pub fn validate(self) -> Result<ClusterSpec, ConfigError> {
        if self.shards == Some(0) {
            return Err(ConfigError::invalid("cluster.shards", "must be at least 1"));
        }
        let block_paths = self.block_paths.unwrap_or(DEFAULT_BLOCK_PATHS);
        if block_paths == 0 {
            return Err(ConfigError::invalid(
                "cluster.block_paths",
                "must be at least 1",
            ));
        }
        Ok(ClusterSpec {
            shards: self.shards,
            block_paths,
        })
    }
}
