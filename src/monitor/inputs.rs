//! What the monitor reads, as plain slices of a run's result structs.

use ndarray::{Array2, ArrayView2};

use crate::{data::Panel, stress::summary::ScenarioSummary, walkforward::Walkforward};

/// The continuous replay as the monitor reads it.
#[derive(Debug, Clone)]
pub struct ReplayView<'a> {
    /// First decision bar.
    pub start: usize,
    /// Net return per bar, dated `start + 1 ..`.
    pub returns: &'a [f64],
    /// Holdings after each decision bar's trades `[returns.len(), assets]`.
    pub weights: ArrayView2<'a, f64>,
    /// Regime name and its probability at each decision bar, when known.
    pub regimes: Vec<Option<(&'static str, f64)>>,
}

/// Edge precision and base rate of one fold's out-of-sample predictions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldEdge {
    /// Fold index.
    pub index: usize,
    /// Last test bar's timestamp.
    pub test_end: i64,
    /// Precision of the edge calls (p >= min_edge); None without calls.
    pub precision: Option<f64>,
    /// Share of labelled predictions whose label was true; None without labels.
    pub base_rate: Option<f64>,
}

/// One stress scenario's risk figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRisk {
    /// Scenario name.
    pub scenario: String,
    /// Share of paths that breached the drawdown limit.
    pub prob_drawdown_breach: f64,
    /// 99% VaR, loss as a fraction of capital.
    pub var_99: f64,
}

/// Everything the monitor reads.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// Panel symbols, in column order.
    pub symbols: &'a [String],
    /// Panel calendar (microseconds, UTC).
    pub timestamps: &'a [i64],
    /// One-bar returns `[bars, assets]`, NaN where undefined.
    pub asset_returns: Array2<f64>,
    /// The replay, when the walk-forward ran.
    pub replay: Option<ReplayView<'a>>,
    /// Folds in order.
    pub folds: Vec<FoldEdge>,
    /// Stress scenarios, when the stress ran.
    pub stress: Vec<ScenarioRisk>,
    /// Timestamp of the stress alerts (the data's last bar).
    pub stress_timestamp: Option<i64>,
}

impl<'a> Inputs<'a> {
    /// Gathers the monitor's inputs from a run's results.
    pub fn from_run(
        panel: Option<&'a Panel>,
        wf: Option<&'a Walkforward>,
        stress: Option<&[ScenarioSummary]>,
    ) -> Self {
        let empty: &'static [String] = &[];
        let mut inputs = Inputs {
            symbols: panel.map_or(empty, |p| p.symbols.as_slice()),
            timestamps: panel.map_or(&[], |p| p.timestamps.as_slice()),
            asset_returns: panel.map_or_else(|| Array2::zeros((0, 0)), Panel::returns),
            replay: None,
            folds: Vec::new(),
            stress: stress
                .unwrap_or_default()
                .iter()
                .map(|s| ScenarioRisk {
                    scenario: s.scenario.clone(),
                    prob_drawdown_breach: s.prob_drawdown_breach,
                    var_99: s.var_99,
                })
                .collect(),
            stress_timestamp: panel.and_then(|p| p.timestamps.last().copied()),
        };
        let (Some(p), Some(wf)) = (panel, wf) else {
            return inputs;
        };
        let r = &wf.replay;
        let n = r.returns.len();
        let mut regimes = vec![None; n];
        for f in &wf.folds {
            let cols = f.regime_set;
            for (k, reg) in f.regimes.iter().enumerate() {
                let bar = f.fold.test_start + k;
                if let Some(slot) = bar.checked_sub(r.start).and_then(|i| regimes.get_mut(i)) {
                    let j = cols.iter().position(|c| c == reg);
                    let prob = j
                        .and_then(|j| f.regime_probs.get([k, j]).copied())
                        .unwrap_or(f64::NAN);
                    *slot = Some((reg.name(), prob));
                }
            }
        }
        inputs.folds = wf
            .folds
            .iter()
            .map(|f| {
                let labelled: Vec<bool> = f.predictions.iter().filter_map(|p| p.label).collect();
                let base_rate = (!labelled.is_empty()).then(|| {
                    labelled.iter().filter(|&&l| l).count() as f64 / labelled.len() as f64
                });
                FoldEdge {
                    index: f.fold.index,
                    test_end: p.timestamps[f.fold.test_end],
                    precision: f.metrics.edge_precision,
                    base_rate,
                }
            })
            .collect();
        inputs.replay = Some(ReplayView {
            start: r.start,
            returns: &r.returns,
            weights: r.weights.view(),
            regimes,
        });
        inputs
    }
}
