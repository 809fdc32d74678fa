//! `chloe merge DIR`: check that every unit of the plan is present and
//! consistent, then run the job's finish phase on the units read back and
//! write the reports into `DIR` (beside `DIR/shards/`), exiting with the
//! gate's code. `chloe plan`: the units, their estimated costs and shards.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::Serialize;

use super::{
    FitUnit, Plan, StressUnit, UnitSource, codec, gather,
    plan::UnitKind,
    shard::read_fit,
    store::{self, Check, Identity, JobRecord, Manifest},
};
use crate::{
    atomic::StagedDir,
    error::{Exit, UsageError},
    job::{self, BackendInfo, Options, Prepared, RunOutput, Stages},
    progress::Progress,
    report::summary::{MixedBackends, Summary},
    stress::{BackendChoice, BackendKind, engine},
    walkforward::{FamilyFits, FitFamily},
};

/// Units read back from the shards' folders.
pub struct Disk {
    out: PathBuf,
    identity: Identity,
    manifests: BTreeMap<String, Manifest>,
    kinds: BTreeMap<String, usize>,
    shards: u32,
}

impl UnitSource for Disk {
    fn fits(&mut self, prep: &Prepared) -> anyhow::Result<BTreeMap<FitFamily, FamilyFits>> {
        let units: Vec<FitUnit> = Plan::new(prep).fit_units();
        let outs = units
            .into_iter()
            .map(|u| {
                let f = read_fit(&self.out, &u.id(), &self.identity).with_context(|| {
                    format!("unit {}: changed or removed during the merge", u.id())
                })?;
                Ok((u, f))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        gather(prep, outs)
    }

    fn stress_backend(&mut self, _plan: &engine::Plan) -> anyhow::Result<BackendInfo> {
        let gpu = self.kinds.contains_key("gpu");
        let kinds: Vec<&str> = self.kinds.keys().map(String::as_str).collect();
        Ok(BackendInfo {
            kind: if gpu {
                BackendKind::Gpu
            } else {
                BackendKind::Cpu
            },
            why: format!(
                "merged from {} shards; stress units ran on {}",
                self.shards,
                kinds.join(" and ")
            ),
            adapter: None,
            canary: None,
            warning: None,
        })
    }

    fn stress_block(
        &mut self,
        _plan: &engine::Plan,
        unit: &StressUnit,
    ) -> anyhow::Result<engine::Block> {
        let id = unit.id();
        let changed = || format!("unit {id}: changed or removed during the merge");
        let (check, files) = store::check(&self.out, &id, &self.identity, true);
        let Check::Ok(m) = check else {
            anyhow::bail!(changed());
        };
        let meta = m.block.as_ref().with_context(changed)?;
        let file = |name: &str| {
            m.files
                .iter()
                .position(|f| f.name == name)
                .map(|i| files[i].as_slice())
                .with_context(changed)
        };
        let b = codec::decode_block(
            file(codec::PATHS_FILE)?,
            file(codec::VALUES_FILE)?,
            file(codec::COUNTS_FILE)?,
            meta,
        )
        .with_context(|| format!("unit {id}"))?;
        if b.paths.len() as u64 != unit.paths.end - unit.paths.start {
            anyhow::bail!(
                "unit {id}: {} paths, the plan has {}",
                b.paths.len(),
                unit.paths.end - unit.paths.start
            );
        }
        Ok(b)
    }

    fn annotate(&self, summary: &mut Summary) {
        summary.run.merged_shards = Some(self.shards);
        if self.kinds.len() > 1 {
            summary.mixed_backends = Some(MixedBackends {
                units: self.kinds.clone(),
                note: "stress units ran on different backends (--allow-mixed-backends): CPU and \
                       GPU agree within the stress contract's tolerance, not bit for bit"
                    .into(),
            });
        }
    }
}

/// Reloads the job the shards of `dir` ran and checks every unit; exit 2
/// naming missing or inconsistent units and the array indices to resubmit.
fn open(dir: &Path, allow_mixed: bool) -> anyhow::Result<(Prepared, Disk)> {
    let rec = JobRecord::read(dir)?;
    let opts = Options {
        job: rec.job.clone(),
        out: Some(dir.to_path_buf()),
        overrides: rec.overrides.clone(),
        backend: BackendChoice::Cpu,
        baseline: rec.baseline.clone(),
        allow_different_data: rec.allow_different_data,
    };
    let prep = job::prepare(&opts, Stages::All)
        .with_context(|| format!("reloading the job of {}", dir.display()))?;
    let identity = Identity::of(&prep)?;
    if identity != rec.identity {
        return Err(UsageError(format!(
            "{}: the job file or its data changed since the shards ran (job {} / data {} then, \
             {} / {} now); rerun the shards",
            dir.display(),
            &rec.identity.job_key[..12],
            &rec.identity.data_sha256[..rec.identity.data_sha256.len().min(12)],
            &identity.job_key[..12],
            &identity.data_sha256[..identity.data_sha256.len().min(12)],
        ))
        .into());
    }
    let plan = Plan::new(&prep);
    let owner = plan.assign(rec.shards);
    let mut problems = Vec::new();
    let mut resubmit = BTreeSet::new();
    let mut manifests = BTreeMap::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (u, &o) in plan.units.iter().zip(&owner) {
        match store::check(dir, &u.id, &identity, false).0 {
            Check::Ok(m) => {
                if let (UnitKind::Stress(_), Some(b)) = (&u.kind, &m.backend) {
                    *kinds.entry(b.clone()).or_default() += 1;
                }
                manifests.insert(u.id.clone(), *m);
            }
            Check::Missing => {
                problems.push(format!("{} (shard {o}): missing", u.id));
                resubmit.insert(o);
            }
            Check::Bad(why) => {
                problems.push(format!("{} (shard {o}): {why}", u.id));
                resubmit.insert(o);
            }
        }
    }
    if !problems.is_empty() {
        let idx: Vec<String> = resubmit.iter().map(u32::to_string).collect();
        return Err(UsageError(format!(
            "{} of {} units missing or inconsistent in {}:\n  {}\nresubmit array indices {} of {} \
             (sbatch --array={}; a rerun skips the units already complete)",
            problems.len(),
            plan.units.len(),
            store::shards_dir(dir).display(),
            problems.join("\n  "),
            idx.join(","),
            rec.shards,
            idx.join(","),
        ))
        .into());
    }
    if kinds.len() > 1 && !allow_mixed {
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} on {k}")).collect();
        return Err(UsageError(format!(
            "stress units of {} ran on different backends ({}): CPU and GPU agree within \
             tolerance, not bit for bit; rerun them on one kind of node, or pass \
             --allow-mixed-backends to merge them anyway (recorded in summary.json)",
            dir.display(),
            list.join(", ")
        ))
        .into());
    }
    let disk = Disk {
        out: dir.to_path_buf(),
        identity,
        manifests,
        kinds,
        shards: rec.shards,
    };
    Ok((prep, disk))
}

/// Merges the shards of `dir` and writes the reports into it.
pub fn merge(dir: &Path, allow_mixed: bool) -> anyhow::Result<RunOutput> {
    let (prep, mut disk) = open(dir, allow_mixed)?;
    tracing::info!(
        "merging {} units of {} shards in {}",
        disk.manifests.len(),
        disk.shards,
        dir.display()
    );
    let progress = Progress::new("merging", 0);
    let stage = StagedDir::new(&dir.join("merge"))?;
    let done = job::finish(&prep, &mut disk, &stage, &progress)?;
    stage.publish_into(dir, "summary.json")?;
    done.route(&prep);
    Ok(RunOutput {
        out: dir.to_path_buf(),
        summary: done.summary,
        exit: done.exit,
    })
}

/// `chloe merge DIR`: merge, print a short result, the gate's exit code.
pub fn command(dir: &Path, allow_mixed: bool) -> anyhow::Result<Exit> {
    let r = merge(dir, allow_mixed)?;
    job::print_result(&r);
    Ok(r.exit)
}

#[derive(Serialize)]
struct PlannedUnit<'a> {
    id: &'a str,
    kind: &'a UnitKind,
    cost_s: f64,
    shard: u32,
}

#[derive(Serialize)]
struct ShardLoad {
    shard: u32,
    units: usize,
    cost_s: f64,
}

#[derive(Serialize)]
struct PlanOut<'a> {
    job: &'a str,
    shards: u32,
    units: Vec<PlannedUnit<'a>>,
    loads: Vec<ShardLoad>,
}

/// `chloe plan JOB --shards N`: the units, their estimated costs and shards.
pub fn plan_command(opts: &Options, shards: u32, json: bool) -> anyhow::Result<Exit> {
    if shards == 0 {
        return Err(UsageError("--shards must be at least 1".into()).into());
    }
    let prep = job::prepare(opts, Stages::All)?;
    let plan = Plan::new(&prep);
    let owner = plan.assign(shards);
    let mut loads: Vec<ShardLoad> = (0..shards)
        .map(|s| ShardLoad {
            shard: s,
            units: 0,
            cost_s: 0.0,
        })
        .collect();
    for (u, &o) in plan.units.iter().zip(&owner) {
        loads[o as usize].units += 1;
        loads[o as usize].cost_s += u.cost_s;
    }
    let out = PlanOut {
        job: &prep.job.spec.name,
        shards,
        units: plan
            .units
            .iter()
            .zip(&owner)
            .map(|(u, &shard)| PlannedUnit {
                id: &u.id,
                kind: &u.kind,
                cost_s: u.cost_s,
                shard,
            })
            .collect(),
        loads,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(Exit::Ok);
    }
    println!(
        "{}: {} units over {} shards (costs are estimates on one core)",
        out.job,
        out.units.len(),
        shards
    );
    println!("{:<22} {:>12} {:>6}", "unit", "est. s", "shard");
    for u in &out.units {
        println!("{:<22} {:>12.3} {:>6}", u.id, u.cost_s, u.shard);
    }
    println!("{:<6} {:>6} {:>12}", "shard", "units", "est. s");
    for l in &out.loads {
        println!("{:<6} {:>6} {:>12.3}", l.shard, l.units, l.cost_s);
    }
    Ok(Exit::Ok)
}
