//! One fill of the continuous account, as trades.parquet records it.

pub use crate::strategy::execution::TradeReason;

/// One fill of the account (one venue's part of one child order).
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    /// Bar of the fill (at its close).
    pub bar: usize,
    /// Fold whose segment holds the bar.
    pub fold: usize,
    /// Asset index; `n_assets + j` is hedge instrument j ([`super::hedge::HedgeOutcome::symbols`]).
    pub asset: usize,
    /// Signed shares the parent order still wanted when the bar began.
    pub requested: f64,
    /// Signed shares filled (positive buys).
    pub quantity: f64,
    /// Fill price (the close; costs are charged separately).
    pub price: f64,
    /// `|quantity| x price`.
    pub notional: f64,
    /// Venue index in [`super::Replay::venues`] (None for a delisting).
    pub venue: Option<usize>,
    /// Parent order id.
    pub parent_id: u64,
    /// Child number within the parent order, from 0.
    pub slice: u32,
    /// Market impact cost (currency).
    pub impact_cost: f64,
    /// Half-spread cost (currency).
    pub spread_cost: f64,
    /// Venue fee (currency).
    pub fee: f64,
    /// `|quantity|` over the ADV in shares.
    pub participation: f64,
    /// Why.
    pub reason: TradeReason,
}

impl Trade {
    /// Everything the fill cost: impact, half spread and fee.
    pub fn cost(&self) -> f64 {
        self.impact_cost + self.spread_cost + self.fee
    }
}
