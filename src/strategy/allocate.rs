//! Portfolio modes (`[portfolio] mode`): the risk engine's sizes select the
//! assets and set the total exposure; the mode distributes that exposure.
//!
//! - `kelly`: the engine's own sizes, unchanged.
//! - `equal`: the total split equally over the selected assets.
//! - `risk_parity`: equal risk contributions ([`super::portfolio::risk_parity`])
//!   under the Ledoit-Wolf covariance of the selected assets' one-bar returns
//!   on in-sample bars `<= t` only: the last `covariance_days` bars
//!   (`covariance = "window"`), or the last `covariance_days` bars whose
//!   regime is the current one (`covariance = "regime"`; with fewer than
//!   [`MIN_REGIME_BARS`] such bars the plain window is used and counted).
//!
//! The distributed weights are then capped at `sizing.max_position` (the cut
//! stays in cash). Each record's `size_after` is the final weight. A solver
//! failure stops the run: it is kept as an [`AllocFailure`] naming the bar,
//! and the walk-forward turns it into an error after the replay.

use ndarray::{Array2, ArrayView2};

use super::{
    Decision,
    covariance::ledoit_wolf,
    portfolio::{SolveOptions, risk_contributions, risk_parity},
};
use crate::{
    config::strategy::{CovarianceMode, PortfolioMode, PortfolioSpec},
    regime::Regime,
};

/// Fewest past bars in the current regime for a regime-conditioned covariance.
pub const MIN_REGIME_BARS: usize = 20;

/// A distribution that could not be made (the run stops with it).
#[derive(Debug, Clone, PartialEq)]
pub struct AllocFailure {
    /// Bar of the decision.
    pub bar: usize,
    /// What failed.
    pub message: String,
}

/// Regime labels of a run of consecutive bars (`regimes[k]` is bar `start + k`).
#[derive(Debug, Clone, Copy)]
pub struct RegimeHistory<'a> {
    /// First bar labelled.
    pub start: usize,
    /// One label per bar from `start`.
    pub regimes: &'a [Regime],
}

/// Distributes the risk engine's exposure per `[portfolio] mode`.
#[derive(Debug, Clone)]
pub struct Allocator {
    mode: PortfolioMode,
    covariance: CovarianceMode,
    window: usize,
    max_position: f64,
    failure: Option<AllocFailure>,
    regime_fallbacks: usize,
}

/// The last `window` bars up to `t` (t included).
pub fn window_rows(t: usize, window: usize) -> Vec<usize> {
    (t + 1 - window.min(t + 1)..=t).collect()
}

/// The last `window` bars up to `t` whose regime is the regime at `t`
/// (bars before the history are not labelled and not used).
pub fn regime_rows(t: usize, window: usize, history: &RegimeHistory<'_>) -> Vec<usize> {
    let Some(&now) = t
        .checked_sub(history.start)
        .and_then(|k| history.regimes.get(k))
    else {
        return Vec::new();
    };
    let mut rows: Vec<usize> = (history.start..=t)
        .rev()
        .filter(|&s| history.regimes[s - history.start] == now)
        .take(window)
        .collect();
    rows.reverse();
    rows
}

/// Returns of `assets` on bars `rows` `[rows, assets]`, demeaned per asset
/// over its defined values, 0 where undefined.
pub fn window_returns(
    returns: ArrayView2<'_, f64>,
    rows: &[usize],
    assets: &[usize],
) -> Array2<f64> {
    let mut x = Array2::from_shape_fn((rows.len(), assets.len()), |(r, a)| {
        returns[[rows[r], assets[a]]]
    });
    for mut col in x.columns_mut() {
        let (s, n) = col
            .iter()
            .filter(|v| v.is_finite())
            .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
        let m = if n > 0 { s / n as f64 } else { 0.0 };
        col.mapv_inplace(|v| if v.is_finite() { v - m } else { 0.0 });
    }
    x
}

/// Risk contributions (fractions of portfolio variance) of the non-zero
/// `weights` under the Ledoit-Wolf covariance of their returns on the last
/// `window` bars up to `t`, as (asset, fraction); empty for a flat book.
pub fn book_risk_contributions(
    returns: ArrayView2<'_, f64>,
    weights: &[f64],
    t: usize,
    window: usize,
) -> Vec<(usize, f64)> {
    let assets: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] != 0.0).collect();
    let rows = window_rows(t, window);
    if assets.is_empty() || rows.len() < 2 {
        return Vec::new();
    }
    let cov = ledoit_wolf(window_returns(returns, &rows, &assets).view()).covariance;
    let w = ndarray::Array1::from_iter(assets.iter().map(|&i| weights[i]));
    let rc = risk_contributions(cov.view(), w.view());
    if rc.iter().any(|v| !v.is_finite()) {
        return Vec::new();
    }
    assets.into_iter().zip(rc).collect()
}

impl Allocator {
    /// The allocator of `[portfolio]`, capping at `max_position`.
    pub fn new(spec: &PortfolioSpec, max_position: f64) -> Self {
        Self {
            mode: spec.mode,
            covariance: spec.covariance,
            window: spec.covariance_days,
            max_position,
            failure: None,
            regime_fallbacks: 0,
        }
    }

    /// The first failure, if a distribution failed.
    pub fn failure(&self) -> Option<&AllocFailure> {
        self.failure.as_ref()
    }

    /// Fallbacks worth telling a person.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.regime_fallbacks > 0 {
            out.push(format!(
                "portfolio.covariance = \"regime\": {} decisions had fewer than {MIN_REGIME_BARS} \
                 past bars in their regime; their covariance used the last {} bars",
                self.regime_fallbacks, self.window
            ));
        }
        out
    }

    /// Redistributes `decision`'s total exposure over its selected assets at
    /// bar `t`, reading `returns` rows `<= t` only.
    pub fn distribute(
        &mut self,
        decision: &mut Decision,
        returns: ArrayView2<'_, f64>,
        t: usize,
        history: Option<RegimeHistory<'_>>,
    ) {
        if self.mode == PortfolioMode::Kelly || self.failure.is_some() {
            return;
        }
        let w = &mut decision.target;
        let selected: Vec<usize> = (0..w.len()).filter(|&i| w[i] > 0.0).collect();
        if selected.is_empty() {
            return;
        }
        let total: f64 = selected.iter().map(|&i| w[i]).sum();
        let shares = match self.mode {
            PortfolioMode::Equal | PortfolioMode::Kelly => {
                vec![1.0 / selected.len() as f64; selected.len()]
            }
            PortfolioMode::RiskParity => match self.parity(returns, t, &selected, history) {
                Ok(s) => s,
                Err(message) => {
                    self.failure = Some(AllocFailure { bar: t, message });
                    return;
                }
            },
        };
        for (&i, s) in selected.iter().zip(shares) {
            w[i] = (s * total).min(self.max_position);
        }
        for r in &mut decision.records {
            r.size_after = w[r.asset];
        }
    }

    /// Risk-parity shares (summing to 1) of `selected` at bar `t`.
    fn parity(
        &mut self,
        returns: ArrayView2<'_, f64>,
        t: usize,
        selected: &[usize],
        history: Option<RegimeHistory<'_>>,
    ) -> Result<Vec<f64>, String> {
        if selected.len() == 1 {
            return Ok(vec![1.0]);
        }
        let mut rows = Vec::new();
        if self.covariance == CovarianceMode::Regime {
            rows = history.map_or_else(Vec::new, |h| regime_rows(t, self.window, &h));
            if rows.len() < MIN_REGIME_BARS.min(self.window) {
                self.regime_fallbacks += 1;
                rows.clear();
            }
        }
        if rows.is_empty() {
            rows = window_rows(t, self.window);
        }
        if rows.len() < 2 {
            return Err(format!(
                "risk parity needs at least 2 bars of returns, bar {t} has {}",
                rows.len()
            ));
        }
        let x = window_returns(returns, &rows, selected);
        let cov = ledoit_wolf(x.view()).covariance;
        risk_parity(cov.view(), None, &SolveOptions::default())
            .map(|a| a.weights.to_vec())
            .map_err(|e| format!("risk parity over {} assets: {e}", selected.len()))
    }
}

#[cfg(test)]
#[path = "allocate_tests.rs"]
mod tests;
