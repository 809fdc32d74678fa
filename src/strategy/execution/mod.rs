//! The execution simulator: how the continuous account's orders fill.
//!
//! An order (a parent, with an id) moves one asset from its holding toward
//! the strategy's goal. Each bar it sends one child order, priced at the
//! bar's close plus three costs charged in cash, each on the child's filled
//! notional: market impact ([`impact`], from the child's participation in
//! the ADV), half the bid-ask spread ([`market::corwin_schultz`] on the
//! panel's high and low, `execution.default_spread` without them) and the
//! venue's fee. The [`router`] spreads the child across venues.
//!
//! Slicing: an order whose estimated impact (at its full participation)
//! exceeds `slice_threshold` sends children of at most `max_participation x
//! ADV` per bar; what a bar does not fill carries to the next bars under the
//! same parent id. The no-trade band ([`Simulator::band_skips`]) drops an
//! increase whose expected round-trip cost exceeds its expected edge gain.

pub mod impact;
pub mod market;
pub mod orders;
pub mod reason;
pub mod router;
#[cfg(test)]
mod tests;

use ndarray::ArrayView2;

pub use self::{impact::ImpactModel, reason::TradeReason};
use crate::{config::execution::ExecutionSpec, data::Panel};

/// Liquidity of one asset at one bar, as the simulator prices it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    /// Reference (close) price.
    pub price: f64,
    /// Average daily volume, shares.
    pub adv: f64,
    /// Daily return volatility.
    pub sigma: f64,
    /// Half the full bid-ask spread, fraction of price.
    pub half_spread: f64,
    /// ADV came from `portfolio.default_adv` (no volume).
    pub default_adv: bool,
    /// sigma came from `execution.default_sigma` (too few returns).
    pub default_sigma: bool,
    /// The spread came from `execution.default_spread` (no high-low estimate).
    pub default_spread: bool,
}

/// One venue's fill of a child order, with its costs (currency).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    /// Venue index.
    pub venue: usize,
    /// Signed shares filled (positive buys).
    pub quantity: f64,
    /// `|quantity| x price`.
    pub notional: f64,
    /// Market impact cost.
    pub impact_cost: f64,
    /// Half-spread cost.
    pub spread_cost: f64,
    /// Venue fee.
    pub fee: f64,
    /// `|quantity|` over the ADV.
    pub participation: f64,
}

impl Fill {
    /// Impact, half spread and fee.
    pub fn cost(&self) -> f64 {
        self.impact_cost + self.spread_cost + self.fee
    }
}

/// The execution simulator configured by `[execution]`.
pub struct Simulator {
    spec: ExecutionSpec,
    impact: Box<dyn ImpactModel>,
    order: Vec<usize>,
    adv_window: usize,
    default_adv: f64,
}

impl Simulator {
    /// The simulator of `spec`; ADV is the causal mean volume over
    /// `adv_window` bars, `default_adv` (currency) without volume.
    pub fn new(spec: &ExecutionSpec, adv_window: usize, default_adv: f64) -> Self {
        Self {
            impact: impact::from_spec(spec),
            order: router::by_fee(&spec.venues),
            spec: spec.clone(),
            adv_window,
            default_adv,
        }
    }

    /// The settings.
    pub fn spec(&self) -> &ExecutionSpec {
        &self.spec
    }

    /// Liquidity of asset `i` at bar `t` (close `price > 0`), from data up to t.
    pub fn conditions(
        &self,
        panel: &Panel,
        returns: ArrayView2<'_, f64>,
        t: usize,
        i: usize,
    ) -> Conditions {
        let price = panel.close[[t, i]];
        let adv = market::adv_shares(panel, t, i, self.adv_window);
        let sigma = market::sigma_daily(returns, t, i, self.spec.sigma_window);
        let spread = market::corwin_schultz(panel, t, i, self.spec.spread_window);
        Conditions {
            price,
            adv: adv.unwrap_or(self.default_adv / price),
            sigma: sigma.unwrap_or(self.spec.default_sigma),
            half_spread: spread.unwrap_or(self.spec.default_spread) / 2.0,
            default_adv: adv.is_none(),
            default_sigma: sigma.is_none(),
            default_spread: spread.is_none(),
        }
    }

    /// Impact (fraction of price) of trading `shares` in one bar.
    pub fn impact(&self, shares: f64, c: &Conditions) -> f64 {
        self.impact.impact(shares.abs() / c.adv, c.sigma)
    }

    /// Whether an order of `shares` is sliced (its impact in one bar exceeds `slice_threshold`).
    pub fn slices(&self, shares: f64, c: &Conditions) -> bool {
        self.impact(shares, c) > self.spec.slice_threshold
    }

    /// This bar's child of an order with `remaining` signed shares.
    pub fn child(&self, remaining: f64, sliced: bool, c: &Conditions) -> f64 {
        if sliced {
            remaining.signum() * remaining.abs().min(self.spec.max_participation * c.adv)
        } else {
            remaining
        }
    }

    /// Expected cost (currency) of an order of `shares`: the impact of its
    /// children (capped at `max_participation` when sliced), half the spread
    /// and the cheapest venue's fee, on its whole notional.
    pub fn expected_cost(&self, shares: f64, c: &Conditions) -> f64 {
        let q = shares.abs();
        let child = self.child(q, self.slices(q, c), c);
        let fee = self.spec.venues[self.order[0]].fee_bps / 1e4;
        q * c.price * (self.impact(child, c) + c.half_spread + fee)
    }

    /// Whether the no-trade band drops an increase of `shares` whose expected
    /// edge gain is `edge_strength` (expected return over the label horizon,
    /// probability-weighted) on its notional: when the round trip it commits
    /// to (its expected cost now, and the same again to unwind it) costs
    /// more. Never without an edge estimate.
    pub fn band_skips(&self, shares: f64, c: &Conditions, edge_strength: Option<f64>) -> bool {
        match edge_strength {
            Some(e) if self.spec.no_trade_band && e.is_finite() => {
                2.0 * self.expected_cost(shares, c) > shares.abs() * c.price * e.abs()
            }
            _ => false,
        }
    }

    /// Fills the signed `child` shares across the venues, with their costs.
    pub fn fill(&self, child: f64, c: &Conditions) -> Vec<Fill> {
        let size = child.abs();
        if size == 0.0 {
            return Vec::new();
        }
        let allocations = router::route(size, c.price, c.adv, &self.spec.venues, &self.order);
        let filled: f64 = allocations.iter().map(|a| a.quantity).sum();
        let impact = self.impact(filled, c);
        allocations
            .into_iter()
            .map(|a| {
                let notional = a.quantity * c.price;
                Fill {
                    venue: a.venue,
                    quantity: child.signum() * a.quantity,
                    notional,
                    impact_cost: impact * notional,
                    spread_cost: c.half_spread * notional,
                    fee: self.spec.venues[a.venue].fee_bps / 1e4 * notional,
                    participation: a.quantity / c.adv,
                }
            })
            .collect()
    }
}
