//! The strategy seam: what a strategy is to the walk-forward, and the
//! built-in strategies.
//!
//! A [`Strategy`] has two phases. [`Strategy::fit`] sees one fold's data
//! ([`FitData`], in-sample rows only for anything it learns) and returns a
//! model; it is pure, so the walk-forward runs the folds' fits in parallel.
//! [`Strategy::decide`] is called once per out-of-sample bar, serially, over
//! the stitched out-of-sample timeline, with the model of the fold whose test
//! window holds the bar, the market up to that bar ([`Market`]) and the
//! continuous account's book ([`Book`]); it returns target weights
//! ([`Decision`]). The account (in [`crate::walkforward`]) turns the targets
//! into trades at the bar's close.
//!
//! The strategy parts live here: features ([`features`]), regimes
//! ([`regime`]), edge classifiers ([`edge`]), the risk engine ([`risk`]), the
//! classifier fit shared by the model-driven strategies ([`classifier`]) and
//! the built-ins ([`builtin`], [`signals`]); portfolio construction
//! ([`portfolio`], [`covariance`]) and its command ([`optimize`]); the
//! execution simulator the account's orders go through ([`execution`]).

pub mod allocate;
pub mod builtin;
pub mod classifier;
pub mod covariance;
pub mod execution;
pub mod optimize;
pub mod portfolio;
pub mod returns_file;
pub mod risk;
pub mod signals;

use ndarray::{Array2, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};

pub use self::{
    builtin::{BuyAndHold, EqualWeight, PredictionFirst, RiskFirst, SignalStrategy},
    risk::{Constraint, DecisionRecord, KellyRisk, RiskEngine},
};
use crate::{
    config::walkforward::{SizingSpec, WalkforwardSpec},
    regime::Regime,
};
pub use crate::{edge, features, regime};

/// One fold's windows (bar indices, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    /// Fold number, from 0.
    pub index: usize,
    /// First bar of the training window.
    pub train_start: usize,
    /// Last bar of the training window.
    pub train_end: usize,
    /// Last bar whose sample (features and label) is used for fitting.
    pub fit_end: usize,
    /// First bar of the test window.
    pub test_start: usize,
    /// Last bar of the test window.
    pub test_end: usize,
}

/// Everything a fit reads; shared by all folds. Rows are bars; every value at
/// bar t uses data up to t, except `forward`, which a fit may read only for
/// bars `<= fold.fit_end`.
#[derive(Clone, Copy)]
pub struct FitData<'a> {
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
    /// Sizing and risk settings.
    pub sizing: &'a SizingSpec,
    /// Job seed.
    pub seed: u64,
}

/// One out-of-sample prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

/// What a fit reports besides its model (the walk-forward's reports read it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitReport {
    /// Out-of-sample predictions of the test window, in (bar, asset) order.
    pub predictions: Vec<Prediction>,
    /// Regime probabilities per test bar `[oos, regimes]` (empty without a detector).
    pub regime_probs: Array2<f64>,
    /// Most likely regime per test bar (empty without a detector).
    pub regimes: Vec<Regime>,
    /// Regimes in probability column order.
    #[serde(with = "regime_set")]
    pub regime_set: &'static [Regime],
    /// Feature importance (features, then regime probabilities).
    pub importance: Vec<f64>,
    /// Training samples used.
    pub n_train: usize,
    /// Training rows dropped because a feature was undefined.
    pub dropped_train: usize,
    /// Fallbacks worth telling a person.
    pub notes: Vec<String>,
}

impl Default for FitReport {
    fn default() -> Self {
        Self {
            predictions: Vec::new(),
            regime_probs: Array2::zeros((0, 0)),
            regimes: Vec::new(),
            regime_set: &[],
            importance: Vec::new(),
            n_train: 0,
            dropped_train: 0,
            notes: Vec::new(),
        }
    }
}

/// A fitted fold: the model [`Strategy::decide`] uses, and what the fit reports.
/// Serializable when its model is: fits are cluster units ([`crate::cluster`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fit<M> {
    /// The fold's model.
    pub model: M,
    /// Predictions, regimes and notes for the reports.
    pub report: FitReport,
}

/// The market as of one bar's close; a strategy must read rows `<= t` only.
#[derive(Debug, Clone, Copy)]
pub struct Market<'a> {
    /// The bar being decided.
    pub t: usize,
    /// Bar timestamps, microseconds UTC.
    pub timestamps: &'a [i64],
    /// Closes `[bars, assets]`, forward-filled, NaN where unavailable.
    pub close: ArrayView2<'a, f64>,
    /// Whether the close is usable (real or filled).
    pub available: ArrayView2<'a, bool>,
    /// Whether the close was forward-filled (stale: not tradable).
    pub filled: ArrayView2<'a, bool>,
    /// One-bar simple returns `[bars, assets]`, NaN where undefined.
    pub returns: ArrayView2<'a, f64>,
    /// Bars per year, to annualize.
    pub bars_per_year: f64,
}

impl Market<'_> {
    /// Number of assets.
    pub fn n_assets(&self) -> usize {
        self.close.ncols()
    }

    /// Whether asset `i` has a real (not forward-filled) close at this bar.
    pub fn tradable(&self, i: usize) -> bool {
        let t = self.t;
        self.available[[t, i]] && !self.filled[[t, i]] && self.close[[t, i]] > 0.0
    }
}

/// The continuous account at a bar's close, before that bar's trades.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    /// Starting capital.
    pub capital: f64,
    /// Account value at this close (cash plus holdings at the close).
    pub equity: f64,
    /// Highest account value so far, at least the starting capital.
    pub peak: f64,
    /// Cash.
    pub cash: f64,
    /// Shares held per asset.
    pub shares: Vec<f64>,
    /// Holdings as fractions of `equity` (drifted since the last trade).
    pub weights: Vec<f64>,
}

impl Book {
    /// A flat book holding `capital` in cash.
    pub fn flat(capital: f64, n_assets: usize) -> Self {
        Self {
            capital,
            equity: capital,
            peak: capital,
            cash: capital,
            shares: vec![0.0; n_assets],
            weights: vec![0.0; n_assets],
        }
    }

    /// Running drawdown of the account at this close.
    pub fn drawdown(&self) -> f64 {
        if self.peak > 0.0 {
            (1.0 - self.equity / self.peak).max(0.0)
        } else {
            0.0
        }
    }
}

/// What a strategy wants held after this bar's close.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Target weight per asset (fraction of the account's value at this close).
    pub target: Vec<f64>,
    /// How the risk engine arrived at the targets (empty for strategies without one).
    pub records: Vec<DecisionRecord>,
}

impl Decision {
    /// Keep the book as it is (targets are the drifted holdings).
    pub fn hold(book: &Book) -> Self {
        Self {
            target: book.weights.clone(),
            records: Vec::new(),
        }
    }
}

/// A trading strategy replayed by the walk-forward.
///
/// `fit` must be a pure function of its inputs (it runs in parallel over
/// folds and must not depend on the thread count); `decide` runs serially
/// over the stitched out-of-sample timeline, so state carried in `self`
/// (a drawdown brake, a rebalancing clock) crosses fold boundaries.
pub trait Strategy: Sync {
    /// What one fold's fit produces.
    type Model: Send + Sync;

    /// The name in reports.
    fn name(&self) -> &str;

    /// Fits one fold; learns from bars `fold.train_start..=fold.fit_end` only.
    fn fit(&self, data: &FitData<'_>, fold: Fold) -> Fit<Self::Model>;

    /// Target weights at the close of `market.t`, given the fold's model and the book.
    fn decide(&mut self, model: &Self::Model, market: &Market<'_>, book: &Book) -> Decision;

    /// A failure of `decide` that stops the run, as (bar, what failed);
    /// the walk-forward checks it after the replay.
    fn failure(&self) -> Option<(usize, String)> {
        None
    }

    /// Fallbacks `decide` used, worth telling a person.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A regime set as its size (the sets are the static prefixes of [`Regime::set`]).
mod regime_set {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::regime::Regime;

    pub fn serialize<S: Serializer>(set: &&'static [Regime], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(set.len() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'static [Regime], D::Error> {
        let n = u64::deserialize(d)?;
        let set = if n == 0 {
            &[][..]
        } else {
            Regime::set(n as usize)
        };
        if set.len() as u64 != n {
            return Err(serde::de::Error::custom(format!(
                "regime set of {n} regimes"
            )));
        }
        Ok(set)
    }
}
