//! Cluster execution: the job cut into units that shards of a Slurm job
//! array or a Kubernetes Indexed Job compute, and the merge that joins them.
//!
//! A unit is a fold's fits (every fit family the job replays, for one fold,
//! the deployment fold included) or a block of stress paths of one scenario
//! ([`plan`]). Units are properties of the job, never of the shard count:
//! the plan assigns them to `N` shards by estimated cost, and each shard
//! writes its units under `DIR/shards/<unit>/`, atomically, with a manifest
//! ([`store`]); a rerun skips units that verify and redoes those that do not.
//! `chloe merge DIR` checks that every unit is present and consistent, then
//! runs the job's finish phase ([`crate::job::finish`]: replay, metrics,
//! stress summaries, reports, gate) on the units read back ([`merge`]).
//!
//! A single `chloe run` is the same plan -> units -> finish in one process
//! ([`Local`]); its units pass through the same encoding ([`codec`]), so a
//! merge and a single run reduce the same bits and write the same bytes.
//!
//! When the stress test's book is the deployment book
//! (`from_walkforward = true`), the stress units need it, and it comes from
//! the continuous replay over every fold's fits (the risk engine reads the
//! account's drawdown), so a stress block depends on all fit units. One
//! array serves both: a shard first computes its own fit units, then, if it
//! has stress blocks, reads every fit unit already on disk and computes (and
//! writes) the missing ones itself, starting at a point of the fold list that
//! depends on its index, so shards running at once spread over the folds and
//! pick up each other's units. Fits are deterministic, so a fit computed
//! twice is the same unit. The alternative, a two-step chain (an array for
//! the fits, then one for the stress), needs a second submission for a
//! saving that is small where sharding matters: the fits of a 500-asset job
//! take a few seconds, its million-path stress minutes (BENCHMARKS.md
//! "Cluster"). With a book given in the job, stress blocks need no fit.

pub mod codec;
pub mod merge;
pub mod plan;
pub mod shard;
pub mod store;

use std::collections::BTreeMap;

use anyhow::Context;
use rayon::prelude::*;

pub use self::plan::{FitUnit, Plan, Shard, StressUnit};
use crate::{
    features::FeatureSet,
    job::{BackendInfo, Prepared},
    progress::Progress,
    report::summary::Summary,
    stress::{
        StressBackend,
        engine::{self, Block},
    },
    walkforward::{self, FamilyFits, FeatureInput, FitArrays, FitFamily},
};

/// Where the finish phase gets the units' outputs: computed in this process
/// ([`Local`]) or read from the shards' folders ([`merge::Disk`]).
pub trait UnitSource {
    /// Every fold's fits, by family (folds in order, then the deployment fold).
    fn fits(&mut self, prep: &Prepared) -> anyhow::Result<BTreeMap<FitFamily, FamilyFits>>;
    /// The backend the stress blocks run (or ran) on.
    fn stress_backend(&mut self, plan: &engine::Plan) -> anyhow::Result<BackendInfo>;
    /// One block of stress paths.
    fn stress_block(&mut self, plan: &engine::Plan, unit: &StressUnit) -> anyhow::Result<Block>;
    /// Adds what the source knows to summary.json (a merge: shards, mixed backends).
    fn annotate(&self, _summary: &mut Summary) {}
}

/// Fits fold `unit` for every family the job replays.
pub fn compute_fit(
    prep: &Prepared,
    fs: &FeatureSet,
    arrays: &FitArrays,
    unit: FitUnit,
) -> anyhow::Result<codec::FitOut> {
    let (layout, panel) = prep
        .layout
        .as_ref()
        .zip(prep.panel())
        .context("internal error: a fit unit without a walk-forward")?;
    let fold = match unit {
        FitUnit::Fold(k) => layout.folds.get(k).copied(),
        FitUnit::Deploy => layout.deploy,
    }
    .with_context(|| format!("internal error: no fold for unit {}", unit.id()))?;
    let features = FeatureInput {
        names: &fs.names,
        values: fs.values.view(),
        warmup: fs.warmup,
    };
    let settings = prep.settings();
    walkforward::families(&prep.job.spec.strategy)
        .into_iter()
        .map(|fam| {
            let fit = walkforward::fit_fold(
                fam,
                arrays,
                panel,
                &features,
                &settings,
                prep.job.spec.seed,
                fold,
            )?;
            Ok((fam, fit))
        })
        .collect()
}

/// The feature values and the other arrays fits read.
pub fn fit_inputs(prep: &Prepared) -> anyhow::Result<(FeatureSet, FitArrays)> {
    let panel = prep
        .panel()
        .context("internal error: fits without a panel")?;
    Ok((
        prep.feature_values()?,
        FitArrays::new(panel, &prep.job.spec.walkforward),
    ))
}

/// Gathers fit units' outputs into each family's fits, folds in order.
pub fn gather(
    prep: &Prepared,
    outs: Vec<(FitUnit, codec::FitOut)>,
) -> anyhow::Result<BTreeMap<FitFamily, FamilyFits>> {
    let families = walkforward::families(&prep.job.spec.strategy);
    let mut map: BTreeMap<FitFamily, FamilyFits> =
        families.iter().map(|&f| (f, (Vec::new(), None))).collect();
    let mut outs = outs;
    outs.sort_by_key(|(u, _)| match u {
        FitUnit::Fold(k) => *k,
        FitUnit::Deploy => usize::MAX,
    });
    for (unit, fits) in outs {
        if fits.len() != families.len() || fits.iter().zip(&families).any(|((f, _), g)| f != g) {
            anyhow::bail!(
                "unit {}: holds fits of other strategies than this job's",
                unit.id()
            );
        }
        for (fam, fit) in fits {
            let slot = map.get_mut(&fam).expect("family listed");
            match unit {
                FitUnit::Fold(_) => slot.0.push(fit),
                FitUnit::Deploy => slot.1 = Some(fit),
            }
        }
    }
    Ok(map)
}

/// A single run's units: computed in this process, each through its encoding.
pub struct Local<'a> {
    progress: &'a Progress,
    plan: Plan,
    choice: crate::stress::BackendChoice,
    backend: Option<Box<dyn StressBackend>>,
    use_primary: bool,
}

impl<'a> Local<'a> {
    /// The units of `prep`, computed on demand.
    pub fn new(prep: &Prepared, progress: &'a Progress) -> Self {
        Self {
            progress,
            plan: Plan::new(prep),
            choice: prep.opts.backend,
            backend: None,
            use_primary: true,
        }
    }
}

impl UnitSource for Local<'_> {
    fn fits(&mut self, prep: &Prepared) -> anyhow::Result<BTreeMap<FitFamily, FamilyFits>> {
        let units = self.plan.fit_units();
        let progress = self.progress;
        progress.stage("walk-forward folds", units.len() as u64);
        let started = std::time::Instant::now();
        let (fs, arrays) = fit_inputs(prep)?;
        let outs = units
            .par_iter()
            .map(|&u| {
                let fits = compute_fit(prep, &fs, &arrays, u)?;
                let fits = codec::decode_fits(&codec::encode_fits(&fits)?)?;
                progress.inc(1);
                Ok((u, fits))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        tracing::info!(
            "fits {:.2}s ({} units, parallel over folds)",
            started.elapsed().as_secs_f64(),
            units.len()
        );
        gather(prep, outs)
    }

    fn stress_backend(&mut self, plan: &engine::Plan) -> anyhow::Result<BackendInfo> {
        let sel = crate::stress::select_backend(self.choice, plan)?;
        if let Some(w) = &sel.warning {
            tracing::warn!("{w}");
        }
        let kind = sel.backend.kind();
        tracing::info!("stress backend {}: {}", kind.as_str(), sel.why);
        self.backend = Some(sel.backend);
        Ok(BackendInfo {
            kind,
            why: sel.why,
            adapter: sel.adapter,
            canary: sel.canary,
            warning: sel.warning,
        })
    }

    fn stress_block(&mut self, plan: &engine::Plan, unit: &StressUnit) -> anyhow::Result<Block> {
        let backend = self
            .backend
            .as_mut()
            .context("internal error: stress block before the backend")?;
        let b = engine::run_block(
            plan,
            backend.as_mut(),
            &mut self.use_primary,
            unit.scenario,
            unit.paths.clone(),
        )?;
        codec::round_trip_block(b)
    }
}
