//! Walk-forward validation: fold plan, per-fold fit and out-of-sample replay.
//!
//! [`run`] plans the folds ([`plan`]), runs them with rayon ([`fold::run_fold`]),
//! collects the results in fold order and aggregates them ([`Aggregate`]), and
//! fits the deployment fold for the book after the last bar
//! ([`fold::deployment_book`]). A stage: it takes validated specs and returns a
//! [`Walkforward`]; the job runner ([`crate::job`]) calls it and the report
//! layer ([`crate::report`]) writes what it returns. The thread count never
//! changes a byte of the result.
//!
//! The two halves are public for cluster units ([`crate::cluster`]):
//! [`fit_fold`] fits one fold of one [`FitFamily`] (pure, parallel), and
//! [`replay_fitted`] runs the serial rest (replays, metrics, aggregate) from
//! every fold's fits, wherever they were computed.

pub mod fold;
pub mod hedge;
pub mod plan;
pub mod replay;
pub mod trade;

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2, ArrayView3};
use rayon::prelude::*;

pub use self::{
    fold::{Deployment, FoldMetrics, FoldResult, Prediction},
    hedge::{HedgeOutcome, Hedging},
    plan::Fold,
    replay::{Replay, Trade, TradeReason},
};
use crate::{
    config::{
        execution::ExecutionSpec,
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
        Strategy, builtin::SignalFit, signals::Signals,
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
    /// Execution costs paid (fees, impact, half spreads), in the data's currency.
    pub costs: f64,
    /// Execution costs over the starting capital.
    pub costs_fraction: f64,
    /// (bar, symbol) pairs where the position changed, delistings included.
    pub n_trades: usize,
    /// Net return per bar of the continuous account, dated like the replay's
    /// (strategies.parquet; not in summary.json).
    #[serde(skip)]
    pub returns: Vec<f64>,
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
    /// Sizing and risk limits.
    pub sizing: &'a SizingSpec,
    /// The strategy and those compared with it.
    pub strategy: &'a StrategySpec,
    /// The account.
    pub portfolio: &'a PortfolioSpec,
    /// How the account's orders fill.
    pub execution: &'a ExecutionSpec,
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
    let execution = ExecutionSpec::with_cost_bps(sizing.cost_bps);
    run_with(
        panel,
        features,
        &Settings {
            spec,
            sizing,
            strategy: &strategy,
            portfolio: &portfolio,
            execution: &execution,
            signals: None,
            hedge: None,
        },
        seed,
        progress,
    )
}

/// Which fits a strategy replays with: strategies of one family share their
/// folds' fits (`risk_first` and `prediction_first` both use the classifier's).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum FitFamily {
    /// The classifier fit ([`crate::strategy::classifier::fit`]).
    Classifier,
    /// Strategies that learn nothing (`buy_and_hold`, `equal_weight`).
    Plain,
    /// The signals file's in-sample odds.
    Signals,
}

impl FitFamily {
    /// The family whose fits strategy `kind` replays with.
    pub fn of(kind: StrategyKind) -> Self {
        match kind {
            StrategyKind::RiskFirst | StrategyKind::PredictionFirst => Self::Classifier,
            StrategyKind::BuyAndHold | StrategyKind::EqualWeight => Self::Plain,
            StrategyKind::Signals => Self::Signals,
        }
    }
}

/// The families a job's walk-forward fits: the replayed strategy's, then the
/// compared strategies', each once.
pub fn families(strategy: &StrategySpec) -> Vec<FitFamily> {
    let mut out = Vec::new();
    for k in std::iter::once(strategy.kind).chain(strategy.compare.iter().copied()) {
        let f = FitFamily::of(k);
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// One fold's fit of one family: the content of a cluster unit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum FamilyFit {
    /// A classifier fit.
    Classifier(Fit<crate::strategy::classifier::EdgeFit>),
    /// A fit that learns nothing.
    Plain(Fit<()>),
    /// A signals fit.
    Signals(Fit<SignalFit>),
}

/// Every fold's fit of one family (fold order), and the deployment fold's.
pub type FamilyFits = (Vec<FamilyFit>, Option<FamilyFit>);

/// The fold plan of a walk-forward on a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Folds in order.
    pub folds: Vec<Fold>,
    /// The deployment fold, when the panel is long enough.
    pub deploy: Option<Fold>,
    /// Bars skipped at the start for warm-up.
    pub warmup: usize,
}

/// Plans the folds of `spec` on `panel` with features warming up over `features_warmup` bars.
pub fn layout(
    panel: &Panel,
    features_warmup: usize,
    spec: &WalkforwardSpec,
) -> Result<Layout, crate::error::DataError> {
    let warmup = warmup(features_warmup);
    let folds = plan::plan(panel.n_bars(), warmup, spec)?;
    let deploy = plan::deployment_fold(panel.n_bars(), warmup, folds.len(), spec);
    Ok(Layout {
        folds,
        deploy,
        warmup,
    })
}

/// The arrays every fit reads besides the features (computed once per process).
pub struct FitArrays {
    state: Array2<f64>,
    returns: Array2<f64>,
    forward: Array2<f64>,
}

impl FitArrays {
    /// Market state, one-bar and forward returns of `panel` over the label horizon.
    pub fn new(panel: &Panel, spec: &WalkforwardSpec) -> Self {
        let (returns, forward) = returns_and_forward(panel, spec.lookahead);
        Self {
            state: regime::market_state(panel),
            returns,
            forward,
        }
    }

    fn data<'a>(
        &'a self,
        panel: &Panel,
        features: ArrayView3<'a, f64>,
        spec: &'a WalkforwardSpec,
        sizing: &'a SizingSpec,
        seed: u64,
    ) -> FitData<'a> {
        FitData {
            features,
            state: self.state.view(),
            forward: self.forward.view(),
            returns: self.returns.view(),
            bars_per_year: panel.bars_per_year,
            spec,
            sizing,
            seed,
        }
    }
}

/// Fits fold `fold` for `family` (pure: the same inputs give the same bits).
pub fn fit_fold(
    family: FitFamily,
    arrays: &FitArrays,
    panel: &Panel,
    features: &FeatureInput<'_>,
    settings: &Settings<'_>,
    seed: u64,
    fold: Fold,
) -> anyhow::Result<FamilyFit> {
    let data = arrays.data(
        panel,
        features.values.view(),
        settings.spec,
        settings.sizing,
        seed,
    );
    Ok(match family {
        FitFamily::Classifier => {
            FamilyFit::Classifier(RiskFirst::new(settings.sizing).fit(&data, fold))
        }
        FitFamily::Plain => FamilyFit::Plain(BuyAndHold::default().fit(&data, fold)),
        FitFamily::Signals => FamilyFit::Signals(signal_strategy(settings)?.fit(&data, fold)),
    })
}

fn signal_strategy(st: &Settings<'_>) -> anyhow::Result<SignalStrategy> {
    let signals = st.signals.ok_or_else(|| {
        ConfigError::invalid(
            "strategy.signals",
            "was not loaded for the signals strategy",
        )
    })?;
    Ok(SignalStrategy::with_portfolio(
        signals.clone(),
        st.sizing,
        st.portfolio,
    ))
}

/// What the replays share.
struct Ctx<'a> {
    panel: &'a Panel,
    returns: ArrayView2<'a, f64>,
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
fn fit_all<S: Strategy>(
    s: &S,
    data: &FitData<'_>,
    ctx: &Ctx<'_>,
    progress: Option<&Progress>,
) -> Fits<S::Model> {
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
    let (fits, dfit) = fits;
    let started = std::time::Instant::now();
    let (models, reports): (Vec<_>, Vec<_>) = fits.into_iter().map(|f| (f.model, f.report)).unzip();
    let edge = edge_strength(ctx, &reports);
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
        ctx.returns,
        ctx.folds,
        &models,
        ctx.deploy
            .zip(dfit.as_ref())
            .map(|(f, fit)| (f, &fit.model)),
        ctx.settings.portfolio,
        ctx.settings.execution,
        edge.as_ref().map(Array2::view),
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
        "{}: fits {fit_s:.2}s (parallel over folds), replay {:.3}s (serial: decisions, risk engine, account), \
         of which execution simulator {:.3}s",
        s.name(),
        started.elapsed().as_secs_f64(),
        rep.execution.seconds
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
        let n_trades = changed_positions(
            rep.trades
                .iter()
                .filter(|t| t.bar >= rep.start + lo && t.bar < rep.start + hi),
        );
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
                    ctx.returns,
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

/// Unwraps a family's fits as the model type `M` of the strategy replaying them.
fn typed<M>(fits: &FamilyFits, pick: fn(&FamilyFit) -> Option<&Fit<M>>) -> anyhow::Result<Fits<M>>
where
    Fit<M>: Clone,
{
    let one = |f: &FamilyFit| {
        pick(f).cloned().ok_or_else(|| {
            anyhow::anyhow!("internal error: a fold fit of the wrong family for this strategy")
        })
    };
    Ok((
        fits.0.iter().map(one).collect::<anyhow::Result<_>>()?,
        fits.1.as_ref().map(one).transpose()?,
    ))
}

fn classifier(f: &FamilyFit) -> Option<&Fit<crate::strategy::classifier::EdgeFit>> {
    match f {
        FamilyFit::Classifier(x) => Some(x),
        _ => None,
    }
}

fn plain(f: &FamilyFit) -> Option<&Fit<()>> {
    match f {
        FamilyFit::Plain(x) => Some(x),
        _ => None,
    }
}

fn signal(f: &FamilyFit) -> Option<&Fit<SignalFit>> {
    match f {
        FamilyFit::Signals(x) => Some(x),
        _ => None,
    }
}

/// Number of (bar, asset) pairs among `trades` (a fill split across venues counts once).
fn changed_positions<'t>(trades: impl Iterator<Item = &'t Trade>) -> usize {
    let mut pairs: Vec<(usize, usize)> = trades.map(|t| (t.bar, t.asset)).collect();
    pairs.dedup();
    pairs.len()
}

/// Edge strength of the folds' out-of-sample predictions per decision bar
/// (row `t - first test start`) and asset, NaN without a prediction; None
/// when no fold predicts (strategies without an edge model).
fn edge_strength(ctx: &Ctx<'_>, reports: &[crate::strategy::FitReport]) -> Option<Array2<f64>> {
    if reports.iter().all(|r| r.predictions.is_empty()) {
        return None;
    }
    let start = ctx.folds[0].test_start;
    let end = ctx.folds[ctx.folds.len() - 1].test_end;
    let mut e = Array2::from_elem((end + 1 - start, ctx.panel.n_assets()), f64::NAN);
    for p in reports.iter().flat_map(|r| &r.predictions) {
        if (start..=end).contains(&p.bar) {
            e[[p.bar - start, p.asset]] = p.edge_strength;
        }
    }
    Some(e)
}

/// Replays the built-in strategy `kind` with its family's fits (hedged when `hedged`).
fn walk_kind(
    kind: StrategyKind,
    ctx: &Ctx<'_>,
    fits: &BTreeMap<FitFamily, FamilyFits>,
    hedged: bool,
) -> anyhow::Result<Walked> {
    let st = ctx.settings;
    let fam = fits.get(&FitFamily::of(kind)).ok_or_else(|| {
        anyhow::anyhow!("internal error: no fits of the {} strategy", kind.name())
    })?;
    match kind {
        StrategyKind::RiskFirst => walk_fitted(
            RiskFirst::with_portfolio(st.sizing, st.portfolio),
            ctx,
            typed(fam, classifier)?,
            0.0,
            hedged,
        ),
        StrategyKind::PredictionFirst => walk_fitted(
            PredictionFirst::new(st.sizing),
            ctx,
            typed(fam, classifier)?,
            0.0,
            hedged,
        ),
        StrategyKind::BuyAndHold => {
            walk_fitted(BuyAndHold::default(), ctx, typed(fam, plain)?, 0.0, hedged)
        }
        StrategyKind::EqualWeight => walk_fitted(
            EqualWeight::new(st.strategy.rebalance),
            ctx,
            typed(fam, plain)?,
            0.0,
            hedged,
        ),
        StrategyKind::Signals => {
            walk_fitted(signal_strategy(st)?, ctx, typed(fam, signal)?, 0.0, hedged)
        }
    }
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
        costs: r.costs(),
        costs_fraction: r.costs() / capital,
        n_trades: changed_positions(r.trades.iter()),
        returns: r.returns.clone(),
    }
}

/// Fits every fold of `family` (and the deployment fold) in parallel.
#[expect(
    clippy::too_many_arguments,
    reason = "one family's fits and their inputs"
)]
fn fit_family(
    family: FitFamily,
    arrays: &FitArrays,
    panel: &Panel,
    features: &FeatureInput<'_>,
    settings: &Settings<'_>,
    seed: u64,
    layout: &Layout,
    progress: Option<&Progress>,
) -> anyhow::Result<FamilyFits> {
    let fit = |f: Fold| fit_fold(family, arrays, panel, features, settings, seed, f);
    let (folds, deploy) = rayon::join(
        || {
            layout
                .folds
                .par_iter()
                .map(|&f| {
                    let r = fit(f);
                    if let Some(p) = progress {
                        p.inc(1);
                    }
                    r
                })
                .collect::<anyhow::Result<Vec<_>>>()
        },
        || layout.deploy.map(fit).transpose(),
    );
    Ok((folds?, deploy?))
}

/// Runs the walk-forward of `settings.strategy` over a panel with
/// precomputed features, and replays each compared strategy beside it on
/// the same folds, data and costs: every fold's fit ([`fit_fold`]), then
/// [`replay_fitted`].
///
/// `progress` is advanced once per fitted fold of the replayed strategy.
pub fn run_with(
    panel: &Panel,
    features: FeatureInput<'_>,
    settings: &Settings<'_>,
    seed: u64,
    progress: Option<&Progress>,
) -> anyhow::Result<Walkforward> {
    let layout = layout(panel, features.warmup, settings.spec)?;
    let started = std::time::Instant::now();
    let arrays = FitArrays::new(panel, settings.spec);
    let mut fits = BTreeMap::new();
    for (k, family) in families(settings.strategy).into_iter().enumerate() {
        let p = progress.filter(|_| k == 0);
        let f = fit_family(
            family, &arrays, panel, &features, settings, seed, &layout, p,
        )?;
        fits.insert(family, f);
    }
    tracing::info!(
        "fits {:.2}s (parallel over folds)",
        started.elapsed().as_secs_f64()
    );
    replay_fitted(panel, features.names, &layout, settings, seed, &fits)
}

/// The continuous replays of the job's strategies from their folds' fits
/// (in memory, or decoded from cluster units): the serial part of the
/// walk-forward, metrics and aggregates included.
pub fn replay_fitted(
    panel: &Panel,
    feature_names: &[String],
    layout: &Layout,
    settings: &Settings<'_>,
    seed: u64,
    fits: &BTreeMap<FitFamily, FamilyFits>,
) -> anyhow::Result<Walkforward> {
    let returns = panel.returns();
    let ctx = Ctx {
        panel,
        returns: returns.view(),
        folds: &layout.folds,
        deploy: layout.deploy,
        settings,
    };
    let main = walk_kind(settings.strategy.kind, &ctx, fits, true)?;
    assemble(&ctx, feature_names, layout.warmup, seed, main, |k| {
        walk_kind(k, &ctx, fits, false)
    })
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
    let layout = layout(panel, features.warmup, settings.spec)?;
    let arrays = FitArrays::new(panel, settings.spec);
    let data = arrays.data(
        panel,
        features.values.view(),
        settings.spec,
        settings.sizing,
        seed,
    );
    let ctx = Ctx {
        panel,
        returns: data.returns,
        folds: &layout.folds,
        deploy: layout.deploy,
        settings,
    };
    let started = std::time::Instant::now();
    let fits = fit_all(&strategy, &data, &ctx, progress);
    let main = walk_fitted(strategy, &ctx, fits, started.elapsed().as_secs_f64(), true)?;
    let mut fits = BTreeMap::new();
    for &k in &settings.strategy.compare {
        let family = FitFamily::of(k);
        if let std::collections::btree_map::Entry::Vacant(e) = fits.entry(family) {
            e.insert(fit_family(
                family, &arrays, panel, &features, settings, seed, &layout, None,
            )?);
        }
    }
    assemble(&ctx, features.names, layout.warmup, seed, main, |k| {
        walk_kind(k, &ctx, &fits, false)
    })
}

/// The walk-forward result from the main strategy's replay and the compared ones'.
fn assemble(
    ctx: &Ctx<'_>,
    feature_names: &[String],
    warmup: usize,
    seed: u64,
    main: Walked,
    mut compare: impl FnMut(StrategyKind) -> anyhow::Result<Walked>,
) -> anyhow::Result<Walkforward> {
    let (panel, settings) = (ctx.panel, ctx.settings);
    let spec = settings.spec;
    let capital = settings.portfolio.capital;
    let mut strategies = vec![stats(&main, capital, panel.bars_per_year)];
    for &k in &settings.strategy.compare {
        let w = compare(k)?;
        strategies.push(stats(&w, capital, panel.bars_per_year));
    }
    let Walked {
        name,
        folds: results,
        replay,
        deployment,
        notes: strategy_notes,
    } = main;
    let mut columns: Vec<String> = feature_names.to_vec();
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
mod execution_tests;
#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod tests;
