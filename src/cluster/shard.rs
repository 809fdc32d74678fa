//! One shard of a cluster job: compute the units the plan assigns to it and
//! write them under `DIR/shards/`, skipping units already complete.

use std::{collections::BTreeMap, path::Path};

use rayon::prelude::*;

use super::{
    FitUnit, Plan, Shard, StressUnit, UnitSource, codec, compute_fit, fit_inputs, gather,
    plan::UnitKind,
    store::{self, Check, Identity, JobRecord, Manifest},
};
use crate::{
    config::stress::PortfolioSource,
    features::FeatureSet,
    job::{self, BackendInfo, Prepared},
    stress::{self, engine},
    walkforward::{FamilyFits, FitArrays, FitFamily},
};

/// Whether unit `id` is complete and verified; a unit that does not verify
/// is removed (and so redone), with a log line.
pub fn ready(out: &Path, id: &str, identity: &Identity) -> anyhow::Result<bool> {
    match store::check(out, id, identity, false).0 {
        Check::Ok(_) => {
            tracing::info!("unit {id}: complete and verified, skipped");
            Ok(true)
        }
        Check::Missing => Ok(false),
        Check::Bad(why) => {
            tracing::warn!("unit {id}: {why}; redoing it");
            store::remove_unit(out, id)?;
            Ok(false)
        }
    }
}

fn manifest(identity: &Identity, shard: Shard, unit: String, rows: u64) -> Manifest {
    Manifest {
        unit,
        identity: identity.clone(),
        backend: None,
        shard: shard.to_string(),
        rows,
        skipped: None,
        block: None,
        files: Vec::new(),
    }
}

/// Fit file name inside a fit unit.
pub const FITS_FILE: &str = "fits.bin";

fn write_fit(
    out: &Path,
    identity: &Identity,
    shard: Shard,
    unit: FitUnit,
    fits: &codec::FitOut,
) -> anyhow::Result<Vec<u8>> {
    let bytes = codec::encode_fits(fits)?;
    store::write_unit(
        out,
        manifest(identity, shard, unit.id(), fits.len() as u64),
        &[(FITS_FILE, bytes.clone())],
    )?;
    Ok(bytes)
}

/// Reads a verified fit unit.
pub fn read_fit(out: &Path, id: &str, identity: &Identity) -> Option<codec::FitOut> {
    match store::check(out, id, identity, true) {
        (Check::Ok(_), files) if files.len() == 1 => codec::decode_fits(&files[0]).ok(),
        _ => None,
    }
}

/// A shard's view of the fits: units on disk, the missing ones computed
/// (and written) here, in an order starting at the shard's share of the list.
struct ShardFits<'a> {
    out: &'a Path,
    identity: &'a Identity,
    shard: Shard,
    plan: &'a Plan,
}

impl UnitSource for ShardFits<'_> {
    fn fits(&mut self, prep: &Prepared) -> anyhow::Result<BTreeMap<FitFamily, FamilyFits>> {
        let units = self.plan.fit_units();
        let start = (self.shard.index as usize * units.len()) / self.shard.count as usize;
        let mut inputs: Option<(FeatureSet, FitArrays)> = None;
        let mut outs = Vec::with_capacity(units.len());
        for k in 0..units.len() {
            let u = units[(start + k) % units.len()];
            let id = u.id();
            if let Some(f) = read_fit(self.out, &id, self.identity) {
                outs.push((u, f));
                continue;
            }
            if self.out.join("shards").join(&id).exists() {
                tracing::warn!("unit {id}: does not verify; redoing it");
                store::remove_unit(self.out, &id)?;
            }
            tracing::info!("unit {id}: not written yet; computing it for the deployment book");
            if inputs.is_none() {
                inputs = Some(fit_inputs(prep)?);
            }
            let (fs, arrays) = inputs.as_ref().expect("just set");
            let fits = compute_fit(prep, fs, arrays, u)?;
            let bytes = write_fit(self.out, self.identity, self.shard, u, &fits)?;
            outs.push((u, codec::decode_fits(&bytes)?));
        }
        gather(prep, outs)
    }

    fn stress_backend(&mut self, _plan: &engine::Plan) -> anyhow::Result<BackendInfo> {
        anyhow::bail!("internal error: a shard's fit source runs no stress")
    }

    fn stress_block(&mut self, _: &engine::Plan, _: &StressUnit) -> anyhow::Result<engine::Block> {
        anyhow::bail!("internal error: a shard's fit source runs no stress")
    }
}

/// Runs shard `shard` of the prepared job: its fit units, then its stress
/// blocks (after the deployment book), each skipped when already complete.
pub fn run(prep: &Prepared, shard: Shard) -> anyhow::Result<()> {
    let out = prep.out.as_path();
    let identity = Identity::of(prep)?;
    let plan = Plan::new(prep);
    let job = std::path::absolute(&prep.opts.job)?;
    JobRecord {
        identity: identity.clone(),
        job,
        overrides: prep.opts.overrides.clone(),
        baseline: prep
            .opts
            .baseline
            .as_ref()
            .map(std::path::absolute)
            .transpose()?,
        allow_different_data: prep.opts.allow_different_data,
        shards: shard.count,
        units: plan.units.len(),
    }
    .write(out)?;
    store::remove_dead_staging(out);
    let mine = plan.shard_units(shard);
    tracing::info!(
        "shard {shard}: {} of the plan's {} units, under {}",
        mine.len(),
        plan.units.len(),
        store::shards_dir(out).display()
    );
    let mut fits = Vec::new();
    let mut blocks = Vec::new();
    for u in &mine {
        match &u.kind {
            UnitKind::Fit(f) => fits.push(*f),
            UnitKind::Stress(b) => blocks.push(b.clone()),
        }
    }
    let mut todo = Vec::new();
    for f in fits {
        if !ready(out, &f.id(), &identity)? {
            todo.push(f);
        }
    }
    if !todo.is_empty() {
        let (fs, arrays) = fit_inputs(prep)?;
        todo.par_iter().try_for_each(|&u| {
            let fits = compute_fit(prep, &fs, &arrays, u)?;
            write_fit(out, &identity, shard, u, &fits).map(|_| ())
        })?;
    }
    let mut todo = Vec::new();
    for b in blocks {
        if !ready(out, &b.id(), &identity)? {
            todo.push(b);
        }
    }
    if !todo.is_empty() {
        run_blocks(prep, &plan, &identity, shard, &todo)?;
    }
    tracing::info!("shard {shard}: done");
    Ok(())
}

fn run_blocks(
    prep: &Prepared,
    plan: &Plan,
    identity: &Identity,
    shard: Shard,
    todo: &[StressUnit],
) -> anyhow::Result<()> {
    let out = prep.out.as_path();
    let mut fits = ShardFits {
        out,
        identity,
        shard,
        plan,
    };
    let spec = prep
        .stress_spec
        .clone()
        .ok_or_else(|| anyhow::anyhow!("internal error: stress units without a stress spec"))?;
    // Only the deployment book needs the replay (and so every fold's fits).
    let wf = if spec.portfolio == PortfolioSource::Deployment {
        job::walkforward_from_units(prep, &mut fits)?
    } else {
        None
    };
    let book = job::deployment_book(prep, wf.as_ref());
    let spec = match job::resolve_book(spec, &job::stress_inputs(prep, wf.as_ref(), book.as_ref()))?
    {
        Ok(s) => s,
        Err(why) => {
            tracing::warn!("stress skipped: {why}");
            for u in todo {
                let mut m = manifest(identity, shard, u.id(), 0);
                m.skipped = Some(why.clone());
                store::write_unit(out, m, &[])?;
            }
            return Ok(());
        }
    };
    let planned = stress::plan(&spec, prep.panel(), prep.job.spec.seed)?;
    let sel = stress::select_backend(prep.opts.backend, &planned.plan)?;
    if let Some(w) = &sel.warning {
        tracing::warn!("{w}");
    }
    let mut backend = sel.backend;
    let kind = backend.kind();
    tracing::info!("stress backend {}: {}", kind.as_str(), sel.why);
    let mut use_primary = true;
    for u in todo {
        let b = engine::run_block(
            &planned.plan,
            backend.as_mut(),
            &mut use_primary,
            u.scenario,
            u.paths.clone(),
        )?;
        let mut m = manifest(identity, shard, u.id(), b.paths.len() as u64);
        m.backend = Some(kind.as_str().into());
        m.block = Some(codec::block_meta(&b));
        store::write_unit(out, m, &codec::encode_block(&b)?)?;
    }
    Ok(())
}
