//! Why the account trades: the reason of each order, read from the risk
//! engine's decision record of the asset.

use crate::strategy::DecisionRecord;

/// Why a trade happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeReason {
    /// A position opened, or increased because the engine's size for it grew
    /// (a new or stronger edge).
    Signal,
    /// Moving toward the targets otherwise (drift, a fading edge, strategies
    /// without a risk engine).
    Rebalance,
    /// A reduction forced mostly by the risk engine's limits or drawdown brake.
    Brake,
    /// A hedge position.
    Hedge,
    /// The symbol stopped trading; sold at its last real close.
    Delisted,
}

impl TradeReason {
    /// The name in trades.parquet.
    pub fn name(self) -> &'static str {
        match self {
            TradeReason::Signal => "signal",
            TradeReason::Rebalance => "rebalance",
            TradeReason::Brake => "brake",
            TradeReason::Hedge => "hedge",
            TradeReason::Delisted => "delisted",
        }
    }

    /// Classifies a move of one asset's weight from `current` to `target`,
    /// where the previous bar's target was `previous`:
    /// - an increase is `signal` when the asset has a record with an edge
    ///   (finite probability, positive size before constraints) and the
    ///   position is new or the target grew since the previous bar; else `rebalance`;
    /// - a reduction is `brake` when the part the constraints cut
    ///   (`size_before - size_after`) exceeds the part the edge alone asked
    ///   for (`|current| - size_before`); else `rebalance`.
    pub fn classify(
        target: f64,
        current: f64,
        previous: f64,
        record: Option<&DecisionRecord>,
    ) -> Self {
        let increase = target.abs() > current.abs() && target * current >= 0.0;
        match record {
            Some(r) if increase => {
                let edge = r.edge_probability.is_finite() && r.size_before > 0.0;
                if edge && (current == 0.0 || target.abs() > previous.abs()) {
                    TradeReason::Signal
                } else {
                    TradeReason::Rebalance
                }
            }
            Some(r) => {
                let total = current.abs() - target.abs().min(current.abs());
                let by_edge = (current.abs() - r.size_before).clamp(0.0, total);
                if total - by_edge > by_edge {
                    TradeReason::Brake
                } else {
                    TradeReason::Rebalance
                }
            }
            None => TradeReason::Rebalance,
        }
    }
}
