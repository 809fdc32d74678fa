//! The plan: the job cut into units, each unit's estimated cost, and the
//! shard that computes it.
//!
//! Units are a property of the job (its folds, its scenarios, its paths and
//! `[cluster] block_paths`), never of the shard count, so every shard count
//! computes the same units and the merge reads the same outputs. The
//! assignment of units to `N` shards is longest-processing-time-first on the
//! estimated costs: units in decreasing cost (ties in plan order), each to
//! the least loaded shard (ties to the lowest index), a pure function of
//! the plan and `N`.

use std::{fmt, ops::Range, str::FromStr};

use serde::Serialize;

use crate::{error::UsageError, job::Prepared, walkforward::Fold};

/// Estimated seconds per (training bar x asset) of a classifier fold fit:
/// 0.07 s per fold at 50 assets, 0.45 s at 500 (~500 training bars, one
/// core, release build; BENCHMARKS.md "Cluster").
const FIT_S_PER_BAR_ASSET: f64 = 2.0e-6;
/// Estimated seconds per (path x day x asset) of the stress kernel:
/// 7.3e-9 at 50 assets, 6.0e-9 at 500 with 20 factors (same measurements).
const STRESS_S_PER_PATH_DAY_ASSET: f64 = 7.0e-9;

/// One fold fit unit: every fit family the job replays, for one fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitUnit {
    /// Walk-forward fold `k`.
    Fold(usize),
    /// The deployment fold (the book after the last bar).
    Deploy,
}

impl FitUnit {
    /// The unit's id (its folder name under `DIR/shards/`).
    pub fn id(self) -> String {
        match self {
            Self::Fold(k) => format!("fit-f{k:04}"),
            Self::Deploy => "fit-deploy".into(),
        }
    }
}

/// One block of stress paths of one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StressUnit {
    /// Scenario index.
    pub scenario: usize,
    /// Block index within the scenario.
    pub block: u64,
    /// Global path indices of the block.
    pub paths: Range<u64>,
}

impl StressUnit {
    /// The unit's id (its folder name under `DIR/shards/`).
    pub fn id(&self) -> String {
        format!("stress-s{:02}-b{:05}", self.scenario, self.block)
    }
}

/// The blocks of scenario `s` over `paths` paths, `block_paths` each (the last shorter).
pub fn stress_blocks(s: usize, paths: u64, block_paths: u64) -> Vec<StressUnit> {
    let b = block_paths.max(1);
    (0..paths.div_ceil(b))
        .map(|k| StressUnit {
            scenario: s,
            block: k,
            paths: k * b..((k + 1) * b).min(paths),
        })
        .collect()
}

/// What a unit computes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    /// A fold's fits.
    Fit(FitUnit),
    /// A block of stress paths.
    Stress(StressUnit),
}

/// One unit of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unit {
    /// Folder name under `DIR/shards/`.
    pub id: String,
    /// What it computes.
    pub kind: UnitKind,
    /// Estimated seconds on one core.
    pub cost_s: f64,
}

/// Every unit of a job, fits first (fold order, then the deployment fold),
/// then stress blocks (scenario order, then path order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Units in plan order.
    pub units: Vec<Unit>,
}

impl Plan {
    /// The units of a prepared job.
    pub fn new(prep: &Prepared) -> Self {
        let mut units = Vec::new();
        let assets = prep.panel().map_or(1, |p| p.n_assets()) as f64;
        if let Some(layout) = &prep.layout {
            let classifier = crate::walkforward::families(&prep.job.spec.strategy)
                .contains(&crate::walkforward::FitFamily::Classifier);
            let cost = |f: &Fold| {
                let bars = (f.fit_end + 1).saturating_sub(f.train_start) as f64;
                if classifier {
                    bars * assets * FIT_S_PER_BAR_ASSET
                } else {
                    bars * FIT_S_PER_BAR_ASSET
                }
            };
            for f in &layout.folds {
                let u = FitUnit::Fold(f.index);
                units.push(Unit {
                    id: u.id(),
                    kind: UnitKind::Fit(u),
                    cost_s: cost(f),
                });
            }
            if let Some(f) = &layout.deploy {
                units.push(Unit {
                    id: FitUnit::Deploy.id(),
                    kind: UnitKind::Fit(FitUnit::Deploy),
                    cost_s: cost(f),
                });
            }
        }
        if let Some(s) = &prep.stress_spec {
            let n_assets = if s.weights.is_empty() {
                assets
            } else {
                s.weights.len() as f64
            };
            let days = f64::from(s.horizon);
            for k in 0..s.scenarios.len() {
                for b in stress_blocks(k, s.paths, prep.job.spec.cluster.block_paths) {
                    let n = (b.paths.end - b.paths.start) as f64;
                    units.push(Unit {
                        id: b.id(),
                        cost_s: n * days * n_assets * STRESS_S_PER_PATH_DAY_ASSET,
                        kind: UnitKind::Stress(b),
                    });
                }
            }
        }
        Self { units }
    }

    /// The shard (0-based) of each unit for `n` shards, in plan order.
    pub fn assign(&self, n: u32) -> Vec<u32> {
        let n = n.max(1) as usize;
        let mut order: Vec<usize> = (0..self.units.len()).collect();
        order.sort_by(|&a, &b| {
            self.units[b]
                .cost_s
                .total_cmp(&self.units[a].cost_s)
                .then(a.cmp(&b))
        });
        let mut load = vec![0.0f64; n];
        let mut owner = vec![0u32; self.units.len()];
        for u in order {
            let (s, _) = load
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
                .expect("at least one shard");
            load[s] += self.units[u].cost_s;
            owner[u] = s as u32;
        }
        owner
    }

    /// The units shard `shard` computes, in plan order.
    pub fn shard_units(&self, shard: Shard) -> Vec<&Unit> {
        let owner = self.assign(shard.count);
        self.units
            .iter()
            .zip(owner)
            .filter(|&(_, o)| o == shard.index)
            .map(|(u, _)| u)
            .collect()
    }

    /// The fold fit units, in plan order.
    pub fn fit_units(&self) -> Vec<FitUnit> {
        self.units
            .iter()
            .filter_map(|u| match u.kind {
                UnitKind::Fit(f) => Some(f),
                UnitKind::Stress(_) => None,
            })
            .collect()
    }
}

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Index, `0..count`.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Checks `index < count` and `count >= 1`; `what` names the source in the error.
    pub fn new(index: u32, count: u32, what: &str) -> Result<Self, UsageError> {
        if count == 0 || index >= count {
            return Err(UsageError(format!(
                "{what}: shard {index} of {count} does not exist (shards are 0..N-1 with N >= 1)"
            )));
        }
        Ok(Self { index, count })
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not I/N (e.g. 0/4: the first of 4 shards)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i: u32 = i.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Self::new(i, n, "--shard").map_err(|e| e.0)
    }
}

/// Which shard this process runs: `--shard I/N`, else a Slurm array task
/// (`SLURM_ARRAY_TASK_ID` - `SLURM_ARRAY_TASK_MIN`, over `SLURM_ARRAY_TASK_STEP`,
/// of `SLURM_ARRAY_TASK_COUNT`), else a Kubernetes Indexed Job pod
/// (`JOB_COMPLETION_INDEX` of `--shards N` or the job's `[cluster] shards`);
/// None for a single run. `env` reads a variable; `job_shards` reads the job file.
pub fn select(
    shard: Option<Shard>,
    shards: Option<u32>,
    env: &dyn Fn(&str) -> Option<String>,
    job_shards: &dyn Fn() -> anyhow::Result<Option<u32>>,
) -> anyhow::Result<Option<Shard>> {
    if let Some(s) = shard {
        return Ok(Some(s));
    }
    let num = |name: &str| -> anyhow::Result<Option<u32>> {
        match env(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u32>().map(Some).map_err(|_| {
                UsageError(format!(
                    "environment variable {name}={v:?} is not a whole number"
                ))
                .into()
            }),
        }
    };
    if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
            UsageError(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: cannot tell the shard count"
                    .into(),
            )
        })?;
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let rel = id.checked_sub(min).ok_or_else(|| {
            UsageError(format!(
                "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
            ))
        })?;
        if rel % step != 0 {
            return Err(UsageError(format!(
                "SLURM_ARRAY_TASK_ID {id} is not on the array's step {step} from {min}"
            ))
            .into());
        }
        return Ok(Some(Shard::new(
            rel / step,
            count,
            "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT",
        )?));
    }
    if let Some(index) = num("JOB_COMPLETION_INDEX")? {
        let count = match shards {
            Some(n) => n,
            None => job_shards()?.ok_or_else(|| {
                UsageError(
                    "JOB_COMPLETION_INDEX is set but the shard count is unknown: pass --shards N \
                     or set [cluster] shards = N in the job file (the Indexed Job's completions)"
                        .into(),
                )
            })?,
        };
        return Ok(Some(Shard::new(
            index,
            count,
            "JOB_COMPLETION_INDEX with the shard count",
        )?));
    }
    if shards.is_some() {
        return Err(UsageError(
            "--shards N needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); use --shard I/N to run one shard by hand"
                .into(),
        )
        .into());
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(costs: &[f64]) -> Plan {
        Plan {
            units: costs
                .iter()
                .enumerate()
                .map(|(i, &c)| Unit {
                    id: format!("u{i}"),
                    kind: UnitKind::Fit(FitUnit::Fold(i)),
                    cost_s: c,
                })
                .collect(),
        }
    }

    #[test]
    fn every_unit_has_one_shard_and_loads_are_balanced() {
        let p = plan(&[5.0, 1.0, 4.0, 2.0, 3.0, 3.0, 1.0]);
        for n in 1..=9u32 {
            let owner = p.assign(n);
            let mut seen = 0;
            for i in 0..n {
                seen += p.shard_units(Shard { index: i, count: n }).len();
            }
            assert_eq!(seen, p.units.len(), "n = {n}");
            assert!(owner.iter().all(|&o| o < n));
        }
        // LPT by hand for n = 2: 5 -> s0, 4 -> s1, 3 -> s1 (7), 3 -> s0 (8), 2 -> s1 (9), 1 -> s0 (9), 1 -> s0 (10).
        assert_eq!(p.assign(2), vec![0, 0, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn blocks_cover_the_paths_once() {
        let b = stress_blocks(1, 10, 4);
        let ranges: Vec<_> = b.iter().map(|u| u.paths.clone()).collect();
        assert_eq!(ranges, vec![0..4, 4..8, 8..10]);
        assert_eq!(b[2].id(), "stress-s01-b00002");
        assert!(stress_blocks(0, 0, 4).is_empty());
    }

    #[test]
    fn shard_strings_and_environments() {
        assert_eq!(
            "2/7".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 7 }
        );
        for bad in ["7/7", "x/2", "3", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let none = || Ok(None);
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            select(None, None, &slurm, &none).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(
            select(None, Some(5), &k8s, &none).unwrap(),
            Some(Shard { index: 3, count: 5 })
        );
        assert_eq!(
            select(None, None, &k8s, &|| Ok(Some(4))).unwrap(),
            Some(Shard { index: 3, count: 4 })
        );
        assert!(select(None, None, &k8s, &none).is_err());
        assert!(select(None, Some(3), &env(&[("JOB_COMPLETION_INDEX", "3")]), &none).is_err());
        assert_eq!(select(None, None, &env(&[]), &none).unwrap(), None);
        assert!(select(None, Some(3), &env(&[]), &none).is_err());
    }
}
