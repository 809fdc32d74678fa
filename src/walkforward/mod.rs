//! Walk-forward validation: fold plan, per-fold fit and out-of-sample replay.
//!
//! [`run`] plans the folds ([`plan`]), runs them with rayon ([`fold::run_fold`]),
//! collects the results in fold order and aggregates them ([`Aggregate`]), and
//! fits the deployment fold for the book after the last bar
//! ([`fold::deployment_book`]). A stage: it takes validated specs and returns a
//! [`Walkforward`]; the job runner ([`crate::job`]) calls it and the report
//! layer ([`crate::report`]) writes what it returns. The thread count never
//! changes a byte of the result.

pub mod fold;
pub mod plan;

use ndarray::{Array2, ArrayView3};
use rayon::prelude::*;

pub use self::{
    fold::{Deployment, FoldMetrics, FoldResult, Prediction},
    plan::Fold,
};
use crate::{
    config::walkforward::{SizingSpec, WalkforwardSpec},
    data::Panel,
    metrics::{self, BootstrapConfig},
    progress::Progress,
    regime,
};

/// Walk-forward aggregate (summary.json); None is null.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Aggregate {
    /// Number of folds.
    pub n_folds: usize,
    /// Mean of the fold Sharpe ratios.
    pub avg_sharpe: Option<f64>,
    /// Sample standard deviation of the fold Sharpe ratios (null with one fold).
    pub sharpe_std: Option<f64>,
    /// Largest fold max drawdown.
    pub worst_drawdown: Option<f64>,
    /// Share of folds with Sharpe > 0.
    pub consistency: Option<f64>,
    /// Mean total return of the last 3 folds (null with fewer than 3).
    pub rolling_performance: Option<f64>,
    /// Annualized Sharpe ratio of the stitched out-of-sample returns.
    pub stitched_sharpe: Option<f64>,
    /// Probabilistic Sharpe ratio of the stitched returns against 0.
    pub psr: Option<f64>,
    /// Deflated Sharpe ratio given `n_trials` and `trials_sharpe_std`.
    pub dsr: Option<f64>,
    /// Stationary-bootstrap 95% interval of the stitched annualized Sharpe ratio.
    pub sharpe_ci: Option<[f64; 2]>,
    /// Precision of all out-of-sample predictions with p >= min_edge.
    pub edge_precision: Option<f64>,
    /// Share of labelled out-of-sample predictions whose label was true.
    pub base_rate: Option<f64>,
    /// Out-of-sample bars in the stitched series.
    pub oos_bars: usize,
}

/// A finished walk-forward run.
#[derive(Debug, Clone)]
pub struct Walkforward {
    /// Per-fold results in fold order.
    pub folds: Vec<FoldResult>,
    /// Aggregate statistics.
    pub aggregate: Aggregate,
    /// Design-matrix column names: features, then `p_<REGIME>`.
    pub columns: Vec<String>,
    /// Mean feature importance over folds, per column.
    pub importance: Vec<f64>,
    /// Bars skipped at the start for warm-up.
    pub warmup: usize,
    /// Fallbacks and warnings from the folds, prefixed by fold.
    pub notes: Vec<String>,
    /// The book after the last bar of data; None when the panel is too short
    /// for a deployment fold.
    pub deployment: Option<Deployment>,
}

/// Features as the engine needs them (decoupled from how they were computed).
#[derive(Debug, Clone, Copy)]
pub struct FeatureInput<'a> {
    /// Feature names, in column order.
    pub names: &'a [String],
    /// Values `[bars, assets, features]`, NaN where undefined; causal.
    pub values: ArrayView3<'a, f64>,
    /// Bars at the start where features are not usable.
    pub warmup: usize,
}

/// One-bar returns and forward returns over `h` bars, `[bars, assets]`, NaN where undefined.
pub fn returns_and_forward(panel: &Panel, h: usize) -> (Array2<f64>, Array2<f64>) {
    let (n, m) = (panel.n_bars(), panel.n_assets());
    let ok = |t: usize, i: usize| panel.available[[t, i]] && panel.close[[t, i]] > 0.0;
    let ret = panel.returns();
    let mut fwd = Array2::from_elem((n, m), f64::NAN);
    for t in 0..n {
        for i in 0..m {
            if t + h < n && ok(t, i) && ok(t + h, i) {
                fwd[[t, i]] = panel.close[[t + h, i]] / panel.close[[t, i]] - 1.0;
            }
        }
    }
    (ret, fwd)
}

/// Bars skipped at the start: the features' warm-up, the regime detector's, at least 1.
pub fn warmup(features_warmup: usize) -> usize {
    features_warmup.max(regime::warmup()).max(1)
}

/// Number of folds [`run`] will run on `panel` (for progress displays).
pub fn n_folds(
    panel: &Panel,
    features_warmup: usize,
    spec: &WalkforwardSpec,
) -> Result<usize, crate::error::DataError> {
    Ok(plan::plan(panel.n_bars(), warmup(features_warmup), spec)?.len())
}

/// Runs the walk-forward over a panel with precomputed features.
///
/// `progress` is advanced once per finished fold.
pub fn run(
    panel: &Panel,
    features: FeatureInput<'_>,
    spec: &WalkforwardSpec,
    sizing: &SizingSpec,
    seed: u64,
    progress: Option<&Progress>,
) -> anyhow::Result<Walkforward> {
    let warmup = warmup(features.warmup);
    let folds = plan::plan(panel.n_bars(), warmup, spec)?;
    let state = regime::market_state(panel);
    let (returns, forward) = returns_and_forward(panel, spec.lookahead);
    let inputs = fold::Inputs {
        features: features.values.view(),
        state: state.view(),
        forward: forward.view(),
        returns: returns.view(),
        bars_per_year: panel.bars_per_year,
        spec,
        sizing,
        seed,
    };
    let deploy = plan::deployment_fold(panel.n_bars(), warmup, folds.len(), spec);
    let (results, deployment): (Vec<FoldResult>, _) = rayon::join(
        || {
            folds
                .par_iter()
                .map(|&f| {
                    let r = fold::run_fold(&inputs, f);
                    if let Some(p) = progress {
                        p.inc(1);
                    }
                    r
                })
                .collect()
        },
        || deploy.map(|f| fold::deployment_book(&inputs, f)),
    );
    let mut columns: Vec<String> = features.names.to_vec();
    if let Some(first) = results.first() {
        columns.extend(first.regime_set.iter().map(|r| format!("p_{}", r.name())));
    }
    let mut importance = vec![0.0; columns.len()];
    for r in &results {
        for (acc, v) in importance.iter_mut().zip(&r.importance) {
            *acc += v / results.len() as f64;
        }
    }
    let notes = results
        .iter()
        .flat_map(|r| {
            r.notes
                .iter()
                .map(move |n| format!("fold {}: {n}", r.fold.index))
        })
        .collect();
    let aggregate = aggregate(&results, panel.bars_per_year, spec, sizing.min_edge, seed);
    Ok(Walkforward {
        folds: results,
        aggregate,
        columns,
        importance,
        warmup,
        notes,
        deployment,
    })
}

/// Aggregates fold results in fold order.
///
/// avg_sharpe, sharpe_std, worst_drawdown, consistency and rolling_performance
/// follow the seed plan's `_aggregate_validation_results` (pandas `std` is ddof=1,
/// `rolling(3).mean().iloc[-1]` is null with fewer than 3 folds). PSR is Bailey &
/// Lopez de Prado (2012), "The Sharpe Ratio Efficient Frontier"; DSR is Bailey &
/// Lopez de Prado (2014), "The Deflated Sharpe Ratio"; the interval is Politis &
/// Romano's (1994) stationary bootstrap (see [`crate::metrics`]).
pub fn aggregate(
    folds: &[FoldResult],
    bars_per_year: f64,
    spec: &WalkforwardSpec,
    min_edge: f64,
    seed: u64,
) -> Aggregate {
    let n = folds.len();
    let sharpes: Vec<f64> = folds.iter().filter_map(|f| f.metrics.sharpe).collect();
    let stitched: Vec<f64> = folds
        .iter()
        .flat_map(|f| f.returns.iter().copied())
        .collect();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let rolling = (n >= 3).then(|| {
        folds[n - 3..]
            .iter()
            .map(|f| f.metrics.total_return)
            .sum::<f64>()
            / 3.0
    });
    let (mut hits, mut calls, mut pos, mut labelled) = (0usize, 0usize, 0usize, 0usize);
    for f in folds {
        for p in &f.predictions {
            if let Some(l) = p.label {
                labelled += 1;
                pos += usize::from(l);
                if p.edge_probability >= min_edge {
                    calls += 1;
                    hits += usize::from(l);
                }
            }
        }
    }
    let boot = BootstrapConfig {
        resamples: spec.bootstrap_resamples,
        mean_block: None,
        level: 0.95,
        seed,
    };
    Aggregate {
        n_folds: n,
        avg_sharpe: mean(&sharpes),
        sharpe_std: metrics::std_dev(&sharpes),
        worst_drawdown: folds
            .iter()
            .map(|f| f.metrics.max_drawdown)
            .reduce(f64::max),
        consistency: (!sharpes.is_empty())
            .then(|| sharpes.iter().filter(|&&s| s > 0.0).count() as f64 / sharpes.len() as f64),
        rolling_performance: rolling,
        stitched_sharpe: metrics::sharpe(&stitched, bars_per_year),
        psr: metrics::psr(&stitched, 0.0),
        dsr: metrics::dsr(
            &stitched,
            spec.n_trials,
            metrics::annual_to_per_bar(spec.trials_sharpe_std, bars_per_year),
        ),
        sharpe_ci: metrics::sharpe_ci(&stitched, bars_per_year, &boot).map(|(a, b)| [a, b]),
        edge_precision: (calls > 0).then(|| hits as f64 / calls as f64),
        base_rate: (labelled > 0).then(|| pos as f64 / labelled as f64),
        oos_bars: stitched.len(),
    }
}

#[cfg(test)]
mod tests;
