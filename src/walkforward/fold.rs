//! One fold: fit the regime detector and the edge classifier on in-sample rows,
//! then replay the test window bar by bar.
//!
//! Timing: at the close of test bar t the model sees features dated <= t and the
//! sizing rule sets target weights `w_t`; they earn the returns of bar t + 1, net
//! of a flat cost on `sum_i |w_t,i - w_t-1,i|` (each fold starts flat). The fold's
//! return series is dated `test_start + 1 ..= test_end + 1`, so stitched folds
//! never overlap. Assets without a close at t + 1 earn 0 on that bar.

use ndarray::{Array2, ArrayView2, ArrayView3, Axis};

use super::plan::Fold;
use crate::{
    config::walkforward::{LabelScope, SizingSpec, WalkforwardSpec},
    edge::{Calibration, EdgeModel, Standardizer, brier, fit_calibrated},
    metrics,
    regime::{FittedRegimes, Regime},
    sizing::{QuarterKelly, SizingRule},
    splitmix::{GOLDEN_GAMMA, mix64},
};

/// Everything a fold reads; shared by all folds.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// Causal features `[bars, assets, features]`, NaN where undefined.
    pub features: ArrayView3<'a, f64>,
    /// Market state `[bars, 2]` for the regime detector.
    pub state: ArrayView2<'a, f64>,
    /// Forward return over the label horizon `[bars, assets]`, NaN where undefined.
    pub forward: ArrayView2<'a, f64>,
    /// One-bar simple return `[bars, assets]` (bar t over bar t - 1), NaN where undefined.
    pub returns: ArrayView2<'a, f64>,
    /// Bars per year, to annualize.
    pub bars_per_year: f64,
    /// Walk-forward settings.
    pub spec: &'a WalkforwardSpec,
    /// Sizing settings.
    pub sizing: &'a SizingSpec,
    /// Job seed.
    pub seed: u64,
}

/// One out-of-sample prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Bar index of the decision.
    pub bar: usize,
    /// Asset index.
    pub asset: usize,
    /// Probability of an edge.
    pub edge_probability: f64,
    /// `edge_probability * |expected return|`.
    pub edge_strength: f64,
    /// Whether the realized forward return beat the fold's threshold (None past the data).
    pub label: Option<bool>,
}

/// Per-fold statistics (DESIGN.md definitions); None is null in reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FoldMetrics {
    /// Annualized Sharpe ratio.
    pub sharpe: Option<f64>,
    /// Annualized Sortino ratio.
    pub sortino: Option<f64>,
    /// Maximum drawdown (positive fraction).
    pub max_drawdown: f64,
    /// Compounded return over the fold.
    pub total_return: f64,
    /// Share of positive bars among bars in the market.
    pub win_rate: Option<f64>,
    /// Share of predictions with p >= min_edge whose label was true.
    pub edge_precision: Option<f64>,
    /// (bar, symbol) position changes.
    pub n_trades: usize,
    /// Mean one-way turnover per bar.
    pub turnover: Option<f64>,
    /// Brier score of the out-of-sample edge probabilities against their labels.
    pub brier: Option<f64>,
}

/// What one fold produced.
#[derive(Debug, Clone)]
pub struct FoldResult {
    /// The fold's windows.
    pub fold: Fold,
    /// Statistics.
    pub metrics: FoldMetrics,
    /// Net returns dated `test_start + 1 ..= test_end + 1`.
    pub returns: Vec<f64>,
    /// Predictions in (bar, asset) order.
    pub predictions: Vec<Prediction>,
    /// Regime probabilities per test bar `[oos, regimes]`.
    pub regime_probs: Array2<f64>,
    /// Most likely regime per test bar.
    pub regimes: Vec<Regime>,
    /// Regimes in probability column order.
    pub regime_set: &'static [Regime],
    /// Feature importance (features, then regime probabilities).
    pub importance: Vec<f64>,
    /// Target weights per test bar `[oos, assets]` (fraction of equity).
    pub weights: Array2<f64>,
    /// Training samples used.
    pub n_train: usize,
    /// Training rows dropped because a feature was undefined.
    pub dropped_train: usize,
    /// Fallbacks worth telling a person.
    pub notes: Vec<String>,
}

/// A per-fold seed derived from the job seed (SplitMix64 finalizer).
pub fn fold_seed(seed: u64, fold: usize) -> u64 {
    mix64(seed ^ (fold as u64 + 1).wrapping_mul(GOLDEN_GAMMA))
}

/// Row of the design matrix for (bar, asset): features then regime probabilities;
/// None when a feature is undefined.
fn design_row(
    inp: &Inputs<'_>,
    probs: ArrayView2<'_, f64>,
    row: usize,
    t: usize,
    i: usize,
    out: &mut Vec<f64>,
) -> bool {
    out.clear();
    for &v in inp.features.slice(ndarray::s![t, i, ..]) {
        if !v.is_finite() {
            return false;
        }
        out.push(v);
    }
    out.extend(probs.row(row).iter().copied());
    true
}

/// A fold's fitted models: regime detector, scaler, edge classifier, calibration.
struct Fitted {
    detector: FittedRegimes,
    /// Regime probabilities of bars `train_start..=test_end`.
    probs: Array2<f64>,
    scaler: Standardizer,
    model: Box<dyn EdgeModel>,
    calibration: Calibration,
    thresholds: Vec<f64>,
    n_train: usize,
    dropped: usize,
    notes: Vec<String>,
}

/// Fits a fold's models on its in-sample rows (bars `train_start..=fit_end`).
fn fit(inp: &Inputs<'_>, fold: Fold) -> Fitted {
    let spec = inp.spec;
    let seed = fold_seed(inp.seed, fold.index);
    let n_assets = inp.features.len_of(Axis(1));
    let n_feat = inp.features.len_of(Axis(2));
    let detector = FittedRegimes::fit(
        spec.regime_method,
        spec.regime_states,
        inp.state,
        fold.train_start..=fold.train_end,
        seed,
    );
    let mut notes = detector.notes.clone();
    let base = fold.train_start;
    let probs = detector.probabilities(inp.state, base..=fold.test_end);
    let width = n_feat + probs.ncols();

    // Training samples: features defined and label window inside [t, fit_end + h].
    let mut x_train = Vec::new();
    let mut fwd_train = Vec::new();
    let mut asset_train = Vec::new();
    let mut bar_train = Vec::new();
    let mut dropped = 0usize;
    let mut row = Vec::with_capacity(width);
    for t in fold.train_start..=fold.fit_end {
        for i in 0..n_assets {
            let f = inp.forward[[t, i]];
            if !f.is_finite() {
                continue;
            }
            if design_row(inp, probs.view(), t - base, t, i, &mut row) {
                x_train.extend_from_slice(&row);
                fwd_train.push(f);
                asset_train.push(i);
                bar_train.push(t);
            } else {
                dropped += 1;
            }
        }
    }
    let n_train = fwd_train.len();
    let thresholds = edge_thresholds(&fwd_train, &asset_train, n_assets, spec);
    let y: Vec<bool> = fwd_train
        .iter()
        .zip(&asset_train)
        .map(|(&f, &i)| f > thresholds[i])
        .collect();
    let mut x = Array2::from_shape_vec((n_train, width), x_train).expect("rows of equal width");
    let scaler = Standardizer::fit(x.view());
    scaler.transform(&mut x);
    // The last `calibration_tail` of the in-sample bars calibrate the
    // probabilities; the model learns from the bars before them, purged.
    let bars = fold.fit_end + 1 - fold.train_start;
    let tail = ((bars as f64 * spec.calibration_tail).ceil() as usize).clamp(1, bars);
    let (model, model_notes) = fit_calibrated(
        &spec.model,
        spec.probability_calibration,
        x.view(),
        &y,
        &bar_train,
        fold.fit_end + 1 - tail,
        spec.purge,
        seed,
    );
    notes.extend(model_notes);
    let p_train = model.predict_proba(x.view());
    let calibration = Calibration::fit(
        p_train.as_slice().unwrap_or(&[]),
        &fwd_train,
        spec.calibration_buckets,
    );
    Fitted {
        detector,
        probs,
        scaler,
        model,
        calibration,
        thresholds,
        n_train,
        dropped,
        notes,
    }
}

/// The book after the last bar: fits the deployment fold (see
/// [`super::plan::deployment_fold`]) and sizes its predictions at `fold.test_start`.
/// Assets without a return on that bar get no prediction and weight 0.
pub fn deployment_book(inp: &Inputs<'_>, fold: Fold) -> Deployment {
    let fitted = fit(inp, fold);
    let t = fold.test_start;
    let n_assets = inp.features.len_of(Axis(1));
    let width = inp.features.len_of(Axis(2)) + fitted.probs.ncols();
    let mut keys = Vec::new();
    let mut x = Vec::new();
    let mut row = Vec::with_capacity(width);
    for i in 0..n_assets {
        if inp.returns[[t, i]].is_finite()
            && design_row(
                inp,
                fitted.probs.view(),
                t - fold.train_start,
                t,
                i,
                &mut row,
            )
        {
            x.extend_from_slice(&row);
            keys.push(i);
        }
    }
    let mut xt = Array2::from_shape_vec((keys.len(), width), x).expect("rows of equal width");
    fitted.scaler.transform(&mut xt);
    let p = fitted.model.predict_proba(xt.view());
    let mut p_bar = vec![None; n_assets];
    for (&i, &p) in keys.iter().zip(p.iter()) {
        p_bar[i] = Some(p);
    }
    let last = fitted
        .probs
        .slice(ndarray::s![t - fold.train_start.., ..])
        .to_owned();
    let regime = fitted.detector.label(&last)[0];
    let weights = QuarterKelly::new(inp.sizing).book(&p_bar, regime);
    Deployment {
        fold,
        regime,
        probabilities: p_bar,
        weights,
        n_train: fitted.n_train,
        dropped_train: fitted.dropped,
        notes: fitted.notes,
    }
}

/// The strategy's book after the last bar of data (the deployment book).
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// The deployment fold: trained like every fold, decision bar `test_start`.
    pub fold: Fold,
    /// Regime at the decision bar.
    pub regime: Regime,
    /// Edge probability per asset, None for assets without a close on the bar.
    pub probabilities: Vec<Option<f64>>,
    /// Target weight per asset, in panel order (fraction of equity).
    pub weights: Vec<f64>,
    /// Training samples used.
    pub n_train: usize,
    /// Training rows dropped because a feature was undefined.
    pub dropped_train: usize,
    /// Fallbacks worth telling a person.
    pub notes: Vec<String>,
}

/// Runs one fold.
pub fn run_fold(inp: &Inputs<'_>, fold: Fold) -> FoldResult {
    let n_assets = inp.features.len_of(Axis(1));
    let Fitted {
        detector,
        probs,
        scaler,
        model,
        calibration,
        thresholds,
        n_train,
        dropped,
        notes,
    } = fit(inp, fold);
    let base = fold.train_start;
    let width = inp.features.len_of(Axis(2)) + probs.ncols();
    let mut row = Vec::with_capacity(width);

    // Out-of-sample predictions, one matrix for the whole test window.
    let mut keys = Vec::new();
    let mut x_test = Vec::new();
    for t in fold.test_start..=fold.test_end {
        for i in 0..n_assets {
            if inp.returns[[t, i]].is_finite()
                && design_row(inp, probs.view(), t - base, t, i, &mut row)
            {
                x_test.extend_from_slice(&row);
                keys.push((t, i));
            }
        }
    }
    let mut xt = Array2::from_shape_vec((keys.len(), width), x_test).expect("rows of equal width");
    scaler.transform(&mut xt);
    let p_test = model.predict_proba(xt.view());
    let predictions: Vec<Prediction> = keys
        .iter()
        .zip(p_test.iter())
        .map(|(&(t, i), &p)| {
            let f = inp.forward[[t, i]];
            Prediction {
                bar: t,
                asset: i,
                edge_probability: p,
                edge_strength: p * calibration.expected_return(p).abs(),
                label: f.is_finite().then(|| f > thresholds[i]),
            }
        })
        .collect();

    // Replay.
    let oos = fold.test_end + 1 - fold.test_start;
    let test_probs = probs
        .slice(ndarray::s![fold.test_start - base.., ..])
        .to_owned();
    let regimes = detector.label(&test_probs);
    let rule = QuarterKelly::new(inp.sizing);
    let cost = inp.sizing.cost_bps / 1e4;
    let mut weights = Array2::<f64>::zeros((oos, n_assets));
    let mut returns = Vec::with_capacity(oos);
    let mut in_market = Vec::with_capacity(oos);
    let mut prev = vec![0.0; n_assets];
    let mut next = 0usize;
    for (k, t) in (fold.test_start..=fold.test_end).enumerate() {
        let mut p_bar = vec![None; n_assets];
        while next < predictions.len() && predictions[next].bar == t {
            p_bar[predictions[next].asset] = Some(predictions[next].edge_probability);
            next += 1;
        }
        let w = rule.book(&p_bar, regimes[k]);
        let mut r = 0.0;
        let mut traded = 0.0;
        for i in 0..n_assets {
            let ri = inp.returns[[t + 1, i]];
            if w[i] != 0.0 && ri.is_finite() {
                r += w[i] * ri;
            }
            traded += (w[i] - prev[i]).abs();
            weights[[k, i]] = w[i];
        }
        returns.push(r - cost * traded);
        in_market.push(w.iter().any(|&x| x != 0.0));
        prev = w;
    }

    let hits: Vec<bool> = predictions
        .iter()
        .filter(|p| p.edge_probability >= inp.sizing.min_edge)
        .filter_map(|p| p.label)
        .collect();
    let edge_precision =
        (!hits.is_empty()).then(|| hits.iter().filter(|&&h| h).count() as f64 / hits.len() as f64);
    let a = inp.bars_per_year;
    let metrics = FoldMetrics {
        sharpe: metrics::sharpe(&returns, a),
        sortino: metrics::sortino(&returns, a),
        max_drawdown: metrics::max_drawdown(&returns),
        total_return: metrics::total_return(&returns),
        win_rate: metrics::win_rate(&returns, &in_market),
        edge_precision,
        n_trades: metrics::n_trades(weights.view()),
        turnover: metrics::turnover(weights.view()),
        brier: brier(
            predictions
                .iter()
                .filter_map(|p| p.label.map(|y| (p.edge_probability, y))),
        ),
    };
    FoldResult {
        fold,
        metrics,
        returns,
        predictions,
        regime_probs: test_probs,
        regimes,
        regime_set: detector.regimes(),
        importance: model.importance(),
        weights,
        n_train,
        dropped_train: dropped,
        notes,
    }
}

/// Edge threshold per asset: the in-sample `edge_quantile` of forward returns,
/// per asset or pooled. Assets without training samples get the pooled value.
fn edge_thresholds(
    fwd: &[f64],
    asset: &[usize],
    n_assets: usize,
    spec: &WalkforwardSpec,
) -> Vec<f64> {
    let pooled = metrics::quantile(fwd, spec.edge_quantile);
    let pooled = if pooled.is_finite() { pooled } else { 0.0 };
    match spec.label_scope {
        LabelScope::Pooled => vec![pooled; n_assets],
        LabelScope::Asset => {
            let mut per: Vec<Vec<f64>> = vec![Vec::new(); n_assets];
            for (&f, &i) in fwd.iter().zip(asset) {
                per[i].push(f);
            }
            per.iter()
                .map(|v| {
                    if v.is_empty() {
                        pooled
                    } else {
                        metrics::quantile(v, spec.edge_quantile)
                    }
                })
                .collect()
        }
    }
}
