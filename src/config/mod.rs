//! Job files: TOML parsed into raw serde structs, then validated into checked specs.
//!
//! Each section has a `Raw*` struct that mirrors the file (unknown keys are
//! rejected) and a spec struct that the rest of chloe trusts.

pub mod cluster;
mod data;
pub mod execution;
pub mod features;
pub mod gate;
pub mod hedge;
pub mod monitor;
pub mod strategy;
pub mod stress;
pub mod time;
pub mod walkforward;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::data::{BenchmarkSpec, CalendarMode, ColumnMap, DataSpec, RawData, SymbolSelection};
pub use self::stress::{MAX_HORIZON, MAX_PATHS};
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
    /// `[strategy]` section.
    pub strategy: Option<strategy::RawStrategy>,
    /// `[portfolio]` section.
    pub portfolio: Option<strategy::RawPortfolio>,
    /// `[hedge]` section.
    pub hedge: Option<hedge::RawHedge>,
    /// `[gate]` section.
    pub gate: Option<gate::RawGate>,
    /// `[stress]` section.
    pub stress: Option<stress::RawStress>,
    /// `[cluster]` section.
    pub cluster: Option<cluster::RawCluster>,
    /// `[execution]` section.
    pub execution: Option<execution::RawExecution>,
    /// `[monitor]` section.
    pub monitor: Option<monitor::RawMonitor>,
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
    /// The strategy replayed, and those compared with it.
    pub strategy: strategy::StrategySpec,
    /// The account the replay trades.
    pub portfolio: strategy::PortfolioSpec,
    /// How the account's orders fill (impact, slicing, venues).
    pub execution: execution::ExecutionSpec,
    /// Dynamic hedging of the replayed book, when the job has a `[hedge]` section.
    pub hedge: Option<hedge::HedgeSpec>,
    /// Release-gate thresholds, when the job has a `[gate]` section.
    pub gate: Option<gate::GateSpec>,
    /// Stress-test settings, when the job has a `[stress]` section.
    pub stress: Option<stress::StressSpec>,
    /// Risk-monitor rules and alert routing (defaults when the section is absent).
    pub monitor: monitor::MonitorSpec,
    /// Whether the job file has a `[walkforward]` section (`chloe run` runs
    /// the walk-forward when it has one, or when the stress needs its book).
    pub has_walkforward: bool,
    /// How the job is cut into units for shards (defaults when the section is absent).
    pub cluster: cluster::ClusterSpec,
}

/// Command-line values that replace job-file values before validation, so
/// they pass the same checks as the file's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Overrides {
    /// `--seed`: replaces `job.seed`.
    pub seed: Option<u64>,
    /// `--paths`: replaces `stress.paths`.
    pub paths: Option<u64>,
    /// `--horizon`: replaces `stress.horizon`.
    pub horizon: Option<u32>,
    /// `--min-*` / `--max-*` gate flags: replace `[gate]` thresholds.
    pub gate: gate::GateOverrides,
}

impl Overrides {
    /// Writes the overrides into `raw`; a stress flag without a `[stress]`
    /// section is an error naming the flag.
    pub fn apply(&self, raw: &mut RawJob) -> Result<(), ConfigError> {
        if let Some(seed) = self.seed {
            raw.job.seed = seed;
        }
        for (flag, given) in [
            ("--paths", self.paths.is_some()),
            ("--horizon", self.horizon.is_some()),
        ] {
            if given && raw.stress.is_none() {
                return Err(ConfigError::invalid(
                    flag,
                    "needs a [stress] section in the job file",
                ));
            }
        }
        if let Some(s) = raw.stress.as_mut() {
            s.paths = self.paths.or(s.paths);
            s.horizon = self.horizon.or(s.horizon);
        }
        if !self.gate.is_empty() {
            raw.gate.get_or_insert_default().apply(&self.gate);
        }
        Ok(())
    }

    /// The flag that set `key`, for error messages.
    pub fn flag_for(&self, key: &str) -> Option<String> {
        match key {
            "job.seed" => self.seed.map(|v| format!("--seed {v}")),
            "stress.paths" => self.paths.map(|v| format!("--paths {v}")),
            "stress.horizon" => self.horizon.map(|v| format!("--horizon {v}")),
            _ => None,
        }
    }
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
        Self::from_str_with(text, path, &Overrides::default())
    }

    /// Parses job-file text, applies command-line overrides, then validates:
    /// the one parse -> validate path, so a flag meets the file's range checks.
    pub fn from_str_with(
        text: &str,
        path: &Path,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut raw: RawJob = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " | "),
        })?;
        overrides.apply(&mut raw)?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        raw.validate(&base, path).map_err(|e| match e {
            ConfigError::Invalid { key, message } => match overrides.flag_for(&key) {
                Some(flag) => ConfigError::Invalid {
                    key: format!("{flag} (overrides {key}):"),
                    message: format!("{key} {message}"),
                },
                None => ConfigError::Invalid { key, message },
            },
            other => other,
        })
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
        let has_walkforward = self.walkforward.is_some();
        let walkforward = self.walkforward.unwrap_or_default().validate()?;
        let sizing = self.sizing.unwrap_or_default().validate()?;
        let strategy = self.strategy.unwrap_or_default().validate(base)?;
        let portfolio = self.portfolio.unwrap_or_default().validate()?;
        let execution = self
            .execution
            .unwrap_or_default()
            .validate(sizing.cost_bps)?;
        let hedge = self.hedge.map(|h| h.validate(base)).transpose()?;
        let stress = self.stress.map(|s| s.validate(base)).transpose()?;
        let cluster = self.cluster.unwrap_or_default().validate()?;
        let monitor = self.monitor.unwrap_or_default().validate()?;
        Ok(JobSpec {
            cluster,
            monitor,
            gate,
            name: self.job.name,
            seed: self.job.seed,
            output,
            source: source.to_path_buf(),
            data,
            features,
            walkforward,
            sizing,
            strategy,
            portfolio,
            execution,
            hedge,
            stress,
            has_walkforward,
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

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "[job]\nname = \"x\"\nseed = 1\n\n[stress]\npaths = 5\n\n\
        [stress.market]\nsymbols = [\"A\"]\nmu = [0.0]\nsigma = [0.01]\nadv = [1e8]\nspread = [0.001]\n\n\
        [stress.portfolio]\nweights = { A = 0.5 }\n";

    fn with(o: Overrides) -> Result<JobSpec, ConfigError> {
        JobSpec::from_str_with(JOB, Path::new("j.toml"), &o)
    }

    #[test]
    fn overrides_replace_file_values_before_the_same_checks() {
        let j = with(Overrides::default()).unwrap();
        assert_eq!((j.seed, j.stress.unwrap().paths), (1, 5));
        let j = with(Overrides {
            seed: Some(9),
            paths: Some(7),
            horizon: Some(3),
            ..Overrides::default()
        })
        .unwrap();
        let s = j.stress.unwrap();
        assert_eq!((j.seed, s.paths, s.horizon), (9, 7, 3));
        // The file's range check, naming the flag and the key.
        for (o, flag, key) in [
            (
                Overrides {
                    paths: Some(0),
                    ..Default::default()
                },
                "--paths 0",
                "stress.paths",
            ),
            (
                Overrides {
                    paths: Some(MAX_PATHS + 1),
                    ..Default::default()
                },
                "--paths 1000000001",
                "stress.paths",
            ),
            (
                Overrides {
                    horizon: Some(MAX_HORIZON + 1),
                    ..Default::default()
                },
                "--horizon 100001",
                "stress.horizon",
            ),
        ] {
            let e = with(o).unwrap_err().to_string();
            assert!(e.starts_with(flag) && e.contains(key), "{e}");
        }
        // A stress flag on a job without [stress] names the flag.
        let e = JobSpec::from_str_with(
            "[job]\nname = \"x\"\n",
            Path::new("j.toml"),
            &Overrides {
                horizon: Some(5),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--horizon") && e.contains("[stress]"), "{e}");
    }
}
