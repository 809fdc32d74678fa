//! The built-in strategies chosen with `[strategy] kind`.

use super::{
    Book, Decision, DecisionRecord, Fit, FitData, FitReport, Fold, Market, Strategy,
    allocate::Allocator,
    classifier::{self, EdgeFit},
    risk::{KellyRisk, RiskEngine, RiskInput},
};
use crate::config::{
    strategy::{PortfolioMode, PortfolioSpec},
    walkforward::SizingSpec,
};

/// `[portfolio]` with the engine's own sizes (mode `kelly`).
fn kelly_mode() -> PortfolioSpec {
    PortfolioSpec {
        mode: PortfolioMode::Kelly,
        ..PortfolioSpec::default()
    }
}

/// The seed plan's risk-first strategy: the classifier supplies edge
/// probabilities and the regime; the risk engine ([`KellyRisk`]) decides
/// what is traded and how much, and the portfolio mode ([`Allocator`])
/// distributes it.
#[derive(Debug, Clone)]
pub struct RiskFirst {
    engine: KellyRisk,
    allocator: Allocator,
}

impl RiskFirst {
    /// The strategy with the engine configured by `[sizing]`, trading the
    /// engine's own sizes (portfolio mode `kelly`).
    pub fn new(sizing: &SizingSpec) -> Self {
        Self::with_portfolio(sizing, &kelly_mode())
    }

    /// The strategy with the engine of `[sizing]` and the mode of `[portfolio]`.
    pub fn with_portfolio(sizing: &SizingSpec, portfolio: &PortfolioSpec) -> Self {
        Self {
            engine: KellyRisk::new(sizing),
            allocator: Allocator::new(portfolio, sizing.max_position),
        }
    }
}

impl Strategy for RiskFirst {
    type Model = EdgeFit;

    fn name(&self) -> &str {
        "risk_first"
    }

    fn fit(&self, data: &FitData<'_>, fold: Fold) -> Fit<EdgeFit> {
        classifier::fit(data, fold)
    }

    fn decide(&mut self, model: &EdgeFit, market: &Market<'_>, book: &Book) -> Decision {
        let probs = model.probabilities(market.t);
        let mut d = self.engine.size(
            &RiskInput {
                probs: &probs,
                regime: Some(model.regime(market.t)),
                odds: model.odds,
                insample: Some(model.insample.view()),
                returns: market.returns.row(market.t),
                bars_per_year: market.bars_per_year,
            },
            book,
        );
        self.allocator.distribute(
            &mut d,
            market.returns,
            market.t,
            Some(model.history_to(market.t)),
        );
        d
    }

    fn failure(&self) -> Option<(usize, String)> {
        self.allocator
            .failure()
            .map(|f| (f.bar, format!("portfolio.mode: {}", f.message)))
    }

    fn notes(&self) -> Vec<String> {
        self.allocator.notes()
    }
}

/// The seed plan's baseline: the classifier's top signals (edge probability
/// at least `min_edge`, at most `max_positions` of them, highest first),
/// equal weights summing to `max_gross`, no risk engine.
#[derive(Debug, Clone)]
pub struct PredictionFirst {
    min_edge: f64,
    max_positions: usize,
    gross: f64,
}

impl PredictionFirst {
    /// The baseline with `[sizing]`'s `min_edge`, `max_positions` and `max_gross`.
    pub fn new(sizing: &SizingSpec) -> Self {
        Self {
            min_edge: sizing.min_edge,
            max_positions: sizing.max_positions,
            gross: sizing.max_gross,
        }
    }
}

impl Strategy for PredictionFirst {
    type Model = EdgeFit;

    fn name(&self) -> &str {
        "prediction_first"
    }

    fn fit(&self, data: &FitData<'_>, fold: Fold) -> Fit<EdgeFit> {
        classifier::fit(data, fold)
    }

    fn decide(&mut self, model: &EdgeFit, market: &Market<'_>, _book: &Book) -> Decision {
        let probs = model.probabilities(market.t);
        let mut top: Vec<(usize, f64)> = probs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.filter(|&p| p >= self.min_edge).map(|p| (i, p)))
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(self.max_positions);
        let mut target = vec![0.0; probs.len()];
        for &(i, _) in &top {
            target[i] = self.gross / top.len() as f64;
        }
        Decision {
            target,
            records: Vec::new(),
        }
    }
}

/// Equal weights over the tradable assets, 0 elsewhere.
fn equal_weights(market: &Market<'_>) -> Vec<f64> {
    let n = market.n_assets();
    let k = (0..n).filter(|&i| market.tradable(i)).count();
    (0..n)
        .map(|i| {
            if market.tradable(i) {
                1.0 / k as f64
            } else {
                0.0
            }
        })
        .collect()
}

/// The benchmark: equal weights over the assets tradable at the first
/// out-of-sample bar, bought once and held (delisted holdings go to cash).
#[derive(Debug, Clone, Default)]
pub struct BuyAndHold {
    bought: bool,
}

impl Strategy for BuyAndHold {
    type Model = ();

    fn name(&self) -> &str {
        "buy_and_hold"
    }

    fn fit(&self, _data: &FitData<'_>, _fold: Fold) -> Fit<()> {
        Fit {
            model: (),
            report: FitReport::default(),
        }
    }

    fn decide(&mut self, _model: &(), market: &Market<'_>, book: &Book) -> Decision {
        if self.bought {
            return Decision::hold(book);
        }
        self.bought = true;
        Decision {
            target: equal_weights(market),
            records: Vec::new(),
        }
    }
}

/// Equal weights over the tradable assets, rebalanced every `every` decisions
/// (the first decision included) and held in between.
#[derive(Debug, Clone)]
pub struct EqualWeight {
    every: usize,
    count: usize,
}

impl EqualWeight {
    /// Rebalances every `every` bars (at least 1).
    pub fn new(every: usize) -> Self {
        Self {
            every: every.max(1),
            count: 0,
        }
    }
}

impl Strategy for EqualWeight {
    type Model = ();

    fn name(&self) -> &str {
        "equal_weight"
    }

    fn fit(&self, _data: &FitData<'_>, _fold: Fold) -> Fit<()> {
        Fit {
            model: (),
            report: FitReport::default(),
        }
    }

    fn decide(&mut self, _model: &(), market: &Market<'_>, book: &Book) -> Decision {
        let rebalance = self.count.is_multiple_of(self.every);
        self.count += 1;
        if rebalance {
            Decision {
                target: equal_weights(market),
                records: Vec::new(),
            }
        } else {
            Decision::hold(book)
        }
    }
}

/// A user's signals file replayed through the same account: target weights
/// as given, or edge probabilities sized by the risk engine.
#[derive(Debug, Clone)]
pub struct SignalStrategy {
    signals: super::signals::Signals,
    engine: Option<KellyRisk>,
    allocator: Allocator,
    min_samples: usize,
    min_edge: f64,
}

impl SignalStrategy {
    /// The strategy over `signals`; edge probabilities go through the engine
    /// of `sizing` and are traded at the engine's own sizes (mode `kelly`).
    pub fn new(signals: super::signals::Signals, sizing: &SizingSpec) -> Self {
        Self::with_portfolio(signals, sizing, &kelly_mode())
    }

    /// As [`SignalStrategy::new`], with the engine's exposure distributed by
    /// the mode of `[portfolio]` (weights files are traded as given).
    pub fn with_portfolio(
        signals: super::signals::Signals,
        sizing: &SizingSpec,
        portfolio: &PortfolioSpec,
    ) -> Self {
        let engine = signals.is_probability().then(|| KellyRisk::new(sizing));
        Self {
            signals,
            engine,
            allocator: Allocator::new(portfolio, sizing.max_position),
            min_samples: sizing.min_odds_samples,
            min_edge: sizing.min_edge,
        }
    }
}

/// The in-sample odds and returns a signals file's edge probabilities are sized with.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SignalFit {
    odds: f64,
    insample: ndarray::Array2<f64>,
}

impl SignalFit {
    /// Fallback odds and no in-sample returns (the volatility target is then inert).
    pub fn empty(n_assets: usize) -> Self {
        Self {
            odds: classifier::FALLBACK_ODDS,
            insample: ndarray::Array2::zeros((0, n_assets)),
        }
    }
}

impl Strategy for SignalStrategy {
    type Model = SignalFit;

    fn name(&self) -> &str {
        "signals"
    }

    fn fit(&self, data: &FitData<'_>, fold: Fold) -> Fit<SignalFit> {
        let mut report = FitReport::default();
        let mut odds = classifier::FALLBACK_ODDS;
        if self.signals.is_probability() {
            let (mut p, mut f) = (Vec::new(), Vec::new());
            for t in fold.train_start..=fold.fit_end {
                for i in 0..data.forward.ncols() {
                    let (v, fwd) = (self.signals.values[[t, i]], data.forward[[t, i]]);
                    if v.is_finite() && fwd.is_finite() {
                        p.push(v);
                        f.push(fwd);
                    }
                }
            }
            match classifier::estimate_odds(&p, &f, self.min_edge, self.min_samples) {
                Some(b) => odds = b,
                None => report.notes.push(format!(
                    "fewer than {} in-sample wins or losses with p >= {}: Kelly odds fall back to {odds}:1",
                    self.min_samples, self.min_edge
                )),
            }
        }
        Fit {
            model: SignalFit {
                odds,
                insample: classifier::demeaned(data.returns, fold.train_start..=fold.train_end),
            },
            report,
        }
    }

    fn decide(&mut self, model: &SignalFit, market: &Market<'_>, book: &Book) -> Decision {
        let t = market.t;
        if !self.signals.has_row[t] {
            return Decision::hold(book);
        }
        let row = self.signals.values.row(t);
        match &mut self.engine {
            None => Decision {
                target: row
                    .iter()
                    .map(|&w| if w.is_finite() { w } else { 0.0 })
                    .collect(),
                records: Vec::<DecisionRecord>::new(),
            },
            Some(engine) => {
                let probs: Vec<Option<f64>> =
                    row.iter().map(|&p| p.is_finite().then_some(p)).collect();
                let mut d = engine.size(
                    &RiskInput {
                        probs: &probs,
                        regime: None,
                        odds: model.odds,
                        insample: Some(model.insample.view()),
                        returns: market.returns.row(t),
                        bars_per_year: market.bars_per_year,
                    },
                    book,
                );
                // No regime detector: a regime-conditioned covariance falls back to the window.
                self.allocator.distribute(&mut d, market.returns, t, None);
                d
            }
        }
    }

    fn failure(&self) -> Option<(usize, String)> {
        self.allocator
            .failure()
            .map(|f| (f.bar, format!("portfolio.mode: {}", f.message)))
    }

    fn notes(&self) -> Vec<String> {
        self.allocator.notes()
    }
}
