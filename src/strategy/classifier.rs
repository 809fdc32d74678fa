//! The classifier fit shared by the model-driven strategies (`risk_first`,
//! `prediction_first`): regime detector, scaler, edge classifier and
//! calibration fitted on a fold's in-sample rows, then applied to the test
//! window's causal features.
//!
//! Predicting the whole test window inside the fit is only a batching of
//! work: each bar's probability depends on the in-sample model and features
//! dated at that bar, never on later data, so `decide` reads them as if it
//! had computed them at the bar.

use ndarray::{Array2, ArrayView2, Axis};

use super::{Fit, FitData, FitReport, Fold, Prediction};
use crate::{
    config::walkforward::{LabelScope, WalkforwardSpec},
    edge::{Calibration, Standardizer, fit_calibrated},
    metrics,
    regime::{FittedRegimes, Regime},
    splitmix::{GOLDEN_GAMMA, mix64},
};

/// The seed plan's odds (2% average win over 1% average loss), used when the
/// in-sample outcomes are too few to estimate them.
pub const FALLBACK_ODDS: f64 = 2.0;

/// One fold's fitted classifier, applied to its test window.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EdgeFit {
    /// First bar of the test window (row 0 of `probs`).
    pub test_start: usize,
    /// Edge probability per test bar and asset `[oos, assets]`, NaN without a prediction.
    pub probs: Array2<f64>,
    /// Most likely regime per test bar.
    pub regimes: Vec<Regime>,
    /// First bar of `history` (the training window's first bar).
    pub history_start: usize,
    /// Most likely regime per bar from `history_start` to the test window's
    /// end (each label reads the market state up to its bar only).
    pub history: Vec<Regime>,
    /// Kelly odds b: average win over average loss of in-sample edge-positive outcomes.
    pub odds: f64,
    /// In-sample one-bar returns, demeaned per asset, 0 where undefined `[bars, assets]`.
    pub insample: Array2<f64>,
}

impl EdgeFit {
    /// Probabilities at bar `t` (None without a prediction).
    pub fn probabilities(&self, t: usize) -> Vec<Option<f64>> {
        self.probs
            .row(t - self.test_start)
            .iter()
            .map(|&p| p.is_finite().then_some(p))
            .collect()
    }

    /// Regime at bar `t`.
    pub fn regime(&self, t: usize) -> Regime {
        self.regimes[t - self.test_start]
    }

    /// Regime labels up to bar `t` (for a regime-conditioned covariance).
    pub fn history_to(&self, t: usize) -> super::allocate::RegimeHistory<'_> {
        let end = (t + 1)
            .saturating_sub(self.history_start)
            .min(self.history.len());
        super::allocate::RegimeHistory {
            start: self.history_start,
            regimes: &self.history[..end],
        }
    }
}

/// A per-fold seed derived from the job seed (SplitMix64 finalizer).
pub fn fold_seed(seed: u64, fold: usize) -> u64 {
    mix64(seed ^ (fold as u64 + 1).wrapping_mul(GOLDEN_GAMMA))
}

/// Row of the design matrix for (bar, asset): features then regime probabilities;
/// false when a feature is undefined.
fn design_row(
    data: &FitData<'_>,
    probs: ArrayView2<'_, f64>,
    row: usize,
    t: usize,
    i: usize,
    out: &mut Vec<f64>,
) -> bool {
    out.clear();
    for &v in data.features.slice(ndarray::s![t, i, ..]) {
        if !v.is_finite() {
            return false;
        }
        out.push(v);
    }
    out.extend(probs.row(row).iter().copied());
    true
}

/// Kelly odds from in-sample outcomes whose in-sample probability clears
/// `min_edge`: mean gain of the winners over mean loss of the losers. None
/// with fewer than `min_samples` of either.
pub fn estimate_odds(p: &[f64], fwd: &[f64], min_edge: f64, min_samples: usize) -> Option<f64> {
    let (mut win, mut n_win, mut loss, mut n_loss) = (0.0, 0usize, 0.0, 0usize);
    for (&p, &f) in p.iter().zip(fwd) {
        if p >= min_edge {
            if f > 0.0 {
                win += f;
                n_win += 1;
            } else if f < 0.0 {
                loss -= f;
                n_loss += 1;
            }
        }
    }
    (n_win >= min_samples && n_loss >= min_samples && loss > 0.0)
        .then(|| (win / n_win as f64) / (loss / n_loss as f64))
}

/// Test hook of the fault-injection soak (benches/soak.py):
/// `CHLOE_FAULT_PANIC_FOLD=k` panics inside fold k's fit, as a bug in one
/// worker would, so the soak can check that a panic ends the run with exit 3
/// and leaves no report behind. Unset (always, outside tests) it does nothing.
fn injected_panic(fold: usize) {
    let Ok(k) = std::env::var("CHLOE_FAULT_PANIC_FOLD") else {
        return;
    };
    if k.trim().parse() == Ok(fold) {
        panic!("injected panic in fold {fold} (CHLOE_FAULT_PANIC_FOLD)");
    }
}

/// Fits a fold's classifier on its in-sample rows (bars `train_start..=fit_end`)
/// and predicts its test window.
pub fn fit(data: &FitData<'_>, fold: Fold) -> Fit<EdgeFit> {
    injected_panic(fold.index);
    let spec = data.spec;
    let seed = fold_seed(data.seed, fold.index);
    let n_assets = data.features.len_of(Axis(1));
    let n_feat = data.features.len_of(Axis(2));
    let detector = FittedRegimes::fit(
        spec.regime_method,
        spec.regime_states,
        data.state,
        fold.train_start..=fold.train_end,
        seed,
    );
    let mut notes = detector.notes.clone();
    let base = fold.train_start;
    let probs = detector.probabilities(data.state, base..=fold.test_end);
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
            let f = data.forward[[t, i]];
            if !f.is_finite() {
                continue;
            }
            if design_row(data, probs.view(), t - base, t, i, &mut row) {
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
    let p_train = p_train.as_slice().unwrap_or(&[]);
    let calibration = Calibration::fit(p_train, &fwd_train, spec.calibration_buckets);
    let sizing = data.sizing;
    let odds = estimate_odds(p_train, &fwd_train, sizing.min_edge, sizing.min_odds_samples)
        .unwrap_or_else(|| {
            notes.push(format!(
                "fewer than {} in-sample wins or losses with p >= {}: Kelly odds fall back to {FALLBACK_ODDS}:1",
                sizing.min_odds_samples, sizing.min_edge
            ));
            FALLBACK_ODDS
        });

    // Out-of-sample predictions, one matrix for the whole test window.
    let mut keys = Vec::new();
    let mut x_test = Vec::new();
    for t in fold.test_start..=fold.test_end {
        for i in 0..n_assets {
            if data.returns[[t, i]].is_finite()
                && design_row(data, probs.view(), t - base, t, i, &mut row)
            {
                x_test.extend_from_slice(&row);
                keys.push((t, i));
            }
        }
    }
    let mut xt = Array2::from_shape_vec((keys.len(), width), x_test).expect("rows of equal width");
    scaler.transform(&mut xt);
    let p_test = model.predict_proba(xt.view());
    let oos = fold.test_end + 1 - fold.test_start;
    let mut grid = Array2::from_elem((oos, n_assets), f64::NAN);
    let predictions: Vec<Prediction> = keys
        .iter()
        .zip(p_test.iter())
        .map(|(&(t, i), &p)| {
            grid[[t - fold.test_start, i]] = p;
            let f = data.forward[[t, i]];
            Prediction {
                bar: t,
                asset: i,
                edge_probability: p,
                edge_strength: p * calibration.expected_return(p).abs(),
                label: f.is_finite().then(|| f > thresholds[i]),
            }
        })
        .collect();
    let test_probs = probs
        .slice(ndarray::s![fold.test_start - base.., ..])
        .to_owned();
    let regimes = detector.label(&test_probs);
    Fit {
        model: EdgeFit {
            test_start: fold.test_start,
            probs: grid,
            regimes: regimes.clone(),
            history_start: base,
            history: detector.label(&probs),
            odds,
            insample: demeaned(data.returns, fold.train_start..=fold.train_end),
        },
        report: FitReport {
            predictions,
            regime_probs: test_probs,
            regimes,
            regime_set: detector.regimes(),
            importance: model.importance(),
            n_train,
            dropped_train: dropped,
            notes,
        },
    }
}

/// Rows `bars` of `returns`, demeaned per asset over the defined values, 0 where undefined.
pub fn demeaned(
    returns: ArrayView2<'_, f64>,
    bars: std::ops::RangeInclusive<usize>,
) -> Array2<f64> {
    let mut x = returns
        .slice(ndarray::s![*bars.start()..=*bars.end(), ..])
        .to_owned();
    for mut col in x.columns_mut() {
        let (mut s, mut n) = (0.0, 0usize);
        for &v in col.iter() {
            if v.is_finite() {
                s += v;
                n += 1;
            }
        }
        let m = if n > 0 { s / n as f64 } else { 0.0 };
        col.mapv_inplace(|v| if v.is_finite() { v - m } else { 0.0 });
    }
    x
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odds_are_mean_win_over_mean_loss_of_edge_positive_outcomes() {
        // p >= 0.55: wins 0.03, 0.01 (mean 0.02); losses -0.01, -0.01 (mean 0.01): b = 2.
        // The p = 0.2 row (a big loss) is not edge-positive and is ignored.
        let p = [0.6, 0.7, 0.56, 0.9, 0.2];
        let f = [0.03, 0.01, -0.01, -0.01, -0.5];
        assert!((estimate_odds(&p, &f, 0.55, 2).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(estimate_odds(&p, &f, 0.55, 3), None);
    }

    #[test]
    fn demeaned_ignores_undefined_returns() {
        let r = ndarray::array![[1.0, f64::NAN], [3.0, 2.0], [5.0, 4.0]];
        let d = demeaned(r.view(), 0..=2);
        assert_eq!(d, ndarray::array![[-2.0, 0.0], [0.0, -1.0], [2.0, 1.0]]);
    }
}
