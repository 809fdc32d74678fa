//! One fold's results: its model's reports and its segment of the continuous
//! replay ([`super::replay`]).
//!
//! A fold's segment is the bars it decides (its test window, and any bars
//! before the next fold's test window), and its returns are dated one bar
//! later, `test_start + 1 ..`, so stitched folds never overlap.

use ndarray::Array2;

use super::plan::Fold;
use crate::regime::Regime;
pub use crate::strategy::{Prediction, classifier::fold_seed};

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
    /// Statistics of the fold's segment of the continuous replay.
    pub metrics: FoldMetrics,
    /// Net returns of the segment, dated `test_start + 1 ..`.
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
    /// Holdings after each segment bar's trades `[bars, assets]` (fraction of equity).
    pub weights: Array2<f64>,
    /// Training samples used.
    pub n_train: usize,
    /// Training rows dropped because a feature was undefined.
    pub dropped_train: usize,
    /// Fallbacks worth telling a person.
    pub notes: Vec<String>,
}

/// The strategy's book after the last bar of data (the deployment book).
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// The deployment fold: trained like every fold, decision bar `test_start`.
    pub fold: Fold,
    /// Regime at the decision bar (None for strategies without a detector).
    pub regime: Option<Regime>,
    /// Edge probability per asset, None for assets without a prediction
    /// (empty for strategies without a classifier).
    pub probabilities: Vec<Option<f64>>,
    /// Target weight per asset, in panel order (fraction of equity).
    pub weights: Vec<f64>,
    /// Share of the book's variance per held asset, (asset, fraction), under
    /// the Ledoit-Wolf covariance of the last `portfolio.covariance_days` bars.
    pub risk_contributions: Vec<(usize, f64)>,
    /// Training samples used.
    pub n_train: usize,
    /// Training rows dropped because a feature was undefined.
    pub dropped_train: usize,
    /// Fallbacks worth telling a person.
    pub notes: Vec<String>,
}
