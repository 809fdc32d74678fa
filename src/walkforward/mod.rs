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
pub mod hedge;
pub mod plan;
pub mod replay;

use ndarray::{Array2, ArrayView3};
use rayon::prelude::*;

pub use self::{
    fold::{Deployment, FoldMetrics, FoldResult, Prediction},
    hedge::{HedgeOutcome, Hedging},
    plan::Fold,
    replay::{Replay, Trade, TradeReason},
};
use crate::{
    config::{
        strategy::{PortfolioSpec, StrategyKind, StrategySpec},
        walkforward::{SizingSpec, WalkforwardSpec},
    },
    data::Panel,
    error::ConfigError,
    metrics::{self, BootstrapConfig},
    progress::Progress,
    regime,
    strategy::{
        BuyAndHold, EqualWeight, Fit, FitData, PredictionFirst, RiskFirst, SignalStrategy,
        Strategy, signals::Signals,
    },
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

/// One strategy's continuous replay in numbers (summary.json `walkforward.strategies`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StrategyStats {
    /// Strategy name.
    pub name: String,
    /// Annualized Sharpe ratio of the stitched returns.
    pub sharpe: Option<f64>,
    /// Maximum drawdown of the continuous account.
    pub max_drawdown: Option<f64>,
    /// Compounded return.
    pub total_return: Option<f64>,
    /// Mean one-way turnover per bar.
    pub turnover: Option<f64>,
    /// Fees paid, in the data's currency.
    pub costs: f64,
    /// Fees paid over the starting capital.
    pub costs_fraction: f64,
    /// Fills, delistings included.
    pub n_trades: usize,
}

/// A finished walk-forward run.
#[derive(Debug, Clone)]
pub struct Walkforward {
    /// The replayed strategy's name.
    pub strategy: String,
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
    /// Fallbacks the replayed strategy used while deciding (e.g. a
    /// regime-conditioned covariance with too few bars).
    pub strategy_notes: Vec<String>,
    /// The book after the last bar of data; None when the panel is too short
    /// for a deployment fold.
    pub deployment: Option<Deployment>,
    /// The continuous account of the replayed strategy.
    pub replay: Replay,
    /// The replayed strategy's numbers, then each compared strategy's.
    pub strategies: Vec<StrategyStats>,
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

/// What the walk-forward replays and how.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// Fold plan and classifier settings.
    pub spec: &'a WalkforwardSpec,
    /// Sizing, risk limits and the flat fee.
    pub sizing: &'a SizingSpec,
    /// The strategy and those compared with it.
    pub strategy: &'a StrategySpec,
    /// The account.
    pub portfolio: &'a PortfolioSpec,
    /// The signals file, aligned to the panel (strategy `signals`).
    pub signals: Option<&'a Signals>,
    /// Dynamic hedging of the replayed strategy's book (`[hedge]`), with its
    /// instruments aligned to the panel; compared strategies are not hedged.
    pub hedge: Option<&'a Hedging>,
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

/// Runs the risk-first walk-forward with the default account (see [`run_with`]).
pub fn run(
    panel: &Panel,
    features: FeatureInput<'_>,
    spec: &WalkforwardSpec,
    sizing: &SizingSpec,
    seed: u64,
    progress: Option<&Progress>,
) -> anyhow::Result<Walkforward> {
    let strategy = StrategySpec::default();
    let portfolio = PortfolioSpec::default();
    run_with(
        panel,
        features,
        &Settings {
            spec,
            sizing,
            strategy: &strategy,
            portfolio: &portfolio,
            signals: None,
            hedge: None,
        },
        seed,
        progress,
    )
}

/// What the fits and the replay share.
struct Ctx<'a> {
    panel: &'a Panel,
    data: FitData<'a>,
    folds: &'a [Fold],
    deploy: Option<Fold>,
    settings: &'a Settings<'a>,
}

/// One strategy walked forward.
struct Walked {
    name: String,
    folds: Vec<FoldResult>,
    replay: Replay,
    deployment: Option<Deployment>,
    /// The strategy's own notes on fallbacks in `decide`.
    notes: Vec<String>,
}

/// Every fold's fit, and the deployment fold's.
type Fits<M> = (Vec<Fit<M>>, Option<Fit<M>>);

/// Fits every fold (and the deployment fold) in parallel.
fn fit_all<S: Strategy>(s: &S, ctx: &Ctx<'_>, progress: Option<&Progress>) -> Fits<S::Model> {
    let data = &ctx.data;
    rayon::join(
        || {
            ctx.folds
                .par_iter()
                .map(|&f| {
                    let r = s.fit(data, f);
                    if let Some(p) = progress {
                        p.inc(1);
                    }
                    r
                })
                .collect()
        },
        || ctx.deploy.map(|f| s.fit(data, f)),
    )
}

/// Fits every fold in parallel, then replays serially (hedged when `hedged`).
fn walk<S: Strategy>(
    s: S,
    ctx: &Ctx<'_>,
    progress: Option<&Progress>,
    hedged: bool,
) -> anyhow::Result<Walked> {
    let started = std::time::Instant::now();
    let fits = fit_all(&s, ctx, progress);
    let fit_s = started.elapsed().as_secs_f64();
    walk_fitted(s, ctx, fits, fit_s, hedged)
}

/// Replays `s` with its folds' fits; with `hedged`, the book is hedged per
/// `settings.hedge`. A failure the strategy reports stops the run, naming
/// its bar and fold.
fn walk_fitted<S: Strategy>(
    mut s: S,
    ctx: &Ctx<'_>,
    fits: Fits<S::Model>,
    fit_s: f64,
    hedged: bool,
) -> anyhow::Result<Walked> {
    let data = &ctx.data;
    let (fits, dfit) = fits;
    let started = std::time::Instant::now();
    let (models, reports): (Vec<_>, Vec<_>) = fits.into_iter().map(|f| (f.model, f.report)).unzip();
    let hedger = ctx.settings.hedge.filter(|_| hedged).map(|h| {
        let mut regimes = vec![None; ctx.panel.n_bars()];
        for (fold, r) in ctx.folds.iter().zip(&reports) {
            for (k, &g) in r.regimes.iter().enumerate() {
                regimes[fold.test_start + k] = Some(g);
            }
        }
        hedge::Hedger::new(h, regimes)
    });
    let rep = replay::replay_hedged(
        &mut s,
        ctx.panel,
        data.returns,
        ctx.folds,
        &models,
        ctx.deploy
            .zip(dfit.as_ref())
            .map(|(f, fit)| (f, &fit.model)),
        ctx.settings.portfolio,
        ctx.settings.sizing.cost_bps,
        hedger,
    );
    if let Some((bar, what)) = s.failure() {
        let last_end = ctx.folds.last().map_or(0, |f| f.test_end);
        let fold = if bar > last_end {
            "deployment".to_string()
        } else {
            ctx.folds
                .iter()
                .rev()
                .find(|f| f.test_start <= bar)
                .map_or_else(|| "?".to_string(), |f| f.index.to_string())
        };
        anyhow::bail!(
            "{}: decision at {} (bar {bar}, fold {fold}) failed: {what}",
            s.name(),
            crate::data::time::format_us(ctx.panel.timestamps[bar])
        );
    }
    tracing::info!(
        "{}: fits {fit_s:.2}s (parallel over folds), replay {:.3}s (serial: decisions, risk engine, account)",
        s.name(),
        started.elapsed().as_secs_f64()
    );
    let min_edge = ctx.settings.sizing.min_edge;
    let a = ctx.panel.bars_per_year;
    let mut results = Vec::with_capacity(ctx.folds.len());
    for (fold, report) in ctx.folds.iter().zip(reports) {
        let rows: Vec<usize> = (0..rep.segment.len())
            .filter(|&r| rep.segment[r] == fold.index)
            .collect();
        let (lo, hi) = (
            rows.first().copied().unwrap_or(0),
            rows.last().map_or(0, |&r| r + 1),
        );
        let returns = rep.returns[lo..hi].to_vec();
        let turnover = &rep.turnover[lo..hi];
        let n_trades = rep
            .trades
            .iter()
            .filter(|t| t.bar >= rep.start + lo && t.bar < rep.start + hi)
            .count();
        let hits: Vec<bool> = report
            .predictions
            .iter()
            .filter(|p| p.edge_probability >= min_edge)
            .filter_map(|p| p.label)
            .collect();
        let metrics = FoldMetrics {
            sharpe: metrics::sharpe(&returns, a),
            sortino: metrics::sortino(&returns, a),
            max_drawdown: metrics::max_drawdown(&returns),
            total_return: metrics::total_return(&returns),
            win_rate: metrics::win_rate(&returns, &rep.in_market[lo..hi]),
            edge_precision: (!hits.is_empty())
                .then(|| hits.iter().filter(|&&h| h).count() as f64 / hits.len() as f64),
            n_trades,
            turnover: metrics::mean(turnover),
            brier: crate::edge::brier(
                report
                    .predictions
                    .iter()
                    .filter_map(|p| p.label.map(|y| (p.edge_probability, y))),
            ),
        };
        results.push(FoldResult {
            fold: *fold,
            metrics,
            returns,
            predictions: report.predictions,
            regime_probs: report.regime_probs,
            regimes: report.regimes,
            regime_set: report.regime_set,
            importance: report.importance,
            weights: rep.weights.slice(ndarray::s![lo..hi, ..]).to_owned(),
            n_train: report.n_train,
            dropped_train: report.dropped_train,
            notes: report.notes,
        });
    }
    let deployment = ctx
        .deploy
        .zip(dfit)
        .zip(rep.deployment.as_ref())
        .map(|((fold, fit), d)| {
            let r = fit.report;
            let has_model = !r.regimes.is_empty();
            let mut probabilities = if has_model {
                vec![None; ctx.panel.n_assets()]
            } else {
                Vec::new()
            };
            for p in r.predictions.iter().filter(|p| p.bar == fold.test_start) {
                probabilities[p.asset] = Some(p.edge_probability);
            }
            Deployment {
                fold,
                regime: r.regimes.first().copied(),
                probabilities,
                weights: d.target.clone(),
                risk_contributions: crate::strategy::allocate::book_risk_contributions(
                    data.returns,
                    &d.target,
                    fold.test_start,
                    ctx.settings.portfolio.covariance_days,
                ),
                n_train: r.n_train,
                dropped_train: r.dropped_train,
                notes: r.notes,
            }
        });
    Ok(Walked {
        name: s.name().to_string(),
        folds: results,
        replay: rep,
        deployment,
        notes: s.notes(),
    })
}

/// The classifier's fits, shared by `risk_first` and `prediction_first`
/// (both fit [`crate::strategy::classifier::fit`] on the same inputs), made once.
#[derive(Default)]
struct Shared {
    classifier: Option<(Fits<crate::strategy::classifier::EdgeFit>, f64)>,
}

impl Shared {
    fn classifier(
        &mut self,
        ctx: &Ctx<'_>,
        progress: Option<&Progress>,
    ) -> (Fits<crate::strategy::classifier::EdgeFit>, f64) {
        self.classifier
            .get_or_insert_with(|| {
                let started = std::time::Instant::now();
                let fits = fit_all(&RiskFirst::new(ctx.settings.sizing), ctx, progress);
                (fits, started.elapsed().as_secs_f64())
            })
            .clone()
    }
}

/// Walks the built-in strategy `kind` forward (hedged when `hedged`).
fn walk_kind(
    kind: StrategyKind,
    ctx: &Ctx<'_>,
    progress: Option<&Progress>,
    shared: &mut Shared,
    hedged: bool,
) -> anyhow::Result<Walked> {
    let st = ctx.settings;
    Ok(match kind {
        StrategyKind::RiskFirst => {
            let (fits, fit_s) = shared.classifier(ctx, progress);
            walk_fitted(
                RiskFirst::with_portfolio(st.sizing, st.portfolio),
                ctx,
                fits,
                fit_s,
                hedged,
            )?
        }
        StrategyKind::PredictionFirst => {
            let (fits, fit_s) = shared.classifier(ctx, progress);
            walk_fitted(PredictionFirst::new(st.sizing), ctx, fits, fit_s, hedged)?
        }
        StrategyKind::BuyAndHold => walk(BuyAndHold::default(), ctx, progress, hedged)?,
        StrategyKind::EqualWeight => walk(
            EqualWeight::new(st.strategy.rebalance),
            ctx,
            progress,
            hedged,
        )?,
        StrategyKind::Signals => {
            let signals = st.signals.ok_or_else(|| {
                ConfigError::invalid(
                    "strategy.signals",
                    "was not loaded for the signals strategy",
                )
            })?;
            walk(
                SignalStrategy::with_portfolio(signals.clone(), st.sizing, st.portfolio),
                ctx,
                progress,
                hedged,
            )?
        }
    })
}

/// A strategy's numbers from its replay.
fn stats(w: &Walked, capital: f64, bars_per_year: f64) -> StrategyStats {
    let r = &w.replay;
    StrategyStats {
        name: w.name.clone(),
        sharpe: metrics::sharpe(&r.returns, bars_per_year),
        max_drawdown: (!r.returns.is_empty()).then(|| metrics::max_drawdown(&r.returns)),
        total_return: (!r.returns.is_empty()).then(|| metrics::total_return(&r.returns)),
        turnover: metrics::mean(&r.turnover),
        costs: r.fees,
        costs_fraction: r.fees / capital,
        n_trades: r.trades.len(),
    }
}

/// Runs the walk-forward of `settings.strategy` over a panel with
/// precomputed features, and replays each compared strategy beside it on
/// the same folds, data and costs.
///
/// `progress` is advanced once per fitted fold of the replayed strategy.
pub fn run_with(
    panel: &Panel,
    features: FeatureInput<'_>,
    settings: &Settings<'_>,
    seed: u64,
    progress: Option<&Progress>,
) -> anyhow::Result<Walkforward> {
    run_inner(
        panel,
        features,
        settings,
        seed,
        progress,
        |ctx, p, shared| walk_kind(settings.strategy.kind, ctx, p, shared, true),
    )
}

/// Runs the walk-forward of a library user's `strategy` (in place of
/// `settings.strategy.kind`), with the compared built-ins beside it.
pub fn run_strategy<S: Strategy>(
    strategy: S,
    panel: &Panel,
    features: FeatureInput<'_>,
    settings: &Settings<'_>,
    seed: u64,
    progress: Option<&Progress>,
) -> anyhow::Result<Walkforward> {
    run_inner(panel, features, settings, seed, progress, |ctx, p, _| {
        walk(strategy, ctx, p, true)
    })
}

fn run_inner(
    panel: &Panel,
    features: FeatureInput<'_>,
    settings: &Settings<'_>,
    seed: u64,
    progress: Option<&Progress>,
    main: impl FnOnce(&Ctx<'_>, Option<&Progress>, &mut Shared) -> anyhow::Result<Walked>,
) -> anyhow::Result<Walkforward> {
    let spec = settings.spec;
    let warmup = warmup(features.warmup);
    let folds = plan::plan(panel.n_bars(), warmup, spec)?;
    let state = regime::market_state(panel);
    let (returns, forward) = returns_and_forward(panel, spec.lookahead);
    let ctx = Ctx {
        panel,
        data: FitData {
            features: features.values.view(),
            state: state.view(),
            forward: forward.view(),
            returns: returns.view(),
            bars_per_year: panel.bars_per_year,
            spec,
            sizing: settings.sizing,
            seed,
        },
        folds: &folds,
        deploy: plan::deployment_fold(panel.n_bars(), warmup, folds.len(), spec),
        settings,
    };
    let mut shared = Shared::default();
    let main = main(&ctx, progress, &mut shared)?;
    let capital = settings.portfolio.capital;
    let mut strategies = vec![stats(&main, capital, panel.bars_per_year)];
    for &k in &settings.strategy.compare {
        let w = walk_kind(k, &ctx, None, &mut shared, false)?;
        strategies.push(stats(&w, capital, panel.bars_per_year));
    }
    let Walked {
        name,
        folds: results,
        replay,
        deployment,
        notes: strategy_notes,
    } = main;
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
    let notes: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.notes
                .iter()
                .map(move |n| format!("fold {}: {n}", r.fold.index))
        })
        .collect();

    let aggregate = aggregate(
        &results,
        panel.bars_per_year,
        spec,
        settings.sizing.min_edge,
        seed,
    );
    Ok(Walkforward {
        strategy: name,
        folds: results,
        aggregate,
        columns,
        importance,
        warmup,
        notes,
        strategy_notes,
        deployment,
        replay,
        strategies,
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
mod replay_tests;
#[cfg(test)]
mod tests;
