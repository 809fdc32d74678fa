//! Market regime detection: STABLE, VOLATILE, TRENDING (and CRISIS).
//!
//! The detector sees a market-level state per bar, built causally from the panel
//! ([`market_state`]): the log of the annualized 20-bar volatility of the
//! equal-weighted market return and its 60-bar trend t-statistic. It is fitted on
//! a fold's training bars only.
//!
//! - [`RegimeMethod::Gmm`]: a Gaussian mixture (linfa-clustering, seeded
//!   Xoshiro256+) on the standardized state. Clusters are named by their means, so
//!   names are stable across folds and seeds: the highest-volatility cluster is
//!   VOLATILE (with 4 states the highest is CRISIS and the next VOLATILE); of the
//!   rest, the one with the largest |trend| is TRENDING and the other STABLE.
//! - [`RegimeMethod::Threshold`]: in-sample quantiles; volatility above its 80th
//!   percentile is VOLATILE (above the 95th, CRISIS with 4 states), else |trend|
//!   above its 70th percentile is TRENDING, else STABLE. Probabilities are one-hot.
//!
//! A mixture that fails to converge falls back to the threshold method for that
//! fold, and says so in the fold's notes.

use linfa::{DatasetBase, traits::Fit};
use linfa_clustering::GaussianMixtureModel;
use ndarray::{Array2, ArrayView2, s};
use rand_xoshiro::{Xoshiro256Plus, rand_core::SeedableRng};

pub use crate::config::walkforward::RegimeMethod;
use crate::{data::Panel, features::market_features, metrics::quantile};

/// Bars in the market trend window (the long window of `market_features`).
pub const TREND_WINDOW: usize = 60;

/// A named market regime.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Regime {
    /// Calm market without a strong trend.
    Stable,
    /// High volatility.
    Volatile,
    /// Persistent drift up or down.
    Trending,
    /// Extreme volatility (only with 4 states).
    Crisis,
}

impl Regime {
    /// Upper-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Regime::Stable => "STABLE",
            Regime::Volatile => "VOLATILE",
            Regime::Trending => "TRENDING",
            Regime::Crisis => "CRISIS",
        }
    }

    /// The regimes of a detector with `states` states, in report column order.
    pub fn set(states: usize) -> &'static [Regime] {
        const ALL: [Regime; 4] = [
            Regime::Stable,
            Regime::Volatile,
            Regime::Trending,
            Regime::Crisis,
        ];
        &ALL[..states.clamp(3, 4)]
    }
}

/// Market state per bar: `[bars, 2]` with columns (log annualized `mkt_vol`,
/// `mkt_trend`) from [`crate::features::market_features`]; NaN until defined.
pub fn market_state(panel: &Panel) -> Array2<f64> {
    let (names, market) = market_features(panel);
    let col = |name: &str| names.iter().position(|n| n == name);
    let (Some(vol), Some(trend)) = (col("mkt_vol"), col("mkt_trend")) else {
        return Array2::from_elem((panel.n_bars(), 2), f64::NAN);
    };
    let ann = panel.bars_per_year.sqrt();
    Array2::from_shape_fn((panel.n_bars(), 2), |(t, c)| {
        if c == 0 {
            (market[[t, vol]] * ann).max(1e-6).ln()
        } else {
            market[[t, trend]]
        }
    })
}

/// First bar with a defined market state.
pub fn warmup() -> usize {
    TREND_WINDOW
}

fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, v.sqrt())
}

/// A detector fitted on one fold's training bars.
#[derive(Debug, Clone)]
pub struct FittedRegimes {
    regimes: &'static [Regime],
    kind: Kind,
    /// What happened during the fit worth telling a person.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    Gmm {
        model: Box<GaussianMixtureModel<f64>>,
        mean: [f64; 2],
        std: [f64; 2],
        /// Regime of each cluster.
        names: Vec<Regime>,
    },
    Threshold {
        vol_hi: f64,
        vol_crisis: f64,
        trend_hi: f64,
    },
}

impl FittedRegimes {
    /// Fits on rows `train` (inclusive range) of `state` (from [`market_state`]).
    pub fn fit(
        method: RegimeMethod,
        states: usize,
        state: ArrayView2<'_, f64>,
        train: std::ops::RangeInclusive<usize>,
        seed: u64,
    ) -> Self {
        let regimes = Regime::set(states);
        let rows: Vec<usize> = train
            .filter(|&t| state[[t, 0]].is_finite() && state[[t, 1]].is_finite())
            .collect();
        let threshold = |notes: Vec<String>| {
            let vol: Vec<f64> = rows.iter().map(|&t| state[[t, 0]]).collect();
            let trend: Vec<f64> = rows.iter().map(|&t| state[[t, 1]].abs()).collect();
            FittedRegimes {
                regimes,
                kind: Kind::Threshold {
                    vol_hi: quantile(&vol, 0.80),
                    vol_crisis: quantile(&vol, 0.95),
                    trend_hi: quantile(&trend, 0.70),
                },
                notes,
            }
        };
        if method == RegimeMethod::Threshold {
            return threshold(Vec::new());
        }
        if rows.len() < 10 * states {
            return threshold(vec![format!(
                "regime: {} training bars are too few for a {states}-state mixture; used thresholds",
                rows.len()
            )]);
        }
        let mut mean = [0.0; 2];
        let mut std = [1.0; 2];
        for c in 0..2 {
            let col: Vec<f64> = rows.iter().map(|&t| state[[t, c]]).collect();
            let (m, s) = mean_std(&col);
            mean[c] = m;
            std[c] = if s > 1e-12 { s } else { 1.0 };
        }
        let x = Array2::from_shape_fn((rows.len(), 2), |(r, c)| {
            (state[[rows[r], c]] - mean[c]) / std[c]
        });
        let fitted = GaussianMixtureModel::params(states)
            .with_rng(Xoshiro256Plus::seed_from_u64(seed))
            .n_runs(3)
            .max_n_iterations(300)
            .tolerance(1e-4)
            .reg_covariance(1e-4)
            .fit(&DatasetBase::from(x.clone()));
        let model = match fitted {
            Ok(m) => m,
            Err(e) => {
                return threshold(vec![format!(
                    "regime: gaussian mixture did not fit ({e}); used thresholds"
                )]);
            }
        };
        // Responsibility-weighted means of the raw state name the clusters.
        let resp = model.predict_proba(&x);
        let k = states;
        let mut vol = vec![0.0; k];
        let mut trend = vec![0.0; k];
        for j in 0..k {
            let w = resp.column(j);
            let tot = w.sum().max(1e-12);
            for (r, &t) in rows.iter().enumerate() {
                vol[j] += w[r] * state[[t, 0]] / tot;
                trend[j] += w[r] * state[[t, 1]].abs() / tot;
            }
        }
        let names = name_clusters(&vol, &trend);
        FittedRegimes {
            regimes,
            kind: Kind::Gmm {
                model: Box::new(model),
                mean,
                std,
                names,
            },
            notes: Vec::new(),
        }
    }

    /// Regimes in probability column order.
    pub fn regimes(&self) -> &'static [Regime] {
        self.regimes
    }

    /// Probabilities `[rows, regimes]` for rows `bars` of `state`; rows with an
    /// undefined state get STABLE with probability 1.
    pub fn probabilities(
        &self,
        state: ArrayView2<'_, f64>,
        bars: std::ops::RangeInclusive<usize>,
    ) -> Array2<f64> {
        let (lo, hi) = (*bars.start(), *bars.end());
        let n = hi + 1 - lo;
        let mut out = Array2::zeros((n, self.regimes.len()));
        let col = |r: Regime| self.regimes.iter().position(|&x| x == r).unwrap_or(0);
        let sub = state.slice(s![lo..=hi, ..]);
        match &self.kind {
            Kind::Threshold {
                vol_hi,
                vol_crisis,
                trend_hi,
            } => {
                for r in 0..n {
                    let (v, tr) = (sub[[r, 0]], sub[[r, 1]]);
                    let regime = if !(v.is_finite() && tr.is_finite()) {
                        Regime::Stable
                    } else if self.regimes.len() == 4 && v > *vol_crisis {
                        Regime::Crisis
                    } else if v > *vol_hi {
                        Regime::Volatile
                    } else if tr.abs() > *trend_hi {
                        Regime::Trending
                    } else {
                        Regime::Stable
                    };
                    out[[r, col(regime)]] = 1.0;
                }
            }
            Kind::Gmm {
                model,
                mean,
                std,
                names,
            } => {
                let ok: Vec<usize> = (0..n)
                    .filter(|&r| sub[[r, 0]].is_finite() && sub[[r, 1]].is_finite())
                    .collect();
                let x = Array2::from_shape_fn((ok.len(), 2), |(i, c)| {
                    (sub[[ok[i], c]] - mean[c]) / std[c]
                });
                let p = model.predict_proba(&x);
                for (i, &r) in ok.iter().enumerate() {
                    for (j, name) in names.iter().enumerate() {
                        let v = p[[i, j]];
                        out[[r, col(*name)]] += if v.is_finite() { v } else { 0.0 };
                    }
                }
                for r in 0..n {
                    if out.row(r).sum() <= 0.0 {
                        out[[r, col(Regime::Stable)]] = 1.0;
                    }
                }
            }
        }
        out
    }

    /// The most likely regime of each row of `probabilities` (first on ties).
    pub fn label(&self, probabilities: &Array2<f64>) -> Vec<Regime> {
        probabilities
            .rows()
            .into_iter()
            .map(|row| {
                let mut best = 0;
                for j in 1..row.len() {
                    if row[j] > row[best] {
                        best = j;
                    }
                }
                self.regimes[best]
            })
            .collect()
    }
}

/// Names clusters from their mean log-volatility and mean |trend|.
fn name_clusters(vol: &[f64], trend: &[f64]) -> Vec<Regime> {
    let k = vol.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| vol[b].total_cmp(&vol[a]).then(a.cmp(&b)));
    let mut names = vec![Regime::Stable; k];
    let mut rest = order.as_slice();
    if k == 4 {
        names[rest[0]] = Regime::Crisis;
        rest = &rest[1..];
    }
    names[rest[0]] = Regime::Volatile;
    let (a, b) = (rest[1], rest[2]);
    let trending = if trend[b] > trend[a] { b } else { a };
    names[trending] = Regime::Trending;
    names
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    /// A state that alternates calm, trending and turbulent stretches.
    fn toy_state() -> Array2<f64> {
        let n = 600;
        Array2::from_shape_fn((n, 2), |(t, c)| {
            let phase = (t / 50) % 3;
            let wiggle = ((t * 7919) % 101) as f64 / 101.0 - 0.5;
            match (phase, c) {
                (0, 0) => -2.5 + 0.1 * wiggle,
                (0, _) => 0.2 * wiggle,
                (1, 0) => -2.4 + 0.1 * wiggle,
                (1, _) => 3.0 + 0.3 * wiggle,
                (_, 0) => -1.0 + 0.1 * wiggle,
                (_, _) => 0.5 * wiggle,
            }
        })
    }

    #[test]
    fn clusters_are_named_by_volatility_and_trend() {
        assert_eq!(
            name_clusters(&[-2.0, -1.0, -2.1], &[0.1, 0.2, 2.0]),
            vec![Regime::Stable, Regime::Volatile, Regime::Trending]
        );
        assert_eq!(
            name_clusters(&[-2.0, 0.0, -1.0, -2.1], &[0.1, 0.2, 0.1, 2.0]),
            vec![
                Regime::Stable,
                Regime::Crisis,
                Regime::Volatile,
                Regime::Trending
            ]
        );
    }

    #[test]
    fn gmm_and_thresholds_find_the_planted_regimes() {
        let st = toy_state();
        for method in [RegimeMethod::Gmm, RegimeMethod::Threshold] {
            let f = FittedRegimes::fit(method, 3, st.view(), 0..=299, 7);
            assert!(f.notes.is_empty(), "{:?}", f.notes);
            let p = f.probabilities(st.view(), 300..=599);
            let labels = f.label(&p);
            let expect = |t: usize| match (t / 50) % 3 {
                0 => Regime::Stable,
                1 => Regime::Trending,
                _ => Regime::Volatile,
            };
            let hits = (300..600).filter(|&t| labels[t - 300] == expect(t)).count();
            assert!(hits > 240, "{method:?}: {hits}/300");
            for row in p.rows() {
                assert!((row.sum() - 1.0).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn gmm_is_deterministic_for_a_seed() {
        let st = toy_state();
        let a = FittedRegimes::fit(RegimeMethod::Gmm, 3, st.view(), 0..=299, 11);
        let b = FittedRegimes::fit(RegimeMethod::Gmm, 3, st.view(), 0..=299, 11);
        assert_eq!(
            a.probabilities(st.view(), 0..=599),
            b.probabilities(st.view(), 0..=599)
        );
    }
}
