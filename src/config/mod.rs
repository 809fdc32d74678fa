//! Job files: TOML parsed into raw serde structs, then validated into checked specs.
//!
//! Each section has a `Raw*` struct that mirrors the file (unknown keys are
//! rejected) and a spec struct that the rest of chloe trusts.

mod data;
pub mod features;
pub mod gate;
pub mod stress;
pub mod walkforward;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use self::data::{BenchmarkSpec, CalendarMode, ColumnMap, DataSpec, RawData, SymbolSelection};
use crate::error::ConfigError;

/// The job file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    /// `[job]` section.
    pub job: RawJobSection,
    /// `[data]` section.
    pub data: Option<RawData>,
    /// `[features]` section.
    pub features: Option<features::RawFeatures>,
    /// `[walkforward]` section.
    pub walkforward: Option<walkforward::RawWalkforward>,
    /// `[sizing]` section.
    pub sizing: Option<walkforward::RawSizing>,
    /// `[gate]` section.
    pub gate: Option<gate::RawGate>,
    /// `[stress]` section.
    pub stress: Option<stress::RawStress>,
}

/// `[job]`: name, seed and output folder.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJobSection {
    /// Job name, used in reports.
    pub name: String,
    /// Seed for every random draw in the job.
    #[serde(default)]
    pub seed: u64,
    /// Output folder, relative to the job file.
    pub output: Option<String>,
}

/// A validated job.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Job name.
    pub name: String,
    /// Seed for every random draw.
    pub seed: u64,
    /// Output folder (resolved against the job file's folder).
    pub output: PathBuf,
    /// The job file this spec came from.
    pub source: PathBuf,
    /// Data selection, when the job has a `[data]` section.
    pub data: Option<DataSpec>,
    /// Feature set (defaults when the section is absent).
    pub features: features::FeatureSpec,
    /// Walk-forward settings (defaults when the section is absent).
    pub walkforward: walkforward::WalkforwardSpec,
    /// Position sizing for the out-of-sample replay.
    pub sizing: walkforward::SizingSpec,
    /// Release-gate thresholds, when the job has a `[gate]` section.
    pub gate: Option<gate::GateSpec>,
    /// Stress-test settings, when the job has a `[stress]` section.
    pub stress: Option<stress::StressSpec>,
}

impl JobSpec {
    /// Reads, parses and validates a job file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_str(&text, path)
    }

    /// Parses and validates job-file text; relative paths resolve against `path`'s folder.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawJob = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " | "),
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        raw.validate(&base, path)
    }
}

impl RawJob {
    /// Checks every value and resolves paths against `base`.
    pub fn validate(self, base: &Path, source: &Path) -> Result<JobSpec, ConfigError> {
        if self.job.name.trim().is_empty() {
            return Err(ConfigError::invalid("job.name", "must not be empty"));
        }
        let gate = self.gate.map(gate::RawGate::validate).transpose()?;
        let output = resolve(
            base,
            self.job
                .output
                .as_deref()
                .unwrap_or(&format!("out/{}", self.job.name)),
        );
        let data = self.data.map(|d| d.validate(base)).transpose()?;
        let features = self.features.unwrap_or_default().validate()?;
        let walkforward = self.walkforward.unwrap_or_default().validate()?;
        let sizing = self.sizing.unwrap_or_default().validate()?;
        let stress = self.stress.map(|s| s.validate(base)).transpose()?;
        Ok(JobSpec {
            gate,
            name: self.job.name,
            seed: self.job.seed,
            output,
            source: source.to_path_buf(),
            data,
            features,
            walkforward,
            sizing,
            stress,
        })
    }
}

/// Resolves a job-file path against the job file's folder.
pub fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
