//! Comparison of a candidate run with a baseline run (`--baseline OUT_DIR`).
//!
//! Runs are comparable when their input data hash (`chloe.data_sha256` in
//! `oos_returns.parquet`) and their fold plan (the window columns of
//! `folds.parquet`) agree; otherwise the comparison is refused (exit 2) unless
//! different data is explicitly allowed. Sharpe ratios, drawdowns and the paired
//! bootstrap use the out-of-sample timestamps both runs have.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;

use super::read::{DATA_SHA256_KEY, FoldRow, RunReports, WalkforwardReports};
use crate::{
    data::time::format_us,
    error::UsageError,
    metrics::{self, BootstrapConfig},
    report::gate::BaselineComparison,
};

/// Resamples of the paired bootstrap.
pub const BASELINE_RESAMPLES: usize = 1000;
/// Seed of the paired bootstrap: fixed, so the same two folders give the same interval.
pub const BASELINE_SEED: u64 = 0;
/// Two-sided level of the interval of the Sharpe difference.
pub const BASELINE_LEVEL: f64 = 0.95;

/// Reads the baseline folder and compares `cand` with it.
pub fn compare(
    cand: &RunReports,
    dir: &Path,
    allow_different_data: bool,
) -> anyhow::Result<BaselineComparison> {
    if !dir.is_dir() {
        return Err(UsageError(format!("--baseline {}: no such folder", dir.display())).into());
    }
    let base = RunReports::read(dir).context("reading the --baseline folder")?;
    let (Some(cw), Some(bw)) = (&cand.walkforward, &base.walkforward) else {
        let none = if cand.walkforward.is_none() {
            &cand.dir
        } else {
            &base.dir
        };
        return Err(UsageError(format!(
            "--baseline compares walk-forward results, and {} has no walk-forward reports",
            none.display()
        ))
        .into());
    };
    let differences = differences((&cand.dir, cw), (&base.dir, bw));
    if !differences.is_empty() {
        if !allow_different_data {
            return Err(UsageError(format!(
                "--baseline {} cannot be compared with {}: {}; pass --allow-different-data to compare anyway",
                dir.display(),
                cand.dir.display(),
                differences.join("; ")
            ))
            .into());
        }
        for d in &differences {
            tracing::warn!("baseline comparison with different data allowed: {d}");
        }
    }

    let base_returns: BTreeMap<i64, f64> = bw.oos.iter().copied().collect();
    let (a, b): (Vec<f64>, Vec<f64>) = cw
        .oos
        .iter()
        .filter_map(|(t, r)| base_returns.get(t).map(|rb| (*r, *rb)))
        .unzip();
    let bpy = cw.bars_per_year;
    let cfg = BootstrapConfig {
        resamples: BASELINE_RESAMPLES,
        mean_block: None,
        level: BASELINE_LEVEL,
        seed: BASELINE_SEED,
    };
    let paired = metrics::paired_sharpe_diff(&a, &b, bpy, &cfg);
    let candidate_sharpe = metrics::sharpe(&a, bpy);
    let baseline_sharpe = metrics::sharpe(&b, bpy);
    let dd = |r: &[f64]| (!r.is_empty()).then(|| metrics::max_drawdown(r));
    Ok(BaselineComparison {
        dir: dir.display().to_string(),
        common_bars: a.len(),
        candidate_sharpe,
        baseline_sharpe,
        sharpe_difference: candidate_sharpe.zip(baseline_sharpe).map(|(x, y)| x - y),
        sharpe_difference_ci: paired.map(|p| [p.ci.0, p.ci.1]),
        ci_level: BASELINE_LEVEL,
        prob_better: paired.map(|p| p.prob_better),
        resamples: BASELINE_RESAMPLES,
        seed: BASELINE_SEED,
        candidate_max_drawdown: dd(&a),
        baseline_max_drawdown: dd(&b),
        candidate_edge_precision: super::checks::precision(cw),
        baseline_edge_precision: super::checks::precision(bw),
        differences,
    })
}

/// What makes the two runs incomparable: data hash and fold plan.
fn differences(
    (cand_dir, cand): (&Path, &WalkforwardReports),
    (base_dir, base): (&Path, &WalkforwardReports),
) -> Vec<String> {
    let mut out = Vec::new();
    match (&cand.data_sha256, &base.data_sha256) {
        (Some(x), Some(y)) if x == y => {}
        (Some(x), Some(y)) => out.push(format!(
            "data hash differs (candidate {}, baseline {})",
            short(x),
            short(y)
        )),
        (c, b) => {
            let unknown: Vec<String> = [(c, cand_dir), (b, base_dir)]
                .into_iter()
                .filter(|(h, _)| h.is_none())
                .map(|(_, d)| d.display().to_string())
                .collect();
            out.push(format!(
                "data hash unknown: no \"{DATA_SHA256_KEY}\" key in oos_returns.parquet of {}",
                unknown.join(" and ")
            ));
        }
    }
    if let Some(d) = plan_difference(&cand.folds, &base.folds) {
        out.push(d);
    }
    out
}

/// The first difference between two fold plans, if any.
fn plan_difference(cand: &[FoldRow], base: &[FoldRow]) -> Option<String> {
    if cand.len() != base.len() {
        return Some(format!(
            "fold plan differs: candidate has {} folds, baseline {}",
            cand.len(),
            base.len()
        ));
    }
    let show = |w: &[i64; 4]| {
        format!(
            "train {}..{}, test {}..{}",
            format_us(w[0]),
            format_us(w[1]),
            format_us(w[2]),
            format_us(w[3])
        )
    };
    cand.iter().zip(base).find_map(|(c, b)| {
        (c.fold != b.fold || c.window != b.window).then(|| {
            format!(
                "fold plan differs at fold {}: candidate {}, baseline fold {} {}",
                c.fold,
                show(&c.window),
                b.fold,
                show(&b.window)
            )
        })
    })
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
